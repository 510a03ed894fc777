import pandas as pd
import pytest

from {{ cookiecutter.package }} import contract
from {{ cookiecutter.package }}.stages.validate import find_problems


@pytest.fixture
def raw(mixed_table, tmp_path) -> pd.DataFrame:
    """The fixture table written to CSV and read back as the validate stage reads it."""
    mixed_table.to_csv(tmp_path / "raw.csv", index=False)
    return contract.read_csv(tmp_path / "raw.csv")


@pytest.fixture
def rules(raw) -> dict:
    return contract.infer(raw, target="label")


def test_inferred_contract_types_each_column(rules):
    assert rules["columns"]["age"]["type"] == "number"
    assert rules["columns"]["city"] == {"type": "category", "categories": ["lyon", "nice", "paris"], "max_missing": 0.1}
    assert rules["target"]["column"] == "label"


def test_the_data_the_contract_was_inferred_from_keeps_it(raw, rules):
    assert find_problems(raw, rules) == []


def test_out_of_range_values_are_counted_by_column(raw, rules):
    raw.loc[:36, "age"] = "150"
    (problem,) = find_problems(raw, rules)
    assert problem.startswith("column 'age': 37 values outside [")


def test_text_in_a_number_column_is_named_with_examples(raw, rules):
    raw.loc[:2, "income"] = "12,5k"
    assert find_problems(raw, rules) == ["column 'income': 3 values are not numbers (e.g. '12,5k')"]


def test_unknown_category_is_named(raw, rules):
    raw.loc[0, "city"] = "marseille"
    problems = find_problems(raw, rules)
    assert problems == ["column 'city': 1 values not among the contract's categories (e.g. 'marseille')"]


def test_too_many_gaps_are_reported_against_the_limit(raw, rules):
    raw.loc[:59, "city"] = None
    (problem,) = find_problems(raw, rules)
    assert problem.startswith("column 'city': ") and "the contract allows at most 10%" in problem


def test_missing_and_extra_columns_are_named(raw, rules):
    problems = find_problems(raw.drop(columns="age").assign(notes="x"), rules)
    assert "missing column 'age' (the contract data/schema.yaml requires it)" in problems
    assert any(problem.startswith("column 'notes' is not in the contract") for problem in problems)


def test_numbers_read_as_text_become_numbers_and_codes_stay_text(raw, rules):
    typed = contract.apply_types(raw, rules)
    assert pd.api.types.is_float_dtype(typed["age"])
    assert not pd.api.types.is_numeric_dtype(typed["city"])


def test_fast_read_gives_the_table_of_reading_text_then_converting(raw, rules, tmp_path):
    path = tmp_path / "raw.csv"
    assert contract.unparsed_numbers(contract.read_parsed(path, rules), rules) == []
    expected = contract.apply_types(contract.read_csv(path), rules)
    pd.testing.assert_frame_equal(contract.read_typed(path, rules), expected, check_exact=True)


def test_text_in_a_number_column_still_reads_as_gaps(raw, rules, tmp_path):
    raw.loc[:2, "income"] = "12,5k"
    path = tmp_path / "edited.csv"
    raw.to_csv(path, index=False)
    assert contract.unparsed_numbers(contract.read_parsed(path, rules), rules) == ["income"]
    typed = contract.read_typed(path, rules)
    assert typed["income"].head(3).isna().all() and pd.api.types.is_float_dtype(typed["income"])
    pd.testing.assert_frame_equal(typed, contract.apply_types(contract.read_csv(path), rules), check_exact=True)
