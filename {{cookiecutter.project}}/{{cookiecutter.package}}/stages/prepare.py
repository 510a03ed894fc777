"""Prepare: drop rows without a target, then split the raw CSV into train and test Parquet files.

The CSV is read through the data contract (contract.read_typed), which the validate stage checked.

Usage: python -m {{ cookiecutter.package }}.stages.prepare RAW_CSV SCHEMA_YAML TRAIN_PARQUET TEST_PARQUET
"""

import sys
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from {{ cookiecutter.package }} import contract, params


def split(table: pd.DataFrame, target: str, test_size: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out `test_size` of the rows{% if cookiecutter.task == 'classification' %}, keeping the class proportions in both parts{% endif %}."""
    return train_test_split(
        table,
        test_size=test_size,
        random_state=seed,{% if cookiecutter.task == 'classification' %}
        stratify=table[target],{% endif %}
    )


def drop_missing_target(table: pd.DataFrame, target: str) -> pd.DataFrame:
    """Rows with no target teach nothing; drop them and say how many."""
    missing = table[target].isna()
    if missing.any():
        print(f"prepare: dropped {missing.sum()} of {len(table)} rows with no value in '{target}'")
    return table[~missing]


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 4:
        sys.exit(__doc__)
    raw_csv, schema_file, train_file, test_file = (Path(arg) for arg in args)
    p = params.load()
    table = contract.read_typed(raw_csv, contract.load(schema_file))
    if p.data.target not in table.columns:
        sys.exit(
            f"{raw_csv}: no target column '{p.data.target}' (params.yaml data.target); "
            f"columns are: {', '.join(table.columns)}"
        )
    train, test = split(drop_missing_target(table, p.data.target), p.data.target, p.prepare.test_size, p.prepare.seed)
    for part, path in ((train, train_file), (test, test_file)):
        path.parent.mkdir(parents=True, exist_ok=True)
        part.to_parquet(path, index=False)
    print(f"prepare: {len(train)} train rows -> {train_file}, {len(test)} test rows -> {test_file}")


if __name__ == "__main__":
    try:
        main()
    except (params.ParamsError, contract.ContractError) as error:
        sys.exit(f"prepare: {error}")  # it names the file and the key: a traceback would bury that
