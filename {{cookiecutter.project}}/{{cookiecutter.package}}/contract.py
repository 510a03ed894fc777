"""The data contract: what the raw CSV must look like, kept in data/schema.yaml (in git; params.yaml paths.schema).

`make schema` infers it from the data at hand; edit it to tighten or loosen a rule. The validate stage
checks the raw data against it (with pandera), and prepare reads the CSV through it, so every stage
sees the same column types (read, the project's one CSV reader):
- a `number` column holds numbers; the tokens in MISSING_TOKENS are gaps, any other text is an error;
- a `category` column is read as text, even when its values look like numbers (zip codes, codes);
- `max_missing` is the largest fraction of gaps a column may have.

Usage: python -m {{ cookiecutter.package }}.contract [RAW_CSV SCHEMA_YAML]   (infer the contract, overwrite)
Without arguments: params.yaml's paths.raw and paths.schema (`make schema`).
"""

import math
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from {{ cookiecutter.package }} import params

MISSING_TOKENS = ["", "NA", "N/A", "n/a", "na", "NaN", "nan", "null", "NULL", "None", "?", "-"]
MAX_LISTED_CATEGORIES = 50  # a text column with more distinct values accepts any value
HEADER = """\
# Data contract for {source}, inferred by `make schema` from {rows} rows. The validate stage
# checks the raw data against it: edit a rule to tighten or loosen it, or run `make schema` again.
# number: min/max inclusive; category: the accepted values (null: any); max_missing: fraction of gaps.
"""


class ContractError(ValueError):
    """data/schema.yaml is missing, is not YAML, or lacks a rule the stages read."""


RULE_KEYS = {"number": ("min", "max", "max_missing"), "category": ("categories", "max_missing")}


class RuleBroken(ValueError):
    """A value its column's rule does not allow; reason says which part: wrong_type, out_of_range or
    unknown_category (the serving app counts refusals by it)."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def check_value(value: Any, rule: dict[str, Any]) -> float | str | None:
    """One value of a record sent as JSON (the serving app's /predict) as its column's rule reads it, or
    RuleBroken. A number column's value is a float (text of a number too; NaN for null), within min and
    max (inclusive, where given); a category column's is text (a whole number too, a code such as 75001;
    None for null), one of the categories where they are listed. max_missing is a rule for a whole
    column, so a single null is a gap, which the pipeline imputes."""
    if rule["type"] == "number":
        if value is None:
            return math.nan
        try:
            number = float(value)
        except OverflowError:  # an integer too large for a float
            number = math.inf
        except ValueError:
            raise RuleBroken("wrong_type", "must be a finite number") from None
        if not math.isfinite(number):
            raise RuleBroken("wrong_type", "must be a finite number")
        low, high = rule.get("min"), rule.get("max")
        if (low is not None and number < low) or (high is not None and number > high):
            raise RuleBroken("out_of_range", f"must be between {low} and {high} (the data contract)")
        return number
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise RuleBroken("wrong_type", "must be text")
    text = str(value)
    if rule.get("categories") is not None and text not in rule["categories"]:
        categories = ", ".join(map(str, rule["categories"]))
        raise RuleBroken("unknown_category", f"must be one of {categories} (the data contract)")
    return text


# The sentences validate reports, one per way the data breaks the contract: both engines' validate stages
# say these, so a problem reads the same whichever engine found it. `examples` are the first offending values.
EXAMPLES = 3  # offending values quoted per problem
PROBLEM_NO_ROWS = "no data rows (only a header?)"


def problem_unreadable(reason: str) -> str:
    return f"not a readable CSV file ({reason})"


def problem_missing_column(name: str, contract_file: Path | str) -> str:
    return f"missing column '{name}' (the contract {contract_file} requires it)"


def problem_extra_column(name: str) -> str:
    return f"column '{name}' is not in the contract: run `make schema` to accept it, or remove it"


def problem_not_numbers(column: str, count: int, examples: Iterable[Any]) -> str:
    return f"column '{column}': {count} values are not numbers (e.g. {_quoted(examples)})"


def problem_gaps(column: str, gaps: int, rows: int, limit: float) -> str:
    return f"column '{column}': {gaps} missing values ({gaps / rows:.0%}), the contract allows at most {limit:.0%}"


def problem_range(column: str, count: int, rule: dict[str, Any], examples: Iterable[Any]) -> str:
    return f"column '{column}': {count} values outside [{rule['min']}, {rule['max']}] (e.g. {_quoted(examples)})"


def problem_categories(column: str, count: int, examples: Iterable[Any]) -> str:
    return f"column '{column}': {count} values not among the contract's categories (e.g. {_quoted(examples)})"


def problem_check(column: str, count: int, check: str, examples: Iterable[Any]) -> str:
    return f"column '{column}': {count} values fail {check} (e.g. {_quoted(examples)})"


def problem_no_target(target: str) -> str:
    return f"target '{target}': no row has a value"


def problem_single_class(target: str, label: Any) -> str:
    return f"target '{target}': a single class '{label}' in every row, nothing to learn"


def problem_rare_class(target: str, label: Any, count: int) -> str:
    return f"target '{target}': class '{label}' has {count} row; the stratified split needs at least 2 per class"


def _quoted(examples: Iterable[Any]) -> str:
    return ", ".join(repr(value) for value in examples)


def load(path: Path | str) -> dict[str, Any]:
    """Read the contract and check its shape; raise ContractError naming the file and the rule."""
    try:
        with open(path, encoding="utf-8") as file:
            contract = yaml.safe_load(file)
    except OSError as error:
        raise ContractError(f"{path}: cannot read the contract ({error.strerror}); `make schema` infers one") from None
    except yaml.YAMLError as error:
        raise ContractError(f"{path}: not valid YAML ({' '.join(str(error).split())})") from None
    if not isinstance(contract, dict) or not all(isinstance(contract.get(key), dict) for key in ("target", "columns")):
        raise ContractError(f"{path}: needs the sections 'target' and 'columns'; `make schema` infers them")
    if "column" not in contract["target"]:
        raise ContractError(f"{path}: target: missing key 'column' (the column to predict)")
    for name, rule in contract["columns"].items():
        kind = rule.get("type") if isinstance(rule, dict) else None
        if kind not in RULE_KEYS:
            raise ContractError(f"{path}: column '{name}': type must be number or category, got {kind!r}")
        missing = [key for key in RULE_KEYS[kind] if key not in rule]
        if missing:
            raise ContractError(f"{path}: column '{name}': missing {', '.join(repr(key) for key in missing)}")
    return contract


def read(path: Path | str, contract: dict[str, Any] | None = None) -> tuple[pd.DataFrame, dict[str, pd.Series]]:
    """The CSV with the contract's types, and the text found in its number columns: the one CSV reader.

    Every column the contract does not read as a number is text (without a contract, every column: what
    `make schema` infers from). One pass of pandas' C parser parses the number columns itself, several
    times faster than reading text and converting. A number column that holds text is read again as
    text and converted value by value: its text becomes gaps, and the second value returned maps each
    such column to its text values (what validate quotes); it is empty when every number parsed.
    """

    def read_csv(**options: Any) -> pd.DataFrame:
        return pd.read_csv(path, na_values=MISSING_TOKENS, keep_default_na=False, **options)

    numbers = number_columns(contract) if contract else []
    header = read_csv(nrows=0).columns
    table = read_csv(dtype={name: str for name in header if name not in numbers})
    unparsed = [name for name in numbers if name in table and table[name].dtype.kind not in "iuf"]
    not_numbers = {}
    if unparsed:  # text in a number column (or no rows at all): read those columns as text, then convert
        text = read_csv(usecols=unparsed, dtype=str)
        for name in unparsed:
            table[name] = pd.to_numeric(text[name], errors="coerce")
            bad = non_numbers(text[name])
            if len(bad):
                not_numbers[name] = bad
    return table, not_numbers


def read_typed(path: Path | str, contract: dict[str, Any]) -> pd.DataFrame:
    """The CSV with the contract's types (text in a number column as gaps): what prepare splits."""
    return read(path, contract)[0]


def non_numbers(values: pd.Series) -> pd.Series:
    """The values of a column that are present but are not numbers."""
    return values[pd.to_numeric(values, errors="coerce").isna() & values.notna()]


def number_columns(contract: dict[str, Any]) -> list[str]:
    """The columns the contract reads as numbers{% if cookiecutter.task == 'regression' %}, the target included{% endif %}."""
    numbers = [name for name, rule in contract["columns"].items() if rule["type"] == "number"]
{%- if cookiecutter.task == 'regression' %}
    return [*numbers, contract["target"]["column"]]
{%- else %}
    return numbers
{%- endif %}


def infer(table: pd.DataFrame, target: str) -> dict[str, Any]:
    """A contract that the given table satisfies: observed ranges, categories and gap fractions."""
    columns = {}
    for name in table.columns.drop(target):
        values = table[name]
        numbers = pd.to_numeric(values, errors="coerce")
        max_missing = math.ceil(values.isna().mean() * 100) / 100  # rounded up to whole percents
        if values.notna().any() and non_numbers(values).empty:
            columns[name] = {
                "type": "number",
                "min": _plain(numbers.min()),
                "max": _plain(numbers.max()),
                "max_missing": max_missing,
            }
        else:
            distinct = sorted(values.dropna().unique().tolist())
            listed = distinct if 0 < len(distinct) <= MAX_LISTED_CATEGORIES else None
            columns[name] = {"type": "category", "categories": listed, "max_missing": max_missing}
{%- if cookiecutter.task == 'classification' %}
    classes = sorted(table[target].dropna().unique().tolist())
    return {"target": {"column": target, "classes": classes}, "columns": columns}
{%- else %}
    numbers = pd.to_numeric(table[target], errors="coerce")
    target_rule = {"column": target, "min": _plain(numbers.min()), "max": _plain(numbers.max())}
    return {"target": target_rule, "columns": columns}
{%- endif %}


def id_like_columns(table: pd.DataFrame, contract: dict[str, Any]) -> list[str]:
    """Text columns where every value is different: IDs, which a model can only memorise."""
    return [
        name
        for name, rule in contract["columns"].items()
        if rule["type"] == "category" and len(table) > 20 and table[name].nunique() == len(table)
    ]


def write(contract: dict[str, Any], path: Path | str, source: Path | str, rows: int) -> None:
    text = yaml.safe_dump(contract, sort_keys=False, default_flow_style=None, width=120, allow_unicode=True)
    Path(path).write_text(HEADER.format(source=source, rows=rows) + text, encoding="utf-8")


def _plain(value: Any) -> float | int | None:
    """A numpy number as a plain int or float for YAML; None for NaN."""
    if pd.isna(value):
        return None
    value = float(value)
    return int(value) if value.is_integer() else value


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (0, 2):
        sys.exit(__doc__)
    p = params.load()
    raw_csv, schema_file = (Path(arg) for arg in args) if args else (p.paths.raw, p.paths.schema)
    target = p.data.target
    table = read(raw_csv)[0]
    if target not in table.columns:
        sys.exit(f"{raw_csv}: no target column '{target}' (params.yaml data.target)")
    contract = infer(table, target)
    write(contract, schema_file, raw_csv, len(table))
    print(f"contract: {len(contract['columns'])} columns of {raw_csv} -> {schema_file}")
    for name in id_like_columns(table, contract):
        print(f"contract: '{name}' has a different value in every row (an ID?): add it to data.drop_columns")


if __name__ == "__main__":
    try:
        main()
    except params.ParamsError as error:
        sys.exit(f"contract: {error}")  # it names the file and the key: a traceback would bury that
