"""Serve the trained model over HTTP: /health, /predict, /metadata (interactive docs at /docs).

Run locally with `make serve`; the Dockerfile runs the same app. The model is the file DVC produced
(`dvc repro` or `dvc pull`): MODEL_PATH, default models/model.joblib. Its training metrics come from
METRICS_PATH, default metrics/metrics.json. Both are read once, when the server starts.
"""

import hashlib
import json
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import joblib
import pandas as pd
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from sklearn.pipeline import Pipeline

MAX_RECORDS = 10_000  # per /predict request; send bigger batches in parts
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    pipeline: Pipeline
    path: Path
    version: str  # md5 of the file: the same hash dvc.lock records for it
    features: list[str]  # the training columns, in order
    numeric: list[str]  # the features the pipeline treats as numbers (the others are categories)
    metrics: dict[str, float]


def load_model(model_path: Path, metrics_path: Path) -> LoadedModel | None:
    """Load the pipeline train.py saved, or return None (and log why) when the file is not there."""
    if not model_path.exists():
        logger.warning("no model at %s: run `dvc repro` or `dvc pull`, or set MODEL_PATH", model_path)
        return None
    pipeline = joblib.load(model_path)  # a pickle: load only files this project's pipeline wrote
    with model_path.open("rb") as file:
        version = hashlib.file_digest(file, "md5").hexdigest()
    # Which columns are numbers was decided at training time by train.make_preprocessing().
    preprocess = pipeline.named_steps["preprocess"]
    numeric = next(columns for name, _, columns in preprocess.transformers_ if name == "numeric")
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    return LoadedModel(pipeline, model_path, version, list(pipeline.feature_names_in_), list(numeric), metrics)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    model_path = Path(os.environ.get("MODEL_PATH", "models/model.joblib"))
    app.state.model = load_model(model_path, Path(os.environ.get("METRICS_PATH", "metrics/metrics.json")))
    yield


app = FastAPI(title="{{ cookiecutter.project }}", lifespan=lifespan)


def loaded_model(request: Request) -> LoadedModel:
    """The model the lifespan loaded; 503 while there is none."""
    if request.app.state.model is None:
        raise HTTPException(503, "no model loaded: see the server log")
    return request.app.state.model


ModelDep = Annotated[LoadedModel, Depends(loaded_model)]
Value = str | int | float | bool | None


class Health(BaseModel):
    status: Literal["ok"]


class PredictRequest(BaseModel):
    records: list[dict[str, Value]] = Field(description="One object per row: every feature column, null for a gap")


class Prediction(BaseModel):
{%- if cookiecutter.task == 'classification' %}
    predictions: list[str | int | float | bool]  # the most likely class of each record
    probabilities: list[dict[str, float]]  # per record: class -> probability
{%- else %}
    predictions: list[float]
{%- endif %}
    model_version: str


class Metadata(BaseModel):
    model_path: str
    model_version: str
    metrics: dict[str, float]
    features: dict[str, Literal["number", "category"]]


def invalid(message: str, *where: int | str) -> RequestValidationError:
    """A 422 in the same shape as FastAPI's own: loc says which record and field."""
    return RequestValidationError([{"type": "value_error", "loc": ("body", "records", *where), "msg": message}])


def to_frame(records: list[dict[str, Value]], model: LoadedModel) -> pd.DataFrame:
    """The records as the table the pipeline was trained on; refuse missing, unknown or non-numeric fields."""
    if not records:
        raise invalid("records is empty: send at least one record")
    if len(records) > MAX_RECORDS:
        raise HTTPException(413, f"{len(records)} records: send at most {MAX_RECORDS} per request")
    expected = set(model.features)
    for index, record in enumerate(records):
        if missing := [name for name in model.features if name not in record]:
            raise invalid(f"missing field '{missing[0]}' (send null for an unknown value)", index, missing[0])
        if unknown := sorted(record.keys() - expected):
            features = ", ".join(model.features)
            raise invalid(f"unknown field '{unknown[0]}'; the model's features are: {features}", index, unknown[0])
    frame = pd.DataFrame.from_records(records, columns=model.features)
    for name in model.numeric:
        numbers = pd.to_numeric(frame[name], errors="coerce")
        if (not_numbers := numbers.isna() & frame[name].notna()).any():
            index = int(not_numbers.idxmax())
            raise invalid(f"field '{name}' must be a number, got {records[index][name]!r}", index, name)
        frame[name] = numbers
    return frame


@app.get("/health")
def health(model: ModelDep) -> Health:
    """200 once the model is loaded; 503 until then."""
    return Health(status="ok")


@app.post("/predict")
def predict(request: PredictRequest, model: ModelDep) -> Prediction:
{%- if cookiecutter.task == 'classification' %}
    """The predicted class of each record, with the probability of every class."""
    probabilities = model.pipeline.predict_proba(to_frame(request.records, model))
    classes = model.pipeline.classes_
    return Prediction(
        predictions=classes[probabilities.argmax(axis=1)].tolist(),  # what predict() returns, without a second pass
        probabilities=[dict(zip(map(str, classes), row, strict=True)) for row in probabilities.tolist()],
        model_version=model.version,
    )
{%- else %}
    """The predicted value of each record."""
    predictions = model.pipeline.predict(to_frame(request.records, model))
    return Prediction(predictions=predictions.tolist(), model_version=model.version)
{%- endif %}


@app.get("/metadata")
def metadata(model: ModelDep) -> Metadata:
    """The model file and version, its training metrics, and the feature columns it expects."""
    return Metadata(
        model_path=str(model.path),
        model_version=model.version,
        metrics=model.metrics,
        features={name: "number" if name in model.numeric else "category" for name in model.features},
    )
