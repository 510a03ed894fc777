"""Quality gates for the model `dvc repro` produced; the thresholds are in params.yaml (evaluate)."""

import json
import time
from pathlib import Path

import joblib
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from {{ cookiecutter.package }} import params
from {{ cookiecutter.package }}.dataset import read_features_target
from {{ cookiecutter.package }}.stages import train

PROJECT_ROOT = Path(__file__).resolve().parents[1]
MODEL = PROJECT_ROOT / "models" / "model.joblib"
PREPARED = PROJECT_ROOT / "data" / "prepared"
METRICS = PROJECT_ROOT / "metrics" / "metrics.json"
DETERMINISM_ROWS = 2_000  # enough to show two fits agree, small enough to stay quick
LATENCY_RUNS = 5


def require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path.relative_to(PROJECT_ROOT)} is not here: run `dvc repro` (or `dvc pull`) first")
    return path


@pytest.fixture(scope="module")
def project_params() -> params.Params:
    return params.load(PROJECT_ROOT / "params.yaml")


@pytest.fixture(scope="module")
def model():
    return joblib.load(require(MODEL))


@pytest.fixture(scope="module")
def test_set(project_params):
    return read_features_target(require(PREPARED / "test.parquet"), project_params.data)


def test_primary_metric_meets_its_threshold(project_params):
    gate = project_params.evaluate
    metrics = json.loads(require(METRICS).read_text())
    assert metrics[gate.primary_metric] >= gate.min_primary_metric, (
        f"{gate.primary_metric} = {metrics[gate.primary_metric]} is below evaluate.min_primary_metric"
    )


def test_two_fits_with_the_same_seed_predict_identically(project_params, test_set):
    features, target = read_features_target(require(PREPARED / "train.parquet"), project_params.data)
    features, target = features.head(DETERMINISM_ROWS), target.head(DETERMINISM_ROWS)
    first = train.make_model(project_params.train).fit(features, target)
    second = train.make_model(project_params.train).fit(features, target)
    np.testing.assert_array_equal(first.predict(test_set[0]), second.predict(test_set[0]))


def test_predicting_1000_rows_is_within_the_latency_budget(project_params, model, test_set):
    """Measures what the model costs, not what the machine's other work costs: the CPU time of this
    process (not the wall clock, which grows when other programs share the cores), on one thread (so
    idle threads waiting for a busy core add nothing), best of several runs."""
    rows = test_set[0].sample(n=1000, replace=True, random_state=0)
    budget = project_params.evaluate.max_latency_ms_per_1000_rows
    with threadpool_limits(limits=1):
        model.predict(rows)  # warm up
        best = min(cpu_seconds(model.predict, rows) for _ in range(LATENCY_RUNS))
    assert best * 1000 <= budget, (
        f"predicting 1000 rows takes {best * 1000:.0f} ms of CPU; evaluate.max_latency_ms_per_1000_rows is {budget}"
    )


def cpu_seconds(function, argument) -> float:
    start = time.process_time()
    function(argument)
    return time.process_time() - start
{%- if cookiecutter.task == 'classification' %}


def test_predictions_are_training_classes_with_probabilities_summing_to_one(model, test_set):
    features, _ = test_set
    predictions = model.predict(features)
    probabilities = model.predict_proba(features)
    assert set(np.unique(predictions)) <= set(model.classes_)
    assert not np.isnan(probabilities).any()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-9)
{%- else %}


def test_predictions_are_finite_numbers(model, test_set):
    features, _ = test_set
    predictions = np.asarray(model.predict(features), dtype=float)
    assert len(predictions) == len(features)
    assert np.isfinite(predictions).all()
{%- endif %}
