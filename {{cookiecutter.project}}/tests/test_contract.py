from pathlib import Path

import pandas as pd
import pytest

from {{ cookiecutter.package }} import contract
from {{ cookiecutter.package }}.stages.validate import find_problems

CONTRACT_FILE = Path("schema.yaml")


@pytest.fixture
def raw(mixed_table, tmp_path) -> pd.DataFrame:
    """The fixture table written to CSV and read back as text, as `make schema` reads it."""
    mixed_table.to_csv(tmp_path / "raw.csv", index=False)
    return contract.read(tmp_path / "raw.csv")[0]


@pytest.fixture
def rules(raw) -> dict:
    return contract.infer(raw, target="label")


@pytest.fixture
def problems(tmp_path, rules):
    """The validate stage's problems with a table (an edit of `raw`) once it is written to CSV."""

    def validate(table: pd.DataFrame) -> list[str]:
        table.to_csv(tmp_path / "edited.csv", index=False)
        return find_problems(*contract.read(tmp_path / "edited.csv", rules), rules, CONTRACT_FILE)

    return validate


def test_inferred_contract_types_each_column(rules):
    assert rules["columns"]["age"]["type"] == "number"
    assert rules["columns"]["city"] == {"type": "category", "categories": ["lyon", "nice", "paris"], "max_missing": 0.1}
    assert rules["target"]["column"] == "label"


def test_the_data_the_contract_was_inferred_from_keeps_it(raw, problems):
    assert problems(raw) == []


def test_out_of_range_values_are_counted_by_column_with_the_contracts_limits(raw, rules, problems):
    raw.loc[:36, "age"] = "150"
    age = rules["columns"]["age"]
    assert problems(raw) == [f"column 'age': 37 values outside [{age['min']}, {age['max']}] (e.g. 150.0)"]


def test_text_in_a_number_column_is_named_with_examples(raw, problems):
    raw.loc[:2, "income"] = "12,5k"
    assert problems(raw) == ["column 'income': 3 values are not numbers (e.g. '12,5k')"]


def test_unknown_category_is_named(raw, problems):
    raw.loc[0, "city"] = "marseille"
    assert problems(raw) == ["column 'city': 1 values not among the contract's categories (e.g. 'marseille')"]


def test_too_many_gaps_are_reported_against_the_contracts_limit(raw, problems):
    raw.loc[:59, "city"] = None
    gaps = raw["city"].isna().sum()  # the 60 set here and the fixture's own
    assert problems(raw) == [f"column 'city': {gaps} missing values (54%), the contract allows at most 10%"]


def test_every_missing_and_extra_column_is_named(raw, problems):
    found = problems(raw.drop(columns=["age", "city"]).assign(notes="x", channel="web"))
    assert "missing column 'age' (the contract schema.yaml requires it)" in found
    assert "missing column 'city' (the contract schema.yaml requires it)" in found
    assert [problem.split(":")[0] for problem in found if "is not in the contract" in problem] == [
        "column 'notes' is not in the contract",
        "column 'channel' is not in the contract",
    ]


def test_a_header_without_rows_is_named(raw, problems):
    assert problems(raw.head(0)) == ["no data rows (only a header?)"]


def text_then_numbers(path: Path, rules: dict) -> pd.DataFrame:
    """The slow way to the contract's types: every value as text, then the number columns converted."""
    table = pd.read_csv(path, na_values=contract.MISSING_TOKENS, keep_default_na=False, dtype=str)
    for name in contract.number_columns(rules):
        table[name] = pd.to_numeric(table[name], errors="coerce")
    return table


def test_numbers_become_numbers_and_codes_stay_text(raw, rules, tmp_path):
    typed, not_numbers = contract.read(tmp_path / "raw.csv", rules)
    assert pd.api.types.is_float_dtype(typed["age"]) and not pd.api.types.is_numeric_dtype(typed["city"])
    assert not_numbers == {}
    pd.testing.assert_frame_equal(typed, text_then_numbers(tmp_path / "raw.csv", rules), check_exact=True)


def test_text_in_a_number_column_reads_as_gaps_and_is_returned_as_written(raw, rules, tmp_path):
    raw.loc[:2, "income"] = "12,5k"
    path = tmp_path / "edited.csv"
    raw.to_csv(path, index=False)
    typed, not_numbers = contract.read(path, rules)
    assert list(not_numbers) == ["income"] and list(not_numbers["income"]) == ["12,5k"] * 3
    assert typed["income"].head(3).isna().all() and pd.api.types.is_float_dtype(typed["income"])
    pd.testing.assert_frame_equal(typed, text_then_numbers(path, rules), check_exact=True)
    pd.testing.assert_frame_equal(contract.read_typed(path, rules), typed)
