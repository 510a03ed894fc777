import asyncio
import hashlib
import json
import warnings

import joblib
import numpy as np
import pytest
from fastapi.exceptions import RequestValidationError

from {{ cookiecutter.package }} import contract, params, serve
from {{ cookiecutter.package }}.stages import train

with warnings.catch_warnings():
    # Starlette's TestClient asks for the httpx2 package; with httpx it works the same but warns.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
    from fastapi.testclient import TestClient

# Rows as a client sends them: numbers, a number as text, gaps as null.
RECORDS = [
    {"age": 35.0, "income": 42_000.0, "city": "paris", "constant": 1.0},
    {"age": 71, "income": None, "city": None, "constant": 1},
    {"age": "58", "income": "61000.5", "city": "lyon", "constant": 1.0},
]
METRICS = {"score": 0.9}
INFO = {"run_id": "0123abcd", "model_name": "{{ cookiecutter.project }}", "model_version": 3, "git_commit": "f" * 40}


@pytest.fixture
def model_file(tmp_path, mixed_table):
    """A small model fitted by the project's own train code, saved like the train stage saves it."""
    model = train.make_model(params.Train(model="{{ cookiecutter.model }}", seed=0, hyperparams={}))
    model.fit(mixed_table.drop(columns="label"), mixed_table["label"])
    path = tmp_path / "model.joblib"
    joblib.dump(model, path)
    return path


@pytest.fixture
def schema_file(tmp_path, mixed_table):
    """The data contract inferred from the training table, plus a column the model never saw (as a
    column in data.drop_columns would be), and one whose categories the contract leaves open."""
    rules = contract.infer(mixed_table.assign(customer_id=[f"C{row}" for row in range(len(mixed_table))]), "label")
    rules["columns"]["customer_id"]["categories"] = None
    path = tmp_path / "schema.yaml"
    contract.write(rules, path, "mixed_table", len(mixed_table))
    return path


@pytest.fixture
def client(model_file, schema_file, tmp_path, monkeypatch):
    metrics_file, info_file = tmp_path / "metrics.json", tmp_path / "model_info.json"
    metrics_file.write_text(json.dumps(METRICS))
    info_file.write_text(json.dumps(INFO))
    monkeypatch.setenv("MODEL_PATH", str(model_file))
    monkeypatch.setenv("SCHEMA_PATH", str(schema_file))
    monkeypatch.setenv("METRICS_PATH", str(metrics_file))
    monkeypatch.setenv("MODEL_INFO_PATH", str(info_file))
    with TestClient(serve.app) as client:  # `with` runs the lifespan, which loads the model
        yield client


def predict(client, records):
    return client.post("/predict", json={"records": records})


def test_health_is_ok_once_the_model_is_loaded(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize("variable", ["MODEL_PATH", "SCHEMA_PATH"])
def test_health_is_503_when_the_model_or_the_contract_is_missing(
    model_file, schema_file, tmp_path, monkeypatch, variable
):
    monkeypatch.setenv("MODEL_PATH", str(model_file))
    monkeypatch.setenv("SCHEMA_PATH", str(schema_file))
    monkeypatch.setenv(variable, str(tmp_path / "missing"))
    with TestClient(serve.app) as client:
        assert client.get("/health").status_code == 503
        assert predict(client, RECORDS).status_code == 503


def test_health_is_503_when_the_contract_lacks_a_feature_of_the_model(model_file, schema_file, monkeypatch):
    rules = contract.load(schema_file)
    del rules["columns"]["income"]
    contract.write(rules, schema_file, "mixed_table", 0)
    monkeypatch.setenv("MODEL_PATH", str(model_file))
    monkeypatch.setenv("SCHEMA_PATH", str(schema_file))
    with TestClient(serve.app) as client:
        assert client.get("/health").status_code == 503


def test_predict_answers_every_record(client, model_file, mixed_table):
    response = predict(client, RECORDS)
    assert response.status_code == 200
    body = response.json()
    assert len(body["predictions"]) == len(RECORDS)
    assert body["model_version"] == hashlib.md5(model_file.read_bytes()).hexdigest()
{%- if cookiecutter.task == 'classification' %}
    classes = set(mixed_table["label"])
    assert set(body["predictions"]) <= classes
    assert len(body["probabilities"]) == len(RECORDS)
    for probabilities in body["probabilities"]:
        assert set(probabilities) == classes
        assert sum(probabilities.values()) == pytest.approx(1, abs=1e-6)
{%- else %}
    assert all(isinstance(value, float) for value in body["predictions"])
    assert "probabilities" not in body
{%- endif %}


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({name: value for name, value in RECORDS[0].items() if name != "income"}, "income"),
        ({**RECORDS[0], "incomme": 1.0}, "incomme"),
        ({**RECORDS[0], "age": "forty"}, "age"),
        ({**RECORDS[0], "age": 150}, "age"),
        ({**RECORDS[0], "city": "marseille"}, "city"),
        ({**RECORDS[0], "city": 2.5}, "city"),
    ],
    ids=["missing", "unknown", "not-a-number", "out-of-range", "unknown-category", "category-not-text"],
)
def test_bad_field_is_refused_naming_it(client, record, field):
    response = predict(client, [RECORDS[0], record])
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "records", 1, field]
    assert f"'{field}'" in error["msg"]


@pytest.mark.parametrize("value", ["inf", "-Infinity", "nan", 10**400], ids=["inf", "minus-inf", "nan", "huge-int"])
def test_number_that_is_not_finite_is_refused_naming_it(client, value):
    response = predict(client, [RECORDS[0], {**RECORDS[0], "income": value}])
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "records", 1, "income"]
    assert "finite number" in error["msg"]


def test_number_too_large_for_the_model_is_a_client_error_not_a_crash(client, schema_file):
    rules = contract.load(schema_file)
    rules["columns"]["income"].update(min=None, max=None)  # a contract with no range: the model must cope
    contract.write(rules, schema_file, "mixed_table", 0)
    with TestClient(serve.app) as restarted:  # the contract is read at start
        response = predict(restarted, [{**RECORDS[0], "income": 1e308}])
    # Trees compute in float32 and refuse it (422); other models may still answer with a finite value.
    assert response.status_code in (200, 422), response.text
    if response.status_code == 422:
        assert "range of the training data" in response.json()["detail"][0]["msg"]


def test_columns_the_model_does_not_use_are_accepted_and_ignored(client):
    with_id = [{**record, "customer_id": f"C{index}"} for index, record in enumerate(RECORDS)]
    assert predict(client, with_id).json() == predict(client, RECORDS).json()


def test_empty_batch_is_refused(client):
    response = predict(client, [])
    assert response.status_code == 422
    assert "records is empty" in response.json()["detail"][0]["msg"]


def test_batch_over_the_limit_is_refused(client):
    response = predict(client, RECORDS[:1] * (serve.MAX_RECORDS + 1))
    assert response.status_code == 413
    assert str(serve.MAX_RECORDS) in response.json()["detail"]


def test_metadata_lists_the_features_metrics_and_lineage(client, model_file):
    body = client.get("/metadata").json()
    assert body["features"] == {"age": "number", "income": "number", "city": "category", "constant": "number"}
    assert body["metrics"] == METRICS
    assert body["model_path"] == str(model_file)
    assert body["git_commit"] == INFO["git_commit"]
    assert body["mlflow_run_id"] == INFO["run_id"]
    assert (body["registered_model"], body["registered_version"]) == (INFO["model_name"], "3")


def test_metadata_without_model_info_says_unknown(client, tmp_path):
    (tmp_path / "model_info.json").unlink()
    with TestClient(serve.app) as restarted:  # the file is read at start
        body = restarted.get("/metadata").json()
    assert body["git_commit"] is body["mlflow_run_id"] is body["registered_version"] is None


def test_concurrent_requests_share_one_model_call_and_each_gets_its_own_answer(model_file, schema_file, tmp_path):
    model = serve.load_model(model_file, schema_file, tmp_path / "no-metrics.json", tmp_path / "no-info.json")
    single = [serve.to_frame([record], model) for record in RECORDS]
    # The scaler refuses an infinite number: this request fails inside the model call.
    refused = serve.to_frame(RECORDS[:1], model).assign(income=float("inf"))
    calls = []

    def answer(frames):
        """What the Batcher answers each frame sent at once, and the sizes of the model calls it made."""

        def method(frame):
            calls.append(len(frame))
            return model.batcher.method(frame)

        batcher = serve.Batcher(method)

        async def send():
            runner = asyncio.create_task(batcher.run())
            try:
                return await asyncio.gather(*map(batcher.predict, frames), return_exceptions=True)
            finally:
                runner.cancel()

        calls.clear()
        return asyncio.run(send())

    answers = answer(single)
    assert calls == [len(RECORDS)]
    for frame, result in zip(single, answers, strict=True):
        np.testing.assert_allclose(result, model.batcher.method(frame))

    answers = answer([single[0], refused, single[1]])
    assert calls == [3, 1, 1, 1]  # the shared call failed: then one call per request
    assert isinstance(answers[1], RequestValidationError)
    np.testing.assert_allclose(answers[0], model.batcher.method(single[0]))
    np.testing.assert_allclose(answers[2], model.batcher.method(single[1]))
