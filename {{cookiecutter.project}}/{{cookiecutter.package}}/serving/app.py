"""Serve the trained model over HTTP: /health, /predict, /metadata, /metrics (interactive docs at /docs).

Run locally with `make serve`; the Dockerfile runs the same app. The model, its data contract and its
lineage are read once, when the server starts (model.py); every record sent is checked against the
contract (records.py), and requests that arrive together share one model call (batching.py).

Monitoring (README, "Serving"): /metrics for Prometheus (metrics.py), and a JSON-lines log of what the
model was asked and answered (prediction_log.py), which `make drift LOG=...` compares with the training data.
"""

import asyncio
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from {{ cookiecutter.package }}.serving import metrics, model, prediction_log, records
from {{ cookiecutter.package }}.serving.batching import RequestBatcher
from {{ cookiecutter.package }}.serving.records import Value


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    loaded = app.state.model = model.load_from_environment()
    batcher = None
    if loaded:
{%- if cookiecutter.task == 'classification' %}
        metrics.model_loaded(loaded.version, loaded.info, classes=list(map(str, loaded.pipeline.classes_)))
{%- else %}
        metrics.model_loaded(loaded.version, loaded.info, target_rule=loaded.contract["target"])
{%- endif %}
        # PREDICT_BATCHING=off: one model call per request (benchmarks/serving.py compares the two).
        if os.environ.get("PREDICT_BATCHING") == "off":
            app.state.predict = lambda frame: run_in_threadpool(loaded.output, frame)
        else:
            app.state.predict = (batcher := RequestBatcher(loaded.output)).predict
    log = app.state.prediction_log = prediction_log.from_environment()
    running = asyncio.create_task(batcher.run()) if batcher else None
    yield
    if running:
        running.cancel()
    if log:
        log.close()  # writes the lines still queued


app = FastAPI(title="{{ cookiecutter.project }}", lifespan=lifespan)
metrics.instrument(app)  # adds a middleware, so here, before the app starts


@app.exception_handler(RequestValidationError)
async def count_malformed(request: Request, error: RequestValidationError):
    """FastAPI's own check of the body's shape: counted as malformed_body, answered as FastAPI does."""
    if request.url.path == "/predict":
        metrics.rejected("malformed_body")
    return await request_validation_exception_handler(request, error)


@app.exception_handler(records.Refused)
async def count_refusals(request: Request, error: records.Refused):
    """A record the contract does not allow: counted by its reason, answered in FastAPI's 422 shape."""
    metrics.rejected(error.reason)
    return await request_validation_exception_handler(request, RequestValidationError([error.detail()]))


def loaded_model(request: Request) -> model.LoadedModel:
    """The model the lifespan loaded; 503 while there is none."""
    if request.app.state.model is None:
        raise HTTPException(503, "no model loaded: see the server log")
    return request.app.state.model


ModelDep = Annotated[model.LoadedModel, Depends(loaded_model)]


def the_prediction_log(request: Request) -> prediction_log.PredictionLog | None:
    return request.app.state.prediction_log


LogDep = Annotated[prediction_log.PredictionLog | None, Depends(the_prediction_log)]


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


@app.get("/health")
def health(loaded: ModelDep) -> Health:
    """200 once the model is loaded; 503 until then."""
    return Health(status="ok")


@app.post("/predict")
async def predict(request: Request, body: PredictRequest, loaded: ModelDep, log: LogDep) -> Prediction:
{%- if cookiecutter.task == 'classification' %}
    """The predicted class of each record, with the probability of every class."""
{%- else %}
    """The predicted value of each record."""
{%- endif %}
    start = time.perf_counter()
    if len(body.records) > records.MAX_RECORDS:
        metrics.rejected("too_many_records")
        raise HTTPException(413, f"{len(body.records)} records: send at most {records.MAX_RECORDS} per request")
    frame = await run_in_threadpool(records.to_frame, body.records, loaded.features, loaded.contract["columns"])
{%- if cookiecutter.task == 'classification' %}
    probabilities = await request.app.state.predict(frame)
    classes = loaded.pipeline.classes_
    predicted = classes[probabilities.argmax(axis=1)].tolist()  # what predict() returns, without a second pass
    confidence = probabilities.max(axis=1).tolist()
    metrics.observe(predicted, confidence)
    if log:
        latency_ms = (time.perf_counter() - start) * 1000
        log.write(loaded.version, latency_ms, frame, predictions=predicted, confidence=confidence)
    return Prediction(
        predictions=predicted,
        probabilities=[dict(zip(map(str, classes), row, strict=True)) for row in probabilities.tolist()],
        model_version=loaded.version,
    )
{%- else %}
    predicted = (await request.app.state.predict(frame)).tolist()
    metrics.observe(predicted)
    if log:
        log.write(loaded.version, (time.perf_counter() - start) * 1000, frame, predictions=predicted)
    return Prediction(predictions=predicted, model_version=loaded.version)
{%- endif %}


@app.get("/metadata")
def metadata(loaded: ModelDep) -> Metadata:
    """The model file and version, its training metrics, the feature columns it expects, and where it came
    from: the git commit, MLflow run and registry version (null when models/model_info.json is absent)."""
    info = loaded.info
    version = info.get("model_version")
    return Metadata(
        model_path=str(loaded.path),
        model_version=loaded.version,
        metrics=loaded.metrics,
        features={name: loaded.contract["columns"][name]["type"] for name in loaded.features},
        git_commit=info.get("git_commit"),
        mlflow_run_id=info.get("run_id"),
        registered_model=info.get("model_name"),
        registered_version=None if version is None else str(version),
    )
