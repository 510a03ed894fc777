"""Models switch by one param and sweeps run as DVC experiments (issue 15, items 1 and 2), with real DVC
and MLflow on the default bake and on a regression bake: `dvc exp run -S train.model=X` works for every
model, a queued sweep of the three models is three experiments and exactly three MLflow runs that carry
their names and params in the project's own store, no experiment registers a model version, and only
the selected model's section is a dependency of `train`."""

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
import yaml
from helpers import BIN, DEFAULTS, bake, run, set_hyperparams, stages_run, trained_default, wall_time

pytestmark = pytest.mark.slow

DVC = BIN / "dvc"
UP_TO_DATE = "Data and pipelines are up to date."
MODELS = DEFAULTS["model"]  # test_options.py checks that these are the baked ESTIMATORS


def reproduced(project: Path) -> Path:
    run(DVC, "repro", cwd=project)
    run("git", "add", "--all", cwd=project)
    run("git", "commit", "-qm", "First pipeline run", cwd=project)
    return project


@pytest.fixture(scope="module")
def classification(tmp_path_factory) -> Path:
    """The default bake (random_forest), reproduced and committed (helpers.trained_default): one run and
    version 1 in mlflow.db."""
    return trained_default(tmp_path_factory)[0]


@pytest.fixture
def project(classification, tmp_path) -> Path:
    """A private copy (git history with its experiment refs, DVC cache, MLflow store)."""
    return shutil.copytree(classification, tmp_path / classification.name, symlinks=True)


def metrics_of(project: Path) -> dict:
    return json.loads((project / "metrics" / "metrics.json").read_text())


def experiments(project: Path) -> dict[str, dict]:
    """`dvc exp show --json`: {experiment name: {"params": train section, "metrics": ..., "baseline": rev}}."""
    shown = json.loads(run(DVC, "exp", "show", "--json", cwd=project).stdout)
    found = {}
    for row in shown:
        for experiment in row.get("experiments") or []:
            data = experiment["revs"][0]["data"]
            found[experiment["name"]] = {
                "train": data["params"]["params.yaml"]["data"]["train"],
                "metrics": data["metrics"]["metrics/metrics.json"]["data"],
                "baseline": row["rev"],
            }
    return found


def store(project: Path) -> dict:
    """The project's own MLflow store (read with sqlite3): its runs with params, metrics and tags, and the
    registered versions with their aliases."""
    with sqlite3.connect(project / "mlflow.db") as db:
        runs = {}
        for run_id, name, artifact_uri in db.execute("SELECT run_uuid, name, artifact_uri FROM runs"):
            runs[run_id] = {
                "id": run_id,
                "name": name,
                "artifact_uri": artifact_uri,
                "params": dict(db.execute("SELECT key, value FROM params WHERE run_uuid = ?", (run_id,))),
                "metrics": dict(db.execute("SELECT key, value FROM latest_metrics WHERE run_uuid = ?", (run_id,))),
                "tags": dict(db.execute("SELECT key, value FROM tags WHERE run_uuid = ?", (run_id,))),
            }
        versions = [row[0] for row in db.execute("SELECT version FROM model_versions ORDER BY version")]
        aliases = dict(db.execute("SELECT alias, version FROM registered_model_aliases"))
    return {"runs": runs, "versions": versions, "aliases": aliases}


def experiment_runs(project: Path) -> dict[str, dict]:
    """The MLflow runs tagged with a DVC experiment, by that experiment's name."""
    runs = store(project)["runs"].values()
    return {logged["tags"]["dvc_experiment"]: logged for logged in runs if "dvc_experiment" in logged["tags"]}


def test_every_model_is_one_exp_run_away_and_registers_nothing(project):
    baseline = metrics_of(project)
    head = run("git", "rev-parse", "HEAD", cwd=project).stdout.strip()
    seen = {}
    for model in ("gradient_boosting", "linear"):  # random_forest is the baseline's: the sweep below runs it
        with wall_time(f"dvc exp run -S train.model={model}"):
            result = run(DVC, "exp", "run", "-S", f"train.model={model}", cwd=project)
        assert stages_run(result.stdout) == ["train", "evaluate"]
        assert "no model version registered, as this is DVC experiment" in result.stdout
        seen[model] = metrics_of(project)
        info = json.loads((project / "models" / "model_info.json").read_text())
        assert info["model_version"] is None
        logged = store(project)["runs"][info["run_id"]]
        assert logged["params"]["train.model"] == model
        assert logged["tags"]["dvc_baseline_rev"] == head
    assert baseline != seen["gradient_boosting"] != seen["linear"] != baseline

    shown = experiments(project)
    assert sorted(experiment["train"]["model"] for experiment in shown.values()) == ["gradient_boosting", "linear"]
    assert sorted(experiment_runs(project)) == sorted(shown)  # the same names in MLflow and in DVC
    assert store(project)["versions"] == [1] and store(project)["aliases"] == {"candidate": 1}


def test_a_queued_sweep_is_one_mlflow_run_per_experiment_in_the_projects_store(project):
    before = store(project)
    with wall_time("make sweep (3 queued experiments, one job)"):
        result = run("make", "sweep", cwd=project)
    print(result.stdout[result.stdout.rindex("dvc exp show") :])  # the ranking, for the notes (pytest -s)

    shown = experiments(project)
    assert sorted(experiment["train"]["model"] for experiment in shown.values()) == sorted(MODELS)
    head = run("git", "rev-parse", "HEAD", cwd=project).stdout.strip()
    assert {experiment["baseline"] for experiment in shown.values()} == {head}
    # the ranking: by roc_auc, best first
    ranked = [line.split("[")[1].split("]")[0] for line in result.stdout.splitlines() if "──" in line and "[" in line]
    assert ranked == sorted(shown, key=lambda name: -shown[name]["metrics"]["roc_auc"])

    # MLflow has exactly these experiments, each one run with its params and metrics, in the project's store
    # (they ran in copies under .dvc/tmp/exps), the artifacts beside it, and no new model version
    after = store(project)
    new_runs = {run_id: logged for run_id, logged in after["runs"].items() if run_id not in before["runs"]}
    assert sorted(logged["tags"].get("dvc_experiment") for logged in new_runs.values()) == sorted(shown)
    for logged in new_runs.values():
        name = logged["tags"]["dvc_experiment"]
        assert logged["name"] == name and logged["tags"]["dvc_baseline_rev"] == head
        assert logged["params"]["train.model"] == shown[name]["train"]["model"]
        model = shown[name]["train"]["model"]
        section = {f"train.{model}.{key}": str(value) for key, value in shown[name]["train"][model].items()}
        assert {key: logged["params"].get(key) for key in section} == section  # MLflow keeps str(value)
        assert logged["metrics"] == pytest.approx(shown[name]["metrics"])
        assert (Path(logged["artifact_uri"]) / "evaluation" / "metrics.json").exists()
    assert (after["versions"], after["aliases"]) == (before["versions"], before["aliases"]) == ([1], {"candidate": 1})
    assert not list((project / ".dvc" / "tmp").rglob("mlflow.db"))


def test_only_the_selected_models_section_is_a_dependency_of_train(project):
    lock = yaml.safe_load((project / "dvc.lock").read_text())["stages"]["train"]["params"]["params.yaml"]
    assert sorted(lock) == ["data", "train.model", "train.random_forest", "train.seed"]

    params_file = project / "params.yaml"
    params = yaml.safe_load(params_file.read_text())
    params["train"]["linear"]["C"] = 0.01
    params["train"]["gradient_boosting"]["learning_rate"] = 0.5
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    assert UP_TO_DATE in run(DVC, "status", cwd=project).stdout
    assert stages_run(run(DVC, "repro", cwd=project).stdout) == []

    set_hyperparams(project, n_estimators=20)
    assert stages_run(run(DVC, "repro", cwd=project).stdout) == ["train", "evaluate"]


def test_regression_switches_models_too_and_a_fresh_store_stays_in_the_project(tmp_path):
    """Regression, baked with the linear model (Ridge's alpha): the baked project's own params and stage
    tests check every section against its estimator; `dvc exp run --temp` (a copy under .dvc/tmp/exps, as
    a queued experiment) to random_forest, into a project without mlflow.db yet (a fresh clone): the store,
    its experiment and the run's artifacts are the project's, not the deleted copy's."""
    with wall_time("bake + first repro (regression, linear)"):
        project = reproduced(bake(tmp_path, task="regression", model="linear"))
    assert yaml.safe_load((project / "params.yaml").read_text())["train"]["linear"] == {"alpha": 1.0}
    run(BIN / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_params.py", "tests/test_stages.py",
        cwd=project)  # fmt: skip
    baseline = metrics_of(project)
    (project / "mlflow.db").unlink()
    shutil.rmtree(project / "mlruns")

    with wall_time("dvc exp run --temp -S train.model=random_forest"):
        result = run(DVC, "exp", "run", "--temp", "-S", "train.model=random_forest", cwd=project)
    assert stages_run(result.stdout) == ["train", "evaluate"]
    ((name, shown),) = experiments(project).items()
    assert shown["train"]["model"] == "random_forest" and shown["metrics"] != baseline
    assert metrics_of(project) == baseline  # --temp leaves the workspace alone

    ((logged_name, logged),) = experiment_runs(project).items()
    assert logged_name == name and logged["metrics"] == pytest.approx(shown["metrics"])
    with sqlite3.connect(project / "mlflow.db") as db:
        (experiment_artifacts,) = db.execute(
            "SELECT artifact_location FROM experiments WHERE name = ?", (project.name,)
        )
        (model_artifacts,) = db.execute(
            "SELECT artifact_location FROM logged_models WHERE source_run_id = ?", (logged["id"],)
        )
    assert experiment_artifacts == (str(project / "mlruns"),)
    assert (Path(logged["artifact_uri"]) / "evaluation" / "metrics.json").exists()
    assert (Path(model_artifacts[0]) / "MLmodel").exists()
    assert store(project)["versions"] == []
