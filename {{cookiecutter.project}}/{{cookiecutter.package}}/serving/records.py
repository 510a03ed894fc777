"""The records a client sends to /predict, checked against the data contract and turned into the table
the pipeline was trained on.

Each record holds every feature of the model (null for an unknown value) and may hold other columns the
contract lists (data.drop_columns), which are ignored. What a column's rule allows is contract.py's to
say (contract.check_value): a record is held to the rules the validate stage holds the raw data to.
"""

import pandas as pd

from {{ cookiecutter.package }} import contract

MAX_RECORDS = 10_000  # per /predict request; send bigger batches in parts
Value = str | int | float | bool | None


class Refused(ValueError):
    """A request /predict does not answer: reason is one of metrics.REASONS (/metrics counts refusals by
    it), where the record and field it is about."""

    def __init__(self, reason: str, message: str, *where: int | str):
        super().__init__(message)
        self.reason, self.where = reason, where

    def detail(self) -> dict:
        """The error as FastAPI writes its own 422s: loc says which record and field, type why."""
        return {"type": self.reason, "loc": ("body", "records", *self.where), "msg": str(self)}


def to_frame(records: list[dict[str, Value]], features: list[str], rules: dict[str, dict]) -> pd.DataFrame:
    """The features of the records, in the form the pipeline takes them; Refused for a missing or unknown
    field or a value the contract does not allow, naming the record and the field."""
    if not records:
        raise Refused("empty_batch", "records is empty: send at least one record")
    columns: dict[str, list] = {name: [] for name in features}
    for index, record in enumerate(records):
        if missing := [name for name in features if name not in record]:
            message = f"missing field '{missing[0]}' (send null for an unknown value)"
            raise Refused("missing_field", message, index, missing[0])
        if unknown := sorted(record.keys() - rules.keys()):
            message = f"unknown field '{unknown[0]}'; the model's features are: {', '.join(features)}"
            raise Refused("unknown_field", message, index, unknown[0])
        for name in features:
            try:
                columns[name].append(contract.check_value(record[name], rules[name]))
            except contract.RuleBroken as error:
                message = f"field '{name}' {error}, got {record[name]!r}"
                raise Refused(error.reason, message, index, name) from None
    return pd.DataFrame(columns, columns=features)
