"""drift.py: PSI per column, the columns that drift and those that do not, and the command's report and exit status."""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from {{ cookiecutter.package }} import contract, drift, params

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SETTINGS = params.Drift(psi_threshold=0.2, bins=10)


def resample(table: pd.DataFrame, seed: int) -> pd.DataFrame:
    """More rows from the same population: what new data looks like when nothing changed."""
    return table.sample(n=len(table), replace=True, random_state=seed).reset_index(drop=True)


def test_psi_is_zero_for_equal_shares_and_grows_with_the_difference():
    even = np.array([0.25, 0.25, 0.25, 0.25])
    assert drift.psi(even, even) == 0
    small = drift.psi(even, np.array([0.3, 0.2, 0.25, 0.25]))
    large = drift.psi(even, np.array([0.7, 0.1, 0.1, 0.1]))
    assert 0 < small < 0.1 < SETTINGS.psi_threshold < large


def test_an_empty_bin_gives_a_finite_psi():
    assert np.isfinite(drift.psi(np.array([0.5, 0.5, 0.0]), np.array([0.0, 0.5, 0.5])))


def test_data_from_the_same_population_does_not_drift(mixed_table):
    result = drift.compare(mixed_table, resample(mixed_table, seed=1), SETTINGS, skip=[])
    assert result["drift"] is False
    assert set(result["columns"]) == set(mixed_table.columns)
    assert all(column["psi"] <= SETTINGS.psi_threshold for column in result["columns"].values())


def test_a_shifted_number_column_drifts_and_only_that_one(mixed_table):
    current = resample(mixed_table, seed=1)
    current["income"] = current["income"] * 1.6
    result = drift.compare(mixed_table, current, SETTINGS, skip=[])
    assert result["drifted"] == ["income"]
    assert result["columns"]["income"]["type"] == "number" and result["drift"] is True


def test_values_beyond_the_training_range_land_in_the_outer_bins(mixed_table):
    current = mixed_table.copy()
    current["age"] = 1_000.0  # every value above the training maximum
    result = drift.compare(mixed_table, current, SETTINGS, skip=[])
    assert result["drifted"] == ["age"]


def test_a_change_in_category_shares_drifts(mixed_table):
    current = resample(mixed_table, seed=2)
    current["city"] = "paris"
    result = drift.compare(mixed_table, current, SETTINGS, skip=[])
    assert result["drifted"] == ["city"]
    assert result["columns"]["city"]["type"] == "category"


def test_a_column_filling_up_with_gaps_drifts(mixed_table):
    current = resample(mixed_table, seed=3)
    current.loc[current.index % 2 == 0, "age"] = np.nan
    assert drift.compare(mixed_table, current, SETTINGS, skip=[])["drifted"] == ["age"]


def test_missing_and_new_columns_count_as_drift_and_skipped_ones_do_not(mixed_table):
    current = resample(mixed_table, seed=4).drop(columns=["city"]).assign(channel="web")
    result = drift.compare(mixed_table, current, SETTINGS, skip=["constant"])
    assert result["missing_columns"] == ["city"] and result["new_columns"] == ["channel"]
    assert result["skipped_columns"] == ["constant"] and "constant" not in result["columns"]
    assert result["drift"] is True and result["drifted"] == []


# --- the command ---------------------------------------------------------------------------------


@pytest.fixture
def workspace(tmp_path, monkeypatch, mixed_table) -> Path:
    """params.yaml, a data contract and a training reference, as `dvc repro` leaves them."""
    shutil.copy(PROJECT_ROOT / "params.yaml", tmp_path)
    monkeypatch.chdir(tmp_path)
    schema = params.load().paths.schema
    schema.parent.mkdir(parents=True, exist_ok=True)
    contract.write(contract.infer(mixed_table.astype("string"), "label"), schema, "t", 1)
    mixed_table.to_parquet(tmp_path / "reference.parquet", index=False)
    return tmp_path


def test_command_writes_the_report_and_exits_0_without_drift(workspace, mixed_table, capsys):
    resample(mixed_table, seed=5).to_csv(workspace / "current.csv", index=False)
    assert drift.main(["current.csv", "reference.parquet", "out/drift.json"]) == 0
    report = json.loads((workspace / "out" / "drift.json").read_text())
    assert report["drift"] is False and report["current"]["rows"] == len(mixed_table)
    assert "drift: none" in capsys.readouterr().out


def test_command_exits_1_and_names_the_drifted_column(workspace, mixed_table, capsys):
    current = resample(mixed_table, seed=5)
    current["income"] = current["income"] + 40_000
    current.to_csv(workspace / "current.csv", index=False)
    assert drift.main(["current.csv", "reference.parquet", "out/drift.json"]) == 1
    assert json.loads((workspace / "out" / "drift.json").read_text())["drifted"] == ["income"]
    assert "drift: income drifted" in capsys.readouterr().out


def test_command_without_a_reference_stops_naming_the_file(workspace, mixed_table, capsys):
    mixed_table.to_csv(workspace / "current.csv", index=False)
    assert drift.main(["current.csv", "missing.parquet", "out/drift.json"]) == 2
    assert "missing.parquet" in capsys.readouterr().err
    assert not (workspace / "out").exists()


def test_command_without_arguments_compares_the_files_params_yaml_names(workspace, mixed_table, capsys):
    settings = yaml.safe_load((workspace / "params.yaml").read_text())
    settings["paths"].update(raw="new/batch.csv", train_data="split/train.parquet", drift_report="out/psi.json")
    (workspace / "params.yaml").write_text(yaml.safe_dump(settings))
    for name in ("new", "split"):
        (workspace / name).mkdir()
    resample(mixed_table, seed=5).to_csv(workspace / "new" / "batch.csv", index=False)
    mixed_table.to_parquet(workspace / "split" / "train.parquet", index=False)
    assert drift.main([]) == 0
    report = json.loads((workspace / "out" / "psi.json").read_text())
    assert report["current"]["path"] == "new/batch.csv" and report["reference"]["path"] == "split/train.parquet"
    assert "-> out/psi.json" in capsys.readouterr().out


# --- the command on a prediction log (--log) -----------------------------------------------------


def write_log(path: Path, features: pd.DataFrame, batch: int = 5, extra_lines: tuple[str, ...] = ()) -> None:
    """A prediction log as the serving app writes it: one JSON line per request, its records under inputs."""
    lines = [
        json.dumps(
            {
                "model_version": "abc123",
                "latency_ms": 3.2,
                "inputs": json.loads(features.iloc[start : start + batch].to_json(orient="records")),
                "predictions": ["yes"] * len(features.iloc[start : start + batch]),
                "ts": f"2026-12-01T10:{start // batch % 60:02d}:00+00:00",
            }
        )
        for start in range(0, len(features), batch)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([*extra_lines, *lines]) + "\n")


@pytest.fixture
def log_workspace(workspace):
    """The workspace with params.yaml naming the fixture table's target, `label`."""
    settings = yaml.safe_load((workspace / "params.yaml").read_text())
    settings["data"]["target"] = "label"
    (workspace / "params.yaml").write_text(yaml.safe_dump(settings))
    return workspace


def test_log_inputs_of_every_matching_file_become_the_current_table(tmp_path, mixed_table):
    features = mixed_table.drop(columns="label")
    write_log(tmp_path / "logs" / "predictions-11.jsonl.1", features.iloc[:60])  # rotated
    write_log(tmp_path / "logs" / "predictions-11.jsonl", features.iloc[60:100], extra_lines=("INFO: access",))
    write_log(tmp_path / "logs" / "predictions-12.jsonl", features.iloc[100:], extra_lines=('{"other": 1}',))
    current, source = drift.read_log(str(tmp_path / "logs" / "predictions-*.jsonl*"))
    assert len(current) == len(features) and set(current.columns) == set(features.columns)
    assert len(source["files"]) == 3 and source["lines_skipped"] == 2
    assert source["model_versions"] == ["abc123"]
    pd.testing.assert_series_equal(
        current["income"].sort_values(ignore_index=True), features["income"].sort_values(ignore_index=True)
    )


def test_command_on_a_log_compares_the_models_features_and_exits_0_without_drift(log_workspace, mixed_table, capsys):
    write_log(log_workspace / "logs" / "predictions-1.jsonl", resample(mixed_table, seed=6).drop(columns="label"))
    assert drift.main(["--log", "logs/predictions-*.jsonl*", "reference.parquet", "out/drift.json"]) == 0
    report = json.loads((log_workspace / "out" / "drift.json").read_text())
    assert report["drift"] is False and report["missing_columns"] == []  # the target is not a feature
    assert set(report["columns"]) == set(mixed_table.columns) - {"label"}
    assert report["current"]["rows"] == len(mixed_table) and report["current"]["log"] == "logs/predictions-*.jsonl*"
    assert f"{len(mixed_table)} records from 1 prediction-log file" in capsys.readouterr().out


def test_command_on_a_log_names_the_shifted_column_and_only_it(log_workspace, mixed_table, capsys):
    current = resample(mixed_table, seed=7).drop(columns="label")
    current["income"] = current["income"] * 1.6
    write_log(log_workspace / "logs" / "predictions-1.jsonl", current)
    assert drift.main(["--log", "logs/*.jsonl", "reference.parquet", "out/drift.json"]) == 1
    assert json.loads((log_workspace / "out" / "drift.json").read_text())["drifted"] == ["income"]
    assert "drift: income drifted" in capsys.readouterr().out


def test_command_on_a_log_that_matches_no_file_exits_2_naming_the_pattern(log_workspace, capsys):
    assert drift.main(["--log", "logs/nothing-*.jsonl", "reference.parquet", "out/drift.json"]) == 2
    assert "logs/nothing-*.jsonl" in capsys.readouterr().err
    assert not (log_workspace / "out").exists()


def test_the_prediction_log_variable_stands_for_log_as_in_the_retrain_jobs(log_workspace, mixed_table, monkeypatch):
    current = resample(mixed_table, seed=8).drop(columns="label")
    current["income"] = current["income"] * 1.6
    write_log(log_workspace / "logs" / "predictions-1.jsonl", current)
    monkeypatch.setenv("PREDICTION_LOG", "logs/*.jsonl")
    assert drift.main(["reference.parquet", "out/drift.json"]) == 1
    assert json.loads((log_workspace / "out" / "drift.json").read_text())["current"]["log"] == "logs/*.jsonl"
