"""The image jobs of the baked CI (docker=yes): after the pipeline trained a model, build the serving
image (`make docker-build`), smoke-test /health and /predict (`make docker-smoke`), and push it tagged with
the commit SHA from the default branch only (GHCR on GitHub, the project's registry on GitLab); with no
model in CI they say why and stay green.

The linters (schema, zizmor, actionlint) run on these files in test_ci_configs.py; `make docker-smoke`
runs against the real image in test_container.py, and its probe against the served app here.
"""

import re
from pathlib import Path

import pytest
import yaml
from helpers import BIN, bake_on_first_use, run

WORKFLOW = Path(".github/workflows/ci.yml")
GITLAB_CI = Path(".gitlab-ci.yml")
BAKES = {
    "s3": {"dvc_remote": "s3", "dvc_remote_url": "s3://my-bucket/dvc"},
    "local": {"dvc_remote": "local"},
    "s3-no-docker": {"dvc_remote": "s3", "dvc_remote_url": "s3://my-bucket/dvc", "docker": "no"},
}


@pytest.fixture(scope="module")
def baked(tmp_path_factory):
    return bake_on_first_use(tmp_path_factory, {name: {"ci": "both", **extra} for name, extra in BAKES.items()})


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def step(job: dict, name: str) -> dict:
    return next(step for step in job["steps"] if step.get("name", "").startswith(name))


def uses(job: dict, action: str) -> dict:
    return next(step for step in job["steps"] if step.get("uses", "").startswith(f"actions/{action}@"))


def stand_ins(directory: Path, *tools: str) -> tuple[dict, Path]:
    """(env, calls file): tools on PATH that only record that they were called, and fail."""
    bin_dir = directory / "bin"
    bin_dir.mkdir()
    calls = directory / "calls"
    for tool in tools:
        (bin_dir / tool).write_text(f'#!/bin/sh\necho "{tool} $*" >> "{calls}"\nexit 1\n')
        (bin_dir / tool).chmod(0o755)
    return {"PATH": f"{bin_dir}:/usr/bin:/bin"}, calls


def test_github_image_job_builds_the_model_the_pipeline_job_trained(baked):
    jobs = load(baked("s3") / WORKFLOW)["jobs"]
    pipeline, image = jobs["pipeline"], jobs["image"]
    assert pipeline["outputs"] == {"model": "${{ steps.remote.outputs.ready }}"}
    upload = step(pipeline, "Hand the model")
    assert upload["if"] == "steps.remote.outputs.ready == 'true'"
    # YAML cannot read params.yaml: the model's files are copied into build/ci-model/ at their paths first.
    assert upload["with"]["path"] == "build/ci-model/"
    collect = step(pipeline, "Collect the model")
    assert collect["run"] == "python -m my_ml_project.ci_artifacts build/ci-model model model_info metrics"
    assert pipeline["steps"].index(collect) < pipeline["steps"].index(upload)
    assert image["needs"] == "pipeline" and image["if"] == "needs.pipeline.outputs.model == 'true'"
    assert uses(image, "download-artifact")["with"]["name"] == upload["with"]["name"]
    name = step(image, "Name the image")["run"]
    assert name == 'echo "IMAGE=ghcr.io/${GITHUB_REPOSITORY,,}:$GITHUB_SHA" >> "$GITHUB_ENV"'
    build = step(image, "Build")["run"]
    assert build == 'make docker-build VERSION="$GITHUB_SHA" SOURCE_URL="$GITHUB_SERVER_URL/$GITHUB_REPOSITORY"'


def test_github_image_job_alone_can_write_packages_and_pushes_only_from_the_default_branch(baked):
    jobs = load(baked("s3") / WORKFLOW)["jobs"]
    assert jobs["image"]["permissions"] == {"contents": "read", "packages": "write"}
    assert all("packages" not in job["permissions"] for name, job in jobs.items() if name != "image")
    push = step(jobs["image"], "Push")
    assert push["if"] == "github.event_name == 'push' && github.ref_name == github.event.repository.default_branch"
    assert push["env"]["REGISTRY_TOKEN"] == "${{ github.token }}"  # never pasted into the script
    assert 'docker login ghcr.io --username "$REGISTRY_USER" --password-stdin' in push["run"]
    assert 'docker push "$IMAGE"' in push["run"]
    # Only the push step logs in or pushes.
    others = [s.get("run", "") for s in jobs["image"]["steps"] if s is not push]
    assert not any(re.search(r"docker (login|push)", script) for script in others)


def test_gitlab_build_image_job_takes_the_pipeline_model_and_pushes_only_from_the_default_branch(baked):
    config = load(baked("s3") / GITLAB_CI)
    assert config["stages"] == ["test", "pipeline", "image"]
    # (The pipeline job also keeps its report and plots: tests/test_ci_configs.py.)
    assert "build/ci-model/" in config["pipeline"]["artifacts"]["paths"]
    assert (
        "python -m my_ml_project.ci_artifacts build/ci-model model model_info metrics" in config["pipeline"]["script"]
    )
    assert "cp -R build/ci-model/. ." in "\n".join(config["build-image"]["script"])  # the files back in place
    job = config["build-image"]
    assert job["stage"] == "image" and job["needs"] == ["pipeline"]
    assert job["variables"]["IMAGE"] == "$CI_REGISTRY_IMAGE:$CI_COMMIT_SHA"
    script = "\n".join(job["script"])
    (push,) = [line for line in job["script"] if "docker push" in line]
    assert push.startswith('if [ "$CI_COMMIT_BRANCH" = "$CI_DEFAULT_BRANCH" ]; then')
    assert 'docker login --username "$CI_REGISTRY_USER" --password-stdin "$CI_REGISTRY"' in push
    assert script.count("docker login") == 1 and script.count("docker push") == 1


def test_both_platforms_build_and_smoke_test_the_image_with_the_same_make_targets(baked):
    project = baked("s3")
    github = [s.get("run", "") for s in load(project / WORKFLOW)["jobs"]["image"]["steps"]]
    gitlab = load(project / GITLAB_CI)["build-image"]["script"]
    for commands in (github, gitlab):
        builds = [command for command in commands if command.startswith("make docker-build ")]
        assert len(builds) == 1 and commands.index(builds[0]) < commands.index("make docker-smoke"), commands
    makefile = (project / "Makefile").read_text()
    recipe = makefile.split("\ndocker-smoke:\n", 1)[1].split("\n\n", 1)[0]
    assert "python -m my_ml_project.serving.smoke" in recipe and "rm --force" in recipe, recipe


@pytest.mark.parametrize("remote", ["s3", "local"])
def test_gitlab_image_job_script_passes_shellcheck(baked, remote, tmp_path):
    # The docker:cli image runs scripts with a POSIX sh, not bash.
    script = tmp_path / "build-image.sh"
    script.write_text("\n".join(load(baked(remote) / GITLAB_CI)["build-image"]["script"]) + "\n")
    result = run(BIN / "shellcheck", "-s", "sh", script, cwd=tmp_path, check=False)
    assert result.returncode == 0, result.stdout


def test_gitlab_image_job_without_a_model_says_so_and_stays_green(baked, tmp_path):
    """The pipeline job stops early without credentials, so no model arrives: no docker call, exit 0."""
    env, calls = stand_ins(tmp_path, "docker")
    script = "\n".join(load(baked("s3") / GITLAB_CI)["build-image"]["script"])
    result = run("sh", "-e", "-c", script, cwd=tmp_path, env=env, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Image not built" in result.stdout
    assert not calls.exists(), calls.read_text()


def test_without_an_s3_remote_the_image_jobs_explain_and_stay_green(baked, tmp_path):
    project = baked("local")
    env, calls = stand_ins(tmp_path, "docker")
    image = load(project / WORKFLOW)["jobs"]["image"]
    assert image["permissions"] == {}
    summary = tmp_path / "summary.md"
    github = run(
        "bash", "-e", "-c", image["steps"][0]["run"], cwd=tmp_path, env=env | {"GITHUB_STEP_SUMMARY": str(summary)}
    )
    assert github.returncode == 0 and "Image not built" in summary.read_text()
    gitlab = run("sh", "-e", "-c", "\n".join(load(project / GITLAB_CI)["build-image"]["script"]), cwd=tmp_path, env=env)
    assert "Image not built" in gitlab.stdout
    assert not calls.exists()


def test_docker_no_bakes_no_image_job(baked):
    project = baked("s3-no-docker")
    workflow = load(project / WORKFLOW)
    assert set(workflow["jobs"]) == {"test", "template-check", "pipeline"}
    # No model handed on (the pipeline job still uploads its plots diff: tests/test_ci_configs.py).
    text = (project / WORKFLOW).read_text()
    assert "download-artifact" not in text and "name: model" not in text
    config = load(project / GITLAB_CI)
    assert config["stages"] == ["test", "pipeline"] and "build-image" not in config
    assert "build/ci-model/" not in config["pipeline"]["artifacts"]["paths"]


def test_serving_page_says_how_to_roll_back(baked):
    serving = (baked("s3") / "docs" / "serving.md").read_text()
    assert "ghcr.io/" in serving and "$CI_REGISTRY_IMAGE" in serving
    assert "roll back" in serving.lower() and "<sha>" in serving.lower()
    assert "made without the serving app" in (baked("s3-no-docker") / "docs" / "serving.md").read_text()
