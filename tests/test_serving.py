"""Serving (docker=yes): the baked app passes its own tests, its Dockerfile lints clean, `make docker-build`
sends the build what the image holds (and a plain build gets nothing), its Makefile targets are listed;
docker=no leaves no trace of any of it."""

import json
import re
import sys
import tomllib

import pytest
from helpers import BIN, bake, run

pytestmark = pytest.mark.slow
# Quotes, a backslash and a dollar: the image's description label must carry them unchanged.
TRICKY_DESCRIPTION = 'Predicts "progression" from $HOME: quotes \' and a back\\slash.'
SERVING_TARGETS = ("serve", "docker-build", "docker-run", "alerts")
# The baked project's pytest, warnings as errors, leaving no .pytest_cache in the bake.
PYTEST = (sys.executable, "-m", "pytest", "-q", "-W", "error", "-p", "no:cacheprovider")


@pytest.fixture(scope="module")
def classification(tmp_path_factory):
    return bake(tmp_path_factory.mktemp("serve-classification"), task="classification", docker="yes")


@pytest.fixture(scope="module")
def regression(tmp_path_factory):
    return bake(
        tmp_path_factory.mktemp("serve-regression"),
        task="regression",
        model="linear",
        python_version="3.13",
        description=TRICKY_DESCRIPTION,
        docker="yes",
    )


@pytest.fixture(scope="module")
def no_docker(tmp_path_factory):
    return bake(tmp_path_factory.mktemp("serve-none"), docker="no")


@pytest.fixture(params=["classification", "regression"])
def served(request):
    """A docker=yes project, once per task."""
    return request.getfixturevalue(request.param)


def pyproject(project) -> dict:
    return tomllib.loads((project / "pyproject.toml").read_text())


def test_baked_serving_tests_pass(served):
    run(*PYTEST, "tests/test_serve.py", cwd=served)


def test_dockerfile_passes_hadolint(served):
    result = run(BIN / "hadolint", "--no-color", "Dockerfile", cwd=served)
    assert result.stdout == ""


def test_dockerfile_follows_the_answers(served):
    dockerfile = (served / "Dockerfile").read_text()
    project = pyproject(served)["project"]
    version = project["requires-python"].removeprefix(">=")
    assert re.findall(r"^FROM (\S+)", dockerfile, re.MULTILINE) == [f"python:{version}-slim"] * 2
    (description,) = re.findall(r'org\.opencontainers\.image\.description="((?:[^"\\]|\\.)*)"', dockerfile)
    assert re.sub(r"\\(.)", r"\1", description) == project["description"]
    (command,) = re.findall(r"^CMD (.+)$", dockerfile, re.MULTILINE)
    shell, flag, script = json.loads(command)
    # Several workers add up their metrics through PROMETHEUS_MULTIPROC_DIR: emptied before uvicorn starts.
    assert (shell, flag) == ("sh", "-c") and "ENV" in dockerfile and "PROMETHEUS_MULTIPROC_DIR=/tmp/" in dockerfile
    assert script.startswith('rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR" && ')
    assert script.endswith("exec uvicorn my_ml_project.serving.app:app --host 0.0.0.0 --port 8000")
    assert "\nUSER 10001\n" in dockerfile


def test_dockerignore_lets_nothing_in_so_only_make_builds_the_image(served):
    patterns = [line for line in (served / ".dockerignore").read_text().splitlines() if line and line[0] != "#"]
    assert patterns == ["*"]
    dockerfile = (served / "Dockerfile").read_text()
    assert not re.search(r"schema\.yaml|model\.joblib|model_info|metrics\.json", dockerfile.split("\nFROM ", 1)[1])


def test_docker_build_before_dvc_repro_names_the_missing_model_and_builds_nothing(served):
    result = run("make", "--no-print-directory", "docker-build", "DOCKER=false", cwd=served, check=False)
    assert result.returncode != 0
    assert "no models/model.joblib: run `dvc repro` or `dvc pull` first" in result.stderr


def test_makefile_lists_the_serving_targets(served):
    makefile = (served / "Makefile").read_text()
    assert "\n\n\n" not in makefile
    help_text = run("make", "help", cwd=served).stdout
    assert all(f"make {target} " in help_text for target in SERVING_TARGETS)
    (phony,) = re.findall(r"^\.PHONY: (.*)$", makefile, re.MULTILINE)
    assert set(SERVING_TARGETS) <= set(phony.split())
    dry_run = run("make", "--dry-run", *SERVING_TARGETS, cwd=served).stdout
    assert "uvicorn my_ml_project.serving.app:app" in dry_run
    assert "docker build" in dry_run and "docker run" in dry_run


def test_docker_no_bakes_no_serving(no_docker):
    for name in ("Dockerfile", ".dockerignore", "tests/test_serve.py", "monitoring", "my_ml_project/serving"):
        assert not (no_docker / name).exists(), name
    makefile = (no_docker / "Makefile").read_text()
    assert "\n\n\n" not in makefile
    assert not re.search(r"\bserve\b|docker|IMAGE|alerts", makefile)  # "server" (MLflow's) is fine
    assert "monitoring" not in (no_docker / "params.yaml").read_text()
    assert "Monitoring" not in (no_docker / "my_ml_project" / "params.py").read_text()
    help_text = run("make", "help", cwd=no_docker).stdout
    assert not any(f"make {target} " in help_text for target in SERVING_TARGETS)
    project = pyproject(no_docker)["project"]
    requirements = project["dependencies"] + project["optional-dependencies"]["dev"]
    assert not [
        name for name in requirements if re.match(r"(fastapi|uvicorn|httpx|prometheus|python-json-logger)\b", name)
    ]
