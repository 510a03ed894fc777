"""The model registry: which registered version is the `champion`, and the commands that move it.

Every run of the evaluate stage registers a version of the model with the alias `candidate`
(tracking.py). `champion`, the version to deploy, moves only by these commands:

    python -m {{ cookiecutter.package }}.registry promote   # champion -> candidate, if it scores better
    python -m {{ cookiecutter.package }}.registry rollback  # champion -> the version that was champion before
    python -m {{ cookiecutter.package }}.registry models    # every version, its aliases and metrics

(`make promote`, `make rollback`, `make models`.) promote scores both models on the same rows, the
test data the pipeline last prepared (TEST_DATA), so a champion logged on older data is compared fairly.
A new champion keeps the version it replaced in its tag PREVIOUS; rollback follows that tag.
Exit status: 0 done, 1 the candidate is not better (promote), 2 nothing to do it with (no model, no
server, no previous champion).
"""

import sys
from datetime import datetime
from pathlib import Path

from {{ cookiecutter.package }} import params, tracking
from {{ cookiecutter.package }}.dataset import read_features_target
from {{ cookiecutter.package }}.stages.evaluate import DECIMALS, evaluate

TEST_DATA = Path("data/prepared/test.parquet")
PREVIOUS = "previous_champion"  # model version tag: the champion this version replaced
NAME = tracking.MODEL_NAME


class RegistryError(RuntimeError):
    """There is nothing to do the command with: no registered model, no alias, no test data."""


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


def score(version: str, metric: str, data: params.Data) -> float:
    """The primary metric of a registered version on TEST_DATA."""
    import mlflow.sklearn

    model = mlflow.sklearn.load_model(f"models:/{NAME}/{version}")
    features, actual = read_features_target(TEST_DATA, data)
    metrics, _ = evaluate(model, features, actual)
    return round(float(metrics[metric]), DECIMALS)


def promote(client) -> int:
    current = aliases(client)
    if tracking.CANDIDATE not in current:
        raise RegistryError(f"model '{NAME}' has no '{tracking.CANDIDATE}' version: run `dvc repro` first")
    candidate, champion = current[tracking.CANDIDATE], current.get(tracking.CHAMPION)
    if candidate == champion:
        print(f"promote: version {candidate} is already the {tracking.CHAMPION}")
        return 0
    if champion is not None:
        if not TEST_DATA.exists():
            raise RegistryError(f"{TEST_DATA} is missing: run `dvc repro` (or `dvc pull`) first")
        p = params.load()
        metric, margin = p.evaluate.primary_metric, p.evaluate.promote_margin
        versions = {"champion": champion, "candidate": candidate}
        scores = {role: score(version, metric, p.data) for role, version in versions.items()}
        rows = [[role, f"version {version}", f"{scores[role]:.{DECIMALS}f}"] for role, version in versions.items()]
        print(table(["", "model", f"{metric} on {TEST_DATA}"], rows))
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


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        client = connect()
        from mlflow.exceptions import MlflowException

        try:
            return COMMANDS[args[0]](client)
        except MlflowException as error:
            raise RegistryError(f"MLflow refused: {error.message}") from None
    except (RegistryError, tracking.TrackingError) as error:
        print(f"{args[0]}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
