"""The default project (classification, sample data): its pipeline runs, skips, reruns and reports."""

import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml
from helpers import BIN, mlflow_runs, run, scan_for_credentials, stages_run, trained_default

pytestmark = pytest.mark.slow

STAGES = ["validate", "prepare", "train", "evaluate"]


@pytest.fixture(scope="module")
def first_repro(tmp_path_factory):
    """(project, output of its first `dvc repro`): the default bake, run and committed as a team would
    (helpers.trained_default)."""
    return trained_default(tmp_path_factory)


@pytest.fixture(scope="module")
def project(first_repro):
    return first_repro[0]


@pytest.fixture
def project_copy(project, tmp_path):
    """A private copy (git history, DVC cache, MLflow store) for tests that change things."""
    return shutil.copytree(project, tmp_path / project.name, symlinks=True)


def test_first_repro_runs_every_stage_in_order(first_repro):
    assert stages_run(first_repro[1]) == STAGES


def test_no_tracked_file_holds_a_credential_after_repro_and_commit(project):
    assert scan_for_credentials(project) == []


def test_metrics_are_shown_by_dvc(project):
    shown = json.loads(run(BIN / "dvc", "metrics", "show", "--json", cwd=project).stdout)
    metrics = shown[""]["data"]["metrics/metrics.json"]["data"]
    assert set(metrics) == {"accuracy", "balanced_accuracy", "f1_macro", "roc_auc"}
    assert metrics["accuracy"] > 0.85  # the sample is easy: a broken pipeline would not get here


def test_plots_render_with_dvc(project, tmp_path):
    run(BIN / "dvc", "plots", "show", "--out", tmp_path / "plots", cwd=project)
    html = (tmp_path / "plots" / "index.html").read_text()
    assert "Confusion matrix" in html and "ROC curve" in html


def test_run_is_logged_once_to_mlflow_with_params_and_metrics(project):
    (logged,) = mlflow_runs(project)
    assert logged["params"]["train.model"] == "random_forest"
    assert logged["params"]["prepare.seed"] == "42"
    metrics = json.loads((project / "metrics" / "metrics.json").read_text())
    assert logged["metrics"] == pytest.approx(metrics)


def test_params_defaults_for_old_projects_equal_what_a_new_params_yaml_says(project):
    """params.py's defaults (for projects made before a section existed) and a new bake's params.yaml
    must not drift apart."""
    check = "from my_ml_project import params; print(params.load().drift == params.Drift())"
    assert run(BIN / "python", "-c", check, cwd=project).stdout.strip() == "True"


def test_second_repro_runs_nothing(project_copy):
    output = run(BIN / "dvc", "repro", cwd=project_copy).stdout
    assert stages_run(output) == []
    assert len(mlflow_runs(project_copy)) == 1


def test_changed_train_param_reruns_only_train_and_evaluate(project_copy):
    params_file = project_copy / "params.yaml"
    params = yaml.safe_load(params_file.read_text())
    params["train"]["random_forest"].update(n_estimators=3, max_depth=1)
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))

    output = run(BIN / "dvc", "repro", cwd=project_copy).stdout
    assert stages_run(output) == ["train", "evaluate"]

    diff = json.loads(run(BIN / "dvc", "metrics", "diff", "--json", cwd=project_copy).stdout)
    changes = diff["metrics/metrics.json"]
    assert any(change["diff"] != 0 for change in changes.values()), changes
    params_diff = json.loads(run(BIN / "dvc", "params", "diff", "--json", cwd=project_copy).stdout)
    assert params_diff["params.yaml"]["train.random_forest.max_depth"] == {"old": None, "new": 1}


def test_baked_project_own_tests_pass(project_copy):
    result = run("make", "test", cwd=project_copy)
    assert " passed" in result.stdout and "skipped" not in result.stdout, result.stdout


def test_baked_project_lint_passes(project_copy):
    run("make", "lint", cwd=project_copy)


def test_pre_commit_hooks_run_offline_and_pass(project_copy):
    result = run(BIN / "pre-commit", "run", "--all-files", cwd=project_copy)
    assert "ruff check" in result.stdout and "Passed" in result.stdout


def test_latency_gate_holds_with_every_core_busy_and_fails_over_its_budget(project_copy):
    """The baked gate measures the model's CPU time, so neighbours' load cannot fail it; a budget
    below what the model costs still does."""
    gate = [
        BIN / "python",
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "tests/test_model_quality.py",
        "-k",
        "latency",
    ]
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 2)]
    try:
        busy = run(*gate, cwd=project_copy, check=False)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert busy.returncode == 0 and "1 passed" in busy.stdout, busy.stdout

    params_file = project_copy / "params.yaml"
    params_file.write_text(
        params_file.read_text().replace("max_latency_ms_per_1000_rows: 500", "max_latency_ms_per_1000_rows: 0.001")
    )
    over = run(*gate, cwd=project_copy, check=False)
    assert over.returncode == 1
    assert "ms of CPU; evaluate.max_latency_ms_per_1000_rows is 0.001" in over.stdout, over.stdout


# A mistake in a file the team edits: (file, text replaced, replacement, the one line the stage prints)
MISTAKES = {
    "misspelt param": (
        "params.yaml",
        "test_size:",
        "test_sise:",
        "prepare: params.yaml: unknown key 'prepare.test_sise'; did you mean 'prepare.test_size'?",
    ),
    "primary metric not in GATE_METRICS": (
        "params.yaml",
        "primary_metric: roc_auc",
        "primary_metric: log_loss",
        (
            "evaluate: params.yaml: evaluate.primary_metric must be one of accuracy, balanced_accuracy, f1_macro, "
            "roc_auc, got 'log_loss' (GATE_METRICS in stages/evaluate.py)"
        ),
    ),
    "bad contract rule": (
        "data/schema.yaml",
        "type: number",
        "type: numbr",
        "validate: data/schema.yaml: column 'mean_radius': type must be number or category, got 'numbr'",
    ),
}


@pytest.mark.parametrize("file,old,new,message", MISTAKES.values(), ids=MISTAKES.keys())
def test_a_mistake_in_params_or_contract_stops_with_its_message_and_no_traceback(project_copy, file, old, new, message):
    path = project_copy / file
    path.write_text(path.read_text().replace(old, new, 1))
    kept = {name: (project_copy / name).read_bytes() for name in ("models/model.joblib", "metrics/metrics.json")}
    result = run(BIN / "dvc", "repro", cwd=project_copy, check=False)
    assert result.returncode != 0
    assert message in result.stderr.splitlines(), result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert {name: (project_copy / name).read_bytes() for name in kept} == kept
