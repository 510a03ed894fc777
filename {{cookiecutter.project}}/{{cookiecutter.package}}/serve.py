"""Serve the trained model over HTTP: /health, /predict, /metadata, /metrics (interactive docs at /docs).

Run locally with `make serve`; the Dockerfile runs the same app. Read once, when the server starts:
- the model DVC produced (`dvc repro` or `dvc pull`): MODEL_PATH, default models/model.joblib;
- the data contract the model was trained under: SCHEMA_PATH, default data/schema.yaml. Every record is
  checked against it as the validate stage checks the raw data: types, ranges and listed categories;
- its training metrics, METRICS_PATH (metrics/metrics.json), and where it came from (MLflow run, registry
  version, git commit), MODEL_INFO_PATH (models/model_info.json): optional, shown by /metadata.
Requests that arrive together share one model call (Batcher, below): under load that is most of the
throughput.

Monitoring (README, "Serving"): /metrics for Prometheus (metrics.py), and a JSON-lines log of what the
model was asked and answered (prediction_log.py), which `make drift LOG=...` compares with the training data.
"""

import asyncio
import hashlib
import json
import logging
import math
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import joblib
import numpy as np
import pandas as pd
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from sklearn.pipeline import Pipeline

from {{ cookiecutter.package }} import contract, metrics, prediction_log

MAX_RECORDS = 10_000  # per /predict request; send bigger batches in parts
BATCH_WINDOW_S = 0.002  # how long a lone request waits for others to share its model call
logger = logging.getLogger(__name__)


class Batcher:
    """Runs the model once for all the requests waiting for it.

    A scikit-learn pipeline takes about as long for one row as for a few hundred (a random forest spends
    most of a call dispatching its trees), so under concurrent load one call for many requests multiplies
    the throughput. The price: a request that finds no other waiting waits BATCH_WINDOW_S for company.
    """

    def __init__(self, method: Callable[[pd.DataFrame], np.ndarray]):
        self.method = method  # pipeline.predict or predict_proba
        self.queue: asyncio.Queue[tuple[pd.DataFrame, asyncio.Future]] = asyncio.Queue()

    async def predict(self, frame: pd.DataFrame) -> np.ndarray:
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((frame, future))
        return await future

    async def run(self) -> None:
        """Serve the queue until cancelled (the app's lifespan starts and stops it)."""
        while True:
            batch = [await self.queue.get()]
            if self.queue.empty():
                await asyncio.sleep(BATCH_WINDOW_S)
            rows = len(batch[0][0])
            while not self.queue.empty() and rows < MAX_RECORDS:
                batch.append(self.queue.get_nowait())
                rows += len(batch[-1][0])
            try:
                results = await asyncio.to_thread(self.compute, [frame for frame, _ in batch])
            except Exception as error:  # every waiting request gets the error: none hangs
                results = [error] * len(batch)
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():  # the client went away
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    def compute(self, frames: list[pd.DataFrame]) -> list[np.ndarray | Exception]:
        """One model call for all frames. If it fails, one call per frame: each request gets its own error."""
        if len(frames) > 1:
            try:
                output = model_output(self.method, pd.concat(frames, ignore_index=True))
                return np.split(output, np.cumsum([len(frame) for frame in frames])[:-1])
            except Exception:  # found out below, request by request
                pass
        results: list[np.ndarray | Exception] = []
        for frame in frames:
            try:
                results.append(model_output(self.method, frame))
            except Exception as error:  # raised in that request's handler
                results.append(error)
        return results


@dataclass(frozen=True)
class LoadedModel:
    pipeline: Pipeline
    path: Path
    version: str  # md5 of the file: the same hash dvc.lock records for it
    features: list[str]  # the training columns, in order
    rules: dict[str, dict]  # the data contract's rule for every column a client may send
    metrics: dict[str, float]
    info: dict  # models/model_info.json: MLflow run, registry version, git commit ({} when absent)
    batcher: Batcher


def read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def load_model(model_path: Path, schema_path: Path, metrics_path: Path, info_path: Path) -> LoadedModel | None:
    """Load the pipeline train.py saved and the contract it was trained under, or return None (and log why)."""
    for path, variable in ((model_path, "MODEL_PATH"), (schema_path, "SCHEMA_PATH")):
        if not path.exists():
            logger.warning("no %s: run `dvc repro` or `dvc pull`, or set %s", path, variable)
            return None
    pipeline = joblib.load(model_path)  # a pickle: load only files this project's pipeline wrote
    with model_path.open("rb") as file:
        version = hashlib.file_digest(file, "md5").hexdigest()
    features = list(pipeline.feature_names_in_)
    # Columns the contract lists but the model does not use (data.drop_columns) may be sent; they are ignored.
    rules = contract.load(schema_path)["columns"]
    if unknown := [name for name in features if name not in rules]:
        logger.warning(
            "%s has no rule for the model's feature '%s': run `make schema`, then `dvc repro`", schema_path, unknown[0]
        )
        return None
    batcher = Batcher(pipeline.{{ 'predict_proba' if cookiecutter.task == 'classification' else 'predict' }})
    return LoadedModel(
        pipeline, model_path, version, features, rules, read_json(metrics_path), read_json(info_path), batcher
    )


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    schema_path = Path(os.environ.get("SCHEMA_PATH", "data/schema.yaml"))
    model = load_model(
        Path(os.environ.get("MODEL_PATH", "models/model.joblib")),
        schema_path,
        Path(os.environ.get("METRICS_PATH", "metrics/metrics.json")),
        Path(os.environ.get("MODEL_INFO_PATH", "models/model_info.json")),
    )
    app.state.model = model
    if model:
{%- if cookiecutter.task == 'classification' %}
        metrics.model_loaded(model.version, model.info, classes=list(map(str, model.pipeline.classes_)))
{%- else %}
        metrics.model_loaded(model.version, model.info, target_rule=contract.load(schema_path)["target"])
{%- endif %}
    log = app.state.prediction_log = prediction_log.from_environment()
    batcher = asyncio.create_task(model.batcher.run()) if model else None
    yield
    if batcher:
        batcher.cancel()
    if log:
        log.close()  # writes the lines still queued


app = FastAPI(title="{{ cookiecutter.project }}", lifespan=lifespan)
metrics.instrument(app)  # adds a middleware, so here, before the app starts


@app.exception_handler(RequestValidationError)
async def count_refusals(request: Request, error: RequestValidationError):
    """Count each refused /predict request by its reason (the `type` invalid() gives), then answer as
    FastAPI does. FastAPI's own check of the body's shape has other types: malformed_body."""
    if request.url.path == "/predict":
        metrics.rejected(error.errors()[0]["type"] if error.errors() else "")
    return await request_validation_exception_handler(request, error)


def loaded_model(request: Request) -> LoadedModel:
    """The model the lifespan loaded; 503 while there is none."""
    if request.app.state.model is None:
        raise HTTPException(503, "no model loaded: see the server log")
    return request.app.state.model


ModelDep = Annotated[LoadedModel, Depends(loaded_model)]


def the_prediction_log(request: Request) -> prediction_log.PredictionLog | None:
    return request.app.state.prediction_log


LogDep = Annotated[prediction_log.PredictionLog | None, Depends(the_prediction_log)]
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
    model_version: str  # md5 of the model file, as in dvc.lock
    metrics: dict[str, float]
    features: dict[str, Literal["number", "category"]]
    git_commit: str | None  # the commit the model was trained from
    mlflow_run_id: str | None
    registered_model: str | None  # name and version in the MLflow Model Registry
    registered_version: str | None


def invalid(reason: str, message: str, *where: int | str) -> RequestValidationError:
    """A 422 in the same shape as FastAPI's own: loc says which record and field, type why (one of
    metrics.REASONS: /metrics counts refusals by it)."""
    return RequestValidationError([{"type": reason, "loc": ("body", "records", *where), "msg": message}])


class Refused(ValueError):
    """A value the contract does not allow; reason is one of metrics.REASONS."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def as_number(value: Value) -> float:
    """A value of a numeric field as a float, NaN for null; ValueError unless it is a finite number or
    the text of one."""
    if value is None:
        return math.nan
    try:
        number = float(value)
    except OverflowError:  # an integer too large for a float
        number = math.inf
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not finite")
    return number


def as_category(value: Value) -> str | None:
    """A value of a category field as text, as the pipeline read it from the CSV; None for null."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):  # a code sent as a number: 75001
        return str(value)
    raise ValueError("must be text")


def checked(value: Value, rule: dict) -> float | str | None:
    """The value in the form the pipeline takes, or Refused saying which rule of the contract it breaks.
    A null is a gap, which the pipeline imputes (max_missing is a rule for whole datasets, not a record)."""
    if rule["type"] == "number":
        try:
            number = as_number(value)
        except ValueError:
            raise Refused("wrong_type", "must be a finite number") from None
        low, high = rule.get("min"), rule.get("max")
        if (low is not None and number < low) or (high is not None and number > high):
            raise Refused("out_of_range", f"must be between {low} and {high} (data/schema.yaml)")
        return number
    try:
        text = as_category(value)
    except ValueError as error:
        raise Refused("wrong_type", str(error)) from None
    if text is not None and rule.get("categories") is not None and text not in rule["categories"]:
        categories = ", ".join(map(str, rule["categories"]))
        raise Refused("unknown_category", f"must be one of {categories} (data/schema.yaml)")
    return text


def to_frame(records: list[dict[str, Value]], model: LoadedModel) -> pd.DataFrame:
    """The records as the table the pipeline was trained on; refuse missing or unknown fields and values
    the data contract does not allow, naming the record and the field."""
    if not records:
        raise invalid("empty_batch", "records is empty: send at least one record")
    if len(records) > MAX_RECORDS:
        metrics.rejected("too_many_records")  # a 413, which the 422 handler above does not see
        raise HTTPException(413, f"{len(records)} records: send at most {MAX_RECORDS} per request")
    columns: dict[str, list] = {name: [] for name in model.features}
    for index, record in enumerate(records):
        if missing := [name for name in model.features if name not in record]:
            message = f"missing field '{missing[0]}' (send null for an unknown value)"
            raise invalid("missing_field", message, index, missing[0])
        if unknown := sorted(record.keys() - model.rules.keys()):
            features = ", ".join(model.features)
            message = f"unknown field '{unknown[0]}'; the model's features are: {features}"
            raise invalid("unknown_field", message, index, unknown[0])
        for name in model.features:
            try:
                columns[name].append(checked(record[name], model.rules[name]))
            except Refused as error:
                raise invalid(error.reason, f"field '{name}' {error}, got {record[name]!r}", index, name) from None
    return pd.DataFrame(columns, columns=model.features)


def model_output(method: Callable[[pd.DataFrame], np.ndarray], frame: pd.DataFrame) -> np.ndarray:
    """pipeline.predict or predict_proba on the frame. Numbers the model cannot compute with (so large
    that a scaled value overflows, say) are the client's to fix: a 422 that says so, not a 500."""
    hint = "send values in the range of the training data"
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow is reported by the check below
            output = method(frame)
    except ValueError as error:  # scikit-learn's check of its input: "Input X contains infinity ..."
        raise invalid("unusable_values", f"the model cannot use these values ({error}): {hint}") from None
    finite = np.isfinite(output.reshape(len(frame), -1)).all(axis=1)
    if not finite.all():
        raise invalid("unusable_values", f"the prediction is not a finite number: {hint}", int(finite.argmin()))
    return output


@app.get("/health")
def health(model: ModelDep) -> Health:
    """200 once the model is loaded; 503 until then."""
    return Health(status="ok")


@app.post("/predict")
async def predict(request: PredictRequest, model: ModelDep, log: LogDep) -> Prediction:
{%- if cookiecutter.task == 'classification' %}
    """The predicted class of each record, with the probability of every class."""
    start = time.perf_counter()
    frame = await run_in_threadpool(to_frame, request.records, model)
    probabilities = await model.batcher.predict(frame)
    classes = model.pipeline.classes_
    predicted = classes[probabilities.argmax(axis=1)].tolist()  # what predict() returns, without a second pass
    confidence = probabilities.max(axis=1).tolist()
    metrics.observe(predicted, confidence)
    if log:
        latency_ms = (time.perf_counter() - start) * 1000
        log.write(model.version, latency_ms, frame, predictions=predicted, confidence=confidence)
    return Prediction(
        predictions=predicted,
        probabilities=[dict(zip(map(str, classes), row, strict=True)) for row in probabilities.tolist()],
        model_version=model.version,
    )
{%- else %}
    """The predicted value of each record."""
    start = time.perf_counter()
    frame = await run_in_threadpool(to_frame, request.records, model)
    predicted = (await model.batcher.predict(frame)).tolist()
    metrics.observe(predicted)
    if log:
        log.write(model.version, (time.perf_counter() - start) * 1000, frame, predictions=predicted)
    return Prediction(predictions=predicted, model_version=model.version)
{%- endif %}


@app.get("/metadata")
def metadata(model: ModelDep) -> Metadata:
    """The model file and version, its training metrics, the feature columns it expects, and where it came
    from: the git commit, MLflow run and registry version (null when models/model_info.json is absent)."""
    info = model.info
    version = info.get("model_version")
    return Metadata(
        model_path=str(model.path),
        model_version=model.version,
        metrics=model.metrics,
        features={name: model.rules[name]["type"] for name in model.features},
        git_commit=info.get("git_commit"),
        mlflow_run_id=info.get("run_id"),
        registered_model=info.get("model_name"),
        registered_version=None if version is None else str(version),
    )
