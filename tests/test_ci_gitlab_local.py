"""The baked .gitlab-ci.yml, executed: gitlab-ci-local runs its pipelines on this host (shell executor),
against a real S3 endpoint (moto) for DVC and a local server speaking GitLab's merge request Notes API.

What runs for real: every script line of the jobs (pip install, ruff, pytest, the template check, dvc
pull, dvc repro, dvc plots diff, the report with its gate and its note, dvc push), with the CI/CD
variables a GitLab project would set. What differs from a GitLab runner, and why:
- `--force-shell-executor`: the jobs have `image:` and there is no Docker engine here, so they run on
  this host, in a copy of the repository each (`--shell-isolation`).
- Python: a venv first on PATH that sees the template's own packages through a .pth file, so the jobs'
  `pip install -e .` installs only the project itself (the python image would install everything).
- The remote `origin` is a made-up GitLab URL that git redirects to a local bare repository
  (GIT_CONFIG_* variables), so the job's `git fetch origin main` works offline.
- GITLAB_CI=true is set by hand: gitlab-ci-local sets it to false, GitLab to true.
- `workflow:` rules are not enforced by gitlab-ci-local; the config has none (job rules only).

One project is baked (ci=gitlab, dvc_remote=s3, docker=no); its main branch is trained and pushed to S3.
A merge request from `feature` (one param changed) runs twice: the whole pipeline, then, after a push that
lowers the metric, the pipeline job again, without the AWS variables (its data from GitLab's cache). Its
pipeline job also runs without them and with an empty cache (exit 3 of ci_data.py: green, nothing
installed), and with data nobody pushed (exit 1). A push to main runs the pipeline job, and a schedule,
after new data arrived on main, the retrain job. The image job needs Docker: only linted (test_ci_image.py).

MLflow: the bake keeps its default store (mlflow.db) and the project's CI/CD variables name a real
tracking server with basic auth and the login of its user `mlflow-ci` (MLFLOW_TRACKING_URI, _USERNAME,
_PASSWORD; unprotected, so merge requests get them too, and project variables beat a job's `variables:`).
The merge request pipelines must leave that registry alone; the default branch registers one version; a
wrong password fails the job in one line; retrain promotes in it. (test_ci_github_act.py takes the other
path a team may take: the server's URI baked into the project.)
"""

import copy
import json
import re
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from helpers import (
    BIN,
    TEMPLATE,
    commit,
    load_comment_api,
    model_md5s,
    pyspark_wheel,
    run,
    scan_for_credentials,
    set_hyperparams,
    spark_s3_project,
    stages_run,
    tool_env,
    trained_s3_project,
    venv_seeing_test_packages,
    wall_time,
)

pytestmark = pytest.mark.slow

GITLAB_CI_LOCAL = TEMPLATE / "ci-tools" / "node_modules" / ".bin" / "gitlab-ci-local"
ORIGIN = "https://gitlab.example.com/group/churn.git"  # never contacted: git redirects it to a bare repo
PROJECT_ID = "4242"  # CI_PROJECT_ID: the Notes API path the report posts to
TOKEN = "glpat-fake-report-token"
PUSH_TOKEN = "glpat-" + "fake-retrain-push-token"  # built at run time: no tracked file holds a token-shaped string
BUCKET = "gitlab-ci-dvc"
MERGE_REQUEST = 7
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"  # the jobs' venv runs this Python
MARKER = "<!-- dvc-report -->"
NO_KEYS = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}  # what a fork's merge request gets
# Variables GitLab predefines that the test sets itself (gitlab-ci-local warns about each otherwise).
PREDEFINED = (
    "CI_PIPELINE_SOURCE,CI_MERGE_REQUEST_IID,CI_MERGE_REQUEST_PROJECT_ID,CI_MERGE_REQUEST_TARGET_BRANCH_NAME,"
    "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME,CI_PROJECT_ID,CI_API_V4_URL,GITLAB_CI"
)


def require_tools() -> None:
    """gitlab-ci-local (npm) and rsync, which it copies each job's repository with: installed by `make test`."""
    if not GITLAB_CI_LOCAL.exists():
        pytest.fail(
            f"{GITLAB_CI_LOCAL} is missing: run `make ci-tools` in {TEMPLATE} (npm ci --prefix ci-tools; "
            "`make test` does it), with Node.js 20+ and npm (`make system-tools`, as root, installs the distribution's)"
        )
    if shutil.which("rsync") is None:
        pytest.fail(
            "rsync is missing, and gitlab-ci-local needs it: `make system-tools` (as root) or apt-get install rsync"
        )


class GitLabCI:
    """Runs the baked .gitlab-ci.yml with gitlab-ci-local, with the test's S3 endpoint and Notes API."""

    def __init__(self, project: Path, home: Path, s3, api, mlflow):
        self.project, self.home, self.s3, self.api, self.mlflow = project, home, s3, api, mlflow
        self.venv, self.bare = home / "venv", home / "origin.git"
        self.state = project / ".gitlab-ci-local"  # gitlab-ci-local's builds, logs, caches, artifacts

    def open_merge_request(self, origin_main: str, **hyperparams) -> None:
        """The merge request: `feature` changes these keys of the selected model's section and is checked out
        (the runs use the work tree). The bare origin, and origin/main at `origin_main`: what gitlab-ci-local
        reads the project's path and default branch from."""
        project = self.project
        run("git", "checkout", "--quiet", "-b", "feature", cwd=project)
        set_hyperparams(project, **hyperparams)
        commit(project, "More trees")
        run("git", "clone", "--quiet", "--bare", project, self.bare, cwd=self.home)
        run("git", "remote", "add", "origin", ORIGIN, cwd=project)
        run("git", "update-ref", "refs/remotes/origin/main", origin_main, cwd=project)
        run("git", "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main", cwd=project)
        with open(project / ".git" / "info" / "exclude", "a") as exclude:
            exclude.write(".gitlab-ci-local/\n.gitlab-ci-local-variables.yml\n")

    def git_env(self) -> dict[str, str]:
        """Git sends the origin URL to the bare repository (in the jobs, through CI/CD variables)."""
        return {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": f"url.{self.bare}.insteadOf", "GIT_CONFIG_VALUE_0": ORIGIN}

    def env(self) -> dict[str, str]:
        """gitlab-ci-local's environment, which shell jobs inherit: the jobs' venv first on PATH, no AWS
        credentials (jobs must get them from CI/CD variables), HOME and its state in the test's tmp."""
        env = tool_env(
            PATH=f"{self.venv / 'bin'}:{BIN}:/usr/local/bin:/usr/bin:/bin",
            HOME=str(self.home / "home"),
            AWS_CONFIG_FILE=str(self.s3.home / "config"),
            AWS_SHARED_CREDENTIALS_FILE=str(self.s3.home / "credentials"),
            AWS_EC2_METADATA_DISABLED="true",
            GCL_IGNORE_PREDEFINED_VARS=PREDEFINED,
        )
        for name in list(env):
            if name.startswith(("AWS_ACCESS", "AWS_SECRET", "AWS_SESSION", "AWS_PROFILE", "AWS_ENDPOINT", "PYTEST_",
                                "MLFLOW_", "GITLAB_", "CI_", "GIT_CONFIG")):  # fmt: skip
                del env[name]
        return env

    def variables(self, source: str, merge_request: bool) -> dict[str, str]:
        """The CI/CD variables of the project, and those GitLab predefines for this kind of pipeline."""
        variables = {
            "CI_PIPELINE_SOURCE": source,
            "GITLAB_CI": "true",
            "CI_PROJECT_ID": PROJECT_ID,
            "CI_API_V4_URL": f"{self.api.url}/api/v4",
            # Settings > CI/CD > Variables, as the baked README says (masked there).
            "AWS_ACCESS_KEY_ID": self.s3.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.s3.secret_access_key,
            "AWS_DEFAULT_REGION": self.s3.region,
            "AWS_ENDPOINT_URL_S3": self.s3.url,
            "GITLAB_REPORT_TOKEN": TOKEN,
            "RETRAIN_PUSH_TOKEN": PUSH_TOKEN,
            # The test job runs install, ruff and pytest for real, on the quick part of the project's tests:
            # the whole suite runs in test_pipeline_default.py.
            "PYTEST_ADDOPTS": "tests/test_params.py",
            # gitlab-ci-local's shell jobs get a docker-style CI_PROJECT_DIR (/builds/...), not their own
            # directory, so the baked "$CI_PROJECT_DIR/.cache/pip" would land on this host, outside the test.
            "PIP_CACHE_DIR": str(self.home / "pip-cache"),
            # The team's tracking server and CI's login to it.
            "MLFLOW_TRACKING_URI": self.mlflow.url,
            **self.mlflow.login(self.mlflow.ci),
            **self.git_env(),
        }
        if merge_request:
            variables |= {
                "CI_MERGE_REQUEST_IID": str(MERGE_REQUEST),
                "CI_MERGE_REQUEST_PROJECT_ID": PROJECT_ID,
                "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "feature",
                "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main",
            }
        return variables

    def command(self, source: str, merge_request: bool, *options: str, variables: dict | None = None) -> list:
        # gitlab-ci-local reads the variables file only by a path relative to the repository.
        variables_file = self.project / ".gitlab-ci-local-variables.yml"
        values = self.variables(source, merge_request) | (variables or {})
        variables_file.write_text(yaml.safe_dump(values), encoding="utf-8")
        return [GITLAB_CI_LOCAL, "--no-color", "--home", self.home / "home", *options]

    def jobs(self, source: str, merge_request: bool = False) -> list[str]:
        """The jobs the rules put in a pipeline of this source, on the branch checked out."""
        result = run(*self.command(source, merge_request, "--list-csv"), cwd=self.project, env=self.env())
        rows = result.stdout.split("name;stage;when;", 1)[1].splitlines()[1:]
        return [row.split(";", 1)[0] for row in rows if row.strip()]

    def __call__(
        self, label: str, source: str, *jobs: str, merge_request: bool = False, variables: dict | None = None
    ) -> dict:
        """Run the pipeline (or only `jobs`), with `variables` changed; its exit code, output, job verdicts
        and job logs."""
        options = ("--shell-isolation", "--force-shell-executor", "--no-artifacts-to-source", *jobs)
        command = self.command(source, merge_request, *options, variables=variables)
        with wall_time(f"gitlab-ci-local {source} ({label})"):
            result = run(*command, cwd=self.project, env=self.env(), check=False, timeout=900)
        output = result.stdout + result.stderr
        (self.home / f"gitlab-ci-local-{label}.log").write_text(output)
        logs = {path.stem: path.read_text(errors="replace") for path in (self.state / "output").glob("*.log")}
        return {
            "returncode": result.returncode,
            "output": output,
            "verdicts": {
                job: verdict for verdict, job in re.findall(r"^ (PASS|FAIL|WARN) +(\S+)", output, re.MULTILINE)
            },
            "logs": logs,
            "requests": [],
        }


def link_to_an_older_template(project: Path, template: Path) -> None:
    """A .cruft.json naming the first of a template repository's two commits, as `cruft link` writes it:
    the template-check job's `cruft check` then finds the project out of date (and may not block)."""
    template.mkdir()
    (template / "README.md").write_text("template v1\n")
    run("git", "init", "--quiet", cwd=template)
    run("git", "add", "--all", cwd=template)
    run("git", "commit", "--quiet", "-m", "v1", cwd=template)
    first = run("git", "rev-parse", "HEAD", cwd=template).stdout.strip()
    (template / "README.md").write_text("template v2\n")
    run("git", "commit", "--quiet", "--all", "-m", "v2", cwd=template)
    cruft = {"template": str(template), "commit": first, "checkout": None, "context": {"cookiecutter": {}}}
    (project / ".cruft.json").write_text(json.dumps(cruft, indent=2) + "\n")


def where(result: dict, job: str | None = None) -> str:
    """The end of the run's output (or of one job's log), for assertion messages."""
    text = result["logs"].get(job, "") if job else result["output"]
    return f"exit {result['returncode']}, verdicts {result['verdicts']}\n--- end\n{text[-8000:]}"


@pytest.fixture(scope="module")
def gitlab(tmp_path_factory, s3_endpoint, mlflow_auth_server):
    """(ci, api, project): a bake whose main is trained and pushed to S3, with `feature` checked out."""
    require_tools()
    home = tmp_path_factory.mktemp("gitlab-ci-local")
    (home / "home").mkdir()
    # Its own project name: the registered model and experiment of this file alone on the shared server.
    project = trained_s3_project(home, s3_endpoint, BUCKET, project_name="Churn GitLab", ci="gitlab", docker="no",
                                 python_version=PYTHON)  # fmt: skip
    first_commit = run("git", "rev-list", "--max-parents=0", "HEAD", cwd=project).stdout.strip()  # the bake's
    link_to_an_older_template(project, home / "template")
    run("git", "add", ".cruft.json", cwd=project)
    commit(project, "Link the project to its template")

    with load_comment_api(project)(token=TOKEN, per_page=2) as api:
        ci = GitLabCI(project, home, s3_endpoint, api, mlflow_auth_server)
        venv_seeing_test_packages(ci.venv, PYTHON)
        # origin/main is left at the first commit, before any model: only the job's own `git fetch` can
        # bring main's metrics.
        ci.open_merge_request(first_commit, n_estimators=80)
        # Other people's comments and a system note come first; the per_page of 2 spreads them over pages.
        api.add("gitlab", PROJECT_ID, MERGE_REQUEST, "Looks good, but check the recall.")
        api.add("gitlab", PROJECT_ID, MERGE_REQUEST, "added 1 commit", author="system")
        api.add("gitlab", PROJECT_ID, MERGE_REQUEST, "Can we try more trees?")
        yield ci, api, project


@pytest.fixture(scope="module")
def merge_request(gitlab):
    """Two pipelines of the merge request: the whole pipeline for `feature`, then the pipeline job
    again after a push that lowers the metric, without the AWS variables (a fork's merge request gets
    none, nor does an unprotected branch when they are protected): its data comes from the DVC cache the
    first run left in GitLab's cache. Each result holds the notes as they were after it."""
    ci, api, project = gitlab
    registry = ci.mlflow.registry(project.name)
    first = ci("first push", "merge_request_event", merge_request=True)
    first["registry"] = ci.mlflow.registry(project.name)
    first["requests"], first["notes"] = list(api.requests), copy.deepcopy(api.thread("gitlab", PROJECT_ID, 7))
    api.requests.clear()
    # One shallow tree instead of a forest: ROC AUC drops far below main's.
    set_hyperparams(project, n_estimators=1, max_depth=1)
    commit(project, "A stump")
    run("git", "push", "--quiet", ci.bare, "feature", cwd=project)
    second = ci("metric drops", "merge_request_event", "pipeline", merge_request=True, variables=NO_KEYS)
    second["requests"], second["notes"] = list(api.requests), copy.deepcopy(api.thread("gitlab", PROJECT_ID, 7))
    second["artifacts"] = ci.state / "artifacts" / "pipeline"
    second["registry"] = ci.mlflow.registry(project.name)
    first["registry_before"] = registry
    return first, second


def reports(notes: list[dict]) -> list[dict]:
    return [note for note in notes if MARKER in note["body"]]


def test_rules_put_each_job_in_the_pipelines_it_belongs_to(gitlab):
    """GitLab's rule evaluation (gitlab-ci-local's): merge requests and the default branch get test,
    template-check and pipeline; schedules only retrain; a push to another branch nothing."""
    ci, _, project = gitlab
    run("git", "checkout", "--quiet", "main", cwd=project)
    try:
        assert ci.jobs("push") == ["test", "template-check", "pipeline"]
        assert ci.jobs("schedule") == ci.jobs("web") == ["retrain"]
    finally:
        run("git", "checkout", "--quiet", "feature", cwd=project)
    assert ci.jobs("merge_request_event", merge_request=True) == ["test", "template-check", "pipeline"]
    assert ci.jobs("push") == [] and ci.jobs("schedule") == []


def test_merge_request_pipeline_runs_the_test_template_check_and_pipeline_jobs(merge_request):
    first, _ = merge_request
    assert first["returncode"] == 0, where(first)
    # template-check failed (the template moved on) and is only a warning: the pipeline still passes.
    assert first["verdicts"] == {"test": "PASS", "template-check": "WARN", "pipeline": "PASS"}, where(first)
    test_log = first["logs"]["test"]
    for command in ('pip install -e ".[dev]"', "ruff check .", "ruff format --check .", "pytest"):
        assert f"$ {command}\n" in test_log, where(first, "test")
    assert re.search(r"\d+ passed", test_log), where(first, "test")
    assert "$ cruft check" in first["logs"]["template-check"]
    assert "cruft is out of date" in first["logs"]["template-check"], where(first, "template-check")


def test_pipeline_job_pulls_from_s3_and_reruns_only_the_stages_the_change_affects(merge_request):
    first, _ = merge_request
    log = first["logs"]["pipeline"]
    assert "Pipeline not run" not in log, where(first, "pipeline")
    # validate and prepare come from main's outputs in S3; the changed param re-runs train and evaluate.
    assert re.search(r"\d+ files? fetched", log), where(first, "pipeline")
    assert stages_run(log) == ["train", "evaluate"], where(first, "pipeline")
    assert not re.search(r"\d+ files? pushed|Everything is up to date", log)  # a merge request uploads nothing


def test_report_lands_as_one_note_on_the_merge_request_with_the_metrics_and_params_diff(merge_request, gitlab):
    first, _ = merge_request
    _, _, project = gitlab
    (note,) = reports(first["notes"])
    body = note["body"]
    assert "Gate passed" in body, body
    # main's roc_auc, which only the job's `git fetch origin main` could bring (origin/main was stale).
    main_metrics = yaml.safe_load(run("git", "show", "main:metrics/metrics.json", cwd=project).stdout)
    assert f"| {main_metrics['roc_auc']:.6g} |" in body, body
    assert re.search(r"train\.random_forest\.n_estimators\s*\|\s*60\s*\|\s*80", body), body
    assert "https://gitlab.example.com/group/churn/-/jobs/" in body and "/artifacts/browse" in body
    # Found among other comments on later pages; posted once with the project access token.
    posts = [path for method, path in first["requests"] if method == "POST"]
    assert posts == [f"/api/v4/projects/{PROJECT_ID}/merge_requests/{MERGE_REQUEST}/notes"], first["requests"]
    assert len(first["notes"]) == 4
    log = first["logs"]["pipeline"]
    assert f"report: created comment {note['id']} on merge request !{MERGE_REQUEST}" in log, where(first, "pipeline")
    assert TOKEN not in log


def test_merge_request_pipelines_log_to_a_job_local_store_and_leave_the_shared_registry_alone(merge_request):
    """The project's MLflow variables name the server and a valid login, and reach merge requests: the
    job logs to its own store anyway, and the registry holds no version, no alias, after both runs."""
    first, second = merge_request
    assert first["registry_before"] == first["registry"] == second["registry"] == {"versions": {}, "aliases": {}}
    for result in (first, second):
        log = result["logs"]["pipeline"]
        assert re.search(r"evaluate: MLflow run \w+ in experiment '[\w-]+' at sqlite:///mlflow\.db \(logged in", log), (
            where(result, "pipeline")
        )
    print(f"\n[registry] after the merge request pipelines: {json.dumps(second['registry'])}")


def test_a_push_that_lowers_the_metric_fails_the_gate_and_updates_the_same_note_from_ci_cache(merge_request):
    first, second = merge_request
    assert second["returncode"] != 0 and second["verdicts"] == {"pipeline": "FAIL"}, where(second)
    log = second["logs"]["pipeline"]
    assert stages_run(log) == ["train", "evaluate"], where(second, "pipeline")
    assert re.search(r"gate FAILED: `roc_auc` dropped by [\d.]+, more than the allowed 0.01", log), where(second)
    # The note of the first run, edited in place: still one report, no new note.
    (before,), (after,) = reports(first["notes"]), reports(second["notes"])
    assert after["id"] == before["id"] and len(second["notes"]) == len(first["notes"])
    assert "Gate FAILED" in after["body"] and "dropped by" in after["body"]
    assert re.search(r"max_depth\s*\|\s*-\s*\|\s*1\s*\|", after["body"]), after["body"]
    methods = [method for method, _ in second["requests"]]
    assert "PUT" in methods and "POST" not in methods, second["requests"]
    # Without the AWS variables, ci_data.py took the data from CI's cache, as on GitHub.
    assert "ci_data: the data can come from CI's DVC cache" in log, where(second, "pipeline")
    assert "ci_data: the data is here, from CI's DVC cache" in log, where(second, "pipeline")
    # The report and the plots of both sides are kept although the job failed.
    # YAML cannot read params.yaml: the job copies the report into build/ci-artifacts/ (ci_artifacts.py).
    assert "Gate FAILED" in (second["artifacts"] / "build" / "ci-artifacts" / "reports" / "report.md").read_text()
    assert (second["artifacts"] / "dvc_plots" / "index.html").is_file()


def test_merge_request_without_the_keys_or_a_cache_stops_green_before_installing(gitlab, merge_request):
    """No AWS variables and nothing in GitLab's cache: ci_data.py's exit 3 says what to set, and the job
    ends green at its first line (`exit 0`), before the install."""
    ci = gitlab[0]
    aside = ci.home / "cache-aside"
    shutil.move(ci.state / "cache", aside)  # put back after: later pipelines keep their cache
    try:
        result = ci("no keys, no cache", "merge_request_event", "pipeline", merge_request=True, variables=NO_KEYS)
    finally:
        shutil.rmtree(ci.state / "cache", ignore_errors=True)
        shutil.move(aside, ci.state / "cache")
    assert result["returncode"] == 0 and result["verdicts"] == {"pipeline": "PASS"}, where(result)
    log = result["logs"]["pipeline"]
    assert "ci_data: **Pipeline not run:** no credentials for the DVC remote, and CI's DVC cache is empty" in log, (
        where(result, "pipeline")
    )
    assert "add the CI/CD variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in log
    assert "$ pip install" not in log and "$ dvc repro" not in log, where(result, "pipeline")


def test_merge_request_whose_data_nobody_pushed_fails_and_says_to_push_it(gitlab, merge_request):
    """The keys are there but the branch's data is not in S3 (`dvc add` without `dvc push`): exit 1."""
    ci, _, project = gitlab
    raw = project / "data" / "raw" / "breast_cancer.csv"
    run("git", "checkout", "--quiet", "-B", "unpushed-data", "main", cwd=project)
    try:
        frame = pd.read_csv(raw)
        pd.concat([frame, frame.head(20)]).to_csv(raw, index=False)
        run("dvc", "add", "--quiet", raw, cwd=project)
        commit(project, "More rows, not pushed")
        result = ci("data not pushed", "merge_request_event", "pipeline", merge_request=True)
    finally:
        run("git", "checkout", "--quiet", "feature", cwd=project)
        run("dvc", "checkout", "--quiet", "--force", "data/raw/breast_cancer.csv.dvc", cwd=project)
    assert result["returncode"] != 0 and result["verdicts"] == {"pipeline": "FAIL"}, where(result)
    log = result["logs"]["pipeline"]
    message = "the data of data/raw/breast_cancer.csv.dvc is not in the DVC remote: run `dvc push` where it was added"
    assert f"ci_data: {message}" in log, where(result, "pipeline")
    assert "$ dvc repro" not in log


def test_default_branch_with_a_wrong_mlflow_password_fails_in_one_line(gitlab, merge_request):
    ci, _, project = gitlab
    before = run("git", "rev-parse", "main", cwd=project).stdout.strip()
    registry = ci.mlflow.registry(project.name)
    wrong = "not-" + ci.mlflow.ci[1]
    run("git", "checkout", "--quiet", "main", cwd=project)
    try:
        set_hyperparams(project, n_estimators=65)
        commit(project, "Sixty-five trees")
        result = ci("wrong MLflow password", "push", "pipeline", variables={"MLFLOW_TRACKING_PASSWORD": wrong})
    finally:
        run("git", "checkout", "--quiet", "-B", "main", before, cwd=project)
        run("git", "checkout", "--quiet", "feature", cwd=project)
    assert result["returncode"] != 0 and result["verdicts"] == {"pipeline": "FAIL"}, where(result)
    log = result["logs"]["pipeline"]
    url = ci.mlflow.url
    (line,) = [line for line in log.splitlines() if url in line]
    assert line.endswith(
        f"evaluate: MLflow tracking server {url} refused the credentials of user 'mlflow-ci' (HTTP 401); set "
        "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (in CI: the secrets or variables of those names) "
        "(no output was changed; run `dvc repro` again when it works)"
    ), line
    assert "Traceback" not in log and wrong not in log and not re.search(r"\d+ files? pushed", log)
    print(f"\n[wrong credentials] {line}")
    assert ci.mlflow.registry(project.name) == registry


def test_default_branch_pipeline_registers_one_version_and_pushes_the_new_model_to_s3(gitlab, merge_request):
    """A push to main that changes a param: the pipeline job reproduces, registers the model on the
    tracking server (one version, the candidate, with the commit's lineage) and uploads; no note anywhere."""
    ci, api, project = gitlab
    before = ci.mlflow.registry(project.name)
    run("git", "checkout", "--quiet", "main", cwd=project)
    try:
        set_hyperparams(project, n_estimators=70)
        sha = commit(project, "Seventy trees")
        api.requests.clear()
        result = ci("default branch", "push", "pipeline")
    finally:
        run("git", "checkout", "--quiet", "feature", cwd=project)
    assert result["returncode"] == 0 and result["verdicts"] == {"pipeline": "PASS"}, where(result)
    log = result["logs"]["pipeline"]
    assert stages_run(log) == ["train", "evaluate"], where(result, "pipeline")
    lock = (ci.state / "builds" / "pipeline" / "dvc.lock").read_text()
    data_md5, model_md5 = model_md5s(lock)
    keys = ci.s3.keys(BUCKET, "dvc/")
    assert f"dvc/files/md5/{model_md5[:2]}/{model_md5[2:]}" in keys, (model_md5, keys)
    assert re.search(r"\d+ files? pushed", log), where(result, "pipeline")
    assert api.requests == []

    after = ci.mlflow.registry(project.name)
    (new,) = set(after["versions"]) - set(before["versions"])
    assert after["aliases"] == {**before["aliases"], "candidate": new}, after["aliases"]
    tags = after["versions"][new]
    assert (tags["git_commit"], tags["git_dirty"], tags["data_md5"], tags["model_md5"]) == (
        sha, "false", data_md5, model_md5), tags  # fmt: skip
    assert data_md5 == model_md5s(run("git", "show", "main:dvc.lock", cwd=project).stdout)[0]  # the data of main
    print(f"\n[registry] after the default branch pipeline: {json.dumps(after, indent=1, sort_keys=True)}")


def test_schedule_retrains_on_drifted_data_promotes_and_pushes(gitlab):
    """New data on main, with twice as many extra malignant cases (two columns drift): the scheduled
    retrain job's `make retrain` finds the drift, reproduces every stage, passes the gate against the last
    commit, promotes the model on the tracking server (no champion there yet; the commit is main's), pushes
    to S3 and pushes a branch retrain/<date>, as GitHub's retrain workflow does (test_ci_github_act.py)."""
    ci, api, project = gitlab
    before = ci.mlflow.registry(project.name)
    raw = Path("data/raw/breast_cancer.csv")
    s3_env = ci.s3.env(AWS_ENDPOINT_URL_S3=ci.s3.url)
    run("git", "checkout", "--quiet", "main", cwd=project)
    try:
        frame = pd.read_csv(project / raw)
        malignant = frame[frame["diagnosis"] == "malignant"]
        pd.concat([frame, malignant, malignant]).to_csv(project / raw, index=False)
        run("dvc", "add", "--quiet", raw, cwd=project, env=s3_env)
        run("dvc", "push", f"{raw}.dvc", cwd=project, env=s3_env)
        sha = commit(project, "New data: more malignant cases")
        # What the runner's fetch of the pipeline's branch leaves: origin/main at the commit it runs.
        run("git", "update-ref", "refs/remotes/origin/main", sha, cwd=project)
        api.requests.clear()
        result = ci("schedule", "schedule", "retrain")
    finally:
        run("git", "checkout", "--quiet", "feature", cwd=project)
        run("dvc", "checkout", "--quiet", "--force", f"{raw}.dvc", cwd=project)
    assert result["returncode"] == 0 and result["verdicts"] == {"retrain": "PASS"}, where(result)
    log = result["logs"]["retrain"]
    assert re.search(r"drift: .*drifted", log), where(result, "retrain")
    assert stages_run(log) == ["validate", "prepare", "train", "evaluate"], where(result, "retrain")
    assert "report: gate passed" in log and "not a merge request pipeline" in log, where(result, "retrain")
    after = ci.mlflow.registry(project.name)
    (new,) = set(after["versions"]) - set(before["versions"])
    assert f"promote: version {new} is the champion now (the first champion)" in log, where(result, "retrain")
    assert after["aliases"] == {"candidate": new, "champion": new}, after["aliases"]
    assert (after["versions"][new]["git_commit"], after["versions"][new]["git_dirty"]) == (sha, "false")
    print(f"\n[registry] after the scheduled retrain: {json.dumps(after, indent=1, sort_keys=True)}")
    lock = yaml.safe_load((ci.state / "builds" / "retrain" / "dvc.lock").read_text())
    model_md5 = next(out["md5"] for out in lock["stages"]["train"]["outs"] if out["path"] == "models/model.joblib")
    assert f"dvc/files/md5/{model_md5[:2]}/{model_md5[2:]}" in ci.s3.keys(BUCKET, "dvc/")
    artifacts = ci.state / "artifacts" / "retrain"
    assert json.loads((artifacts / "build" / "ci-artifacts" / "reports" / "drift.json").read_text())["drift"] is True
    assert (artifacts / "dvc.lock").read_text() == (ci.state / "builds" / "retrain" / "dvc.lock").read_text()
    assert api.requests == []
    # The branch in origin (the bare repository) holds the job's dvc.lock; the push token never shows.
    (branch,) = run("git", "--git-dir", ci.bare, "branch", "--list", "retrain/*", cwd=ci.home).stdout.split()
    assert re.fullmatch(r"retrain/\d{4}-\d\d-\d\d-\d{4}", branch), branch
    pushed_lock = run("git", "--git-dir", ci.bare, "show", f"{branch}:dvc.lock", cwd=ci.home).stdout
    assert pushed_lock == (artifacts / "dvc.lock").read_text()
    link = "https://gitlab.example.com/group/churn/-/merge_requests/new?"
    assert f"Pushed `{branch}`: [open its merge request]({link}" in log, where(result, "retrain")
    assert PUSH_TOKEN not in log


def test_no_secret_of_the_runs_reaches_a_tracked_file(gitlab, merge_request):
    """The keys and the token were CI/CD variables only (the variables file is git-ignored)."""
    ci, _, project = gitlab
    findings = scan_for_credentials(project, (*ci.s3.secrets, TOKEN, PUSH_TOKEN, ci.mlflow.ci[1], ci.mlflow.admin[1]))
    assert [finding for finding in findings if "holds the secret" in finding] == []


def test_spark_merge_request_pipeline_runs_the_tests_and_the_pipeline_in_local_mode_and_posts_the_report(
    tmp_path_factory, s3_endpoint, mlflow_auth_server
):
    """The shared engine=spark bake (helpers.SPARK_BAKE: s3, docker=no): one merge request pipeline, whose test job runs
    `make install` (the project with [dev,spark], pyspark from the wheelhouse GitLab's cache holds), ruff and
    pytest, and whose pipeline job pulls main's outputs, re-runs train and evaluate on Spark in local mode and
    posts the report. The jobs run on this host, which has Java: the image's apt-get line for
    default-jre-headless (`if ! command -v java`) is not executed here, only linted (test_ci_configs.py)."""
    require_tools()
    home = tmp_path_factory.mktemp("gitlab-ci-local-spark")
    (home / "home").mkdir()
    project = spark_s3_project(tmp_path_factory, s3_endpoint)
    with load_comment_api(project)(token=TOKEN) as api:
        ci = GitLabCI(project, home, s3_endpoint, api, mlflow_auth_server)
        venv_seeing_test_packages(ci.venv, PYTHON)
        ci.open_merge_request("main", numTrees=30)
        # What an earlier pipeline left in the cache named pyspark-4.3 (gitlab-ci-local keeps each cache's
        # paths under .gitlab-ci-local/cache/<key>/): the wheel, so no job builds it.
        wheels = ci.state / "cache" / "pyspark-4.3" / ".cache" / "pyspark-wheels"
        wheels.mkdir(parents=True)
        shutil.copy(pyspark_wheel(), wheels)
        result = ci("spark", "merge_request_event", "test", "pipeline", merge_request=True)
        notes = api.thread("gitlab", PROJECT_ID, MERGE_REQUEST)

    assert result["returncode"] == 0, where(result)
    assert result["verdicts"] == {"test": "PASS", "pipeline": "PASS"}, where(result)
    test_log, log = result["logs"]["test"], result["logs"]["pipeline"]
    for command in ("make install", "ruff check .", "ruff format --check .", "pytest"):
        assert f"$ {command}\n" in test_log, where(result, "test")
    assert '-e ".[dev,spark]"' in test_log and re.search(r"\d+ passed", test_log), where(result, "test")
    assert "$ make install EXTRAS=spark\n" in log and '-e ".[spark]"' in log, where(result, "pipeline")
    assert result["output"].count("imported cache 'pyspark-4.3'") == 2, where(result)
    assert "Building the pyspark wheel" not in test_log + log
    assert stages_run(log) == ["train", "evaluate"], where(result, "pipeline")
    assert "train: fitted random_forest on" in log and "Java not found" not in test_log + log, where(result)
    (note,) = reports(notes)
    assert "Gate passed" in note["body"] and re.search(r"numTrees\s*\|\s*50\s*\|\s*30", note["body"]), note["body"]
