"""The promotion rule, the lineage it asks for, and the tables `make promote` and `make models` print
(no MLflow needed; real git)."""

import json
import subprocess
from pathlib import Path

import pytest

from {{ cookiecutter.package }} import registry


@pytest.mark.parametrize(
    ("candidate", "champion", "margin", "promoted"),
    [
        (0.95, 0.90, 0.0, True),
        (0.90, 0.90, 0.0, True),  # a tie passes a zero margin
        (0.89, 0.90, 0.0, False),
        (0.91, 0.90, 0.01, True),  # exactly the margin, despite 0.91 - 0.90 != 0.01 in floating point
        (0.905, 0.90, 0.01, False),
    ],
)
def test_candidate_must_beat_the_champion_by_the_margin(candidate, champion, margin, promoted):
    assert registry.beats(candidate, champion, margin) is promoted


def test_table_lines_up_every_column():
    rows = [["champion", "version 12", "0.91"], ["candidate", "version 3", "0.9"]]
    printed = registry.table(["", "model", "roc_auc"], rows)
    lines = printed.splitlines()
    assert lines[0].split() == ["model", "roc_auc"]
    assert lines[2].split() == ["champion", "version", "12", "0.91"]
    assert len({line.index("0.9") for line in lines[2:]}) == 1


def git(*args: str, cwd: Path) -> str:
    command = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args]
    return subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repository(tmp_path, monkeypatch):
    """A clone with main (two commits, the second not pushed) and an unmerged branch; outside CI."""
    for name in ("CI_DEFAULT_BRANCH", "GITHUB_EVENT_PATH"):  # CI runs these tests too
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    git("init", "--quiet", "--initial-branch=main", cwd=tmp_path)
    Path("params.yaml").write_text("seed: 1\n")
    git("add", "params.yaml", cwd=tmp_path)
    commits = {}
    for name, branch in (("pushed", "main"), ("local", "main"), ("feature", "feature")):
        git("checkout", "--quiet", "-B", branch, cwd=tmp_path)
        git("commit", "--quiet", "--allow-empty", "-m", name, cwd=tmp_path)
        commits[name] = git("rev-parse", "HEAD", cwd=tmp_path)
    return commits


def tags(commit: str, dirty: str = "false") -> dict[str, str]:
    return {"git_commit": commit, "git_dirty": dirty, "data_md5": "d" * 32, "model_md5": "m" * 32}


def test_promote_takes_only_clean_models_from_the_default_branch(repository, tmp_path):
    assert registry.lineage_refusal(tags(repository["pushed"])) is None
    assert registry.lineage_refusal(tags(repository["local"])) is None  # no remote: local main decides
    assert "git_dirty=true" in registry.lineage_refusal(tags(repository["pushed"], dirty="true"))
    assert "no git_dirty tag" in registry.lineage_refusal({"git_commit": repository["pushed"]})
    unmerged = registry.lineage_refusal(tags(repository["feature"]))
    assert f"commit {repository['feature'][:12]}, which is not on the default branch main" in unmerged
    assert "does not have" in registry.lineage_refusal(tags("0123456789ab" * 3 + "0123"))

    # With a remote, main is what the remote has: a commit only on the local main is not merged yet.
    git("update-ref", "refs/remotes/origin/main", repository["pushed"], cwd=tmp_path)
    assert registry.lineage_refusal(tags(repository["pushed"])) is None
    assert "not on the default branch origin/main" in registry.lineage_refusal(tags(repository["local"]))


def test_the_default_branch_comes_from_ci_then_origin_head(repository, tmp_path, monkeypatch):
    assert registry.default_branch() == "main"
    git("symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/trunk", cwd=tmp_path)
    assert registry.default_branch() == "trunk"
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"repository": {"full_name": "acme/x", "default_branch": "develop"}}))
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
    assert registry.default_branch() == "develop"
    monkeypatch.setenv("CI_DEFAULT_BRANCH", "stable")
    assert registry.default_branch() == "stable"
    # A default branch this clone lacks cannot be checked: refused, saying so.
    assert "has no default branch stable" in registry.lineage_refusal(tags(repository["pushed"]))


@pytest.mark.parametrize("args", [["promote", "--force"], ["rollback", "--ignore-lineage"], []])
def test_unknown_options_print_the_usage(args, capsys):
    assert registry.main(args) == 2
    assert "--ignore-lineage" in capsys.readouterr().err
