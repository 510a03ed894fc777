"""The model registry of a baked project on its default store (SQLite in the project), through its
Makefile: `make promote` (a model from a dirty tree refused, then promoted with the override; a better
one refused while its commit is on an unmerged branch, promoted once merged), `make rollback`,
`make models`.

The helpers here are shared with test_mlflow_server.py, which runs the whole story on a real server.
"""

import json
from pathlib import Path

from helpers import BIN, bake, commit, run, set_hyperparams, tool_env

STUMP = {"n_estimators": 1, "max_depth": 1}  # one tree of depth one: a clearly worse model


def project_env(**extra: str) -> dict[str, str]:
    """tool_env without an MLFLOW_TRACKING_URI of the caller's: the project's own default decides."""
    env = tool_env(**extra)
    if "MLFLOW_TRACKING_URI" not in extra:
        env.pop("MLFLOW_TRACKING_URI", None)
    return env


def repro(project: Path, env: dict) -> dict:
    """`dvc repro`, which must run evaluate; the models/model_info.json it wrote."""
    output = run(BIN / "dvc", "repro", cwd=project, env=env).stdout
    assert "Running stage 'evaluate'" in output, output
    return json.loads((project / "models" / "model_info.json").read_text())


def registry_client(uri: str):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def aliases(client, name: str) -> dict[str, str]:
    return {alias: str(version) for alias, version in client.get_registered_model(name).aliases.items()}


def comparison(output: str) -> dict[str, tuple[str, float]]:
    """The table `promote` prints: {"champion": (version, score), "candidate": (version, score)}."""
    rows = [line.split() for line in output.splitlines()]
    return {
        row[0]: (row[2], float(row[3]))
        for row in rows
        if row[:2] in (["champion", "version"], ["candidate", "version"])
    }


def test_make_promote_rollback_and_models_on_the_sqlite_store(tmp_path):
    project = bake(tmp_path)
    name = project.name
    env = project_env()
    defaults = set_hyperparams(project, **STUMP)
    stump = repro(project, env)  # params.yaml not committed: a dirty work tree
    client = registry_client(f"sqlite:///{project / 'mlflow.db'}")
    assert aliases(client, name) == {"candidate": stump["model_version"]}

    # Lineage first: a model from a dirty work tree is refused, naming why and the override.
    refused = run("make", "promote", cwd=project, env=env, check=False)
    assert refused.returncode != 0 and "promote] Error 1" in refused.stderr, refused.stdout + refused.stderr
    assert (
        f"promote: refused: the candidate, version {stump['model_version']}, was trained from a work tree whose "
        "code or params differed from its commit (git_dirty=true); there is no champion yet." in refused.stdout
    ), refused.stdout
    assert "make promote ARGS=--ignore-lineage" in refused.stdout
    assert aliases(client, name) == {"candidate": stump["model_version"]}
    first = run("make", "promote", "ARGS=--ignore-lineage", cwd=project, env=env).stdout
    assert f"promote: --ignore-lineage: version {stump['model_version']} was trained from a work tree" in first
    assert f"version {stump['model_version']} is the champion now (the first champion)" in first

    # A better model, committed on a branch not merged yet: refused, naming the commit; merged, promoted.
    commit(project, "A stump")
    run("git", "checkout", "--quiet", "-b", "forest", cwd=project)
    set_hyperparams(project, **defaults)
    sha = commit(project, "A forest")
    forest = repro(project, env)
    assert (forest["git_commit"], forest["git_dirty"]) == (sha, "false")
    unmerged = run("make", "promote", cwd=project, env=env, check=False)
    assert unmerged.returncode != 0, unmerged.stdout + unmerged.stderr
    assert (
        f"version {forest['model_version']}, was trained from commit {sha[:12]}, which is not on the default "
        "branch main (not merged); the champion stays version " + stump["model_version"] in unmerged.stdout
    ), unmerged.stdout
    run("git", "checkout", "--quiet", "main", cwd=project)
    run("git", "merge", "--quiet", "--ff-only", "forest", cwd=project)
    promoted = run("make", "promote", cwd=project, env=env).stdout
    scores = comparison(promoted)
    assert (scores["champion"][0], scores["candidate"][0]) == (stump["model_version"], forest["model_version"]), (
        promoted
    )
    assert scores["candidate"][1] > scores["champion"][1]
    assert aliases(client, name) == {"candidate": forest["model_version"], "champion": forest["model_version"]}

    rolled_back = run("make", "rollback", cwd=project, env=env).stdout
    assert f"the champion is version {stump['model_version']} again" in rolled_back
    assert aliases(client, name)["champion"] == stump["model_version"]

    listed = run("make", "models", cwd=project, env=env).stdout
    rows = {line.split()[0]: line for line in listed.splitlines() if line[:1].isdigit()}
    assert set(rows) == {stump["model_version"], forest["model_version"]}
    assert "champion" in rows[stump["model_version"]] and "candidate" in rows[forest["model_version"]]
    assert stump["git_commit"][:8] in rows[stump["model_version"]]

    help_text = run("make", "help", cwd=project, env=env).stdout
    assert all(f"make {target} " in help_text for target in ("promote", "rollback", "models", "mlflow-ui"))
