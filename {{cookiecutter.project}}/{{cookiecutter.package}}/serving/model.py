"""The model the app serves, read once when the server starts: the pipeline DVC produced (`dvc repro` or
`dvc pull`), the data contract it was trained under, and, for /metadata, its training metrics and where it
came from (MLflow run, registry version, git commit), at the paths files.py gives; the metrics and the
lineage are optional.
"""

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from {{ cookiecutter.package }} import contract
from {{ cookiecutter.package }}.serving import files
from {{ cookiecutter.package }}.serving.records import Refused

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    pipeline: Pipeline
    path: Path
    version: str  # md5 of the file: the same hash dvc.lock records for it
    features: list[str]  # the training columns, in order
    contract: dict  # the data contract: a rule for every column a client may send, and the target's
    metrics: dict[str, float]
    info: dict  # models/model_info.json: MLflow run, registry version, git commit ({} when absent)

    def output(self, frame: pd.DataFrame) -> np.ndarray:
        """{% if cookiecutter.task == 'classification' %}pipeline.predict_proba{% else %}pipeline.predict{% endif %} on the frame. Numbers the model cannot compute with (so large
        that a scaled value overflows, say) are the client's to fix: Refused, which says so, not a 500."""
        hint = "send values in the range of the training data"
        try:
            with np.errstate(over="ignore", invalid="ignore"):  # an overflow is reported by the check below
                output = self.pipeline.{{ 'predict_proba' if cookiecutter.task == 'classification' else 'predict' }}(frame)
        except ValueError as error:  # scikit-learn's check of its input: "Input X contains infinity ..."
            raise Refused("unusable_values", f"the model cannot use these values ({error}): {hint}") from None
        finite = np.isfinite(output.reshape(len(frame), -1)).all(axis=1)
        if not finite.all():
            raise Refused("unusable_values", f"the prediction is not a finite number: {hint}", int(finite.argmin()))
        return output


def read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def load(model_path: Path, schema_path: Path, metrics_path: Path, info_path: Path) -> LoadedModel | None:
    """The pipeline train.py saved and the contract it was trained under, or None (logging why)."""
    for path, variable in ((model_path, "MODEL_PATH"), (schema_path, "SCHEMA_PATH")):
        if not path.exists():
            logger.warning("no %s: run `dvc repro` or `dvc pull`, or set %s", path, variable)
            return None
    pipeline = joblib.load(model_path)  # a pickle: load only files this project's pipeline wrote
    with model_path.open("rb") as file:
        version = hashlib.file_digest(file, "md5").hexdigest()
    features = list(pipeline.feature_names_in_)
    # Columns the contract lists but the model does not use (data.drop_columns) may be sent; they are ignored.
    rules = contract.load(schema_path)
    if unknown := [name for name in features if name not in rules["columns"]]:
        logger.warning(
            "%s has no rule for the model's feature '%s': run `make schema`, then `dvc repro`", schema_path, unknown[0]
        )
        return None
    return LoadedModel(pipeline, model_path, version, features, rules, read_json(metrics_path), read_json(info_path))


def load_from_environment() -> LoadedModel | None:
    """The model at the paths files.py gives (the environment's, else the defaults)."""
    return load(*files.from_environment())
