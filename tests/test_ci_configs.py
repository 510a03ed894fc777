"""The baked CI configs (GitHub Actions and GitLab CI) pass the linters of their platforms and keep
the CI contract: pinned actions, least privilege, secrets only through env, no red job without data, and
the CI logic in the project's own commands (make targets), which both platforms call, not in copied shell.

Each DVC remote kind is baked once with ci=both and shared by the tests below. The linters are the
real tools from this environment: check-jsonschema, zizmor, actionlint (with shellcheck) and shellcheck.
"""

import re
from pathlib import Path

import pytest
import yaml
from helpers import BIN, bake, bake_on_first_use, run

WORKFLOW = Path(".github/workflows/ci.yml")
RETRAIN = Path(".github/workflows/retrain.yml")
GITHUB_WORKFLOWS = (WORKFLOW, RETRAIN)
GITLAB_CI = Path(".gitlab-ci.yml")
# One bake per DVC remote kind. The s3 bake also asks for a non-default Python, to see it reach both configs.
REMOTE_ANSWERS = {
    "local": {},
    "s3": {"dvc_remote_url": "s3://my-bucket/dvc", "python_version": "3.13"},
    "none": {},
}
# An engine=spark bake (S3, so that its pipeline and retrain jobs run the stages): the linters and the
# shared-logic checks below see it too, and its Java and pyspark install is checked at the end.
SPARK = {"ci": "both", "dvc_remote": "s3", "dvc_remote_url": "s3://my-bucket/dvc", "engine": "spark", "docker": "no"}
LINTED = (*REMOTE_ANSWERS, "spark")
AWS_SECRETS = {name: f"${{{{ secrets.{name} }}}}" for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
MLFLOW_SECRETS = {
    name: f"${{{{ secrets.{name} }}}}"
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")
}
ON_THE_DEFAULT_BRANCH = "github.event_name == 'push' && github.ref_name == github.event.repository.default_branch"
GITHUB_EXPRESSION = re.compile(r"\$\{\{.*?\}\}")
# A script line that moves data between the workspace and the DVC remote or cache (mentions in messages do
# not count): only ci_data.py may, so the rules of where the data comes from are written once.
DVC_TRANSFER = re.compile(r"^\s*dvc (pull|push|checkout|fetch)\b", re.MULTILINE)
# A call of ci_data.py in a script: its command and options.
CI_DATA = re.compile(r"python -m my_ml_project\.ci_data (check|pull|push)((?: --[a-z-]+)*)")
# What a script that decides by the remote's credentials reads (the CI configs only pass them on).
CREDENTIAL_READ = re.compile(r"\$\{?AWS_")
# A script line that runs a make target (mentions in messages, in backticks, do not count).
MAKE_TARGET = re.compile(r"^\s*make ([a-z-]+)", re.MULTILINE)
# The most lines of shell both platforms may have in common: longer shared logic belongs in a make target.
SHARED_SHELL_LINES = 3


@pytest.fixture(scope="module")
def baked(tmp_path_factory):
    """baked("s3") -> the project baked with ci=both and that DVC remote (baked("spark"): SPARK); each bake
    happens once."""
    answers = {remote: {"ci": "both", "dvc_remote": remote, **extra} for remote, extra in REMOTE_ANSWERS.items()}
    return bake_on_first_use(tmp_path_factory, {**answers, "spark": SPARK})


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def github_steps(workflow: dict, job: str) -> list[dict]:
    return workflow["jobs"][job]["steps"]


def github_scripts(workflow: dict) -> list[str]:
    return [step["run"] for job in workflow["jobs"] for step in github_steps(workflow, job) if "run" in step]


def github_step(workflow: dict, job: str, name: str) -> dict:
    return next(step for step in github_steps(workflow, job) if step.get("name") == name)


def gitlab_entries(config: dict, job: str) -> list[str]:
    """A GitLab job's script entries, nested lists (which YAML anchors make) flattened as GitLab does."""

    def flat(items):
        for item in items:
            yield from flat(item) if isinstance(item, list) else [item]

    return list(flat(config[job]["script"]))


def gitlab_script(config: dict, job: str) -> str:
    """A GitLab job's script lines as the runner executes them: one shell script."""
    return "\n".join(gitlab_entries(config, job))


def gitlab_extends(config: dict, job: str) -> list[dict]:
    """The job and the hidden jobs it extends, the job first."""
    extends = config[job].get("extends", [])
    return [config[job], *(config[name] for name in ([extends] if isinstance(extends, str) else extends))]


def gitlab_rules(config: dict, job: str) -> list[dict]:
    """The job's rules, its own or those of the hidden job it extends."""
    return next(definition["rules"] for definition in gitlab_extends(config, job) if "rules" in definition)


GITLAB_JOBS = ("test", "template-check", "pipeline", "retrain")  # build-image: tests/test_ci_image.py
GITLAB_MERGE_REQUESTS_AND_DEFAULT_BRANCH = [
    '$CI_PIPELINE_SOURCE == "merge_request_event"',
    '$CI_PIPELINE_SOURCE == "push" && $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH',
]
GITLAB_SCHEDULES = [
    '($CI_PIPELINE_SOURCE == "schedule" || $CI_PIPELINE_SOURCE == "web") && $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH'
]


def shellcheck(script: str, directory: Path):
    path = directory / "script.sh"
    path.write_text(script, encoding="utf-8")
    return run(BIN / "shellcheck", "-s", "bash", path, cwd=directory, check=False)


def check_jsonschema(schema: str, path: Path, cwd: Path):
    return run(BIN / "check-jsonschema", "--builtin-schema", schema, path, cwd=cwd, check=False)


def actionlint(workflow: Path, cwd: Path):
    # shellcheck is passed explicitly: actionlint silently skips the shell checks when it finds none.
    return run(BIN / "actionlint", "-shellcheck", BIN / "shellcheck", workflow, cwd=cwd, check=False)


def assert_passed(result, tool: str, path: Path):
    assert result.returncode == 0, (
        f"{tool} rejected {path} (exit {result.returncode}):\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
    )


@pytest.mark.parametrize("remote", LINTED)
def test_github_workflows_match_the_github_actions_schema(baked, remote):
    for workflow in GITHUB_WORKFLOWS:
        result = check_jsonschema("vendor.github-workflows", workflow, cwd=baked(remote))
        assert_passed(result, "check-jsonschema", workflow)


@pytest.mark.parametrize("remote", LINTED)
def test_gitlab_config_matches_the_gitlab_ci_schema(baked, remote):
    result = check_jsonschema("vendor.gitlab-ci", GITLAB_CI, cwd=baked(remote))
    assert_passed(result, "check-jsonschema", GITLAB_CI)


@pytest.mark.parametrize("remote", LINTED)
def test_zizmor_finds_nothing_in_the_github_workflows(baked, remote):
    # --offline: the audits that ask GitHub (e.g. whether a SHA belongs to its tag) need a token and network.
    for workflow in GITHUB_WORKFLOWS:
        result = run(BIN / "zizmor", "--offline", workflow, cwd=baked(remote), check=False)
        assert_passed(result, "zizmor", workflow)


@pytest.mark.parametrize("remote", LINTED)
def test_actionlint_and_shellcheck_accept_the_github_workflows(baked, remote):
    for workflow in GITHUB_WORKFLOWS:
        assert_passed(actionlint(workflow, cwd=baked(remote)), "actionlint", workflow)


@pytest.mark.parametrize("remote", LINTED)
def test_shellcheck_accepts_every_gitlab_job_script(baked, remote, tmp_path):
    config = load(baked(remote) / GITLAB_CI)
    for job in GITLAB_JOBS:
        result = shellcheck(gitlab_script(config, job), tmp_path)
        assert_passed(result, f"shellcheck (job {job})", GITLAB_CI)


def test_linters_reject_a_workflow_with_known_flaws(baked, tmp_path):
    """The checks above can fail: the same tools, on a copy with an unpinned action and an unquoted variable."""
    project = baked("s3")
    flawed = tmp_path / WORKFLOW
    flawed.parent.mkdir(parents=True)
    text = (project / WORKFLOW).read_text(encoding="utf-8")
    text = re.sub(r"actions/checkout@\w+", "actions/checkout@v4", text).replace("run: dvc repro", "run: dvc repro $FOO")
    flawed.write_text(text, encoding="utf-8")

    zizmor = run(BIN / "zizmor", "--offline", flawed, cwd=tmp_path, check=False)
    assert zizmor.returncode != 0 and "unpinned-uses" in zizmor.stdout, zizmor.stdout + zizmor.stderr
    lint = actionlint(flawed, cwd=tmp_path)
    assert lint.returncode != 0 and "SC2086" in lint.stdout, lint.stdout + lint.stderr
    shell = shellcheck("echo $FOO\n", tmp_path)
    assert shell.returncode != 0 and "SC2086" in shell.stdout, shell.stdout + shell.stderr
    broken_gitlab = tmp_path / GITLAB_CI
    broken_gitlab.write_text("test:\n  script: 1\n", encoding="utf-8")
    schema = check_jsonschema("vendor.gitlab-ci", broken_gitlab, cwd=tmp_path)
    assert schema.returncode != 0, schema.stdout + schema.stderr


@pytest.mark.parametrize("remote", LINTED)
def test_no_jinja_is_left_and_github_expressions_survive_outside_scripts(baked, remote):
    project = baked(remote)
    workflow_text = (project / WORKFLOW).read_text(encoding="utf-8")
    for path in (*GITHUB_WORKFLOWS, GITLAB_CI):
        text = (project / path).read_text(encoding="utf-8")
        leftover = re.findall(r".*(?:\{\{|\{%|\{#|%\}|#\}).*", GITHUB_EXPRESSION.sub("", text))
        assert not leftover, f"Jinja left in {path}: {leftover}"
    expressions = set(GITHUB_EXPRESSION.findall(workflow_text))
    assert {"${{ github.workflow }}", "${{ github.ref }}", "${{ github.event_name == 'pull_request' }}"} <= expressions
    if remote == "s3":
        assert {"${{ github.base_ref }}", "${{ hashFiles('dvc.lock') }}", *AWS_SECRETS.values()} <= expressions
    # Values reach scripts through env, never pasted into them (script injection).
    for workflow in GITHUB_WORKFLOWS:
        assert not any("${{" in script for script in github_scripts(load(project / workflow))), workflow


@pytest.mark.parametrize("remote", REMOTE_ANSWERS)
def test_python_version_answer_reaches_both_configs(baked, remote):
    project = baked(remote)
    version = REMOTE_ANSWERS[remote].get("python_version", "3.12")
    setups = [
        step["with"]
        for workflow in GITHUB_WORKFLOWS
        for job in load(project / workflow)["jobs"].values()
        for step in job["steps"]
        if step.get("uses", "").startswith("actions/setup-python@")
    ]
    assert len(setups) == (4 if remote == "s3" else 1), setups  # test, pipeline, image and retrain jobs with s3
    # Written once per workflow, in its env, where the answer renders (outside Jinja's raw blocks).
    assert all(setup["python-version"] == "${{ env.PYTHON_VERSION }}" for setup in setups), setups
    assert all(load(project / workflow)["env"] == {"PYTHON_VERSION": version} for workflow in GITHUB_WORKFLOWS)
    assert load(project / GITLAB_CI)["default"]["image"] == f"python:{version}-slim"


@pytest.mark.parametrize("remote", REMOTE_ANSWERS)
def test_github_workflow_has_test_and_pipeline_jobs_with_least_privilege(baked, remote):
    project = baked(remote)
    workflow = load(project / WORKFLOW)
    # PyYAML reads the key `on` as True (YAML 1.1).
    assert set(workflow[True]) == {"pull_request", "push"} and workflow[True]["push"] == {"branches": ["main"]}
    assert workflow["permissions"] in ({}, {"contents": "read"})
    assert workflow["concurrency"]["group"] == "${{ github.workflow }}-${{ github.ref }}"
    # docker=yes (the default) adds the image job (tests/test_ci_image.py): the only one that may write packages.
    assert set(workflow["jobs"]) == {"test", "template-check", "pipeline", "image"}
    assert workflow["jobs"]["pipeline"]["needs"] == "test"
    # Only the s3 pipeline posts the report: it alone may write to pull requests.
    may_write = {"image": {"packages"}, "pipeline": {"pull-requests"} if remote == "s3" else set()}
    for name, job in workflow["jobs"].items():
        allowed = {"contents"} | may_write.get(name, set())
        assert set(job["permissions"]) <= allowed, f"job {name} asks for {job['permissions']}"
        assert all(value in ("read", "write") for value in job["permissions"].values())
        assert job["permissions"].get("contents", "read") == "read", f"job {name} may write the repository"
        for step in job["steps"]:
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, f"job {name}: {step}"
    test_commands = [step["run"] for step in github_steps(workflow, "test") if "run" in step]
    assert test_commands == ['pip install -e ".[dev]"', "ruff check .", "ruff format --check .", "pytest"]


def test_github_template_check_informs_and_never_blocks(baked, tmp_path):
    """cruft check needs the template's repository (network): the job may fail without failing the run,
    and a project without .cruft.json is told how to link it, green (run here with no network tool)."""
    job = load(baked("local") / WORKFLOW)["jobs"]["template-check"]
    assert job["continue-on-error"] is True and "needs" not in job and job["permissions"] == {"contents": "read"}
    script = job["steps"][-1]["run"]
    assert script.rstrip().endswith("cruft check")
    summary = tmp_path / "summary.md"
    result = run(
        "bash", "-e", "-c", script, cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "GITHUB_STEP_SUMMARY": str(summary)}
    )
    assert "no .cruft.json" in result.stdout and "cruft link" in summary.read_text()


@pytest.mark.parametrize("remote", LINTED)
def test_actions_are_pinned_to_a_commit_with_the_release_in_a_comment(baked, remote):
    text = "".join((baked(remote) / workflow).read_text(encoding="utf-8") for workflow in GITHUB_WORKFLOWS)
    uses = re.findall(r"uses: (.*)", text)
    assert uses
    for line in uses:
        assert re.fullmatch(r"actions/[\w-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+", line), line


@pytest.mark.parametrize("remote", REMOTE_ANSWERS)
def test_gitlab_config_has_test_and_pipeline_jobs_for_merge_requests_and_default_branch(baked, remote):
    """Which pipelines run which job is executed in test_ci_gitlab_local.py; here, the exact rules."""
    config = load(baked(remote) / GITLAB_CI)
    assert config["stages"] == ["test", "pipeline", "image"]  # image: docker=yes, tests/test_ci_image.py
    jobs = {name for name in config if not name.startswith(".") and "script" in config[name]}
    assert jobs == {*GITLAB_JOBS, "build-image"}
    assert config["test"]["stage"] == config["template-check"]["stage"] == "test"
    assert config["pipeline"]["stage"] == config["retrain"]["stage"] == "pipeline"
    assert config["pipeline"]["needs"] == ["test"]
    for job in ("test", "template-check", "pipeline"):
        assert [rule["if"] for rule in gitlab_rules(config, job)] == GITLAB_MERGE_REQUESTS_AND_DEFAULT_BRANCH
    assert [rule["if"] for rule in gitlab_rules(config, "retrain")] == GITLAB_SCHEDULES
    assert all("when" not in rule for job in GITLAB_JOBS for rule in gitlab_rules(config, job))
    assert "workflow" not in config  # gitlab-ci-local does not enforce workflow:rules, so none are used
    assert config["test"]["script"] == ['pip install -e ".[dev]"', "ruff check .", "ruff format --check .", "pytest"]
    assert config["variables"]["PIP_CACHE_DIR"] == "$CI_PROJECT_DIR/.cache/pip"
    assert config["test"]["cache"]["paths"] == [".cache/pip"]
    # The template check informs and never blocks: allowed to fail, and it needs nothing before it.
    assert config["template-check"]["allow_failure"] is True and config["template-check"]["needs"] == []
    assert gitlab_script(config, "template-check").endswith("pip install cruft\ncruft check")


def test_s3_remote_is_pulled_and_pushed_with_credentials_from_secrets_only(baked):
    project = baked("s3")
    workflow = load(project / WORKFLOW)
    steps = github_steps(workflow, "pipeline")
    checkout = next(step for step in steps if step.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0
    cache = next(step for step in steps if step.get("uses", "").startswith("actions/cache@"))
    assert cache["with"]["path"] == ".dvc/cache" and "hashFiles('dvc.lock')" in cache["with"]["key"]
    # The data comes and goes through ci_data.py alone, which gets the remote's keys from the secrets.
    calls = [step for step in steps if CI_DATA.search(step.get("run", ""))]
    assert [CI_DATA.search(step["run"])[1] for step in calls] == ["check", "pull", "push"]
    for step in calls:
        assert step["env"] == AWS_SECRETS, step
    # `check` before the install: a run that can get no data installs nothing; the pipeline needs the data.
    check, pull, push = calls
    install = next(step for step in steps if step.get("run") == "pip install -e .")
    assert steps.index(check) < steps.index(install) < steps.index(pull) < steps.index(push)
    assert check["id"] == "check" and pull["id"] == "remote"
    assert install["if"] == pull["if"] == "steps.check.outputs.found == 'true'"
    # Exit 3 (no data, not the author's fault) keeps the step green; only 0 lets the next steps run.
    assert check["run"].endswith('then echo "found=true" >> "$GITHUB_OUTPUT"; else [ $? = 3 ]; fi')
    assert pull["run"].endswith('then echo "ready=true" >> "$GITHUB_OUTPUT"; else [ $? = 3 ]; fi')
    # Secrets appear only as step env values, never at workflow or job level, never inside a script.
    assert set(workflow["env"]) == {"PYTHON_VERSION"} and all("env" not in job for job in workflow["jobs"].values())
    env_secrets = [
        (name, value) for step in steps for name, value in step.get("env", {}).items() if "secrets." in value
    ]
    assert all((AWS_SECRETS | MLFLOW_SECRETS).get(name) == value for name, value in env_secrets), env_secrets
    assert (project / WORKFLOW).read_text(encoding="utf-8").count("secrets.") == len(env_secrets)
    # On a pull request: the plots diff as an artifact, then the report (metrics and params diff, gate, comment).
    on_pull_requests = "steps.remote.outputs.ready == 'true' && github.event_name == 'pull_request'"
    plots = github_step(workflow, "pipeline", "Plot against the base branch")
    assert plots["run"] == 'dvc plots diff --out dvc_plots "origin/$BASE_REF"' and plots["if"] == on_pull_requests
    upload = github_step(workflow, "pipeline", "Upload the plots")
    assert upload["with"]["path"] == "dvc_plots/" and upload["with"]["if-no-files-found"] == "error"
    report = github_step(workflow, "pipeline", "Report and regression gate")
    assert report["run"] == 'make report BASE="origin/$BASE_REF"' and report["if"] == on_pull_requests
    assert report["env"] == {"BASE_REF": "${{ github.base_ref }}", "GITHUB_TOKEN": "${{ github.token }}"}
    names = [step.get("name") for step in steps]
    first_repro = names.index("Reproduce the pipeline (MLflow store of this job only)")
    assert first_repro < names.index("Upload the plots") < names.index(report["name"])
    # dvc push: only from the default branch (ci_data push says so when a cache-fed run has no secrets).
    assert push["name"] == "Upload data and models" and push["run"] == "python -m my_ml_project.ci_data push"
    assert "github.ref_name == github.event.repository.default_branch" in push["if"]
    assert "steps.remote.outputs.ready == 'true'" in push["if"] and "credentials" not in push["if"]

    retrain = load(project / RETRAIN)
    assert set(retrain[True]) == {"schedule", "workflow_dispatch"} and retrain["permissions"] == {}
    assert retrain["concurrency"] == {"group": "${{ github.workflow }}", "cancel-in-progress": False}
    assert retrain["jobs"]["retrain"]["permissions"] == {"contents": "write"}  # pushes the retrain/<date> branch
    # The data from the remote only (retrain pushes), then `make retrain` (drift, repro, gate, promote, dvc
    # push, the branch: test_report_gate.py).
    scripts = [step["run"] for step in github_steps(retrain, "retrain") if "run" in step]
    assert [match[1] + match[2] for script in scripts for match in CI_DATA.finditer(script)] == [
        "check --require-credentials", "pull --require-credentials"]  # fmt: skip
    assert scripts[-3:] == ["pip install -e .", scripts[-2], "make retrain"]  # checked before the install
    assert "ci_data pull --require-credentials" in scripts[-2]
    make_retrain = github_steps(retrain, "retrain")[-1]
    assert (AWS_SECRETS | MLFLOW_SECRETS).items() <= make_retrain["env"].items()
    assert make_retrain["env"]["RETRAIN_PUSH_TOKEN"] == "${{ github.token }}"
    assert make_retrain["env"]["FORCE"] == "${{ inputs.force }}"
    for step in github_steps(retrain, "retrain"):
        secrets = {name: value for name, value in step.get("env", {}).items() if "secrets." in value}
        assert all(value == f"${{{{ secrets.{name} }}}}" for name, value in secrets.items()), step
        if CI_DATA.search(step.get("run", "")):
            assert step["env"] == AWS_SECRETS, step

    config = load(project / GITLAB_CI)
    script = gitlab_script(config, "pipeline")
    assert [match[1] + match[2] for match in CI_DATA.finditer(script)] == ["check", "pull", "push"]
    assert script.index("ci_data check") < script.index("pip install -e .") < script.index("ci_data pull")
    assert "dvc repro" in script
    assert 'git fetch --quiet origin "+refs/heads/$TARGET:refs/remotes/origin/$TARGET"' in script
    assert 'dvc plots diff --out dvc_plots "origin/$TARGET"' in script
    assert 'make report BASE="origin/$TARGET"' in script  # metrics/params diff, gate, note
    assert config["pipeline"]["artifacts"]["when"] == "always"  # the report and plots of a failed gate too
    # YAML cannot read params.yaml: the reports are copied into a CI-only folder, whatever the job's result.
    assert {"build/ci-artifacts/", "dvc_plots/"} <= set(config["pipeline"]["artifacts"]["paths"])
    keep = "trap 'python -m my_ml_project.ci_artifacts build/ci-artifacts validation report' EXIT"
    assert script.index("ci_data pull") < script.index(keep) < script.index("dvc repro")  # once installed
    # Exit 3 ends the job green; exit 1 fails it.
    for command in ("check", "pull"):
        assert f"python -m my_ml_project.ci_data {command} || {{ [ $? = 3 ] && exit 0; exit 1; }}" in script
    retrain = gitlab_script(config, "retrain")
    assert retrain.endswith("\nmake retrain")
    assert [match[1] + match[2] for match in CI_DATA.finditer(retrain)] == [
        "check --require-credentials", "pull --require-credentials"]  # fmt: skip
    for job in ("pipeline", "retrain"):
        settings = {key: value for definition in gitlab_extends(config, job) for key, value in definition.items()}
        assert settings["variables"]["GIT_DEPTH"] == 0, job
        keys = [cache["key"] for cache in settings["cache"]]
        assert keys == [{"prefix": "pip", "files": ["pyproject.toml"]}, {"prefix": "dvc", "files": ["dvc.lock"]}], job
    # GitLab's credentials are CI/CD variables of the project: the file must not define them.
    text = (project / GITLAB_CI).read_text(encoding="utf-8")
    for variable in ("AWS_ACCESS_KEY_ID", "GITLAB_REPORT_TOKEN", "RETRAIN_PUSH_TOKEN", "MLFLOW_TRACKING_PASSWORD"):
        assert f"{variable}:" not in text, variable
    assert "$CI_JOB_TOKEN" not in text


def test_only_the_default_branch_and_retrain_get_the_mlflow_server(baked):
    """Pull/merge requests log to a store inside the job, with no MLflow credentials; the default
    branch and retrain get the server's URI and credentials from secrets/variables (executed against a
    real server in test_ci_github_act.py and test_ci_gitlab_local.py)."""
    project = baked("s3")
    workflow = load(project / WORKFLOW)
    repros = [step for step in github_steps(workflow, "pipeline") if step.get("run") == "dvc repro"]
    assert [step["env"] for step in repros] == [{"MLFLOW_TRACKING_URI": "sqlite:///mlflow.db"}, MLFLOW_SECRETS]
    assert f"!({ON_THE_DEFAULT_BRANCH})" in repros[0]["if"] and f"&& {ON_THE_DEFAULT_BRANCH}" in repros[1]["if"]
    retrain = load(project / RETRAIN)["jobs"]["retrain"]
    assert (
        retrain["if"] == "github.event_name == 'schedule' || github.ref_name == github.event.repository.default_branch"
    )
    uses_mlflow = [step for step in retrain["steps"] if "MLFLOW_TRACKING_URI" in step.get("env", {})]
    assert [step["run"] for step in uses_mlflow] == ["make retrain"]
    assert MLFLOW_SECRETS.items() <= uses_mlflow[0]["env"].items()

    config = load(project / GITLAB_CI)
    script = gitlab_script(config, "pipeline")
    local_store = (
        'if [ "$CI_PIPELINE_SOURCE" = "merge_request_event" ]; then\n'
        "  export MLFLOW_TRACKING_URI=sqlite:///mlflow.db\n"
        "  unset MLFLOW_TRACKING_USERNAME MLFLOW_TRACKING_PASSWORD MLFLOW_TRACKING_TOKEN\nfi"
    )
    assert local_store in script and script.index(local_store) < script.index("dvc repro")
    assert "MLFLOW_" not in gitlab_script(config, "retrain")  # the CI/CD variables, as GitLab sets them
    text = (project / GITLAB_CI).read_text(encoding="utf-8")
    assert "MLFLOW_TRACKING_PASSWORD:" not in text and "MLFLOW_TRACKING_USERNAME:" not in text


@pytest.mark.parametrize("remote", REMOTE_ANSWERS)
def test_missing_credentials_or_remote_end_the_pipeline_job_green_with_an_explanation(baked, remote, tmp_path):
    """The pipeline and retrain jobs' first scripts, run with no credentials in a checkout of the project
    (no DVC cache, as in a fork's first run): they exit 0, say what to configure, and call none of the
    tools that would install or fetch (stand-ins that fail and record the call). Only Python is real."""
    checkout = tmp_path / "checkout"
    run("git", "clone", "--quiet", baked(remote), checkout, cwd=tmp_path)
    stand_ins = tmp_path / "bin"
    stand_ins.mkdir()
    calls = tmp_path / "calls"
    for tool in ("apt-get", "pip", "dvc", "git", "make"):
        (stand_ins / tool).write_text(f'#!/bin/sh\necho {tool} >> "{calls}"\nexit 1\n')
        (stand_ins / tool).chmod(0o755)
    summary, outputs = tmp_path / "summary.md", tmp_path / "outputs"
    env = {
        "PATH": f"{stand_ins}:{BIN}:/usr/bin:/bin",
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(outputs),
    }

    # GitHub: each job's first script (the s3 pipeline job with a filled cache runs under act in
    # test_ci_github_act.py); the later steps run only on what it writes to GITHUB_OUTPUT.
    for path, job in ((WORKFLOW, "pipeline"), (RETRAIN, "retrain")):
        script = next(step["run"] for step in github_steps(load(baked(remote) / path), job) if "run" in step)
        summary.unlink(missing_ok=True)
        github = run("bash", "-e", "-c", script, cwd=checkout, env={**env, "GITHUB_ACTIONS": "true"}, check=False)
        assert github.returncode == 0, github.stdout + github.stderr
        assert " not run:" in summary.read_text(), job
        if remote == "s3":  # ci_data says where GitHub takes the keys
            assert "repository secrets AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in summary.read_text(), job
        else:
            assert "S3 remote" in summary.read_text(), job
        assert not outputs.exists() or "=true" not in outputs.read_text()

    # GitLab runs a job's script lines as one shell script: all of it must stop before installing.
    for job in ("pipeline", "retrain"):
        script = gitlab_script(load(baked(remote) / GITLAB_CI), job)
        gitlab = run("bash", "-e", "-c", script, cwd=checkout, env={**env, "GITLAB_CI": "true"}, check=False)
        assert gitlab.returncode == 0, gitlab.stdout + gitlab.stderr
        assert "not run" in gitlab.stdout, gitlab.stdout
        if remote == "s3":
            assert "CI/CD variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in gitlab.stdout, gitlab.stdout
        else:
            assert "S3 remote" in gitlab.stdout, gitlab.stdout
        assert not calls.exists(), f"{job} called without credentials: {calls.read_text()}"


def make_targets(scripts: list[str]) -> set[str]:
    return {target for script in scripts for target in MAKE_TARGET.findall(script)}


def shell_blocks(project: Path) -> dict[str, list[list[str]]]:
    """{platform: its shell blocks (a GitHub step's run, a GitLab script entry), each as its code lines}."""

    def code(script: str) -> list[str]:
        lines = (line.strip() for line in script.splitlines())
        return [line for line in lines if line and not line.startswith("#")]

    github = [code(script) for path in GITHUB_WORKFLOWS for script in github_scripts(load(project / path))]
    config = load(project / GITLAB_CI)
    jobs = [name for name in config if not name.startswith(".") and "script" in config[name]]
    gitlab = [code(entry) for job in jobs for entry in gitlab_entries(config, job)]
    return {"github": github, "gitlab": gitlab}


def shared_runs(first: list[list[str]], second: list[list[str]], length: int) -> list[list[str]]:
    """Runs of `length` consecutive lines that a block of `first` and a block of `second` both contain."""
    windows = {tuple(block[i : i + length]) for block in second for i in range(len(block) - length + 1)}
    return [list(block[i : i + length]) for block in first for i in range(len(block) - length + 1)
            if tuple(block[i : i + length]) in windows]  # fmt: skip


def ci_data_calls(scripts: list[str]) -> set[str]:
    return {match[1] + match[2] for script in scripts for match in CI_DATA.finditer(script)}


def all_scripts(project: Path) -> dict[str, list[str]]:
    """{platform: every job's script}, a GitLab job's lines as one script."""
    config = load(project / GITLAB_CI)
    return {
        "github": [script for path in GITHUB_WORKFLOWS for script in github_scripts(load(project / path))],
        "gitlab": [gitlab_script(config, job) for job in config if "script" in config.get(job, {})],
    }


@pytest.mark.parametrize("remote", REMOTE_ANSWERS)
def test_both_platforms_call_the_same_project_commands(baked, remote):
    project = baked(remote)
    scripts = all_scripts(project)
    github, gitlab = make_targets(scripts["github"]), make_targets(scripts["gitlab"])
    assert github == gitlab, (github, gitlab)
    # The report, retrain and the image's build and smoke test need the data, which only S3 brings to CI.
    assert github == ({"report", "retrain", "docker-build", "docker-smoke"} if remote == "s3" else set())
    makefile = (project / "Makefile").read_text(encoding="utf-8")
    assert all(re.search(rf"^{target}:", makefile, re.MULTILINE) for target in github), makefile
    # And the data: the same ci_data.py commands (retrain's from the remote only, as it pushes).
    data = {"check", "pull", "push", "check --require-credentials", "pull --require-credentials"}
    assert ci_data_calls(scripts["github"]) == ci_data_calls(scripts["gitlab"]) == (data if remote == "s3" else set())


def data_rules_outside_ci_data(scripts: list[str]) -> list[str]:
    """The lines of scripts that fetch or push data, or read the remote's keys, themselves."""
    return [line for script in scripts for line in script.splitlines()
            if DVC_TRANSFER.search(line) or CREDENTIAL_READ.search(line)]  # fmt: skip


@pytest.mark.parametrize("remote", LINTED)
def test_only_ci_data_fetches_or_pushes_data(baked, remote):
    """Where the data comes from (the remote's keys, CI's cache, what is missing) is decided in ci_data.py
    alone: no CI script runs dvc pull/push/checkout or looks at the keys, so the two platforms cannot drift
    apart again (they did: GitHub fell back to CI's cache, GitLab stopped)."""
    for platform, scripts in all_scripts(baked(remote)).items():
        assert data_rules_outside_ci_data(scripts) == [], platform


def test_every_job_that_needs_data_checks_installs_then_pulls_it(baked):
    """On both platforms: `ci_data check` (Python only), the install, `ci_data pull`, then the pipeline."""
    project = baked("s3")
    config = load(project / GITLAB_CI)
    github = {path: load(project / path) for path in GITHUB_WORKFLOWS}
    jobs = {
        "github pipeline": [step.get("run", "") for step in github_steps(github[WORKFLOW], "pipeline")],
        "github retrain": [step.get("run", "") for step in github_steps(github[RETRAIN], "retrain")],
        "gitlab pipeline": gitlab_entries(config, "pipeline"),
        "gitlab retrain": gitlab_entries(config, "retrain"),
    }
    for job, lines in jobs.items():
        steps = [" ".join(line.split()) for line in lines]
        first_use = next(i for i, line in enumerate(steps) if "dvc repro" in line or "make retrain" in line)
        install = steps.index("pip install -e .")
        (check,) = [i for i, line in enumerate(steps) if "ci_data check" in line]
        (pull,) = [i for i, line in enumerate(steps) if "ci_data pull" in line]
        assert check < install < pull < first_use, (job, steps)


def test_the_data_rules_check_finds_the_fetch_written_in_a_config():
    """The check above can fail: the fetch step GitHub had before ci_data.py, and a bare `dvc push`."""
    old_github = (
        'if [ -n "$AWS_ACCESS_KEY_ID" ] && [ -n "$AWS_SECRET_ACCESS_KEY" ]; then\n'
        "  dvc pull --allow-missing\nelse\n  dvc checkout --allow-missing\nfi"
    )
    assert len(data_rules_outside_ci_data([old_github, "dvc metrics show --md\ndvc push"])) == 4
    assert data_rules_outside_ci_data(["python -m my_ml_project.ci_data pull", "echo 'then dvc push it'"]) == []


@pytest.mark.parametrize("remote", LINTED)
def test_no_block_of_shell_longer_than_a_few_lines_is_written_for_both_platforms(baked, remote):
    blocks = shell_blocks(baked(remote))
    assert blocks["github"] and blocks["gitlab"]
    shared = shared_runs(blocks["github"], blocks["gitlab"], SHARED_SHELL_LINES + 1)
    assert not shared, f"shell written for both platforms (make it a make target): {shared[0]}"


def test_the_shared_shell_check_finds_a_copied_block():
    """The check above can fail: the old smoke test's retry loop, written for both platforms."""
    loop = ["for attempt in range(60):", "try:", "print(urlopen(url).read())", "break", "except OSError:",
            "time.sleep(1)", "else:", "raise SystemExit(1)"]  # fmt: skip
    github, gitlab = [["docker run x", *loop]], [["set -e"], [*loop, "docker rm x"]]
    assert shared_runs(github, gitlab, SHARED_SHELL_LINES + 1)
    assert not shared_runs(github, [loop[:SHARED_SHELL_LINES]], SHARED_SHELL_LINES + 1)


@pytest.mark.parametrize("remote", ["local", "none"])
def test_without_a_remote_ci_can_reach_nothing_pulls_data(baked, remote):
    project = baked(remote)
    workflow = load(project / WORKFLOW)
    for path in GITHUB_WORKFLOWS:
        assert not any(DVC_TRANSFER.search(script) for script in github_scripts(load(project / path))), path
        assert "secrets." not in (project / path).read_text(encoding="utf-8"), path
    assert "$GITHUB_STEP_SUMMARY" in github_steps(workflow, "pipeline")[0]["run"]
    for job in ("pipeline", "retrain"):
        assert not DVC_TRANSFER.search(gitlab_script(load(project / GITLAB_CI), job))


@pytest.mark.parametrize(
    ("ci", "github", "gitlab"),
    [("github", True, False), ("gitlab", False, True), ("none", False, False)],
)
def test_ci_answer_bakes_only_the_chosen_platforms_config(tmp_path, ci, github, gitlab):
    project = bake(tmp_path, ci=ci, dvc_remote="none")
    assert (project / ".github").exists() == github
    assert (project / RETRAIN).exists() == github
    assert (project / GITLAB_CI).exists() == gitlab


# What installs the project in each job that runs the stages or their tests, in a spark bake.
SPARK_INSTALLS = {
    "test": "make install",
    "pipeline": "make install EXTRAS=spark",
    "retrain": "make install EXTRAS=spark",
}
# The first command of each such job that needs Java and pyspark.
FIRST_SPARK_USE = {"test": "pytest", "pipeline": "dvc repro", "retrain": "make retrain"}
PYSPARK_CACHE = {"key": "pyspark-4.3", "paths": [".cache/pyspark-wheels"]}


def test_spark_bakes_ci_installs_java_and_the_spark_extra_in_every_job_that_runs_the_stages(baked):
    """GitHub: actions/setup-java (Temurin 17), the wheelhouse cache and `make install` before the first use;
    GitLab: Debian's JRE when `java` is missing, the same cache and command. The wheelhouse logic (build the
    wheel once, install from it) is the Makefile's alone (executed in test_ci_github_act.py and
    test_ci_gitlab_local.py)."""
    project = baked("spark")
    workflows = {job: load(project / (RETRAIN if job == "retrain" else WORKFLOW)) for job in SPARK_INSTALLS}
    for job, install in SPARK_INSTALLS.items():
        steps = github_steps(workflows[job], job)
        uses = [step.get("uses", "").split("@")[0] for step in steps]
        runs = [" ".join(step.get("run", "").split()) for step in steps]
        (java,) = [steps[i] for i, action in enumerate(uses) if action == "actions/setup-java"]
        assert java["with"] == {"distribution": "temurin", "java-version": "17"}, job
        (cache,) = [step for step in steps if step.get("with", {}).get("path") == "${{ env.WHEELHOUSE }}"]
        assert cache["uses"].startswith("actions/cache@") and cache["with"]["key"] == "pyspark-4.3", job
        first_use = next(i for i, line in enumerate(runs) if FIRST_SPARK_USE[job] in line)
        assert steps.index(java) < steps.index(cache) < runs.index(install) < first_use, (job, runs)
        if job != "test":  # a job that may get no data installs nothing before `ci_data check` says it can
            check = next(i for i, line in enumerate(runs) if "ci_data check" in line)
            assert check < steps.index(java) and java["if"] == cache["if"] == steps[runs.index(install)]["if"], job
    for workflow in {id(w): w for w in workflows.values()}.values():
        assert workflow["env"]["WHEELHOUSE"] == ".cache/pyspark-wheels"

    config = load(project / GITLAB_CI)
    assert config["variables"]["WHEELHOUSE"] == ".cache/pyspark-wheels"
    for job, install in SPARK_INSTALLS.items():
        entries = gitlab_entries(config, job)
        packages = next(i for i, entry in enumerate(entries) if "default-jre-headless" in entry)
        assert "if ! command -v java >/dev/null; then" in entries[packages], job  # only when the image lacks it
        first_use = next(i for i, entry in enumerate(entries) if FIRST_SPARK_USE[job] in entry)
        assert packages < entries.index(install) < first_use, (job, entries)
        caches = next(definition["cache"] for definition in gitlab_extends(config, job) if "cache" in definition)
        assert PYSPARK_CACHE in caches, (job, caches)

    # Written once, in the Makefile's install target (which `make setup` calls), never in a CI config.
    makefile = (project / "Makefile").read_text(encoding="utf-8")
    install = re.search(r"^install:\n((?:\t.*\n)+)", makefile, re.MULTILINE)[1]
    assert "pip wheel --quiet --no-deps --wheel-dir $(WHEELHOUSE)" in install
    assert install.count("--find-links $(WHEELHOUSE) --only-binary pyspark") == 2  # uv, else pip
    assert makefile.count("pip wheel") == 1 and makefile.count("--find-links") == 2
    assert re.search(r"^setup:\n(?:\t.*\n)*\t@\$\(MAKE\) --no-print-directory install\n", makefile, re.MULTILINE)
    for path in (*GITHUB_WORKFLOWS, GITLAB_CI):
        text = (project / path).read_text(encoding="utf-8")
        assert "pip wheel" not in text and "--find-links" not in text and "pip install -e" not in text, path


@pytest.mark.parametrize("remote", REMOTE_ANSWERS)
def test_pandas_bakes_ci_installs_no_java_or_spark(baked, remote):
    project = baked(remote)
    for path in (*GITHUB_WORKFLOWS, GITLAB_CI):
        text = (project / path).read_text(encoding="utf-8").lower()
        assert "java" not in text and "spark" not in text and "wheelhouse" not in text, path
    assert "install:" not in (project / "Makefile").read_text(encoding="utf-8")
