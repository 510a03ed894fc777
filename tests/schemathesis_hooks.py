"""Schemathesis hooks for tests/test_fuzz.py (loaded through SCHEMATHESIS_HOOKS).

The app's schema says only "records: a list of objects", so almost every record schemathesis makes
from it misses the model's features and is refused with a 422 before the model runs. This hook offers
schemathesis's own generated values two more ways: under the model's real feature names (FUZZ_FEATURES,
a JSON list), and the same with the text values dropped, so that numbers of every size, booleans and
nulls also get past the type checks and reach the preprocessing and the model.
"""

import json
import os

import schemathesis
from hypothesis import strategies as st

FEATURES: list[str] = json.loads(os.environ["FUZZ_FEATURES"])


def onto_features(record: dict, keep_text: bool) -> dict:
    """The record's values, in order and cycled, under the feature names (all null when it has none)."""
    values = [value for value in record.values() if keep_text or not isinstance(value, str)] or [None]
    return {name: values[index % len(values)] for index, name in enumerate(FEATURES)}


@schemathesis.hook
def flatmap_body(context, body):
    records = body.get("records") if isinstance(body, dict) else None
    if context.operation is None or context.operation.path != "/predict" or not isinstance(records, list):
        return st.just(body)
    if not all(isinstance(record, dict) for record in records):
        return st.just(body)
    variants = [
        {**body, "records": [onto_features(record, keep_text) for record in records]} for keep_text in (True, False)
    ]
    return st.sampled_from([body, *variants])
