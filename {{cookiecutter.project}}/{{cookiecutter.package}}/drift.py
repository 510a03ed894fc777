"""Drift check: has the raw data moved away from the data the model was trained on?

Compares every column of the current raw CSV with the training split that `dvc repro` made, using the
population stability index: PSI = sum over bins of (current share - training share) * ln(current share /
training share). Number columns are cut at the training data's quantiles (params.yaml drift.bins), text
columns compare category shares; gaps are a bin of their own, so a column filling up with gaps drifts too.
A column drifts when its PSI is above drift.psi_threshold; a column missing on one side counts as drift.

Usage: python -m {{ cookiecutter.package }}.drift [CURRENT_CSV [REFERENCE_PARQUET [REPORT_JSON]]]   (make drift)
       python -m {{ cookiecutter.package }}.drift --log 'GLOB' [REFERENCE_PARQUET [REPORT_JSON]]   (make drift LOG='GLOB')
Defaults: params.yaml's paths.raw, paths.train_data and paths.drift_report (the contract: paths.schema).
Exit status: 0 no drift, 1 drift (the retrain workflows start on this), 2 error.

--log compares what the model was asked in production instead: the inputs recorded in the prediction log
(JSON lines, one per request, as the serving app writes them; GLOB in quotes, e.g. 'logs/predictions-*.jsonl*'
takes every process's file and the rotated ones). Only the model's features are compared (the log holds
no target); lines that are not prediction records (an access log mixed in on stdout) are skipped and counted.
Without --log, the environment variable PREDICTION_LOG (a GLOB) does the same: the retrain CI jobs pass it.

Run it when new data has arrived and *before* `dvc repro`: repro makes the new data the reference.
"""

import glob
import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from {{ cookiecutter.package }} import contract, params

EPSILON = 1e-4  # the share an empty bin counts as, so the logarithm stays finite


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index of two arrays of shares over the same bins."""
    expected, actual = np.clip(expected, EPSILON, None), np.clip(actual, EPSILON, None)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def number_shares(reference: pd.Series, current: pd.Series, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Shares of each quantile bin of the reference (values beyond its range go to the outer bins), plus gaps."""
    edges = np.unique(np.nanquantile(reference, np.linspace(0, 1, bins + 1))[1:-1]) if reference.notna().any() else []

    def shares(values: pd.Series) -> np.ndarray:
        present = values.dropna().to_numpy(dtype=float)
        counts = np.bincount(np.searchsorted(edges, present, side="right"), minlength=len(edges) + 1)
        return np.append(counts, values.isna().sum()) / max(len(values), 1)

    return shares(reference), shares(current)


def category_shares(reference: pd.Series, current: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Shares of each value seen on either side, gaps counted as one more value."""
    reference, current = reference.astype("string").fillna("<gap>"), current.astype("string").fillna("<gap>")
    values = sorted(set(reference) | set(current))
    return tuple(
        side.value_counts(normalize=True).reindex(values, fill_value=0.0).to_numpy() for side in (reference, current)
    )


def compare(reference: pd.DataFrame, current: pd.DataFrame, drift: params.Drift, skip: list[str]) -> dict:
    """The drift report: PSI per column shared by both tables, and the columns only one of them has."""
    columns = {}
    for name in (column for column in reference.columns if column in current.columns and column not in skip):
        numeric = pd.api.types.is_numeric_dtype(reference[name])
        if numeric:
            shares = number_shares(reference[name], pd.to_numeric(current[name], errors="coerce"), drift.bins)
        else:
            shares = category_shares(reference[name], current[name])
        value = round(psi(*shares), 6)
        kind = "number" if numeric else "category"
        columns[name] = {"type": kind, "psi": value, "drift": value > drift.psi_threshold}
    missing = [name for name in reference.columns if name not in current.columns and name not in skip]
    new = [name for name in current.columns if name not in reference.columns and name not in skip]
    drifted = [name for name, result in columns.items() if result["drift"]]
    return {
        "drift": bool(drifted or missing or new),
        "psi_threshold": drift.psi_threshold,
        "drifted": drifted,
        "missing_columns": missing,  # in the training data, not in the current data
        "new_columns": new,  # in the current data only
        "skipped_columns": [name for name in skip if name in reference.columns or name in current.columns],
        "columns": columns,
    }


def read_log(pattern: str) -> tuple[pd.DataFrame, dict]:
    """The inputs of every prediction-log line in the files matching pattern, one row per record, and
    where they came from (files, lines skipped, model versions, first and last time)."""
    files = sorted(glob.glob(pattern, recursive=True))
    if not files:
        raise ValueError(f"no prediction-log file matches {pattern!r}")
    rows, skipped, versions, times = [], 0, set(), []
    for name in files:
        with open(name, encoding="utf-8") as file:
            for line in file:
                try:
                    entry = json.loads(line)
                except ValueError:
                    entry = None
                if not isinstance(entry, dict) or "inputs" not in entry:
                    skipped += 1
                    continue
                inputs = entry["inputs"]
                rows.extend(inputs if isinstance(inputs, list) else [inputs])
                versions.add(entry.get("model_version"))
                times.append(entry.get("ts") or "")
    source = {
        "log": pattern,
        "files": files,
        "lines_skipped": skipped,
        "model_versions": sorted(str(version) for version in versions),
        "first": min(times, default=None),
        "last": max(times, default=None),
    }
    return pd.DataFrame.from_records(rows), source


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    log = os.environ.get("PREDICTION_LOG") or None
    if args[:1] == ["--log"] and len(args) >= 2:
        log, args = args[1], args[2:]
    if len(args) > (2 if log else 3) or any(arg.startswith("-") for arg in args):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        p = params.load()
        defaults = [p.paths.raw, p.paths.train_data, p.paths.drift_report][1 if log else 0 :]  # --log: no CSV
        files = [*map(Path, args), *defaults[len(args) :]]
        current_csv, reference_file, report_file = [None, *files] if log else files
        reference = pd.read_parquet(reference_file)
        if log:
            current, source = read_log(log)
            # The model's features only: the log holds no target, and columns the model ignores are not logged.
            features = [name for name in reference.columns if name not in (p.data.target, *p.data.drop_columns)]
            reference = reference[features]
        else:
            current = contract.read_typed(current_csv, contract.load(p.paths.schema))
            source = {"path": str(current_csv)}
    except (OSError, ValueError, yaml.YAMLError, params.ParamsError) as error:  # a missing or unreadable file
        print(f"drift: {error}\n(the reference comes from `dvc repro` or `dvc pull`)", file=sys.stderr)
        return 2
    if current.empty or reference.empty:
        print(f"drift: no data rows in {(log or current_csv) if current.empty else reference_file}", file=sys.stderr)
        return 2

    report = compare(reference, current, p.drift, p.data.drop_columns)
    report["current"] = {**source, "rows": len(current)}
    report["reference"] = {"path": str(reference_file), "rows": len(reference)}
    report_file.parent.mkdir(parents=True, exist_ok=True)
    report_file.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")

    if log:
        skipped = f"; {source['lines_skipped']} other lines skipped" if source["lines_skipped"] else ""
        print(
            f"drift: {len(current)} records from {len(source['files'])} prediction-log file(s), "
            f"{source['first']} to {source['last']}, model {', '.join(source['model_versions'])}{skipped}"
        )
    for name, result in sorted(report["columns"].items(), key=lambda item: -item[1]["psi"]):
        print(f"  {name:<30} PSI {result['psi']:>8.4f}{'  DRIFT' if result['drift'] else ''}")
    for kind in ("missing_columns", "new_columns"):
        if report[kind]:
            print(f"  {kind.replace('_', ' ')}: {', '.join(report[kind])}")
    if report["drift"]:
        changed = report["drifted"] + report["missing_columns"] + report["new_columns"]
        print(f"drift: {', '.join(changed)} drifted (PSI > {p.drift.psi_threshold} or column changed) -> {report_file}")
        return 1
    print(f"drift: none, every column's PSI is at most {p.drift.psi_threshold} -> {report_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
