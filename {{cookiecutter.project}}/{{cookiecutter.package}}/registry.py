"""The model registry: which registered version is the `champion`, and the commands that move it.

Every run of the evaluate stage registers a version of the model with the alias `candidate`
(tracking.py). `champion`, the version to deploy, moves only by these commands:

    python -m {{ cookiecutter.package }}.registry promote   # champion -> candidate, if it scores better
    python -m {{ cookiecutter.package }}.registry rollback  # champion -> the version that was champion before
    python -m {{ cookiecutter.package }}.registry models    # every version, its aliases and metrics

(`make promote`, `make rollback`, `make models`.) promote first reads the candidate's lineage tags: a
model trained from a dirty work tree (git_dirty=true) or from a commit that is not on the default branch
(an unmerged branch, a laptop's local commit) is refused, saying which. `promote --ignore-lineage`
(`make promote ARGS=--ignore-lineage`) promotes it anyway. Then it scores both models with evaluate() of
stages/evaluate.py, as the pipeline does, on the same rows: the test data the pipeline last prepared
(params.yaml's paths.test_data), so a champion logged on older data is compared fairly. A new champion
keeps the version it replaced in its tag PREVIOUS; rollback follows that tag.
Exit status: 0 done, 1 the candidate is refused (lineage) or not better (promote), 2 nothing to do it
with (no model, no server, no previous champion).
"""

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from {{ cookiecutter.package }} import params, tracking
{%- if cookiecutter.engine == 'pandas' %}
from {{ cookiecutter.package }}.dataset import read_features_target
{%- endif %}

DECIMALS = 6  # promote compares and prints scores at the precision metrics.json holds
PREVIOUS = "previous_champion"  # model version tag: the champion this version replaced
NAME = tracking.MODEL_NAME


class RegistryError(RuntimeError):
    """There is nothing to do the command with: no registered model, no alias, no test data."""


def git(*args: str) -> subprocess.CompletedProcess:
    """git's answer, never an exception: the caller reads returncode and stdout."""
    return subprocess.run(["git", *args], capture_output=True, text=True, check=False)


def default_branch() -> str:
    """The branch whose commits may become the champion. CI names it (GitLab: CI_DEFAULT_BRANCH; GitHub:
    the event's repository.default_branch, and a schedule runs on it); on a laptop origin/HEAD does
    (`git remote set-head origin --auto` sets it in an older clone); else `main`."""
    if os.environ.get("CI_DEFAULT_BRANCH"):
        return os.environ["CI_DEFAULT_BRANCH"]
    event_file = Path(os.environ.get("GITHUB_EVENT_PATH", ""))
    if event_file.is_file():
        event = json.loads(event_file.read_text(encoding="utf-8"))
        if branch := (event.get("repository") or {}).get("default_branch"):
            return branch
    if os.environ.get("GITHUB_EVENT_NAME") == "schedule" and os.environ.get("GITHUB_REF_NAME"):
        return os.environ["GITHUB_REF_NAME"]
    head = git("symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD").stdout.strip()
    return head.removeprefix("origin/") or "main"


def lineage_refusal(tags: dict[str, str]) -> str | None:
    """Why a version's lineage tags (tracking.lineage) keep it from becoming the champion; None if nothing.

    The default branch as the remote has it (origin/<branch>) when this clone knows it: a local branch
    may hold commits nobody else has.
    """
    if tags.get("git_dirty") != "false":
        return (
            "was trained from a work tree whose code or params differed from its commit (git_dirty=true)"
            if tags.get("git_dirty") == "true"
            else "has no git_dirty tag: nothing says which code it was trained from"
        )
    commit, branch = tags.get("git_commit", ""), default_branch()
    refs = [ref for ref in (f"origin/{branch}", branch) if git("rev-parse", "--verify", "--quiet", ref).returncode == 0]
    if not refs:
        return f"cannot be checked: this clone has no default branch {branch} (git fetch origin {branch})"
    if not commit:
        return "has no git_commit tag: nothing says which code it was trained from"
    status = git("merge-base", "--is-ancestor", commit, refs[0]).returncode  # 0 yes, 1 no, 128 unknown commit
    if status == 0:
        return None
    if status == 1:
        return f"was trained from commit {commit[:12]}, which is not on the default branch {refs[0]} (not merged)"
    return f"was trained from commit {commit[:12]}, which this clone does not have (never pushed, or not fetched)"


def beats(candidate: float, champion: float, margin: float) -> bool:
    """True when the candidate's score is at least `margin` above the champion's (higher is better)."""
    return round(candidate - champion, DECIMALS) >= round(margin, DECIMALS)


def table(header: list[str], rows: list[list[str]]) -> str:
    """Plain text columns, wide enough for every cell."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = [header, ["-" * width for width in widths], *rows]
    return "\n".join(
        "  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in lines
    )


def connect():
    """An MlflowClient for the project's tracking store, checked to answer first."""
    uri = tracking.tracking_uri()
    tracking.check_reachable(uri)
    import mlflow

    mlflow.set_tracking_uri(uri)
    return mlflow.MlflowClient()


def aliases(client) -> dict[str, str]:
    """{alias: version} of the registered model."""
    from mlflow.exceptions import MlflowException

    try:
        return dict(client.get_registered_model(NAME).aliases)
    except MlflowException as error:
        if error.error_code == "RESOURCE_DOES_NOT_EXIST":
            uri = tracking.without_credentials(tracking.tracking_uri())
            raise RegistryError(f"no registered model '{NAME}' at {uri}: run `dvc repro` first") from None
        raise


def champion_uri() -> str | None:
    """The champion's model URI (models:/NAME@champion) when the tracking store has one, else None:
    `make predict` then scores with the model at paths.model. A local store that does not exist yet is
    not created (nor is MLflow imported) to find that out."""
    uri = tracking.in_project(tracking.tracking_uri())
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        return None
    tracking.check_reachable(uri)
    import mlflow
    from mlflow.exceptions import MlflowException

    mlflow.set_tracking_uri(uri)
    try:
        mlflow.MlflowClient().get_model_version_by_alias(NAME, tracking.CHAMPION)
    except MlflowException:  # no registered model, or no champion yet
        return None
    return f"models:/{NAME}@{tracking.CHAMPION}"


def score(version: str, metric: str, data: params.Data, test_data: Path) -> float:
    """The primary metric of a registered version on the test data, as the evaluate stage computes it."""
{%- if cookiecutter.engine == 'spark' %}
    import mlflow

    from {{ cookiecutter.package }} import spark_session

    # The one name this module reads from the team's code: the function the evaluate stage computes
    # metrics.json with, so both models are scored as the pipeline scores them, the team's own metrics
    # included. Imported here: the stage imports pyspark, which `make models` does not need.
    from {{ cookiecutter.package }}.stages.evaluate import evaluate

    spark = spark_session.start("promote")
    os.environ.setdefault("MLFLOW_DFS_TMP", str(spark_session.SCRATCH / "mlflow"))
    model = mlflow.spark.load_model(f"models:/{NAME}/{version}")
    metrics, _ = evaluate(model, spark.read.parquet(str(test_data)), data.target)
{%- else %}
    import mlflow.sklearn

    # The one name this module reads from the team's code: the function the evaluate stage computes
    # metrics.json with, so both models are scored as the pipeline scores them, the team's own metrics
    # included. Imported here: the stage imports scikit-learn, which `make models` does not need.
    from {{ cookiecutter.package }}.stages.evaluate import evaluate

    model = mlflow.sklearn.load_model(f"models:/{NAME}/{version}")
    features, actual = read_features_target(test_data, data)
    metrics, _ = evaluate(model, features, actual)
{%- endif %}
    if metric not in metrics:
        raise RegistryError(
            f"evaluate.primary_metric '{metric}' is not among the metrics of stages/evaluate.py: {', '.join(metrics)}"
        )
    return round(float(metrics[metric]), DECIMALS)


def promote(client, ignore_lineage: bool = False) -> int:
    current = aliases(client)
    if tracking.CANDIDATE not in current:
        raise RegistryError(f"model '{NAME}' has no '{tracking.CANDIDATE}' version: run `dvc repro` first")
    candidate, champion = current[tracking.CANDIDATE], current.get(tracking.CHAMPION)
    if candidate == champion:
        print(f"promote: version {candidate} is already the {tracking.CHAMPION}")
        return 0
    # Only a model that its commit on the default branch reproduces may be deployed.
    refusal = lineage_refusal(client.get_model_version(NAME, candidate).tags)
    if refusal and not ignore_lineage:
        stays = f"the champion stays version {champion}" if champion else f"there is no {tracking.CHAMPION} yet"
        print(
            f"promote: refused: the candidate, version {candidate}, {refusal}; {stays}. Commit and merge, let "
            f"the default branch's CI register the model, or promote it anyway: make promote ARGS={IGNORE_LINEAGE}"
        )
        return 1
    if refusal:
        print(f"promote: {IGNORE_LINEAGE}: version {candidate} {refusal}")
    if champion is not None:
        p = params.load()
        test_data = p.paths.test_data
        if not test_data.exists():
            raise RegistryError(f"{test_data} is missing: run `dvc repro` (or `dvc pull`) first")
        metric, margin = p.evaluate.primary_metric, p.evaluate.promote_margin
        versions = {"champion": champion, "candidate": candidate}
        scores = {role: score(version, metric, p.data, test_data) for role, version in versions.items()}
        rows = [[role, f"version {version}", f"{scores[role]:.{DECIMALS}f}"] for role, version in versions.items()]
        print(table(["", "model", f"{metric} on {test_data}"], rows))
        gain = scores["candidate"] - scores["champion"]
        if not beats(scores["candidate"], scores["champion"], margin):
            print(
                f"promote: refused: the candidate is {gain:+.{DECIMALS}f} against the champion, "
                f"evaluate.promote_margin asks for at least +{margin}; the champion stays version {champion}"
            )
            return 1
        client.set_model_version_tag(NAME, candidate, PREVIOUS, champion)
    client.set_registered_model_alias(NAME, tracking.CHAMPION, candidate)
    replaced = f"replaces version {champion}" if champion else "the first champion"
    print(f"promote: version {candidate} is the {tracking.CHAMPION} now ({replaced})")
    return 0


def rollback(client) -> int:
    champion = aliases(client).get(tracking.CHAMPION)
    if champion is None:
        raise RegistryError(f"model '{NAME}' has no {tracking.CHAMPION} yet: nothing to roll back")
    previous = client.get_model_version(NAME, champion).tags.get(PREVIOUS)
    if not previous:
        raise RegistryError(f"version {champion} was the first {tracking.CHAMPION}: there is no earlier one")
    client.set_registered_model_alias(NAME, tracking.CHAMPION, previous)
    print(f"rollback: the {tracking.CHAMPION} is version {previous} again (was version {champion})")
    return 0


def models(client) -> int:
    by_version: dict[str, list[str]] = {}
    for alias, version in aliases(client).items():  # search results leave aliases out
        by_version.setdefault(str(version), []).append(alias)
    versions = sorted(client.search_model_versions(f"name = '{NAME}'"), key=lambda v: -int(v.version))
    metrics = {v.version: client.get_run(v.run_id).data.metrics if v.run_id else {} for v in versions}
    names = sorted({name for values in metrics.values() for name in values})
    rows = [
        [
            v.version,
            ", ".join(sorted(by_version.get(str(v.version), []))),
            datetime.fromtimestamp(v.creation_timestamp / 1000).strftime("%Y-%m-%d %H:%M"),
            v.tags.get("git_commit", "")[:8] + (" (dirty)" if v.tags.get("git_dirty") == "true" else ""),
            *(f"{metrics[v.version][name]:.4f}" if name in metrics[v.version] else "" for name in names),
        ]
        for v in versions
    ]
    print(table(["version", "aliases", "registered", "git commit", *names], rows))
    return 0


COMMANDS = {"promote": promote, "rollback": rollback, "models": models}
IGNORE_LINEAGE = "--ignore-lineage"  # promote's only option


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    options = {IGNORE_LINEAGE} if args[:1] == ["promote"] else set()
    if not args or args[0] not in COMMANDS or not set(args[1:]) <= options:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        client = connect()
        from mlflow.exceptions import MlflowException

        try:
            if args[0] == "promote":
                return promote(client, ignore_lineage=IGNORE_LINEAGE in args)
            return COMMANDS[args[0]](client)
        except MlflowException as error:
            raise RegistryError(f"MLflow refused: {error.message}") from None
    except (RegistryError, tracking.TrackingError, params.ParamsError) as error:
        print(f"{args[0]}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
