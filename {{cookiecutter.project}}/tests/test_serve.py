import asyncio
import hashlib
import json
import re
import warnings

import joblib
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from {{ cookiecutter.package }} import contract, params
from {{ cookiecutter.package }}.serving import app, metrics, model, records
from {{ cookiecutter.package }}.serving.batching import RequestBatcher
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


@pytest.fixture(autouse=True)
def prediction_log(tmp_path, monkeypatch):
    """The prediction log goes to a temporary folder (default: logs/ of the project); its lines are there once
    the app has shut down (the test client's `with` block ends)."""
    folder = tmp_path / "logs"
    monkeypatch.setenv("PREDICTION_LOG", str(folder / "predictions.jsonl"))
    for name in ("PREDICTION_LOG_SAMPLE", "PREDICTION_LOG_MAX_BYTES", "PREDICTION_LOG_BACKUPS"):
        monkeypatch.delenv(name, raising=False)
    return folder


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
    with TestClient(app.app) as client:  # `with` runs the lifespan, which loads the model
        yield client


def predict(client, records):
    return client.post("/predict", json={"records": records})


def scrape(client) -> dict[tuple[str, tuple], float]:
    """/metrics as {(sample name, sorted labels): value}, read with prometheus-client's own parser."""
    response = client.get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def log_lines(folder) -> list[dict]:
    """Every line of every prediction-log file in the folder (rotated ones too), oldest file first."""
    files = sorted(folder.glob("predictions-*.jsonl*"), key=lambda path: path.stat().st_mtime)
    return [json.loads(line) for path in files for line in path.read_text().splitlines()]


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
    with TestClient(app.app) as client:
        assert client.get("/health").status_code == 503
        assert predict(client, RECORDS).status_code == 503


def test_health_is_503_when_the_contract_lacks_a_feature_of_the_model(model_file, schema_file, monkeypatch):
    rules = contract.load(schema_file)
    del rules["columns"]["income"]
    contract.write(rules, schema_file, "mixed_table", 0)
    monkeypatch.setenv("MODEL_PATH", str(model_file))
    monkeypatch.setenv("SCHEMA_PATH", str(schema_file))
    with TestClient(app.app) as client:
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


BAD_FIELDS = [
    ({name: value for name, value in RECORDS[0].items() if name != "income"}, "income", "missing_field"),
    ({**RECORDS[0], "incomme": 1.0}, "incomme", "unknown_field"),
    ({**RECORDS[0], "age": "forty"}, "age", "wrong_type"),
    ({**RECORDS[0], "age": 150}, "age", "out_of_range"),
    ({**RECORDS[0], "city": "marseille"}, "city", "unknown_category"),
    ({**RECORDS[0], "city": 2.5}, "city", "wrong_type"),
]
BAD_FIELD_IDS = ["missing", "unknown", "not-a-number", "out-of-range", "unknown-category", "category-not-text"]


@pytest.mark.parametrize(("record", "field", "reason"), BAD_FIELDS, ids=BAD_FIELD_IDS)
def test_bad_field_is_refused_naming_it_and_counted_by_reason(client, record, field, reason):
    before = scrape(client)
    response = predict(client, [RECORDS[0], record])
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "records", 1, field]
    assert f"'{field}'" in error["msg"]
    assert error["type"] == reason
    after = scrape(client)
    for name in metrics.REASONS:
        counted = value(after, "predict_rejected_total", reason=name)
        assert counted - value(before, "predict_rejected_total", reason=name) == (name == reason), name


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
    with TestClient(app.app) as restarted:  # the contract is read at start
        response = predict(restarted, [{**RECORDS[0], "income": 1e308}])
    # Trees compute in float32 and refuse it (422); other models may still answer with a finite value.
    assert response.status_code in (200, 422), response.text
    if response.status_code == 422:
        assert "range of the training data" in response.json()["detail"][0]["msg"]


def test_columns_the_model_does_not_use_are_accepted_and_ignored(client):
    with_id = [{**record, "customer_id": f"C{index}"} for index, record in enumerate(RECORDS)]
    assert predict(client, with_id).json() == predict(client, RECORDS).json()


def rejected(client, reason: str) -> float:
    return value(scrape(client), "predict_rejected_total", reason=reason)


def test_empty_batch_is_refused(client):
    before = rejected(client, "empty_batch")
    response = predict(client, [])
    assert response.status_code == 422
    assert "records is empty" in response.json()["detail"][0]["msg"]
    assert rejected(client, "empty_batch") == before + 1


def test_batch_over_the_limit_is_refused(client):
    before = rejected(client, "too_many_records")
    response = predict(client, RECORDS[:1] * (records.MAX_RECORDS + 1))
    assert response.status_code == 413
    assert str(records.MAX_RECORDS) in response.json()["detail"]
    assert rejected(client, "too_many_records") == before + 1


@pytest.mark.parametrize(
    "body", [b"not json", b'{"rows": []}', b'{"records": [1, 2]}'], ids=["text", "no-records", "not-objects"]
)
def test_body_of_the_wrong_shape_is_counted_as_malformed(client, body):
    before = rejected(client, "malformed_body")
    response = client.post("/predict", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert rejected(client, "malformed_body") == before + 1


# --- monitoring: /metrics and the prediction log --------------------------------------------------


def test_metrics_count_requests_by_route_and_exact_status(client):
    before = scrape(client)
    assert predict(client, RECORDS).status_code == 200
    assert predict(client, [{**RECORDS[0], "age": "forty"}]).status_code == 422
    after = scrape(client)
    for status in ("200", "422"):
        labels = {"handler": "/predict", "method": "POST", "status": status}
        assert value(after, "http_requests_total", **labels) == value(before, "http_requests_total", **labels) + 1
    statuses = {dict(labels).get("status") for _, labels in after}
    assert "4xx" not in statuses and "2xx" not in statuses
    latency = {"handler": "/predict", "method": "POST"}
    assert value(after, "http_request_duration_seconds_count", **latency) >= 2
    assert ("http_requests_total", (("handler", "/metrics"), ("method", "GET"), ("status", "200"))) not in after


def test_metrics_say_which_model_is_served(client, model_file):
    samples = scrape(client)
    (info,) = [dict(labels) for name, labels in samples if name == "model_info"]
    assert info == {
        "model_version": hashlib.md5(model_file.read_bytes()).hexdigest(),
        "mlflow_run_id": INFO["run_id"],
        "registered_model": INFO["model_name"],
        "registered_version": "3",
        "git_commit": INFO["git_commit"],
    }
{%- if cookiecutter.task == 'classification' %}


def test_metrics_count_predictions_by_class_with_their_confidence(client, mixed_table):
    before = scrape(client)
    body = predict(client, RECORDS * 4).json()
    after = scrape(client)
    for name in set(mixed_table["label"]):  # every class is shown, predicted or not
        assert ("model_predictions_total", (("predicted_class", name),)) in after
        counted = value(after, "model_predictions_total", predicted_class=name)
        counted -= value(before, "model_predictions_total", predicted_class=name)
        assert counted == body["predictions"].count(name)
    confidence = [max(probabilities.values()) for probabilities in body["probabilities"]]
    count = value(after, "model_prediction_confidence_count") - value(before, "model_prediction_confidence_count")
    total = value(after, "model_prediction_confidence_sum") - value(before, "model_prediction_confidence_sum")
    assert count == len(RECORDS) * 4
    assert total == pytest.approx(sum(confidence))
{%- else %}


def test_metrics_histogram_of_predicted_values_spans_the_targets_range(client, schema_file):
    target = contract.load(schema_file)["target"]
    before = scrape(client)
    body = predict(client, RECORDS * 4).json()
    after = scrape(client)
    labels = {float(le): le for name, key in after if name == "model_predicted_value_bucket" for _, le in key}
    edges = sorted(labels)
    assert edges[0] == pytest.approx(target["min"], rel=1e-2) and edges[-2] == pytest.approx(target["max"], rel=1e-2)
    assert edges[-1] == float("inf") and len(edges) == 12
    count = value(after, "model_predicted_value_count") - value(before, "model_predicted_value_count")
    assert count == len(RECORDS) * 4
    for edge, le in labels.items():  # each bucket counts the predictions at or below its edge
        counted = value(after, "model_predicted_value_bucket", le=le)
        counted -= value(before, "model_predicted_value_bucket", le=le)
        assert counted == sum(prediction <= edge for prediction in body["predictions"])
{%- endif %}


MARKER = "zz-private-value"


def test_labels_never_carry_what_a_client_sent(client):
    predict(client, [{**RECORDS[0], MARKER: 1.0}])  # an unknown field
    predict(client, [{**RECORDS[0], "city": MARKER}])  # an unknown category
    predict(client, [{**RECORDS[0], "age": 987654.321}])  # out of range
    client.post("/predict", content=MARKER.encode(), headers={"Content-Type": "application/json"})
    client.get(f"/{MARKER}")  # a route that does not exist
    client.get(f"/metadata?{MARKER}=1")
    text = client.get("/metrics").text
    assert MARKER not in text and "987654" not in text
    handlers = set(re.findall(r'handler="([^"]*)"', text))
    assert handlers <= {"/predict", "/health", "/metadata", "none"}, handlers


def test_prediction_log_has_one_line_per_answered_request_with_the_validated_inputs(
    model_file, schema_file, monkeypatch, prediction_log
):
    monkeypatch.setenv("MODEL_PATH", str(model_file))
    monkeypatch.setenv("SCHEMA_PATH", str(schema_file))
    with TestClient(app.app) as client:
        answers = [predict(client, RECORDS).json(), predict(client, RECORDS[:1]).json()]
        assert predict(client, [{**RECORDS[0], "city": MARKER}]).status_code == 422
        assert client.post("/predict", content=MARKER.encode()).status_code == 422
    lines = log_lines(prediction_log)
    assert len(lines) == 2
    first = lines[0]
    assert set(first) == {"ts", "model_version", "latency_ms", "inputs", "predictions"{% if cookiecutter.task == 'classification' %}, "confidence"{% endif %}}
    assert first["model_version"] == hashlib.md5(model_file.read_bytes()).hexdigest()
    assert first["latency_ms"] > 0 and re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", first["ts"])
    # The values as the model took them: "58" is 58.0, null stays null, the columns are the model's features.
    assert first["inputs"] == [
        {"age": 35.0, "income": 42000.0, "city": "paris", "constant": 1.0},
        {"age": 71.0, "income": None, "city": None, "constant": 1.0},
        {"age": 58.0, "income": 61000.5, "city": "lyon", "constant": 1.0},
    ]
    assert [line["predictions"] for line in lines] == [answer["predictions"] for answer in answers]
{%- if cookiecutter.task == 'classification' %}
    assert first["confidence"] == pytest.approx([max(p.values()) for p in answers[0]["probabilities"]])
{%- endif %}
    assert not [path for path in prediction_log.iterdir() if MARKER in path.read_text()]  # refused: never logged


@pytest.mark.parametrize(("rate", "low", "high"), [("0", 0, 0), ("0.5", 60, 140), ("1", 200, 200)])
def test_prediction_log_keeps_the_sampled_share_of_requests(
    model_file, schema_file, monkeypatch, prediction_log, rate, low, high
):
    monkeypatch.setenv("MODEL_PATH", str(model_file))
    monkeypatch.setenv("SCHEMA_PATH", str(schema_file))
    monkeypatch.setenv("PREDICTION_LOG_SAMPLE", rate)
    with TestClient(app.app) as client:
        for _ in range(200):
            assert predict(client, RECORDS[:1]).status_code == 200
    assert low <= len(log_lines(prediction_log)) <= high


def test_prediction_log_is_rotated_at_its_size_cap(model_file, schema_file, monkeypatch, prediction_log):
    monkeypatch.setenv("MODEL_PATH", str(model_file))
    monkeypatch.setenv("SCHEMA_PATH", str(schema_file))
    monkeypatch.setenv("PREDICTION_LOG_MAX_BYTES", "3000")
    monkeypatch.setenv("PREDICTION_LOG_BACKUPS", "2")
    with TestClient(app.app) as client:
        for _ in range(60):
            predict(client, RECORDS)
    files = sorted(path.name for path in prediction_log.iterdir())
    (current,) = [name for name in files if name.endswith(".jsonl")]
    assert files == [current, f"{current}.1", f"{current}.2"]  # one file per process: its pid in the name
    assert all((prediction_log / name).stat().st_size <= 3000 for name in files)
    assert 0 < len(log_lines(prediction_log)) < 60  # the oldest lines are gone, every kept line parses


def test_prediction_log_can_go_to_stdout_or_be_off(model_file, schema_file, monkeypatch, prediction_log, capsys):
    monkeypatch.setenv("MODEL_PATH", str(model_file))
    monkeypatch.setenv("SCHEMA_PATH", str(schema_file))
    monkeypatch.setenv("PREDICTION_LOG", "-")
    with TestClient(app.app) as client:
        predict(client, RECORDS)
    (line,) = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert len(line["inputs"]) == len(RECORDS)
    monkeypatch.setenv("PREDICTION_LOG", "")
    with TestClient(app.app) as client:
        assert predict(client, RECORDS).status_code == 200
    assert not prediction_log.exists()


@pytest.mark.parametrize(
    ("variable", "setting"),
    [("PREDICTION_LOG_SAMPLE", "2"), ("PREDICTION_LOG_SAMPLE", "half"), ("PREDICTION_LOG_MAX_BYTES", "10MB")],
)
def test_a_bad_prediction_log_setting_stops_the_server_naming_it(
    model_file, schema_file, monkeypatch, variable, setting
):
    monkeypatch.setenv("MODEL_PATH", str(model_file))
    monkeypatch.setenv("SCHEMA_PATH", str(schema_file))
    monkeypatch.setenv(variable, setting)
    with pytest.raises(ValueError, match=variable), TestClient(app.app):
        pass


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
    with TestClient(app.app) as restarted:  # the file is read at start
        body = restarted.get("/metadata").json()
    assert body["git_commit"] is body["mlflow_run_id"] is body["registered_version"] is None


def test_concurrent_requests_share_one_model_call_and_each_gets_its_own_answer(model_file, schema_file, tmp_path):
    loaded = model.load(model_file, schema_file, tmp_path / "no-metrics.json", tmp_path / "no-info.json")
    rules = loaded.contract["columns"]
    single = [records.to_frame([record], loaded.features, rules) for record in RECORDS]
    # The scaler refuses an infinite number: this request fails inside the model call.
    refused = records.to_frame(RECORDS[:1], loaded.features, rules).assign(income=float("inf"))
    calls = []

    def answer(frames):
        """What the batcher answers each frame sent at once, and the sizes of the model calls it made."""

        def method(frame):
            calls.append(len(frame))
            return loaded.output(frame)

        batcher = RequestBatcher(method)

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
        np.testing.assert_allclose(result, loaded.output(frame))

    answers = answer([single[0], refused, single[1]])
    assert calls == [3, 1, 1, 1]  # the shared call failed: then one call per request
    assert isinstance(answers[1], records.Refused) and answers[1].reason == "unusable_values"
    np.testing.assert_allclose(answers[0], loaded.output(single[0]))
    np.testing.assert_allclose(answers[2], loaded.output(single[1]))
