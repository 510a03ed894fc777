"""Validate: check the raw CSV against the data contract before anything is trained on it.

Writes a report either way; on any problem, prints one line per problem (file, column, what, how many)
and exits 1, so `dvc repro` stops here and the previous model and metrics stay as they are.

Usage: python -m {{ cookiecutter.package }}.stages.validate RAW_CSV SCHEMA_YAML REPORT_JSON
"""

import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pandera.pandas as pa

from {{ cookiecutter.package }} import contract

EXAMPLES = 3  # offending values quoted per problem
# The names this stage gives the contract's checks: pandera reports a failure under its check's name, and
# describe turns each name into its sentence, with the limits read from the contract's rule.
RANGE, CATEGORIES, MAX_MISSING = "range", "categories", "max_missing"


def pandera_schema(rules: dict[str, Any]) -> pa.DataFrameSchema:
    """The contract as a pandera schema, for a table read with the contract's types (contract.read)."""
    columns = {}
    for name, rule in rules["columns"].items():
        checks = [max_missing_check(rule["max_missing"])]
        if rule["type"] == "number" and rule["min"] is not None:
            checks.append(pa.Check.in_range(rule["min"], rule["max"], error=RANGE))
        if rule["type"] == "category" and rule["categories"] is not None:
            checks.append(pa.Check.isin(rule["categories"], error=CATEGORIES))
        columns[name] = pa.Column(checks=checks, nullable=True)
    target = rules["target"]
{%- if cookiecutter.task == 'classification' %}
    columns[target["column"]] = pa.Column(checks=[pa.Check.isin(target["classes"], error=CATEGORIES)], nullable=True)
{%- else %}
    target_range = pa.Check.in_range(target["min"], target["max"], error=RANGE)
    columns[target["column"]] = pa.Column(checks=[target_range], nullable=True)
{%- endif %}
    return pa.DataFrameSchema(columns, strict=True)


def max_missing_check(limit: float) -> pa.Check:
    """At most `limit` of the column's values may be gaps (pandera's nullable is all or nothing)."""
    return pa.Check(
        lambda values: values.isna().mean() <= limit, element_wise=False, ignore_na=False, error=MAX_MISSING
    )


def describe(column: str, check: str, failures: pd.Series, table: pd.DataFrame, rules: dict[str, Any]) -> str:
    """One pandera failure group of a column as a sentence a person can act on."""
    rule = rules["target"] if column == rules["target"]["column"] else rules["columns"].get(column, {})
    examples = ", ".join(repr(value) for value in failures.drop_duplicates().head(EXAMPLES))
    if check == MAX_MISSING:
        gaps = int(table[column].isna().sum())
        share, limit = gaps / len(table), rule["max_missing"]
        return f"column '{column}': {gaps} missing values ({share:.0%}), the contract allows at most {limit:.0%}"
    if check == RANGE:
        return f"column '{column}': {len(failures)} values outside [{rule['min']}, {rule['max']}] (e.g. {examples})"
    if check == CATEGORIES:
        return f"column '{column}': {len(failures)} values not among the contract's categories (e.g. {examples})"
    return f"column '{column}': {len(failures)} values fail {check} (e.g. {examples})"


def find_problems(
    table: pd.DataFrame, not_numbers: dict[str, pd.Series], rules: dict[str, Any], contract_file: Path
) -> list[str]:
    """Every way the raw table, as contract.read returns it, breaks the contract, as sentences (empty when
    it keeps it). Text in a number column is reported with examples, and alone: the range checks on the
    gaps it became would only repeat it."""
    if not_numbers:
        return [
            f"column '{name}': {len(bad)} values are not numbers (e.g. {', '.join(map(repr, bad.unique()[:EXAMPLES]))})"
            for name, bad in not_numbers.items()
        ]
    if table.empty:
        return ["no data rows (only a header?)"]
    problems = []
    try:
        pandera_schema(rules).validate(table, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        for (column, check), group in cases.groupby(["column", "check"], dropna=False, sort=False):
            failures = group["failure_case"]
            if check == "column_in_dataframe":  # pandera's own checks: one failure per column
                problems += [f"missing column '{name}' (the contract {contract_file} requires it)" for name in failures]
            elif check == "column_in_schema":
                problems += [
                    f"column '{name}' is not in the contract: run `make schema` to accept it, or remove it"
                    for name in failures
                ]
            else:
                problems.append(describe(column, check, failures, table, rules))
    problems += target_problems(table[rules["target"]["column"]]) if rules["target"]["column"] in table else []
    return problems


def target_problems(target: pd.Series) -> list[str]:
    present = target.dropna()
    if present.empty:
        return [f"target '{target.name}': no row has a value"]
{%- if cookiecutter.task == 'classification' %}
    counts = present.value_counts()
    if len(counts) == 1:
        return [f"target '{target.name}': a single class '{counts.index[0]}' in every row, nothing to learn"]
    return [
        f"target '{target.name}': class '{label}' has {count} row; the stratified split needs at least 2 per class"
        for label, count in counts.items()
        if count < 2
    ]
{%- else %}
    return []
{%- endif %}


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3:
        sys.exit(__doc__)
    raw_csv, schema_file, report_file = (Path(arg) for arg in args)
    rules = contract.load(schema_file)
    try:
        table, not_numbers = contract.read(raw_csv, rules)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as error:
        table, problems = None, [f"not a readable CSV file ({type(error).__name__}: {str(error).splitlines()[0]})"]
    else:
        problems = find_problems(table, not_numbers, rules, schema_file)
    target = rules["target"]["column"]
    report = {
        "file": str(raw_csv),
        "rows": 0 if table is None else len(table),
        "rows_without_target": int(table[target].isna().sum()) if table is not None and target in table else 0,
        "problems": problems,
    }
    report_file.parent.mkdir(parents=True, exist_ok=True)
    report_file.write_text(json.dumps(report, indent=2) + "\n")
    if problems:
        print("\n".join(f"{raw_csv}: {problem}" for problem in problems), file=sys.stderr)
        sys.exit(f"validate: {len(problems)} problem(s) with {raw_csv}; the previous model and metrics are unchanged")
    rows, without_target = report["rows"], report["rows_without_target"]
    print(f"validate: {rows} rows of {raw_csv} keep the contract; {without_target} have no target")


if __name__ == "__main__":
    try:
        main()
    except contract.ContractError as error:
        sys.exit(f"validate: {error}")  # it names the file and the key: a traceback would bury that
