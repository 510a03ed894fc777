"""`make setup` finishes what the hook could not, and the baked project works on each Python it supports."""

from pathlib import Path

import pytest
from helpers import BIN, TEMPLATE, bake, find_python, run, stages_run, tool_env

pytestmark = pytest.mark.slow


def test_bake_without_dvc_or_sklearn_succeeds_and_make_setup_finishes_it(tmp_path):
    """cookiecutter run from an environment that has only cookiecutter (as with pipx or uvx)."""
    bare = tmp_path / "bare-env"
    run(BIN / "uv", "venv", "--quiet", "--python", BIN / "python", bare, cwd=tmp_path)
    run(BIN / "uv", "pip", "install", "--quiet", "--python", bare / "bin" / "python", "cookiecutter", cwd=tmp_path)
    # Only the bare environment on PATH before the system: no dvc, no sklearn where cookiecutter runs.
    env = tool_env(PATH=f"{bare / 'bin'}:/usr/local/bin:/usr/bin:/bin")
    baked = run(bare / "bin" / "cookiecutter", "--no-input", TEMPLATE, "-o", tmp_path, cwd=tmp_path, env=env)
    assert "Finish with:  cd my-ml-project && make setup" in baked.stdout
    project = tmp_path / "my-ml-project"
    assert (project / ".git").is_dir() and not (project / ".dvc").exists()

    python = find_python("3.12")
    if python is None:
        pytest.skip("no Python 3.12 interpreter (PATH or pyenv) to run `make setup` with")
    run("make", "setup", f"PYTHON={python}", cwd=project)
    assert (project / ".dvc").is_dir() and (project / "data" / "raw" / "breast_cancer.csv.dvc").exists()
    assert run("git", "rev-list", "--count", "HEAD", cwd=project).stdout.strip() == "1"
    assert run("git", "status", "--porcelain", cwd=project).stdout == ""
    # .venv (Python 3.12) now comes first on PATH inside make: the pipeline and tests run in it.
    output = run("make", "repro", cwd=project).stdout
    assert stages_run(output) == ["validate", "prepare", "train", "evaluate"]
    version = run("make", "--no-print-directory", "-s", "test", "PYTEST_ADDOPTS=-q", cwd=project)
    assert " passed" in version.stdout and "skipped" not in version.stdout


def test_bake_where_one_dependency_is_missing_is_not_called_ready(tmp_path):
    """dvc and scikit-learn are there but pandera, which validate imports, is not: the hook must say
    `make setup` rather than set up a project whose first `dvc repro` fails."""
    site = Path(
        run(
            BIN / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp_path
        ).stdout.strip()
    )
    without_pandera = tmp_path / "site-without-pandera"
    without_pandera.mkdir()
    for entry in site.iterdir():
        if not entry.name.lower().startswith("pandera"):
            (without_pandera / entry.name).symlink_to(entry)
    env_dir = tmp_path / "env"
    run(BIN / "python", "-m", "venv", "--without-pip", env_dir, cwd=tmp_path)
    purelib = run(
        env_dir / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp_path
    )
    (Path(purelib.stdout.strip()) / "test_packages.pth").write_text(f"{without_pandera}\n")
    env = tool_env(PATH=f"{env_dir / 'bin'}:/usr/local/bin:/usr/bin:/bin")
    check = "import dvc, sklearn, cookiecutter, importlib.util; print(importlib.util.find_spec('pandera'))"
    assert run(env_dir / "bin" / "python", "-c", check, cwd=tmp_path, env=env).stdout.strip() == "None"

    baked = run(
        env_dir / "bin" / "python", "-m", "cookiecutter", "--no-input", TEMPLATE, "-o", tmp_path, cwd=tmp_path, env=env
    )
    assert "pandera is not installed where cookiecutter runs" in baked.stdout, baked.stdout
    assert "Finish with:  cd my-ml-project && make setup" in baked.stdout
    assert not (tmp_path / "my-ml-project" / ".dvc").exists()


@pytest.mark.parametrize("version", ["3.13"])
def test_make_setup_repro_and_test_on_python(tmp_path, version):
    python = find_python(version)
    if python is None:
        pytest.skip(f"no Python {version} interpreter (PATH or pyenv) to test the baked project with")
    project = bake(tmp_path, python_version=version, task="regression", model="linear", dvc_remote="none")
    head = run("git", "rev-parse", "HEAD", cwd=project).stdout
    run("make", "setup", f"PYTHON={python}", cwd=project)
    # bootstrap already ran in the hook: running it again changes and commits nothing
    assert run("git", "rev-parse", "HEAD", cwd=project).stdout == head
    assert run("git", "status", "--porcelain", cwd=project).stdout == ""
    assert run(project / ".venv" / "bin" / "python", "--version", cwd=project).stdout.startswith(f"Python {version}")
    assert stages_run(run("make", "repro", cwd=project).stdout) == ["validate", "prepare", "train", "evaluate"]
    result = run("make", "test", cwd=project)
    assert " passed" in result.stdout and "skipped" not in result.stdout
