"""What the serving app tells Prometheus, at /metrics.

- HTTP, by prometheus-fastapi-instrumentator: `http_requests_total` by route (`handler`), method and exact
  status code (a 422 shows as 422, not 4xx), and `http_request_duration_seconds` by route, with buckets
  fine enough around the p99 budget (params.yaml monitoring.p99_latency_ms) for the alert on it.
- The model: {% if cookiecutter.task == 'classification' %}`model_predictions_total` by predicted class and `model_prediction_confidence`
  (the probability of the predicted class){% else %}`model_predicted_value`, a histogram of the predicted values{% endif %}, per record; `predict_rejected_total` by
  reason (REASONS); `model_info`, always 1, whose labels say which model is served.

Labels hold only route templates, class names, model lineage and the fixed REASONS, never a value a
client sent: a client can neither create new time series nor see its data in a dashboard.

Several worker processes in one container (WEB_CONCURRENCY > 1, see the Dockerfile) each count on their
own; with PROMETHEUS_MULTIPROC_DIR set before start, prometheus-client keeps the counts in files there and
/metrics adds up every worker's.
"""

{% if cookiecutter.task == 'classification' -%}
from collections import Counter as Tally

{% endif -%}
from prometheus_client import {% if cookiecutter.task == 'regression' %}REGISTRY, {% endif %}Counter, Gauge, Histogram
from prometheus_fastapi_instrumentator import Instrumentator

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 10)
# Why /predict refused a request: the outcome of the checks in records.py and model.py, never the value sent.
REASONS = (
    "missing_field",  # a feature is not in the record
    "unknown_field",  # a field the contract does not know
    "wrong_type",  # text in a number field, a number in a category field, inf or NaN
    "out_of_range",  # a number outside the contract's min/max
    "unknown_category",  # a category the contract does not list
    "empty_batch",  # no records
    "too_many_records",  # more than records.MAX_RECORDS in one request
    "unusable_values",  # values the contract allows but the model cannot compute with
    "malformed_body",  # not the JSON shape /predict takes (FastAPI's own check)
)

REJECTED = Counter("predict_rejected_total", "Requests /predict refused before the model ran, by reason", ["reason"])
for _reason in REASONS:  # every reason shows from the start, at 0: rate() needs the series before the first one
    REJECTED.labels(_reason)
# Gauges need a rule for adding up workers: every worker serves the same model, so "max" shows it once.
MODEL_INFO = Gauge(
    "model_info",
    "The served model (always 1): its md5 as in dvc.lock, MLflow run, registry version and git commit",
    ["model_version", "mlflow_run_id", "registered_model", "registered_version", "git_commit"],
    multiprocess_mode="max",
)
{%- if cookiecutter.task == 'classification' %}
PREDICTIONS = Counter("model_predictions_total", "Records predicted, by predicted class", ["predicted_class"])
CONFIDENCE = Histogram(
    "model_prediction_confidence",
    "Probability the model gave the class it predicted, per record",
    buckets=(0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0),
)
{%- else %}
# Created when the model is loaded: the buckets come from the data contract's range of the target.
_predicted_values: dict[tuple[float, ...], Histogram] = {}
{%- endif %}


def instrument(app) -> None:
    """Count and time every request but the scrapes themselves, and serve /metrics."""
    Instrumentator(should_group_status_codes=False, excluded_handlers=["/metrics"]).instrument(
        app, latency_lowr_buckets=LATENCY_BUCKETS
    ).expose(app)


def model_loaded(version: str, info: dict, {% if cookiecutter.task == 'classification' %}classes: list[str]{% else %}target_rule: dict{% endif %}) -> None:
    """Say which model is served{% if cookiecutter.task == 'classification' %}, and show every class at 0 before its first prediction{% else %}, and make the histogram of its predictions{% endif %}."""
    registered = info.get("model_version")
    MODEL_INFO.clear()  # one model per server: a restart in the same process (the tests) replaces it
    MODEL_INFO.labels(
        model_version=version,
        mlflow_run_id=info.get("run_id") or "",
        registered_model=info.get("model_name") or "",
        registered_version="" if registered is None else str(registered),
        git_commit=info.get("git_commit") or "",
    ).set(1)
{%- if cookiecutter.task == 'classification' %}
    for name in classes:
        PREDICTIONS.labels(name)
{%- else %}
    buckets = value_buckets(target_rule.get("min"), target_rule.get("max"))
    if buckets not in _predicted_values:  # a restart in the same process (the tests) with another range
        for old in _predicted_values.values():
            REGISTRY.unregister(old)
        _predicted_values.clear()
        _predicted_values[buckets] = Histogram(
            "model_predicted_value", "Predicted values, per record", buckets=buckets or Histogram.DEFAULT_BUCKETS
        )
{%- endif %}
{%- if cookiecutter.task == 'regression' %}


def value_buckets(low: float | None, high: float | None, bins: int = 10) -> tuple[float, ...]:
    """Bucket edges at tenths of the target's range in the data contract (3 significant digits, so the
    labels read well); empty when the contract gives no range. alerts.py computes the same edges."""
    if low is None or high is None or not high > low:
        return ()
    return tuple(float(f"{low + (high - low) * step / bins:.3g}") for step in range(bins + 1))
{%- endif %}


def observe({% if cookiecutter.task == 'classification' %}predicted: list, confidence: list[float]{% else %}predicted: list[float]{% endif %}) -> None:
    """Count the records of one answered request."""
{%- if cookiecutter.task == 'classification' %}
    for name, count in Tally(map(str, predicted)).items():
        PREDICTIONS.labels(name).inc(count)
    for probability in confidence:
        CONFIDENCE.observe(probability)
{%- else %}
    for histogram in _predicted_values.values():
        for value in predicted:
            histogram.observe(value)
{%- endif %}


def rejected(reason: str) -> None:
    REJECTED.labels(reason if reason in REASONS else "malformed_body").inc()
