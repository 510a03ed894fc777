"""ci_data.py, what CI's pipeline and retrain jobs run first: its exit statuses, on real DVC projects.

The author's project has one data file under DVC, pushed to a local remote; each test works in a fresh
clone of it, as a CI job does (git's files only: no data, an empty DVC cache). A local remote needs no
keys: ci_data.py only asks whether the S3 keys are set, so made-up ones stand in for CI's secrets.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from {{ cookiecutter.package }} import ci_data

DATA = Path("data/raw/rows.csv")
KEYS = {name: "made-up-for-the-test" for name in ci_data.CREDENTIALS}


def run(*command: str, cwd: Path) -> None:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}"


def dvc(*args: str, cwd: Path) -> None:
    run(sys.executable, "-m", "dvc", *args, cwd=cwd)


@pytest.fixture(scope="module")
def author(tmp_path_factory) -> Path:
    """A git + DVC project whose data is committed as a *.dvc file and pushed to its (local) remote."""
    home = tmp_path_factory.mktemp("ci-data")
    project = home / "author"
    (project / DATA.parent).mkdir(parents=True)
    (project / DATA).write_text("x,y\n1,2\n3,4\n")
    run("git", "init", "--quiet", cwd=project)
    dvc("init", "--quiet", cwd=project)
    dvc("add", "--quiet", str(DATA), cwd=project)
    dvc("remote", "add", "--default", "storage", str(home / "remote"), cwd=project)
    run("git", "add", "--all", cwd=project)
    run("git", "-c", "user.name=ci", "-c", "user.email=ci@localhost", "commit", "--quiet", "-m", "Data", cwd=project)
    dvc("push", "--quiet", cwd=project)
    return project


@pytest.fixture
def checkout(author, tmp_path, monkeypatch) -> Path:
    """A clone of the author's project, the working directory, with this interpreter's dvc on PATH."""
    clone = tmp_path / "checkout"
    run("git", "clone", "--quiet", str(author), str(clone), cwd=tmp_path)
    monkeypatch.chdir(clone)
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return clone


def summary_env(tmp_path: Path, **env: str) -> dict[str, str]:
    return {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"), **env}


def use_remote(checkout: Path, url: Path) -> None:
    """Point the clone at another remote, as `dvc remote modify --local storage url` does."""
    (checkout / ".dvc" / "config.local").write_text(f"['remote \"storage\"']\n    url = {url}\n")


def test_without_credentials_or_a_filled_cache_there_is_no_data_exit_3_and_the_summary_says_why(
    checkout, tmp_path, capsys
):
    env = summary_env(tmp_path)
    assert ci_data.main(["check"], env) == ci_data.main(["pull"], env) == ci_data.NO_DATA == 3
    output = capsys.readouterr().out
    assert "no credentials for the DVC remote, and CI's DVC cache is empty" in output
    assert "add the repository secrets AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in output
    assert "Pipeline not run" in (tmp_path / "summary.md").read_text()
    assert not DATA.exists()
    # GitLab names its own settings.
    assert ci_data.main(["check"], {"GITLAB_CI": "true"}) == 3
    assert "add the CI/CD variables AWS_ACCESS_KEY_ID" in capsys.readouterr().out


def test_without_credentials_the_data_comes_from_ci_cache_and_only_credentials_push(author, checkout, tmp_path, capsys):
    shutil.copytree(author / ".dvc" / "cache", checkout / ".dvc" / "cache", dirs_exist_ok=True)
    env = summary_env(tmp_path)
    assert ci_data.main(["check"], env) == 0
    assert ci_data.main(["pull"], env) == 0
    assert DATA.read_text() == (author / DATA).read_text()
    assert "the data is here, from CI's DVC cache" in capsys.readouterr().out
    assert ci_data.main(["push"], env) == 0
    assert "**Not uploaded:** no credentials for the DVC remote" in (tmp_path / "summary.md").read_text()
    # A job that pushes what it makes (retrain) cannot stand on the cache.
    assert ci_data.main(["check", "--require-credentials"], env) == 3
    assert ci_data.main(["pull", "--require-credentials"], env) == 3
    assert "this job uploads what it makes (dvc push)" in capsys.readouterr().out
    # With the keys, push uploads what the job has to the remote (an empty one here).
    use_remote(checkout, tmp_path / "new-remote")
    assert ci_data.main(["push"], {**env, **KEYS}) == 0
    md5 = re.search(r"md5: (\w+)", Path(f"{DATA}.dvc").read_text())[1]
    assert (tmp_path / "new-remote" / "files" / "md5" / md5[:2] / md5[2:]).is_file()


def test_with_credentials_the_data_comes_from_the_remote(author, checkout, tmp_path, capsys):
    env = summary_env(tmp_path, **KEYS)
    assert ci_data.main(["check", "--require-credentials"], env) == 0
    assert ci_data.main(["pull", "--require-credentials"], env) == 0
    assert DATA.read_text() == (author / DATA).read_text()
    assert "the data is here, from the DVC remote" in capsys.readouterr().out
    assert not (tmp_path / "summary.md").exists()  # nothing to explain


def test_with_credentials_data_missing_from_the_remote_is_an_error_exit_1(checkout, tmp_path, capsys):
    use_remote(checkout, tmp_path / "empty-remote")
    env = summary_env(tmp_path, **KEYS)
    assert ci_data.main(["check"], env) == 0  # the keys are there: only DVC can tell what the remote holds
    assert ci_data.main(["pull"], env) == 1
    error = capsys.readouterr().err
    assert f"ci_data: the data of {DATA}.dvc is not in the DVC remote: run `dvc push` where it was added" in error
    assert "run `dvc push` where it was added" in (tmp_path / "summary.md").read_text()


def test_a_wrong_command_prints_the_usage_exit_2(capsys):
    assert ci_data.main([], {}) == ci_data.main(["fetch"], {}) == ci_data.main(["pull", "--force"], {}) == 2
    assert "Usage: python -m" in capsys.readouterr().err
