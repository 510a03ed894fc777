"""The baked CI configs (GitHub Actions and GitLab CI) pass the linters of their platforms and keep
the CI contract: pinned actions, least privilege, secrets only through env, no red job without data.

Each DVC remote kind is baked once with ci=both and shared by the tests below. The linters are the
real tools from this environment: check-jsonschema, zizmor, actionlint (with shellcheck) and shellcheck.
"""

import re
from pathlib import Path

import pytest
import yaml
from conftest import BIN, bake, bake_on_first_use, run

WORKFLOW = Path(".github/workflows/ci.yml")
GITLAB_CI = Path(".gitlab-ci.yml")
# One bake per DVC remote kind. The s3 bake also asks for a non-default Python, to see it reach both configs.
REMOTE_ANSWERS = {
    "local": {},
    "s3": {"dvc_remote_url": "s3://my-bucket/dvc", "python_version": "3.13"},
    "none": {},
}
AWS_SECRETS = {name: f"${{{{ secrets.{name} }}}}" for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
GITHUB_EXPRESSION = re.compile(r"\$\{\{.*?\}\}")
# A script line that runs `dvc pull` or `dvc push` (mentions of them in messages do not count).
DVC_TRANSFER = re.compile(r"^\s*dvc (pull|push)\b", re.MULTILINE)


@pytest.fixture(scope="module")
def baked(tmp_path_factory):
    """baked("s3") -> the project baked with ci=both and that DVC remote; each bake happens once."""
    answers = {remote: {"ci": "both", "dvc_remote": remote, **extra} for remote, extra in REMOTE_ANSWERS.items()}
    return bake_on_first_use(tmp_path_factory, answers)


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def github_steps(workflow: dict, job: str) -> list[dict]:
    return workflow["jobs"][job]["steps"]


def github_scripts(workflow: dict) -> list[str]:
    return [step["run"] for job in workflow["jobs"] for step in github_steps(workflow, job) if "run" in step]


def gitlab_script(config: dict, job: str) -> str:
    """A GitLab job's script lines as the runner executes them: one shell script."""
    return "\n".join(config[job]["script"])


def gitlab_rules(config: dict, job: str) -> list[dict]:
    """The job's rules, its own or those of the hidden job it extends."""
    definition = config[job]
    return definition.get("rules") or config[definition["extends"]]["rules"]


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


@pytest.mark.parametrize("remote", REMOTE_ANSWERS)
def test_github_workflow_matches_the_github_actions_schema(baked, remote):
    result = check_jsonschema("vendor.github-workflows", WORKFLOW, cwd=baked(remote))
    assert_passed(result, "check-jsonschema", WORKFLOW)


@pytest.mark.parametrize("remote", REMOTE_ANSWERS)
def test_gitlab_config_matches_the_gitlab_ci_schema(baked, remote):
    result = check_jsonschema("vendor.gitlab-ci", GITLAB_CI, cwd=baked(remote))
    assert_passed(result, "check-jsonschema", GITLAB_CI)


@pytest.mark.parametrize("remote", REMOTE_ANSWERS)
def test_zizmor_finds_nothing_in_the_github_workflow(baked, remote):
    # --offline: the audits that ask GitHub (e.g. whether a SHA belongs to its tag) need a token and network.
    result = run(BIN / "zizmor", "--offline", WORKFLOW, cwd=baked(remote), check=False)
    assert_passed(result, "zizmor", WORKFLOW)


@pytest.mark.parametrize("remote", REMOTE_ANSWERS)
def test_actionlint_and_shellcheck_accept_the_github_workflow(baked, remote):
    assert_passed(actionlint(WORKFLOW, cwd=baked(remote)), "actionlint", WORKFLOW)


@pytest.mark.parametrize("remote", REMOTE_ANSWERS)
def test_shellcheck_accepts_every_gitlab_job_script(baked, remote, tmp_path):
    config = load(baked(remote) / GITLAB_CI)
    for job in ("test", "pipeline"):
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


@pytest.mark.parametrize("remote", REMOTE_ANSWERS)
def test_no_jinja_is_left_and_github_expressions_survive_outside_scripts(baked, remote):
    project = baked(remote)
    workflow_text = (project / WORKFLOW).read_text(encoding="utf-8")
    for path, text in ((WORKFLOW, workflow_text), (GITLAB_CI, (project / GITLAB_CI).read_text(encoding="utf-8"))):
        leftover = re.findall(r".*(?:\{\{|\{%|\{#|%\}|#\}).*", GITHUB_EXPRESSION.sub("", text))
        assert not leftover, f"Jinja left in {path}: {leftover}"
    expressions = set(GITHUB_EXPRESSION.findall(workflow_text))
    assert {"${{ github.workflow }}", "${{ github.ref }}", "${{ github.event_name == 'pull_request' }}"} <= expressions
    if remote == "s3":
        assert {"${{ github.base_ref }}", "${{ hashFiles('dvc.lock') }}", *AWS_SECRETS.values()} <= expressions
    # Values reach scripts through env, never pasted into them (script injection).
    assert not any("${{" in script for script in github_scripts(load(project / WORKFLOW)))


@pytest.mark.parametrize("remote", REMOTE_ANSWERS)
def test_python_version_answer_reaches_both_configs(baked, remote):
    project = baked(remote)
    version = REMOTE_ANSWERS[remote].get("python_version", "3.12")
    setups = [
        step["with"]
        for job in load(project / WORKFLOW)["jobs"].values()
        for step in job["steps"]
        if step.get("uses", "").startswith("actions/setup-python@")
    ]
    assert setups and all(setup["python-version"] == version for setup in setups), setups
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
    assert set(workflow["jobs"]) == {"test", "pipeline", "image"}
    assert workflow["jobs"]["pipeline"]["needs"] == "test"
    for name, job in workflow["jobs"].items():
        allowed = {"contents", "packages"} if name == "image" else {"contents"}
        assert set(job["permissions"]) <= allowed, f"job {name} asks for {job['permissions']}"
        for step in job["steps"]:
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, f"job {name}: {step}"
    test_commands = [step["run"] for step in github_steps(workflow, "test") if "run" in step]
    assert test_commands == ['pip install -e ".[dev]"', "ruff check .", "ruff format --check .", "pytest"]


@pytest.mark.parametrize("remote", REMOTE_ANSWERS)
def test_actions_are_pinned_to_a_commit_with_the_release_in_a_comment(baked, remote):
    text = (baked(remote) / WORKFLOW).read_text(encoding="utf-8")
    uses = re.findall(r"uses: (.*)", text)
    assert uses
    for line in uses:
        assert re.fullmatch(r"actions/[\w-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+", line), line


@pytest.mark.parametrize("remote", REMOTE_ANSWERS)
def test_gitlab_config_has_test_and_pipeline_jobs_for_merge_requests_and_default_branch(baked, remote):
    config = load(baked(remote) / GITLAB_CI)
    assert config["stages"] == ["test", "pipeline", "image"]  # image: docker=yes, tests/test_ci_image.py
    assert config["test"]["stage"] == "test" and config["pipeline"]["stage"] == "pipeline"
    assert config["pipeline"]["needs"] == ["test"]
    for job in ("test", "pipeline"):
        conditions = [rule["if"] for rule in gitlab_rules(config, job)]
        assert conditions == ['$CI_PIPELINE_SOURCE == "merge_request_event"', "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"]
    assert config["test"]["script"] == ['pip install -e ".[dev]"', "ruff check .", "ruff format --check .", "pytest"]
    assert config["variables"]["PIP_CACHE_DIR"] == "$CI_PROJECT_DIR/.cache/pip"
    assert config["test"]["cache"]["paths"] == [".cache/pip"]


def test_s3_remote_is_pulled_and_pushed_with_credentials_from_secrets_only(baked):
    project = baked("s3")
    workflow = load(project / WORKFLOW)
    steps = github_steps(workflow, "pipeline")
    checkout = next(step for step in steps if step.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0
    cache = next(step for step in steps if step.get("uses", "").startswith("actions/cache@"))
    assert cache["with"]["path"] == ".dvc/cache" and "hashFiles('dvc.lock')" in cache["with"]["key"]
    transfers = [step for step in steps if DVC_TRANSFER.search(step.get("run", ""))]
    assert {DVC_TRANSFER.search(step["run"])[1] for step in transfers} == {"pull", "push"}
    for step in transfers:
        assert step["env"] == AWS_SECRETS, step
    # Secrets appear only as step env values, never at workflow or job level, never inside a script.
    assert "env" not in workflow and all("env" not in job for job in workflow["jobs"].values())
    env_secrets = [
        (name, value) for step in steps for name, value in step.get("env", {}).items() if "secrets." in value
    ]
    assert all(AWS_SECRETS.get(name) == value for name, value in env_secrets), env_secrets
    assert (project / WORKFLOW).read_text(encoding="utf-8").count("secrets.") == len(env_secrets)
    diff = next(step for step in steps if "dvc metrics diff" in step.get("run", ""))
    assert diff["env"] == {"BASE_REF": "${{ github.base_ref }}"}
    assert 'dvc metrics diff --md "origin/$BASE_REF"' in diff["run"]
    assert 'dvc params diff --md "origin/$BASE_REF"' in diff["run"] and "$GITHUB_STEP_SUMMARY" in diff["run"]

    config = load(project / GITLAB_CI)
    script = gitlab_script(config, "pipeline")
    assert {match[1] for match in DVC_TRANSFER.finditer(script)} == {"pull", "push"} and "dvc repro" in script
    assert 'git fetch --quiet origin "+refs/heads/$TARGET:refs/remotes/origin/$TARGET"' in script
    assert 'dvc metrics diff --md "origin/$TARGET"' in script
    assert config["pipeline"]["variables"]["GIT_DEPTH"] == 0
    assert {"prefix": "dvc", "files": ["dvc.lock"]} in [cache["key"] for cache in config["pipeline"]["cache"]]
    # GitLab's credentials are CI/CD variables of the project: the file must not define them.
    assert "AWS_ACCESS_KEY_ID:" not in (project / GITLAB_CI).read_text(encoding="utf-8")


@pytest.mark.parametrize("remote", REMOTE_ANSWERS)
def test_missing_credentials_or_remote_end_the_pipeline_job_green_with_an_explanation(baked, remote, tmp_path):
    """The pipeline job's scripts, run with no credentials: they exit 0, say what to configure, and
    call none of the tools that would install or fetch (stand-ins that fail and record the call)."""
    project = baked(remote)
    stand_ins = tmp_path / "bin"
    stand_ins.mkdir()
    calls = tmp_path / "calls"
    for tool in ("apt-get", "pip", "dvc", "git"):
        (stand_ins / tool).write_text(f'#!/bin/sh\necho {tool} >> "{calls}"\nexit 1\n')
        (stand_ins / tool).chmod(0o755)
    summary, outputs = tmp_path / "summary.md", tmp_path / "outputs"
    env = {"PATH": f"{stand_ins}:/usr/bin:/bin", "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(outputs)}

    first_step = github_steps(load(project / WORKFLOW), "pipeline")[0]["run"]
    github = run("bash", "-e", "-c", first_step, cwd=tmp_path, env=env, check=False)
    assert github.returncode == 0, github.stdout + github.stderr
    assert "Pipeline not run" in summary.read_text() and "AWS_SECRET_ACCESS_KEY" in summary.read_text()
    assert not outputs.exists() or "ready=true" not in outputs.read_text()

    # GitLab runs a job's script lines as one shell script: all of it must stop before installing.
    script = gitlab_script(load(project / GITLAB_CI), "pipeline")
    gitlab = run("bash", "-e", "-c", script, cwd=tmp_path, env=env, check=False)
    assert gitlab.returncode == 0, gitlab.stdout + gitlab.stderr
    assert "Pipeline not run" in gitlab.stdout and "AWS_SECRET_ACCESS_KEY" in gitlab.stdout
    assert not calls.exists(), f"called without credentials: {calls.read_text()}"


@pytest.mark.parametrize("remote", ["local", "none"])
def test_without_a_remote_ci_can_reach_nothing_pulls_data(baked, remote):
    project = baked(remote)
    workflow = load(project / WORKFLOW)
    assert not any(DVC_TRANSFER.search(script) for script in github_scripts(workflow))
    assert "secrets." not in (project / WORKFLOW).read_text(encoding="utf-8")
    assert "$GITHUB_STEP_SUMMARY" in github_steps(workflow, "pipeline")[0]["run"]
    assert not DVC_TRANSFER.search(gitlab_script(load(project / GITLAB_CI), "pipeline"))


@pytest.mark.parametrize(
    ("ci", "github", "gitlab"),
    [("github", True, False), ("gitlab", False, True), ("none", False, False)],
)
def test_ci_answer_bakes_only_the_chosen_platforms_config(tmp_path, ci, github, gitlab):
    project = bake(tmp_path, ci=ci, dvc_remote="none")
    assert (project / ".github").exists() == github
    assert (project / GITLAB_CI).exists() == gitlab
