"""The pull/merge request report, its regression gate, the drift check and `make retrain`, on the default
bake with its real pipeline: a branch whose params lower the primary metric fails the gate, a harmless one
passes, and a second run updates the same comment on a local stand-in for the GitHub and GitLab comment
APIs; retrain stops when nothing drifted, and otherwise retrains, promotes and pushes a branch."""

import json
import re
import shutil

import pandas as pd
import pytest
import yaml
from helpers import BIN, load_comment_api, run, set_hyperparams, tool_env, trained_default, wall_time

pytestmark = pytest.mark.slow

PACKAGE = "my_ml_project"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """The default bake after `dvc repro` (helpers.trained_default), committed on main, with a branch `change`
    checked out."""
    project, _ = trained_default(tmp_path_factory)
    run("git", "checkout", "-qb", "change", cwd=project)
    return project


def repro_with(project, **hyperparams) -> None:
    """params.yaml as on main, with these keys of the selected model's section, then `dvc repro` (tests may
    run in any order)."""
    run("git", "checkout", "main", "--", "params.yaml", cwd=project)
    set_hyperparams(project, **hyperparams)
    run(BIN / "dvc", "repro", cwd=project)


def outside_ci(**env: str) -> dict[str, str]:
    """The tools' environment without the CI variables of wherever these tests run: nothing posts or
    pushes anywhere real, and no MLflow server is used."""
    prefixes = ("GITHUB_", "GITLAB_", "CI_", "MLFLOW_", "RETRAIN_")
    clean = {name: value for name, value in tool_env().items() if not name.startswith(prefixes)}
    clean.pop("CI", None)
    return {**clean, **env}


def report(project, base: str = "main", **env: str):
    """`python -m <package>.report BASE` as CI runs it; check=False: the exit status is the verdict."""
    return run(BIN / "python", "-m", f"{PACKAGE}.report", base, cwd=project, check=False, env=outside_ci(**env))


def metric_on(project, ref: str | None) -> float:
    """The primary metric (roc_auc for the default bake) as committed on `ref`, or in the workspace."""
    text = run("git", "show", f"{ref}:metrics/metrics.json", cwd=project).stdout if ref else None
    return json.loads(text or (project / "metrics" / "metrics.json").read_text())["roc_auc"]


def test_a_param_change_that_lowers_the_metric_fails_the_gate_saying_why(project):
    with wall_time("repro with a weaker model"):
        repro_with(project, n_estimators=2, max_depth=1)
    old, new = metric_on(project, "main"), metric_on(project, None)
    assert old - new > 0.01, (old, new)  # the change really lowers roc_auc by more than the margin

    with wall_time("report"):
        result = report(project)
    assert result.returncode == 1, result.stdout + result.stderr
    verdict = result.stdout.strip().splitlines()[-1]
    assert verdict.startswith("report: gate FAILED: `roc_auc` dropped by")
    for part in (f"{old:g} on `main`", f"{new:g} on this branch", "allowed 0.01 (evaluate.max_regression)"):
        assert part in verdict, verdict
    written = (project / "reports" / "report.md").read_text()
    assert "**Gate FAILED:**" in written and "train.random_forest.max_depth" in written
    assert "report: not in GitHub Actions or GitLab CI" in result.stdout


def test_a_harmless_param_change_passes_the_gate(project):
    repro_with(project, n_estimators=150)
    old, new = metric_on(project, "main"), metric_on(project, None)
    assert old - new <= 0.01, (old, new)
    result = report(project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "report: gate passed: `roc_auc`" in result.stdout
    assert "| params.yaml | train.random_forest.n_estimators | 200" in result.stdout


def test_an_unknown_base_branch_is_a_clear_error_not_a_verdict(project):
    result = report(project, base="develop")
    assert result.returncode == 2
    assert "unknown git ref 'develop' (nor origin/develop)" in result.stderr
    assert "fetch-depth: 0" in result.stderr and "GIT_DEPTH: 0" in result.stderr


@pytest.mark.parametrize("platform", ["github", "gitlab"])
def test_a_second_run_updates_the_same_comment(project, tmp_path, platform):
    token = "t0k3n-for-the-gate-test"
    with load_comment_api(project)(token=token, per_page=2) as api:
        for index in range(3):
            api.add(platform, "acme/churn" if platform == "github" else "42", 5, f"review comment {index}")
        if platform == "github":
            event = tmp_path / "event.json"
            event.write_text(json.dumps({"pull_request": {"number": 5, "head": {"repo": {"full_name": "acme/churn"}}}}))
            env = {"GITHUB_ACTIONS": "true", "GITHUB_API_URL": api.url, "GITHUB_REPOSITORY": "acme/churn",
                   "GITHUB_EVENT_PATH": str(event), "GITHUB_TOKEN": token, "GITHUB_SERVER_URL": "https://ghe.example.com",
                   "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}  # fmt: skip
            thread = api.thread("github", "acme/churn", 5)
        else:
            env = {"GITLAB_CI": "true", "CI_API_V4_URL": f"{api.url}/api/v4", "CI_PROJECT_ID": "42",
                   "CI_MERGE_REQUEST_IID": "5", "GITLAB_REPORT_TOKEN": token}  # fmt: skip
            thread = api.thread("gitlab", "42", 5)

        outputs = []
        for attempt in (1, 2):
            run_env = {**env, "GITHUB_RUN_ID": str(attempt), "CI_JOB_URL": f"https://gitlab.example.com/jobs/{attempt}"}
            result = report(project, **run_env)
            assert result.returncode in (0, 1), result.stdout + result.stderr
            outputs.append(result.stdout + result.stderr)

    assert "report: created comment" in outputs[0] and "in place" in outputs[1]
    assert all(token not in output for output in outputs)
    ours = [comment for comment in thread if "<!-- dvc-report -->" in comment["body"]]
    assert len(thread) == 4 and len(ours) == 1
    assert ("actions/runs/2" if platform == "github" else "jobs/2/artifacts/browse") in ours[0]["body"]
    if platform == "github":
        assert (tmp_path / "summary.md").read_text().count("<!-- dvc-report -->") == 2  # one per run


def test_drift_check_finds_no_drift_in_the_training_data_and_finds_a_shifted_column(project, tmp_path):
    with wall_time("make drift"):
        result = run("make", "drift", cwd=project)
    assert "drift: none" in result.stdout
    assert json.loads((project / "reports" / "drift.json").read_text())["drift"] is False

    raw = pd.read_csv(project / "data" / "raw" / "breast_cancer.csv")
    raw["mean_radius"] = raw["mean_radius"] * 1.5  # a new batch measured in other units
    raw.to_csv(tmp_path / "new_batch.csv", index=False)
    result = run(BIN / "python", "-m", f"{PACKAGE}.drift", tmp_path / "new_batch.csv", cwd=project, check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    report_json = json.loads((project / "reports" / "drift.json").read_text())
    assert report_json["drifted"] == ["mean_radius"], report_json
    assert "drift: mean_radius drifted" in result.stdout


@pytest.fixture
def on_main(project, tmp_path):
    """A copy of the trained project with main checked out, and a bare repository as its `origin`."""
    copy = tmp_path / "project"
    shutil.copytree(project, copy, symlinks=True)
    run("git", "checkout", "--quiet", "--force", "main", cwd=copy)
    run(BIN / "dvc", "checkout", "--quiet", "--force", cwd=copy)
    run("git", "clone", "--quiet", "--bare", copy, tmp_path / "origin.git", cwd=tmp_path)
    run("git", "remote", "add", "origin", tmp_path / "origin.git", cwd=copy)
    run("git", "fetch", "--quiet", "origin", cwd=copy)
    return copy


def test_retrain_without_drift_stops_before_retraining(on_main, tmp_path):
    lock = (on_main / "dvc.lock").read_text()
    result = run("make", "--no-print-directory", "retrain", cwd=on_main, env=outside_ci(), check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "retrain: **No drift:**" in result.stdout and "dvc repro" not in result.stdout
    assert (on_main / "dvc.lock").read_text() == lock
    assert run("git", "status", "--porcelain", cwd=on_main).stdout == ""
    assert run("git", "--git-dir", tmp_path / "origin.git", "branch", "--list", "retrain/*", cwd=tmp_path).stdout == ""


def test_retrain_on_drifted_data_retrains_promotes_and_pushes_a_branch(on_main, tmp_path):
    """New data (the largest quarter of the rows twice more: the size columns drift), as `dvc add` leaves it."""
    raw = on_main / "data" / "raw" / "breast_cancer.csv"
    frame = pd.read_csv(raw)
    large = frame[frame["mean_radius"] > frame["mean_radius"].quantile(0.75)]
    pd.concat([frame, large, large]).to_csv(raw, index=False)
    run(BIN / "dvc", "add", "--quiet", raw, cwd=on_main)
    pointer = yaml.safe_load((on_main / "data" / "raw" / "breast_cancer.csv.dvc").read_text())["outs"][0]["md5"]
    with wall_time("make retrain"):
        result = run("make", "--no-print-directory", "retrain", cwd=on_main, env=outside_ci(), check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    commands = re.findall(r"^retrain: \$ (.+)$", result.stdout, re.MULTILINE)
    steps = [" ".join(command.split()[:3]) for command in commands if not command.startswith("git ")]
    assert steps == [
        f"{BIN / 'python'} -m {PACKAGE}.drift", "dvc repro", f"{BIN / 'python'} -m {PACKAGE}.report",
        f"{BIN / 'python'} -m {PACKAGE}.registry", "dvc push"]  # fmt: skip
    assert "drift: " in output and "report: gate passed" in output
    assert re.search(r"promote: version \d+ is the champion now", output), output
    # The branch, checked out here and pushed to origin, holds the retrained dvc.lock and the new data's pointer.
    (branch,) = re.findall(r"Pushed `(retrain/\d{4}-\d\d-\d\d-\d{4})`", result.stdout)
    assert run("git", "branch", "--show-current", cwd=on_main).stdout.strip() == branch
    bare = tmp_path / "origin.git"
    shown = run("git", "--git-dir", bare, "show", f"{branch}:data/raw/breast_cancer.csv.dvc", cwd=tmp_path).stdout
    assert yaml.safe_load(shown)["outs"][0]["md5"] == pointer
    lock = run("git", "--git-dir", bare, "show", f"{branch}:dvc.lock", cwd=tmp_path).stdout
    assert lock != run("git", "show", "main:dvc.lock", cwd=on_main).stdout and pointer in lock
    assert run("git", "status", "--porcelain", "--untracked-files=no", cwd=on_main).stdout == ""
