"""The other projects whose pipeline matters: a regression, and a user's messy CSV."""

import json

import pytest
import yaml
from helpers import BIN, bake, mlflow_runs, run, stages_run


def metrics_of(project) -> dict:
    return json.loads((project / "metrics" / "metrics.json").read_text())


def test_regression_pipeline_reports_regression_metrics_and_plots(tmp_path):
    project = bake(tmp_path, task="regression", model="gradient_boosting", dvc_remote="none")
    output = run(BIN / "dvc", "repro", cwd=project).stdout
    assert stages_run(output) == ["validate", "prepare", "train", "evaluate"]
    metrics = metrics_of(project)
    assert set(metrics) == {"rmse", "mae", "r2"}
    assert metrics["rmse"] >= metrics["mae"] > 0
    assert metrics["r2"] > 0.2  # the diabetes sample: a model that learned something
    run(BIN / "dvc", "plots", "show", "--out", tmp_path / "plots", cwd=project)
    assert "Predicted vs actual" in (tmp_path / "plots" / "index.html").read_text()


def test_same_data_params_and_seed_give_byte_identical_metrics_and_plots(tmp_path):
    project = bake(tmp_path, task="regression", model="random_forest", dvc_remote="none")
    run(BIN / "dvc", "repro", cwd=project)
    first = (project / "metrics" / "metrics.json").read_bytes()
    plots = {path.name: path.read_bytes() for path in (project / "plots").glob("*.csv")}  # importance.csv too
    output = run(BIN / "dvc", "repro", "--force", cwd=project).stdout
    assert stages_run(output) == ["validate", "prepare", "train", "evaluate"]
    assert (project / "metrics" / "metrics.json").read_bytes() == first
    assert {path.name: path.read_bytes() for path in (project / "plots").glob("*.csv")} == plots
    assert len(mlflow_runs(project)) == 2


@pytest.fixture(scope="module")
def user_project(tmp_path_factory, messy_csv):
    project = bake(
        tmp_path_factory.mktemp("user"), data_path=str(messy_csv), target="churned", model="linear", ci="none"
    )
    return project


def test_users_mixed_type_csv_with_gaps_trains_without_edits(user_project):
    output = run(BIN / "dvc", "repro", cwd=user_project).stdout
    assert stages_run(output) == ["validate", "prepare", "train", "evaluate"]
    metrics = metrics_of(user_project)
    assert set(metrics) == {"accuracy", "balanced_accuracy", "f1_macro", "roc_auc"}
    assert all(0 <= value <= 1 for value in metrics.values())
    (logged,) = mlflow_runs(user_project)
    assert logged["params"]["data.target"] == "churned"


def test_drop_columns_param_removes_the_id_column_and_reruns_from_train(user_project):
    run(BIN / "dvc", "repro", cwd=user_project)
    params_file = user_project / "params.yaml"
    params = yaml.safe_load(params_file.read_text())
    params["data"]["drop_columns"] = ["customer_id"]
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    output = run(BIN / "dvc", "repro", cwd=user_project).stdout
    assert stages_run(output) == ["train", "evaluate"]
    model_columns = run(
        BIN / "python", "-c", "import joblib; print(list(joblib.load('models/model.joblib').feature_names_in_))",
        cwd=user_project,
    ).stdout  # fmt: skip
    assert "customer_id" not in model_columns and "plan" in model_columns
