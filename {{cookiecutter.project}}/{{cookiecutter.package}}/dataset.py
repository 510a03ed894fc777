"""Split a prepared table into the features and the target, the same way in every stage."""

from pathlib import Path

import pandas as pd

from {{ cookiecutter.package }}.params import Data


def features_and_target(table: pd.DataFrame, data: Data, source: Path | str) -> tuple[pd.DataFrame, pd.Series]:
    """Return (X, y); every column but the target and `data.drop_columns` is a feature."""
    missing = [column for column in (data.target, *data.drop_columns) if column not in table.columns]
    if missing:
        raise SystemExit(
            f"{source}: no column {', '.join(repr(c) for c in missing)} (named in params.yaml 'data'); "
            f"columns are: {', '.join(table.columns)}"
        )
    return table.drop(columns=[data.target, *data.drop_columns]), table[data.target]


def read_features_target(path: Path | str, data: Data) -> tuple[pd.DataFrame, pd.Series]:
    """Read a Parquet file written by the prepare stage and split it into (X, y)."""
    return features_and_target(pd.read_parquet(path), data, path)
{%- if cookiecutter.engine == 'spark' %}


def feature_columns(columns: list[str], data: Data, source: Path | str) -> list[str]:
    """The feature columns of a table with these columns (Spark's stages): all but the target and
    `data.drop_columns`, which must be there."""
    missing = [column for column in (data.target, *data.drop_columns) if column not in columns]
    if missing:
        raise SystemExit(
            f"{source}: no column {', '.join(repr(c) for c in missing)} (named in params.yaml 'data'); "
            f"columns are: {', '.join(columns)}"
        )
    return [column for column in columns if column not in (data.target, *data.drop_columns)]
{%- endif %}
