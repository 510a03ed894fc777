"""Bad data stops the pipeline at validate with a named error, and loses nothing."""

import gzip
import shutil

import pandas as pd
import pytest
from helpers import BIN, bake, md5, run

RAW = "data/raw/customers.csv"


# Each case: a change to the good table (read as text), giving a table or raw bytes; the error it must give.
BAD_FILES = {
    "missing target column": (lambda t: t.drop(columns="churned"), "missing column 'churned'"),
    "empty file": (lambda t: b"", "not a readable CSV file (EmptyDataError"),
    "header only": (lambda t: t.head(0), "no data rows (only a header?)"),
    "binary, not a CSV": (lambda t: gzip.compress(t.to_csv(index=False).encode()), "not a readable CSV file"),
    "all-missing column": (lambda t: t.assign(monthly_spend=None), "column 'monthly_spend': 240 missing values (100%)"),
    "single class": (lambda t: t.assign(churned="no"), "target 'churned': a single class 'no' in every row"),
    "target all missing": (lambda t: t.assign(churned=None), "target 'churned': no row has a value"),
    "text in a numeric column": (
        lambda t: t.assign(age=t["age"].where(t.index % 10 != 0, "thirty")),
        "column 'age': 24 values are not numbers (e.g. 'thirty')",
    ),
    "a missing column": (lambda t: t.drop(columns="plan"), "missing column 'plan'"),
    "an extra column": (lambda t: t.assign(notes="call back"), "column 'notes' is not in the contract"),
    "range violation": (
        lambda t: t.assign(age=t["age"].where(t.index >= 37, "150")),
        "column 'age': 37 values outside [",
    ),
    "unknown category": (
        lambda t: t.assign(plan=t["plan"].where(t.index % 40 != 0, "platinum")),
        "column 'plan': 6 values not among the contract's categories (e.g. 'platinum')",
    ),
}


def cache_files(project) -> dict[str, str]:
    return {
        str(path.relative_to(project)): md5(path) for path in (project / ".dvc" / "cache").rglob("*") if path.is_file()
    }


@pytest.fixture(scope="module")
def trained(tmp_path_factory, messy_csv):
    """A project on the user's CSV, trained and committed; the good CSV kept aside to restore."""
    project = bake(
        tmp_path_factory.mktemp("bad-data"), data_path=str(messy_csv), target="churned", model="linear", ci="none"
    )
    run(BIN / "dvc", "repro", cwd=project)
    run("git", "add", "--all", cwd=project)
    run("git", "commit", "-qm", "Trained on good data", cwd=project)
    return project


@pytest.mark.parametrize("change,message", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_bad_data_fails_at_validate_naming_the_problem_and_keeps_model_metrics_and_cache(trained, change, message):
    good = trained / RAW
    kept = {name: md5(trained / name) for name in ("models/model.joblib", "metrics/metrics.json", "dvc.lock")}
    cache = cache_files(trained)
    backup = good.with_name("good.csv.bak")
    shutil.copyfile(good, backup)
    try:
        bad = change(pd.read_csv(good, dtype=str, keep_default_na=False))
        good.write_bytes(bad if isinstance(bad, bytes) else bad.to_csv(index=False).encode())
        result = run(BIN / "dvc", "repro", cwd=trained, check=False)
    finally:
        shutil.move(backup, good)
    assert result.returncode != 0
    assert f"{RAW}: {message}" in result.stderr, result.stderr
    assert "Running stage 'prepare'" not in result.stdout
    assert {name: md5(trained / name) for name in kept} == kept
    assert cache.items() <= cache_files(trained).items()  # nothing removed or changed, at most added
