"""The baked GitHub workflow, executed: act runs .github/workflows/ci.yml for a pull_request event on this
host, against a real S3 endpoint (moto) for DVC and a local server speaking GitHub's issue-comments API.

What runs for real: every `run:` step of the test and pipeline jobs (pip install, ruff, pytest, dvc pull,
dvc repro, dvc plots diff, the report and its gate), with the secrets and `${{ }}` expressions act
evaluates from the event. What is stood in for, because act cannot fetch actions without GitHub:
actions/checkout (act copies the work tree itself), and small composite actions written below for
setup-python (puts a prepared venv on PATH, checks the requested version), cache (restores a directory
the test fills, saves nothing) and upload-artifact (copies the files where the test can read them).
A run of the pipeline job alone (`--job pipeline`) reads a copy of the workflow without that job's
`needs: test`: act would run the test job before it every time.

One project is baked (ci=github, dvc_remote=s3, docker=no) and its main branch trained and pushed to S3;
each test then checks out its own branch as the pull request's head and runs act on it. The bake names a
real tracking server with basic auth as its MLflow URI (mlflow_tracking_uri, as a team with a server bakes
it), and its first model was registered there from the author's laptop, with params not yet committed: the
pull requests must leave that registry alone without credentials or with them, a push to main registers
one version with the secrets' login, a wrong password fails in one line, and retrain promotes in it.
"""

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
    commit,
    load_comment_api,
    model_md5s,
    pyspark_wheel,
    run,
    set_hyperparams,
    spark_s3_project,
    stages_run,
    tool_env,
    trained_s3_project,
    venv_seeing_test_packages,
    wall_time,
)

pytestmark = pytest.mark.slow

WORKFLOW = Path(".github/workflows/ci.yml")
RETRAIN = Path(".github/workflows/retrain.yml")
REPOSITORY = "acme/churn"  # what act reads from the origin URL, and the API path the report posts to
ORIGIN = f"https://github.com/{REPOSITORY}.git"  # never contacted: git redirects it to a local bare repo
TOKEN = "fake-github-token"
BUCKET = "ci-dvc"
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"  # the stub's venv runs this Python

STUBS = {
    "setup-python": """
name: setup-python stand-in
inputs:
  python-version: {required: true}
  cache: {required: false}
  cache-dependency-path: {required: false}
outputs:
  python-version: {value: "${{ steps.setup.outputs.python-version }}"}
runs:
  using: composite
  steps:
    - id: setup
      shell: bash
      env: {WANTED: "${{ inputs.python-version }}"}
      run: |
        have=$("@VENV@/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
        [ "$have" = "$WANTED" ] || { echo "stub venv has Python $have, the workflow asked for $WANTED"; exit 1; }
        echo "@VENV@/bin" >> "$GITHUB_PATH"
        echo "python-version=$have" >> "$GITHUB_OUTPUT"
""",
    "setup-java": """
name: setup-java stand-in (the host's Java, checked against the version asked for)
inputs:
  distribution: {required: true}
  java-version: {required: true}
outputs:
  version: {value: "${{ steps.setup.outputs.version }}"}
runs:
  using: composite
  steps:
    - id: setup
      shell: bash
      env: {WANTED: "${{ inputs.java-version }}"}
      run: |
        have=$(java -version 2>&1 | sed -n 's/.*version "\\([0-9]*\\).*/\\1/p' | head -n 1)
        [ "${have:-0}" -ge "$WANTED" ] || { echo "the host has Java ${have:-none}, the workflow asked for $WANTED"; exit 1; }
        echo "version=$have" >> "$GITHUB_OUTPUT"
""",
    "cache": """
name: cache stand-in (restores what the test put in the stub's directory; saves nothing)
inputs:
  path: {required: true}
  key: {required: true}
  restore-keys: {required: false}
outputs:
  cache-hit: {value: "false"}
runs:
  using: composite
  steps:
    - shell: bash
      env: {CACHE_PATH: "${{ inputs.path }}", KEY: "${{ inputs.key }}"}
      run: |
        echo "cache stand-in: key $KEY"
        source="@CACHE@"
        case "$KEY" in pyspark-*) source="@WHEELS@";; esac  # a spark bake's wheelhouse
        if [ -n "$(ls -A "$source" 2>/dev/null)" ]; then
          mkdir -p "$CACHE_PATH" && cp -a "$source/." "$CACHE_PATH/" && echo "cache stand-in: restored $CACHE_PATH"
        fi
""",
    "upload-artifact": """
name: upload-artifact stand-in (copies the files into the test's artifact directory)
inputs:
  name: {required: true}
  path: {required: true}
  if-no-files-found: {required: false}
  retention-days: {required: false}
runs:
  using: composite
  steps:
    - shell: bash
      env: {NAME: "${{ inputs.name }}", PATHS: "${{ inputs.path }}"}
      run: |
        mkdir -p "@ARTIFACTS@/$NAME"
        while IFS= read -r path; do
          [ -n "$path" ] || continue
          [ -e "$path" ] || { echo "upload-artifact stand-in: $path not found"; exit 1; }
          cp -a --parents "$path" "@ARTIFACTS@/$NAME/"
        done <<< "$PATHS"
""",
}


class Act:
    """Runs the baked workflow with act on this host, with the stand-ins and the test's endpoints."""

    def __init__(self, project: Path, home: Path, s3, api):
        self.project, self.home, self.s3, self.api = project, home, s3, api
        self.cache, self.artifacts = home / "stub-cache", home / "artifacts"
        self.wheels = home / "stub-wheels"  # what the cache stand-in restores for a pyspark-* key
        self.venv = home / "venv"
        self.bare = home / "origin.git"
        self.stubs = {}
        for name, text in STUBS.items():
            directory = home / "stubs" / name
            directory.mkdir(parents=True)
            text = text.replace("@VENV@", str(self.venv)).replace("@CACHE@", str(self.cache))
            text = text.replace("@WHEELS@", str(self.wheels))
            (directory / "action.yml").write_text(text.replace("@ARTIFACTS@", str(self.artifacts)))
            self.stubs[f"actions/{name}"] = directory

    def git_env(self) -> dict[str, str]:
        """Git sends the origin URL to the bare repository (here and inside the jobs)."""
        return {
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": f"url.{self.bare}.insteadOf",
            "GIT_CONFIG_VALUE_0": ORIGIN,
        }

    def env(self) -> dict[str, str]:
        """The act process's environment: no AWS credentials (jobs inherit it on the host; they must get
        the keys from secrets), no AWS profile of the developer's, act's own files kept in the test's tmp."""
        env = tool_env(
            AWS_CONFIG_FILE=str(self.s3.home / "config"),
            AWS_SHARED_CREDENTIALS_FILE=str(self.s3.home / "credentials"),
            AWS_EC2_METADATA_DISABLED="true",
            XDG_CONFIG_HOME=str(self.home / "xdg-config"),
            XDG_CACHE_HOME=str(self.home / "xdg-cache"),
            **self.git_env(),
        )
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                     "AWS_ENDPOINT_URL", "GITHUB_TOKEN", "GH_TOKEN", "PYTEST_ADDOPTS", "MLFLOW_TRACKING_URI",
                     "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"):  # fmt: skip
            env.pop(name, None)
        return env

    def local_repositories(self, workflow: Path) -> list[str]:
        """--local-repository for every action the workflow uses except checkout (act handles that)."""
        text = (self.project / workflow).read_text(encoding="utf-8")
        options = []
        for action, ref in sorted(set(re.findall(r"uses: (actions/[\w-]+)@([0-9a-f]{40})", text))):
            if action == "actions/checkout":
                continue
            assert action in self.stubs, f"the workflow uses {action}, which this test has no stand-in for"
            options += ["--local-repository", f"{action}@{ref}={self.stubs[action]}"]
        return options

    def alone(self, workflow: Path, job: str) -> Path:
        """A copy of the workflow in which `job` needs no other job: act runs whatever a `--job` needs first, and
        has no option to skip it. The test job does the same on every run here and runs for real in the first
        pull request's run and the Spark one; again before each pipeline run, it would add ~15 s and no check."""
        text = (self.project / workflow).read_text(encoding="utf-8")
        alone = re.sub(rf"(?m)^(  {job}:\n)    needs: [\w-]+\n", r"\1", text)
        assert alone != text, f"{workflow}: the {job} job has no `needs:` as its first key"
        copy = self.home / "workflows" / f"{workflow.stem}-{job}-alone.yml"
        copy.parent.mkdir(exist_ok=True)
        copy.write_text(alone, encoding="utf-8")
        return copy

    def __call__(self, event: dict, secrets: dict[str, str], label: str, job: str | None = None,
                 event_name: str = "pull_request", workflow: Path = WORKFLOW):  # fmt: skip
        if job:
            workflow = self.alone(workflow, job)
        event_path = self.home / f"event-{label}.json"
        event_path.write_text(json.dumps(event))
        shutil.rmtree(self.artifacts, ignore_errors=True)
        secret_options = [part for name, value in secrets.items() for part in ("-s", f"{name}={value}")]
        env_options = {
            # The runner's environment: where the jobs find S3 (a project on MinIO commits `endpointurl`).
            "AWS_ENDPOINT_URL_S3": self.s3.url,
            "AWS_DEFAULT_REGION": self.s3.region,
            "GITHUB_API_URL": self.api.url,  # act sets api.github.com; --env wins over it
            # The test job runs install, ruff and pytest for real, on the quick part of the project's
            # tests: its whole suite runs in test_pipeline_default.py.
            "PYTEST_ADDOPTS": "tests/test_params.py",
            **self.git_env(),
        }
        command = [
            BIN / "act", event_name, "--eventpath", event_path, "--workflows", workflow,
            "--platform", "ubuntu-latest=-self-hosted", "--action-cache-path", self.home / "act-cache",
            "--no-cache-server", *self.local_repositories(workflow), *secret_options,
            *(part for name, value in env_options.items() for part in ("--env", f"{name}={value}")),
            *(["--job", job] if job else []),
        ]  # fmt: skip
        with wall_time(f"act {event_name} ({label})"):
            result = run(*command, cwd=self.project, env=self.env(), check=False, timeout=600)
        (self.home / f"act-{label}.log").write_text(result.stdout + result.stderr)
        return result


def pull_request_event(number: int, branch: str, sha: str, head_repository: str = REPOSITORY) -> dict:
    """What GitHub sends for a pull request into main (the fields the workflow and report read)."""
    repository = {"full_name": REPOSITORY, "default_branch": "main"}
    return {
        "action": "synchronize",
        "number": number,
        "pull_request": {
            "number": number,
            "head": {"ref": branch, "sha": sha, "repo": {"full_name": head_repository}},
            "base": {"ref": "main", "repo": repository},
        },
        "repository": repository,
    }


def new_branch(project: Path, branch: str, **hyperparams) -> str:
    """A branch off main that changes params.yaml, checked out (act runs the work tree); its commit."""
    run("git", "checkout", "--quiet", "-B", branch, "main", cwd=project)
    set_hyperparams(project, **hyperparams)
    return commit(project, f"{branch}: {hyperparams}")


def secrets_for(act: Act, **more: str) -> dict[str, str]:
    """The repository's secrets as a run of a branch of this repository gets them (a fork's gets none)."""
    return {"AWS_ACCESS_KEY_ID": act.s3.access_key_id, "AWS_SECRET_ACCESS_KEY": act.s3.secret_access_key,
            "GITHUB_TOKEN": TOKEN, **more}  # fmt: skip


def summaries(output: str) -> str:
    """What the jobs wrote to $GITHUB_STEP_SUMMARY, as act prints it."""
    # act prints each summary after "Summary - ", up to the next line of its log (which starts with "[").
    return "\n".join(re.findall(r"Summary - (.*?)(?=^\[|\Z)", output, flags=re.DOTALL | re.MULTILINE))


def assert_act(result, succeeded: bool):
    where = f"act exited {result.returncode}\n--- output (end)\n{result.stdout[-8000:]}\n{result.stderr[-3000:]}"
    assert (result.returncode == 0) == succeeded, where


@pytest.fixture(scope="module")
def ci(tmp_path_factory, s3_endpoint, mlflow_auth_server):
    """(act, api, project): a bake whose main branch has a trained model in S3 and an origin remote."""
    home = tmp_path_factory.mktemp("act")
    server = mlflow_auth_server
    # Its own project name: the registered model and experiment of this file alone on the shared server.
    project = trained_s3_project(home, s3_endpoint, BUCKET, server.login(server.admin), project_name="Churn GitHub",
                                 ci="github", docker="no", python_version=PYTHON, mlflow_tracking_uri=server.url)  # fmt: skip

    with load_comment_api(project)(token=TOKEN, per_page=2) as api:
        act = Act(project, home, s3_endpoint, api)
        # The venv setup-python's stand-in puts on PATH: the test environment's packages through a .pth
        # file, so the job's `pip install -e .` only installs the project itself.
        venv_seeing_test_packages(act.venv, PYTHON)
        env = tool_env(**act.git_env())
        run("git", "clone", "--quiet", "--bare", project, act.bare, cwd=home)
        run("git", "remote", "add", "origin", ORIGIN, cwd=project, env=env)
        run("git", "fetch", "--quiet", "origin", cwd=project, env=env)
        yield act, api, project


def test_pull_request_gets_the_report_as_one_comment_and_a_metric_drop_fails_the_gate(ci, mlflow_auth_server):
    act, api, project = ci
    server = mlflow_auth_server
    shutil.rmtree(act.cache, ignore_errors=True)
    # A branch of this repository gets the repository's secrets, the MLflow login too: the job must not use it.
    secrets = secrets_for(act, **server.login(server.ci))
    registry = server.registry(project.name)
    assert registry["aliases"] == {"candidate": "1"} and registry["versions"]["1"]["git_dirty"] == "true"
    sha = new_branch(project, "more-trees", n_estimators=80)
    first = act(pull_request_event(7, "more-trees", sha), secrets, "first push")
    assert_act(first, succeeded=True)
    # Logged to a store inside the job; the shared registry is as it was: no version, no alias moved.
    assert re.search(
        r"evaluate: MLflow run \w+ in experiment '[\w-]+' at sqlite:///mlflow\.db \(logged in", first.stdout
    )
    assert server.registry(project.name) == registry, "a pull request wrote the shared registry"
    # The test job ran its checks; the pipeline pulled main's data and outputs from S3, so only the
    # stages that read the changed param ran again.
    assert "Success - Main ruff check ." in first.stdout and "Success - Main pytest" in first.stdout
    assert stages_run(first.stdout) == ["train", "evaluate"], first.stdout[-6000:]
    (comment,) = api.thread("github", REPOSITORY, 7)
    body = comment["body"]
    assert "<!-- dvc-report -->" in body and "Gate passed" in body
    assert "roc_auc" in body and re.search(r"train.random_forest.n_estimators\s*\|\s*60\s*\|\s*80", body), body
    assert f"/{REPOSITORY}/actions/runs/" in body  # the link to this run's plots artifact
    assert "Gate passed" in summaries(first.stdout)
    # The template check ran too: this bake has no .cruft.json, so it says how to link one, green.
    assert "Success - Main Compare with the template" in first.stdout and "cruft link" in summaries(first.stdout)
    plots = act.artifacts / "plots" / "dvc_plots" / "index.html"
    assert plots.is_file() and "main" in plots.read_text(), "the plots diff page was not uploaded"

    # The next push to the pull request trains one shallow tree: ROC AUC drops far below main's. The
    # pipeline job fails with the reason, and the same comment now says so; none is added.
    set_hyperparams(project, n_estimators=1, max_depth=1)
    sha = commit(project, "One shallow tree")
    api.requests.clear()
    second = act(pull_request_event(7, "more-trees", sha), secrets, "metric drops", job="pipeline")
    assert_act(second, succeeded=False)
    assert stages_run(second.stdout) == ["train", "evaluate"]
    assert re.search(r"gate FAILED: `roc_auc` dropped by [\d.]+, more than the allowed 0.01", second.stdout)
    assert "Failure - Main Report and regression gate" in second.stdout
    (updated,) = api.thread("github", REPOSITORY, 7)
    assert updated["id"] == comment["id"] and "Gate FAILED" in updated["body"] and "dropped by" in updated["body"]
    methods = [method for method, _ in api.requests]
    assert "PATCH" in methods and "POST" not in methods, api.requests
    assert server.registry(project.name) == registry
    print(f"\n[registry] after the pull request runs: {json.dumps(registry, indent=1, sort_keys=True)}")


def test_fork_pull_request_without_secrets_reproduces_from_the_cache_and_stays_green(ci, mlflow_auth_server):
    act, api, project = ci
    registry = mlflow_auth_server.registry(project.name)
    # What a run on main left in CI's cache: DVC's cache with main's data and outputs.
    shutil.rmtree(act.cache, ignore_errors=True)
    shutil.copytree(project / ".dvc" / "cache", act.cache)
    sha = new_branch(project, "fork-change", n_estimators=70)
    event = pull_request_event(11, "fork-change", sha, head_repository="someone/churn")
    # A fork's run gets no secrets at all, and a read-only token the report must not try to use.
    result = act(event, {}, "fork with cache", job="pipeline")
    assert_act(result, succeeded=True)
    assert "ci_data: the data is here, from CI's DVC cache" in result.stdout
    assert stages_run(result.stdout) == ["train", "evaluate"]
    assert "comes from a fork" in result.stdout and "Gate passed" in summaries(result.stdout)
    assert api.thread("github", REPOSITORY, 11) == []
    # No MLflow login either, and the bake's default URI is the server: the job-local store, green.
    assert "at sqlite:///mlflow.db (logged in" in result.stdout
    assert mlflow_auth_server.registry(project.name) == registry


def test_fork_pull_request_without_secrets_or_cache_explains_in_the_summary_and_stays_green(ci):
    act, api, project = ci
    shutil.rmtree(act.cache, ignore_errors=True)
    sha = new_branch(project, "fork-cold", n_estimators=70)
    event = pull_request_event(12, "fork-cold", sha, head_repository="someone/churn")
    result = act(event, {}, "fork without cache", job="pipeline")
    assert_act(result, succeeded=True)
    # ci_data.py's exit 3, explained in the summary; nothing was installed or fetched.
    assert "Pipeline not run" in summaries(result.stdout) and "AWS_SECRET_ACCESS_KEY" in summaries(result.stdout)
    assert "Success - Main Look for the data's credentials or cache" in result.stdout
    assert "pip install -e ." not in result.stdout and "Fetch data and models" not in result.stdout
    assert stages_run(result.stdout) == [] and "Report and regression gate" not in result.stdout
    assert api.thread("github", REPOSITORY, 12) == []


def test_pull_request_whose_data_nobody_pushed_fails_and_says_to_push_it(ci):
    """The secrets are there but the branch's data is not in S3 (added with `dvc add`, never pushed): a
    real error, unlike a missing secret: the job fails and names the *.dvc file and the fix."""
    act, api, project = ci
    shutil.rmtree(act.cache, ignore_errors=True)
    raw = project / "data" / "raw" / "breast_cancer.csv"
    run("git", "checkout", "--quiet", "-B", "unpushed-data", "main", cwd=project)
    try:
        frame = pd.read_csv(raw)
        pd.concat([frame, frame.head(20)]).to_csv(raw, index=False)
        run("dvc", "add", "--quiet", raw, cwd=project)
        sha = commit(project, "More rows, not pushed")
        result = act(pull_request_event(13, "unpushed-data", sha), secrets_for(act), "data not pushed", job="pipeline")
    finally:
        run("git", "checkout", "--quiet", "main", cwd=project)
        run("dvc", "checkout", "--quiet", "--force", "data/raw/breast_cancer.csv.dvc", cwd=project)
    assert_act(result, succeeded=False)
    assert "Failure - Main Fetch data and models" in result.stdout
    message = "the data of data/raw/breast_cancer.csv.dvc is not in the DVC remote: run `dvc push` where it was added"
    assert f"ci_data: {message}" in result.stdout + result.stderr and message in summaries(result.stdout)
    assert stages_run(result.stdout) == [] and api.thread("github", REPOSITORY, 13) == []


def push_to_main(act: Act, project: Path, secrets: dict[str, str], label: str, n_estimators: int):
    """A merged change to main whose model nobody pushed yet: act runs the pipeline job for the push,
    then main is put back. Returns (act's result, the pushed commit)."""
    before = run("git", "rev-parse", "main", cwd=project).stdout.strip()
    run("git", "checkout", "--quiet", "main", cwd=project)
    try:
        set_hyperparams(project, n_estimators=n_estimators)
        sha = commit(project, f"Merge: {n_estimators} trees")
        event = {"ref": "refs/heads/main", "before": before, "after": sha,
                 "repository": {"full_name": REPOSITORY, "default_branch": "main"}}  # fmt: skip
        return act(event, secrets, label, job="pipeline", event_name="push"), sha
    finally:
        run("git", "checkout", "--quiet", "-B", "main", before, cwd=project)


def test_make_promote_refuses_the_laptops_model_trained_with_uncommitted_params(ci, mlflow_auth_server):
    """The first model came from a laptop whose params.yaml differed from its commit: promote says so."""
    _, _, project = ci
    server = mlflow_auth_server
    registry = server.registry(project.name)
    env = tool_env(**server.login(server.admin), MLFLOW_TRACKING_URI="")  # the bake's URI: the server
    result = run("make", "promote", cwd=project, env=env, check=False)
    assert result.returncode != 0 and "promote] Error 1" in result.stderr, result.stdout + result.stderr  # exit 1
    assert re.search(r"promote: refused: the candidate, version 1, was trained from a work tree whose code or "
                     r"params differed from its commit \(git_dirty=true\); there is no champion yet\.", result.stdout)  # fmt: skip
    assert "make promote ARGS=--ignore-lineage" in result.stdout
    assert server.registry(project.name) == registry


def test_push_to_main_with_a_wrong_mlflow_password_fails_in_one_line(ci, mlflow_auth_server):
    act, _, project = ci
    server = mlflow_auth_server
    shutil.rmtree(act.cache, ignore_errors=True)
    registry = server.registry(project.name)
    wrong = "not-" + server.ci[1]
    secrets = secrets_for(act, MLFLOW_TRACKING_USERNAME=server.ci[0], MLFLOW_TRACKING_PASSWORD=wrong)
    result, _ = push_to_main(act, project, secrets, "wrong MLflow password", n_estimators=65)
    assert_act(result, succeeded=False)
    output = result.stdout + result.stderr
    assert "Failure - Main Reproduce the pipeline and register the model" in output
    (line,) = [line for line in output.splitlines() if server.url in line]
    # The user name is a secret: GitHub, like act, prints it as ***.
    assert line.endswith(
        f"evaluate: MLflow tracking server {server.url} refused the credentials of user '***' (HTTP 401); set "
        "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (in CI: the secrets or variables of those names) "
        "(no output was changed; run `dvc repro` again when it works)"
    ), line
    assert "Traceback" not in output and wrong not in output
    print(f"\n[wrong credentials] {line}")
    assert "Upload data and models" not in output and server.registry(project.name) == registry


def test_push_to_main_registers_one_version_with_its_lineage_and_uploads_data_and_models(ci, mlflow_auth_server):
    act, api, project = ci
    server = mlflow_auth_server
    shutil.rmtree(act.cache, ignore_errors=True)
    stored = set(act.s3.keys(BUCKET, "dvc/"))
    before = server.registry(project.name)
    api.requests.clear()
    # The secret MLFLOW_TRACKING_URI is not set (GitHub passes ""): the bake's URI, the server, applies.
    result, sha = push_to_main(act, project, secrets_for(act, **server.login(server.ci)), "push to main", 75)
    assert_act(result, succeeded=True)
    assert stages_run(result.stdout) == ["train", "evaluate"]
    assert "Success - Main Upload data and models" in result.stdout
    pushed = set(act.s3.keys(BUCKET, "dvc/")) - stored
    assert pushed, "dvc push uploaded nothing new"
    assert "roc_auc" in summaries(result.stdout)  # `dvc metrics show --md`
    # No pull request: no plots diff, no report, no comment API call.
    assert "Report and regression gate" not in result.stdout and api.requests == []

    # Exactly one new version, the candidate now, with the pushed commit's lineage; the champion untouched.
    after = server.registry(project.name)
    (new,) = set(after["versions"]) - set(before["versions"])
    assert after["aliases"] == {**before["aliases"], "candidate": new}, after["aliases"]
    tags = after["versions"][new]
    assert (tags["git_commit"], tags["git_branch"], tags["git_dirty"]) == (sha, "main", "false"), tags
    # The job's dvc.lock is gone with its work tree (act removes it), but what it recorded is in S3: its
    # `dvc push` uploaded the model under its md5 (the data, unchanged, was there already).
    assert tags["data_md5"] == model_md5s((project / "dvc.lock").read_text())[0]  # main's data
    assert f"dvc/files/md5/{tags['model_md5'][:2]}/{tags['model_md5'][2:]}" in pushed, (tags, pushed)
    print(f"\n[registry] after the push to main: {json.dumps(after, indent=1, sort_keys=True)}")


def test_retrain_on_drifted_data_promotes_the_model_and_pushes_it_and_a_branch(ci, mlflow_auth_server):
    """retrain.yml by hand (workflow_dispatch) on main after new data arrived: `make retrain` finds the
    drift, reproduces, gates, promotes in the shared registry and pushes data, model and a branch
    retrain/<date>, as GitLab's retrain job does (test_ci_gitlab_local.py). The new data is what `dvc update`
    leaves in the job: a changed *.dvc pointer, not committed (act copies the work tree), which keeps the
    model promotable."""
    act, _, project = ci
    server = mlflow_auth_server
    shutil.rmtree(act.cache, ignore_errors=True)
    run("git", "checkout", "--quiet", "main", cwd=project)
    sha = run("git", "rev-parse", "HEAD", cwd=project).stdout.strip()
    # New data: the same rows plus the quarter with the largest mean_radius twice more; within the data
    # contract, but its size columns drift.
    raw = project / "data" / "raw" / "breast_cancer.csv"
    frame = pd.read_csv(raw)
    large = frame[frame["mean_radius"] > frame["mean_radius"].quantile(0.75)]
    pd.concat([frame, large, large]).to_csv(raw, index=False)
    s3_env = act.s3.env(AWS_ENDPOINT_URL_S3=act.s3.url)
    before = server.registry(project.name)
    try:
        run("dvc", "add", raw, cwd=project, env=s3_env)
        run("dvc", "push", raw, cwd=project, env=s3_env)
        new_data_md5 = yaml.safe_load((project / "data" / "raw" / "breast_cancer.csv.dvc").read_text())["outs"][0][
            "md5"
        ]
        event = {"inputs": {"force": False}, "ref": "refs/heads/main", "after": sha,
                 "repository": {"full_name": REPOSITORY, "default_branch": "main"}}  # fmt: skip
        secrets = secrets_for(act, **server.login(server.ci))
        result = act(event, secrets, "retrain", event_name="workflow_dispatch", workflow=RETRAIN)
    finally:
        run("git", "checkout", "--quiet", "--", "data/raw/breast_cancer.csv.dvc", cwd=project)
        run("dvc", "checkout", "--quiet", "--force", "data/raw/breast_cancer.csv.dvc", cwd=project, env=s3_env)
    assert_act(result, succeeded=True)
    assert "mean_radius" in result.stdout and "DRIFT" in result.stdout
    assert stages_run(result.stdout) == ["validate", "prepare", "train", "evaluate"]
    assert "report: gate passed" in result.stdout
    # One new version in the shared registry, from main's commit with the new data, and the champion now.
    after = server.registry(project.name)
    (new,) = set(after["versions"]) - set(before["versions"])
    assert after["aliases"] == {"candidate": new, "champion": new}, after["aliases"]
    tags = after["versions"][new]
    assert (tags["git_commit"], tags["git_dirty"], tags["data_md5"]) == (sha, "false", new_data_md5), tags
    assert re.search(rf"promote: version {new} is the champion now \(the first champion\)", result.stdout)
    print(f"\n[registry] after retrain: {json.dumps(after, indent=1, sort_keys=True)}")

    # The branch holds the retrained dvc.lock; the remote holds the model it names.
    bare = act.bare
    (branch,) = run("git", "--git-dir", bare, "branch", "--list", "retrain/*", cwd=act.home).stdout.split()
    assert re.fullmatch(r"retrain/\d{4}-\d\d-\d\d-\d{4}", branch), branch
    lock = run("git", "--git-dir", bare, "show", f"{branch}:dvc.lock", cwd=act.home).stdout
    data_md5, model_md5 = model_md5s(lock)
    assert model_md5 != model_md5s(run("git", "show", "main:dvc.lock", cwd=project).stdout)[1]
    assert (data_md5, model_md5) == (new_data_md5, tags["model_md5"])
    assert f"dvc/files/md5/{model_md5[:2]}/{model_md5[2:]}" in act.s3.keys(BUCKET, "dvc/")
    assert f"Pushed `{branch}`: [open its pull request](https://github.com/{REPOSITORY}/compare/main...{branch}" in (
        summaries(result.stdout)
    )


def test_spark_pull_request_runs_the_tests_and_the_pipeline_in_local_mode_and_posts_the_report(
    tmp_path_factory, s3_endpoint
):
    """The shared engine=spark bake (helpers.SPARK_BAKE: s3, docker=no): one pull request run, whose test job
    gets Java (setup-java's stand-in checks the host's), the wheelhouse from the cache and `make install`, then
    runs ruff and pytest, and whose pipeline job pulls main's outputs, re-runs train and evaluate on Spark in
    local mode and posts the report as a comment."""
    home = tmp_path_factory.mktemp("act-spark")
    project = spark_s3_project(tmp_path_factory, s3_endpoint)
    with load_comment_api(project)(token=TOKEN) as api:
        act = Act(project, home, s3_endpoint, api)
        venv_seeing_test_packages(act.venv, PYTHON)
        # What an earlier run left in the pyspark-4.3 cache: the wheel (a link to it), so no job builds it.
        act.wheels.mkdir()
        wheel = pyspark_wheel()
        (act.wheels / wheel.name).symlink_to(wheel)
        env = tool_env(**act.git_env())
        run("git", "clone", "--quiet", "--bare", project, act.bare, cwd=home)
        run("git", "remote", "add", "origin", ORIGIN, cwd=project, env=env)
        run("git", "fetch", "--quiet", "origin", cwd=project, env=env)
        sha = new_branch(project, "more-trees", numTrees=30)
        result = act(pull_request_event(7, "more-trees", sha), secrets_for(act), "spark pull request")
        comments = api.thread("github", REPOSITORY, 7)

    assert_act(result, succeeded=True)
    for step in ("actions/setup-java", "make install", "ruff check .", "pytest", "make install EXTRAS=spark"):
        assert f"Success - Main {step}" in result.stdout, step
    assert result.stdout.count("cache stand-in: restored .cache/pyspark-wheels") == 2
    assert "Building the pyspark wheel" not in result.stdout and "Java not found" not in result.stdout
    assert '-e ".[dev,spark]"' in result.stdout and '-e ".[spark]"' in result.stdout
    assert stages_run(result.stdout) == ["train", "evaluate"], result.stdout[-6000:]
    assert "train: fitted random_forest on" in result.stdout
    (comment,) = comments
    body = comment["body"]
    assert "Gate passed" in body and re.search(r"train.random_forest.numTrees\s*\|\s*50\s*\|\s*30", body), body
