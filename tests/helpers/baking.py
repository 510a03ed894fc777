"""Bake the template with real cookiecutter."""

import json
import os
import shutil
import sys
from pathlib import Path

from cookiecutter.generate import generate_context
from cookiecutter.main import cookiecutter
from cookiecutter.prompt import prompt_for_config
from filelock import FileLock

from helpers.processes import BIN, run, tool_env

TEMPLATE = Path(__file__).resolve().parents[2]
DEFAULTS = json.loads((TEMPLATE / "cookiecutter.json").read_text())


def bake(output_dir: Path, **answers: str) -> Path:
    """Bake the template with these answers (defaults for the rest); return the project directory."""
    return Path(
        cookiecutter(
            str(TEMPLATE),
            no_input=True,
            output_dir=str(output_dir),
            extra_context=answers,
            default_config=True,
        )
    )


def bake_on_first_use(tmp_path_factory, answers_by_name: dict[str, dict]):
    """A function name -> project directory that bakes with answers_by_name[name] once, then reuses it."""
    projects: dict[str, Path] = {}

    def project(name: str) -> Path:
        if name not in projects:
            projects[name] = bake(tmp_path_factory.mktemp(f"bake-{name}"), **answers_by_name[name])
        return projects[name]

    return project


def trained_once(tmp_path_factory, name: str, **answers: str) -> tuple[Path, str]:
    """(a copy of a project baked with `answers` whose `dvc repro` ran and was committed, that repro's output).

    The project is made once per test run and shared by the xdist workers, under a file lock: a Spark
    pipeline costs minutes, and several test files only need one that ran. Each call gets its own copy, to
    change as it likes. The copy's MLflow store keeps its artifacts in the original's mlruns/ (an absolute
    path), which stays until the run ends. The repro runs without the caller's MLFLOW_TRACKING_URI and
    SPARK_MASTER: the project's own store, local mode.
    """
    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / f"trained-{name}"
    done = shared / "repro-output.txt"
    with FileLock(f"{shared}.lock"):
        if not done.exists():
            shutil.rmtree(shared, ignore_errors=True)
            project = bake(shared, **answers)
            env = {
                key: value for key, value in tool_env().items() if key not in ("MLFLOW_TRACKING_URI", "SPARK_MASTER")
            }
            output = run(BIN / "dvc", "repro", cwd=project, env=env).stdout
            run("git", "add", "--all", cwd=project)
            run("git", "commit", "--quiet", "-m", "First pipeline run", cwd=project)
            done.write_text(output)
    (original,) = [path for path in shared.iterdir() if path.is_dir()]
    copy = tmp_path_factory.mktemp(name) / original.name
    shutil.copytree(original, copy, symlinks=True)
    return copy, done.read_text()


def trained_default(tmp_path_factory) -> tuple[Path, str]:
    """(a copy of the default bake whose pipeline ran, that run's output): for the tests that only need a
    trained default project (helpers.trained_once: one pipeline run per `make test` for all of them)."""
    return trained_once(tmp_path_factory, "default")


# The engine=spark bake the Spark tests share (test_pipeline_spark, test_predict, test_spark_cluster and the
# executed CI): trained_spark runs its pipeline once per `make test`, because every Spark pipeline run costs
# minutes of JVM start-ups. An S3 remote and both CI platforms, for the CI tests; its own project name, so
# its experiment and registered model are its own on a shared MLflow server; the tests' Python, which the CI
# tests' stand-in venvs run.
SPARK_BAKE = {
    "engine": "spark", "docker": "no", "ci": "both", "dvc_remote": "s3", "dvc_remote_url": "s3://ci-spark/dvc",
    "project_name": "Churn Spark", "python_version": "{}.{}".format(*sys.version_info),
}  # fmt: skip


def trained_spark(tmp_path_factory) -> tuple[Path, str]:
    """(a copy of the shared engine=spark bake whose pipeline ran in local mode, that run's output)."""
    return trained_once(tmp_path_factory, "spark", **SPARK_BAKE)


def rendered_answers(**answers: str) -> dict:
    """Every answer as cookiecutter renders it for a bake (derived keys such as package filled in)."""
    context = generate_context(str(TEMPLATE / "cookiecutter.json"), extra_context=answers)
    return prompt_for_config(context, no_input=True)


def template_in_git(folder: Path, message: str) -> Path:
    """The template's files committed to a new git repository in folder/template: what cruft clones (it
    reads a repository, not a work tree)."""
    template = folder / "template"
    template.mkdir()
    for name in ("cookiecutter.json", "CHANGELOG.md"):
        shutil.copy(TEMPLATE / name, template / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("hooks", "{{cookiecutter.project}}"):
        shutil.copytree(TEMPLATE / name, template / name, ignore=ignore)
    run("git", "init", "--quiet", "--initial-branch=main", cwd=template)
    run("git", "add", "--all", cwd=template)
    run("git", "commit", "--quiet", "-m", message, cwd=template)
    return template
