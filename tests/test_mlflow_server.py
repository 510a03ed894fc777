"""The default project against a real `mlflow server`: what one pipeline run records, lineage both ways,
promotion and rollback of the champion, and a clear stop when the server does not answer."""

import json
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from helpers import BIN, bake, commit, free_port, md5, run, scan_for_credentials, set_hyperparams
from test_registry import STUMP, aliases, comparison, project_env, registry_client, repro


def lock_entry(project: Path, stage: str, section: str, path: str) -> dict:
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    (entry,) = [item for item in lock["stages"][stage][section] if item["path"] == path]
    return entry


@pytest.fixture(scope="module")
def served(tmp_path_factory, mlflow_server):
    """The default bake, answering mlflow_tracking_uri with the server; its first `dvc repro`, committed.

    Returns the project, the commit the run was made from and the aliases right after the run.
    """
    project = bake(tmp_path_factory.mktemp("served"), mlflow_tracking_uri=mlflow_server)
    head = run("git", "rev-parse", "HEAD", cwd=project).stdout.strip()
    run(BIN / "dvc", "repro", cwd=project, env=project_env())
    run("git", "add", "--all", cwd=project)
    run("git", "commit", "-qm", "First pipeline run", cwd=project)
    return {"project": project, "head": head, "aliases": aliases(registry_client(mlflow_server), project.name)}


@pytest.fixture
def project_copy(served, tmp_path):
    return shutil.copytree(served["project"], tmp_path / served["project"].name, symlinks=True)


def test_run_records_params_metrics_plots_dataset_model_and_lineage(served, mlflow_server, monkeypatch):
    import mlflow

    project, name = served["project"], served["project"].name
    info = json.loads((project / "models" / "model_info.json").read_text())
    client = registry_client(mlflow_server)
    logged = client.get_run(info["run_id"])

    # the run: in the project's experiment, with all of params.yaml, the metrics and the plot data
    assert client.get_experiment(logged.info.experiment_id).name == name == info["experiment"]
    assert logged.data.params["train.random_forest.n_estimators"] == "200"
    assert logged.data.params["evaluate.primary_metric"] == "roc_auc"
    assert logged.data.params["data.drop_columns"] == "[]"
    metrics = json.loads((project / "metrics" / "metrics.json").read_text())
    assert logged.data.metrics == pytest.approx(metrics) == info["metrics"]
    artifacts = {item.path for item in client.list_artifacts(info["run_id"], "evaluation")}
    plot_data = {"confusion.csv", "roc.csv", "importance.csv"}
    assert artifacts == {"evaluation/metrics.json", *(f"evaluation/{name}" for name in plot_data)}

    # the test data as an MLflow dataset: name, DVC's md5 of the file as digest, rows
    test_file = project / "data" / "prepared" / "test.parquet"
    (dataset_input,) = logged.inputs.dataset_inputs
    dataset = dataset_input.dataset
    assert dataset.name == "breast_cancer-test"
    test_file_lock = lock_entry(project, "evaluate", "deps", "data/prepared/test.parquet")
    assert dataset.digest == md5(test_file) == test_file_lock["md5"]
    assert json.loads(dataset.profile)["num_rows"] == len(pd.read_parquet(test_file))

    # lineage from the run: the commit it came from, and the hashes dvc.lock holds for data and model
    tags = logged.data.tags
    assert tags["git_commit"] == served["head"]
    assert (tags["git_branch"], tags["git_dirty"]) == ("main", "false")
    assert tags["data_md5"] == lock_entry(project, "prepare", "deps", "data/raw/breast_cancer.csv")["md5"]
    assert tags["model_md5"] == lock_entry(project, "train", "outs", "models/model.joblib")["md5"]

    # the registered version: of this run, alias candidate, with the same lineage tags
    version = client.get_model_version(name, info["model_version"])
    assert version.run_id == info["run_id"]
    assert served["aliases"] == {"candidate": info["model_version"]}
    assert {key: version.tags[key] for key in ("git_commit", "data_md5", "model_md5")} == {
        key: tags[key] for key in ("git_commit", "data_md5", "model_md5")
    }

    # the model: an sklearn flavour with a signature over the feature columns and an input example
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    model_info = mlflow.models.get_model_info(f"models:/{name}/{info['model_version']}")
    assert "sklearn" in model_info.flavors
    features = [column for column in pd.read_parquet(test_file).columns if column != "diagnosis"]
    assert model_info.signature.inputs.input_names() == features
    assert model_info.saved_input_example_info["type"] == "dataframe"

    # lineage from the project: model_info.json, versioned by DVC beside the model
    assert info["tracking_uri"] == mlflow_server and info["model_name"] == name
    assert {key: info[key] for key in ("git_commit", "data_md5", "model_md5")} == {
        key: tags[key] for key in ("git_commit", "data_md5", "model_md5")
    }
    info_file = project / "models" / "model_info.json"
    assert lock_entry(project, "evaluate", "outs", "models/model_info.json")["md5"] == md5(info_file)
    assert run("git", "check-ignore", "-q", "models/model_info.json", cwd=project, check=False).returncode == 0


def test_promote_refuses_a_worse_model_and_rollback_restores_the_champion(project_copy, mlflow_server):
    project, name = project_copy, project_copy.name
    client = registry_client(mlflow_server)
    port = mlflow_server.rsplit(":", 1)[1]

    def registry(command: str, env: dict, returncode: int = 0) -> str:
        result = run(BIN / "python", "-m", "my_ml_project.registry", command, cwd=project, env=env, check=False)
        assert result.returncode == returncode, result.stdout + result.stderr
        return result.stdout + result.stderr

    env = project_env()
    # Each change is committed before `dvc repro`, as on the default branch: promote takes only such models.
    defaults = set_hyperparams(project, **STUMP)
    commit(project, "A stump")
    stump = repro(project, env)
    first = registry("promote", env)
    assert f"version {stump['model_version']} is the champion now (the first champion)" in first

    # A user and password in the URI (the server ignores them) must end up nowhere.
    secret_env = project_env(MLFLOW_TRACKING_URI=f"http://tester:s3cret-pw@127.0.0.1:{port}")
    set_hyperparams(project, **defaults)
    commit(project, "A forest")
    forest = repro(project, secret_env)
    assert forest["tracking_uri"] == mlflow_server
    promoted = registry("promote", secret_env)
    replaced = f"replaces version {stump['model_version']}"
    assert f"version {forest['model_version']} is the champion now ({replaced})" in promoted
    assert "s3cret-pw" not in promoted + (project / "models" / "model_info.json").read_text()

    # The same stump again: DVC restores train from its run cache, evaluate still registers a version.
    set_hyperparams(project, **STUMP)
    commit(project, "The stump again")
    again = repro(project, env)
    assert again["model_md5"] == stump["model_md5"] and again["model_version"] != stump["model_version"]
    refused = registry("promote", env, returncode=1)
    scores = comparison(refused)
    assert (scores["champion"][0], scores["candidate"][0]) == (forest["model_version"], again["model_version"]), refused
    assert scores["candidate"][1] < scores["champion"][1]
    assert "promote: refused" in refused
    assert aliases(client, name) == {"champion": forest["model_version"], "candidate": again["model_version"]}

    assert f"the champion is version {stump['model_version']} again" in registry("rollback", env)
    assert aliases(client, name)["champion"] == stump["model_version"]
    assert "was the first champion" in registry("rollback", env, returncode=2)

    run("git", "add", "--all", cwd=project)
    run("git", "commit", "-qm", "Three more runs", cwd=project)
    assert scan_for_credentials(project, ("s3cret-pw",)) == []
    tags = [client.get_run(info["run_id"]).data.tags for info in (stump, forest, again)]
    assert not any("s3cret-pw" in json.dumps(tag) for tag in tags)


def test_unreachable_server_stops_evaluate_with_one_line_and_changes_nothing(project_copy):
    project = project_copy
    port = free_port()  # nothing listens there
    env = project_env(MLFLOW_TRACKING_URI=f"http://tester:s3cret-pw@127.0.0.1:{port}")
    outputs = [project / "dvc.lock", project / "metrics" / "metrics.json", *sorted((project / "plots").glob("*.csv")),
               project / "models" / "model_info.json"]  # fmt: skip
    before = {path: path.read_bytes() for path in outputs}

    started = time.monotonic()
    result = run(BIN / "dvc", "repro", "--force", "--single-item", "evaluate", cwd=project, env=env, check=False)
    elapsed = time.monotonic() - started
    printed = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"evaluate: MLflow tracking server http://127.0.0.1:{port} is not reachable" in printed, printed
    assert "Traceback" not in printed and "s3cret-pw" not in printed
    assert elapsed < 90, f"took {elapsed:.0f} s: MLflow's own retries, not the quick check"
    assert {path: path.read_bytes() for path in outputs} == before

    promote = run("make", "promote", cwd=project, env=env, check=False)
    assert promote.returncode != 0
    assert f"promote: MLflow tracking server http://127.0.0.1:{port} is not reachable" in promote.stderr
    assert "Traceback" not in promote.stderr
