"""Monitoring of the served model, with the real processes: the baked project trained by `dvc repro`,
served by uvicorn with 2 workers started the way the image starts them (the Dockerfile's CMD, with
WEB_CONCURRENCY=2, on 127.0.0.1), scraped at /metrics; its prediction log fed to `make drift LOG=...`;
the alert rules `make alerts` renders, unit-tested with `promtool test rules`; and Debian's `prometheus`
scraping the app and firing an alert, asked over its HTTP API. The Grafana dashboard's queries name
only metrics the app exports.

Prometheus scrapes the app process, not the podman container: the container runs the same CMD
(tests/test_container.py checks its /metrics), and this way the test needs no image build. `make test`
installs `prometheus` (which ships promtool) with the other Debian packages (`make system-tools`).
Every process is started on a free 127.0.0.1 port in its own process group and stopped by its id.
"""

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import joblib
import pandas as pd
import pytest
import yaml
from helpers import BIN, TEMPLATE, bake, free_port, run, scrape, tool_env

pytestmark = pytest.mark.slow

PACKAGE = "my_ml_project"
JOB = "my-ml-project"  # the scrape job of the baked monitoring/prometheus.yml, which the rules select
RECORDS_PER_REQUEST = 10
REQUESTS = 60
SHIFTED = "mean_texture"  # the column the shifted load moves (within the contract's range)


def needs(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        run("make", "system-tools", cwd=TEMPLATE, check=False)
        path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} missing and `make system-tools` could not install it (needs root and apt-get: prometheus)")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """The default project (classification), trained, with its alert rules rendered by `make alerts`."""
    project = bake(tmp_path_factory.mktemp("monitoring"))
    run(BIN / "dvc", "repro", cwd=project)
    run("make", "alerts", cwd=project)
    return project


@pytest.fixture(scope="module")
def trained_regression(tmp_path_factory) -> Path:
    project = bake(tmp_path_factory.mktemp("monitoring-regression"), task="regression", model="linear")
    run(BIN / "dvc", "repro", cwd=project)
    run("make", "alerts", cwd=project)
    return project


def image_command(project: Path) -> str:
    """The shell command of the Dockerfile's CMD, listening on 127.0.0.1:{port} instead of 0.0.0.0:8000."""
    (cmd,) = re.findall(r"^CMD (.+)$", (project / "Dockerfile").read_text(), re.MULTILINE)
    shell, flag, script = json.loads(cmd)
    assert (shell, flag) == ("sh", "-c") and "--host 0.0.0.0 --port 8000" in script
    return script.replace("--host 0.0.0.0 --port 8000", "--host 127.0.0.1 --port {port}")


class Process:
    """A command in its own process group, on a free port; stop() ends the group by its id."""

    def __init__(self, args: list[str], cwd: Path, env: dict, log: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        with log.open("w") as output:
            self.process = subprocess.Popen(
                [arg.replace("{port}", str(self.port)) for arg in args],
                cwd=cwd,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_for(self, path: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(self.url + path, timeout=5).status_code == 200:
                    return
            assert self.process.poll() is None, f"exited {self.process.returncode}:\n{self.log.read_text()[-4000:]}"
            assert time.monotonic() < deadline, f"{path} did not answer 200:\n{self.log.read_text()[-4000:]}"
            time.sleep(0.3)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@contextlib.contextmanager
def served(project: Path, workdir: Path, workers: int = 2):
    """The app as the image runs it, WEB_CONCURRENCY workers; yields (server, prediction-log folder, metrics dir).
    The metrics folder holds a stale file first: the start must empty it."""
    metrics_dir, logs = workdir / "prometheus-multiproc", workdir / "logs"
    metrics_dir.mkdir(parents=True)
    (metrics_dir / "counter_99999.db").write_bytes(b"left by the last start")
    env = tool_env(
        WEB_CONCURRENCY=str(workers),
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        PREDICTION_LOG=str(logs / "predictions.jsonl"),
        PREDICTION_LOG_SAMPLE="1",
    )
    server = Process(["sh", "-c", image_command(project)], project, env, workdir / "uvicorn.log")
    try:
        server.wait_for("/health")
        yield server, logs, metrics_dir
    finally:
        server.stop()


def raw_records(project: Path, rows: int, seed: int) -> pd.DataFrame:
    """Rows of the project's raw data (features only), drawn with replacement."""
    frame = pd.read_csv(project / "data" / "raw" / "breast_cancer.csv").drop(columns="diagnosis")
    return frame.sample(n=rows, replace=True, random_state=seed).reset_index(drop=True)


def send(url: str, frame: pd.DataFrame) -> list[dict]:
    """POST the rows RECORDS_PER_REQUEST at a time, each on a new connection (so both workers get some)."""
    bodies = []
    records = json.loads(frame.to_json(orient="records"))
    for start in range(0, len(records), RECORDS_PER_REQUEST):
        response = httpx.post(f"{url}/predict", json={"records": records[start : start + RECORDS_PER_REQUEST]})
        assert response.status_code == 200, response.text
        bodies.append(response.json())
    return bodies


def total(samples: dict, name: str, **labels: str) -> float:
    """The sum of the samples of that name whose labels include these."""
    return sum(value for (sample, key), value in samples.items() if sample == name and labels.items() <= set(key))


def log_lines(folder: Path, expected: int, timeout: float = 20) -> list[dict]:
    """The prediction log's lines once there are `expected` (the listener threads write them shortly after)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [json.loads(line) for path in folder.glob("predictions-*.jsonl*") for line in path.open()]
        if len(lines) >= expected or time.monotonic() > deadline:
            return lines
        time.sleep(0.2)


def drift(project: Path, logs: Path) -> tuple[subprocess.CompletedProcess, dict]:
    """`make drift LOG='<logs>/predictions-*.jsonl*'` and the report it wrote."""
    result = run("make", "drift", f"LOG={logs}/predictions-*.jsonl*", cwd=project, check=False)
    return result, json.loads((project / "reports" / "drift.json").read_text())


def test_two_workers_count_every_request_once_and_log_each_answer(trained, tmp_path):
    bad = [
        {"records": [{SHIFTED: 1.0}]},  # missing fields
        {"records": [{**json.loads(raw_records(trained, 1, 0).to_json(orient="records"))[0], SHIFTED: 1e6}]},
        {"rows": []},  # not the shape /predict takes
    ]
    with served(trained, tmp_path) as (server, logs, metrics_dir):
        assert not (metrics_dir / "counter_99999.db").exists(), "the start did not empty PROMETHEUS_MULTIPROC_DIR"
        answers = send(server.url, raw_records(trained, REQUESTS * RECORDS_PER_REQUEST, seed=1))
        for body in bad * 4:
            assert httpx.post(f"{server.url}/predict", json=body).status_code == 422
        scrapes = [scrape(server.url) for _ in range(8)]  # new connections: each may reach either worker
        lines = log_lines(logs, REQUESTS)
        pids = {path.name.split("-")[1].split(".")[0] for path in logs.glob("predictions-*.jsonl")}
        db_pids = {path.stem.rsplit("_", 1)[1] for path in metrics_dir.glob("*.db")}
    predicted = [label for body in answers for label in body["predictions"]]
    for samples in scrapes:  # whichever worker answered the scrape, it reports both workers' totals
        predict = {"handler": "/predict", "method": "POST"}
        assert total(samples, "http_requests_total", status="200", **predict) == REQUESTS
        assert total(samples, "http_requests_total", status="422", **predict) == len(bad) * 4
        for reason in ("missing_field", "out_of_range", "malformed_body"):
            assert total(samples, "predict_rejected_total", reason=reason) == 4, reason
        assert total(samples, "model_predictions_total") == len(predicted)
        for name in set(predicted):
            assert total(samples, "model_predictions_total", predicted_class=name) == predicted.count(name)
        assert total(samples, "model_prediction_confidence_count") == len(predicted)
        (info,) = [dict(key) for sample, key in samples if sample == "model_info"]
        assert info["git_commit"] == run("git", "rev-parse", "HEAD", cwd=trained).stdout.strip()
    assert len(pids) == 2 and pids == db_pids, f"both workers answered and counted: {pids}, {db_pids}"
    assert len(lines) == REQUESTS and sum(len(line["inputs"]) for line in lines) == len(predicted)
    assert sorted(label for line in lines for label in line["predictions"]) == sorted(predicted)
    text = "".join(path.read_text() for path in logs.iterdir())
    assert "1000000" not in text and '"rows"' not in text  # refused bodies are never logged

    result, report = drift(trained, logs)  # rows from the training population: no drift
    assert result.returncode == 0, result.stdout + result.stderr
    assert report["drift"] is False and report["current"]["rows"] == len(predicted)
    assert len(report["current"]["files"]) == 2


def test_shifted_load_makes_the_drift_check_on_the_log_name_that_column_only(trained, tmp_path):
    load = raw_records(trained, REQUESTS * RECORDS_PER_REQUEST, seed=2)
    upper = load[SHIFTED][load[SHIFTED] >= load[SHIFTED].quantile(0.75)]
    load[SHIFTED] = upper.sample(n=len(load), replace=True, random_state=3).to_numpy()  # inside the contract
    with served(trained, tmp_path) as (server, logs, _):
        send(server.url, load)
        assert len(log_lines(logs, REQUESTS)) == REQUESTS
    result, report = drift(trained, logs)
    assert result.returncode != 0 and f"drift: {SHIFTED} drifted" in result.stdout, result.stdout + result.stderr
    assert report["drifted"] == [SHIFTED] and report["drift"] is True
    assert report["missing_columns"] == report["new_columns"] == []
    assert report["current"]["rows"] == len(load)
    print(f"\n[monitoring] drift report from the prediction log:\n{json.dumps(report, indent=2)}")


# --- alert rules: promtool test rules --------------------------------------------------------------


def rendered_rules(project: Path) -> dict[str, dict]:
    groups = yaml.safe_load((project / "monitoring" / "alerts.yml").read_text())["groups"]
    return {rule.get("alert") or rule["record"]: rule for group in groups for rule in group["rules"]}


def expected_alert(rule: dict, **labels: str) -> dict:
    return {"exp_labels": {**rule["labels"], **labels}, "exp_annotations": rule["annotations"]}


def case(name: str, series: dict[str, str], alert: str, minutes: int, alerts: list[dict]) -> dict:
    return {
        "name": name,
        "interval": "1m",
        "input_series": [{"series": key, "values": values} for key, values in series.items()],
        "alert_rule_test": [{"eval_time": f"{minutes}m", "alertname": alert, "exp_alerts": alerts}],
    }


def requests_series(**per_minute: int) -> dict[str, str]:
    """http_requests_total of /predict growing by per_minute[status] each minute for two hours."""
    return {
        f'http_requests_total{{job="{JOB}", handler="/predict", method="POST", status="{status[1:]}"}}': f"0+{rate}x120"
        for status, rate in per_minute.items()
    }


def generic_cases(project: Path) -> list[dict]:
    """Error rate, p99 latency and no traffic: a case that fires and one that does not, for each."""
    rules = rendered_rules(project)
    settings = yaml.safe_load((project / "params.yaml").read_text())["monitoring"]
    budget = settings["p99_latency_ms"] / 1000
    error_rate = settings["max_error_rate"]

    def latency(fast: int, slow: int) -> dict[str, str]:
        """/predict's latency histogram: per minute, `fast` requests under half the budget, `slow` at twice it."""
        bucket = f'http_request_duration_seconds_bucket{{job="{JOB}", handler="/predict", method="POST", le="%s"}}'
        return {bucket % (budget / 2): f"0+{fast}x120", bucket % (budget * 2): f"0+{fast + slow}x120",
                bucket % "+Inf": f"0+{fast + slow}x120"}  # fmt: skip

    health = {f'http_requests_total{{job="{JOB}", handler="/health", method="GET", status="200"}}': "0+2x120"}
    errors, fine = round(1000 * error_rate * 5), round(1000 * error_rate / 5)  # 5x and 1/5 of the budget
    no_traffic = rules["PredictNoTraffic"]
    return [
        case(
            "errors above the budget",
            requests_series(s200=1000, s500=errors),
            "PredictErrorRate",
            15,
            [expected_alert(rules["PredictErrorRate"])],
        ),
        case("errors below it", requests_series(s200=1000, s500=max(fine, 1)), "PredictErrorRate", 15, []),
        case("slow", latency(fast=0, slow=100), "PredictLatencyP99", 20, [expected_alert(rules["PredictLatencyP99"])]),
        case("fast", latency(fast=100, slow=0), "PredictLatencyP99", 20, []),
        case("requests stopped", requests_series(s200=0), "PredictNoTraffic", 20, [expected_alert(no_traffic)]),
        # absent() keeps the labels of the selector's equality matchers
        case(
            "never a request", health, "PredictNoTraffic", 6, [expected_alert(no_traffic, job=JOB, handler="/predict")]
        ),
        case("steady traffic", requests_series(s200=30), "PredictNoTraffic", 20, []),
    ]


def classification_cases(project: Path) -> list[dict]:
    rules = rendered_rules(project)
    pattern = r'vector\(([\d.]+)\), "predicted_class", "([^"]+)"'
    found = re.findall(pattern, rules["model:expected_prediction_share"]["expr"])
    expected = {name: float(share) for share, name in found}
    settings = yaml.safe_load((project / "params.yaml").read_text())["monitoring"]
    assert len(expected) == 2 and sum(expected.values()) == pytest.approx(1, abs=1e-3)
    first, second = expected

    def predictions(**per_minute: int) -> dict[str, str]:
        return {
            f'model_predictions_total{{job="{JOB}", predicted_class="{name}"}}': f"0+{rate}x120"
            for name, rate in per_minute.items()
        }

    shift = rules["PredictionShift"]
    return [
        case(
            "only one class predicted",
            predictions(**{first: 100, second: 0}),
            "PredictionShift",
            30,
            [expected_alert(shift, predicted_class=name) for name in expected],
        ),
        case(
            "the test set's mix",
            predictions(**{name: round(share * 1000) for name, share in expected.items()}),
            "PredictionShift",
            30,
            [],
        ),
        case(
            "shifted, but too few predictions",
            predictions(**{first: settings["min_predictions"] // 120, second: 0}),
            "PredictionShift",
            50,
            [],
        ),
    ]


def regression_cases(project: Path) -> list[dict]:
    rules = rendered_rules(project)
    expected = {
        le: float(share)
        for share, le in re.findall(
            r'vector\(([\d.]+)\), "le", "([^"]+)"', rules["model:expected_prediction_below"]["expr"]
        )
    }
    tolerance = yaml.safe_load((project / "params.yaml").read_text())["monitoring"]["max_prediction_shift"]
    assert len(expected) == 11 and list(expected.values()) == sorted(expected.values())

    def histogram(shares: dict[str, float]) -> dict[str, str]:
        """1000 predictions a minute, shares[le] of them at or below le."""
        buckets = {
            f'model_predicted_value_bucket{{job="{JOB}", le="{le}"}}': f"0+{round(share * 1000)}x120"
            for le, share in shares.items()
        }
        return {
            **buckets,
            f'model_predicted_value_bucket{{job="{JOB}", le="+Inf"}}': "0+1000x120",
            f'model_predicted_value_count{{job="{JOB}"}}': "0+1000x120",
        }

    all_low = {le: 1.0 for le in expected}  # every prediction below the lowest edge
    firing = [le for le, share in expected.items() if abs(1.0 - share) > tolerance]
    assert firing
    shift = rules["PredictionShift"]
    return [
        case(
            "every prediction below the range",
            histogram(all_low),
            "PredictionShift",
            30,
            [expected_alert(shift, le=le) for le in firing],
        ),
        case("the test set's distribution", histogram(expected), "PredictionShift", 30, []),
    ]


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_alert_rules_pass_promtool_unit_tests(task, request, tmp_path):
    promtool = needs("promtool")
    project = request.getfixturevalue("trained" if task == "classification" else "trained_regression")
    rules = project / "monitoring" / "alerts.yml"
    assert "Do not edit" in rules.read_text()
    run(promtool, "check", "rules", rules, cwd=project)
    cases = generic_cases(project) + (classification_cases if task == "classification" else regression_cases)(project)
    tests = tmp_path / "alerts_test.yml"
    tests.write_text(yaml.safe_dump({"rule_files": [str(rules)], "evaluation_interval": "1m", "tests": cases}))
    result = run(promtool, "test", "rules", tests, cwd=tmp_path, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_promtool_fails_a_rule_test_that_expects_the_wrong_thing(trained, tmp_path):
    """The unit tests above can fail: the same rules, a case whose expected alert is wrong."""
    promtool = needs("promtool")
    rules = rendered_rules(trained)
    wrong = case(
        "errors below the budget, expected to fire",
        requests_series(s200=1000, s500=1),
        "PredictErrorRate",
        15,
        [expected_alert(rules["PredictErrorRate"])],
    )
    tests = tmp_path / "wrong_test.yml"
    rule_file = str(trained / "monitoring" / "alerts.yml")
    tests.write_text(yaml.safe_dump({"rule_files": [rule_file], "evaluation_interval": "1m", "tests": [wrong]}))
    result = run(promtool, "test", "rules", tests, cwd=tmp_path, check=False)
    assert result.returncode != 0 and "PredictErrorRate" in result.stdout + result.stderr


# --- a real Prometheus in the loop -----------------------------------------------------------------


def fast_rules(project: Path, out: Path) -> Path:
    """The rendered rules for a test that lasts seconds: every window 20s, no `for` delay, and a minimum
    count of predictions the bounded load reaches."""
    text = (project / "monitoring" / "alerts.yml").read_text()
    least = yaml.safe_load((project / "params.yaml").read_text())["monitoring"]["min_predictions"]
    replaced = {}
    for pattern, replacement in ((r"\[(5m|10m|1h)\]", "[20s]"), (r"for: \S+", "for: 0s"), (rf">= {least}\b", ">= 20")):
        text, replaced[pattern] = re.subn(pattern, replacement, text)
    assert all(replaced.values()), replaced
    out.write_text(text)
    return out


def prometheus_api(url: str, path: str, **params: str) -> dict:
    response = httpx.get(f"{url}/api/v1/{path}", params=params, timeout=10)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success", body
    return body["data"]


def firing(url: str) -> set[str]:
    return {
        alert["labels"]["alertname"] for alert in prometheus_api(url, "alerts")["alerts"] if alert["state"] == "firing"
    }


def wait_until(check, what: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while True:
        if result := check():
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def minority_rows(project: Path, rows: int) -> tuple[pd.DataFrame, str]:
    """Raw rows the trained model puts in its rarer class on the test set: a load of them shifts the mix."""
    model = joblib.load(project / "models" / "model.joblib")
    frame = pd.read_csv(project / "data" / "raw" / "breast_cancer.csv").drop(columns="diagnosis")
    predicted = pd.Series(model.predict(frame)).astype(str)
    rarer = predicted.value_counts().idxmin()
    return frame[predicted.to_numpy() == rarer].sample(n=rows, replace=True, random_state=4), rarer


def test_prometheus_scrapes_the_app_counts_the_load_and_fires_the_shift_alert(trained, tmp_path):
    prometheus = needs("prometheus")
    rules = fast_rules(trained, tmp_path / "alerts.yml")
    with served(trained, tmp_path / "app") as (server, _, _):
        config = yaml.safe_load((trained / "monitoring" / "prometheus.yml").read_text())
        config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
        config["rule_files"] = [str(rules)]
        (job,) = config["scrape_configs"]
        assert job["job_name"] == JOB
        job["static_configs"] = [{"targets": [server.url.removeprefix("http://")]}]
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
        args = [
            prometheus,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            "--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ]
        monitor = Process([str(arg) for arg in args], tmp_path, tool_env(), tmp_path / "prometheus.log")
        try:
            monitor.wait_for("/-/ready")
            wait_until(lambda: prometheus_api(monitor.url, "query", query=f'up{{job="{JOB}"}}')["result"], "a scrape")
            # Before any /predict: the no-traffic alert fires (absent), the mix alert cannot.
            wait_until(lambda: "PredictNoTraffic" in firing(monitor.url), "PredictNoTraffic")
            load, rarer = minority_rows(trained, REQUESTS * 5)
            start = time.monotonic()
            answers = send(server.url, load)
            assert {label for body in answers for label in body["predictions"]} == {rarer}
            sent = len(answers)
            query = f'sum(http_requests_total{{job="{JOB}", handler="/predict", status="200"}})'

            def counted():
                result = prometheus_api(monitor.url, "query", query=query)["result"]
                return result and float(result[0]["value"][1]) == sent

            wait_until(counted, f"Prometheus to count {sent} requests")
            alerts = wait_until(
                lambda: [
                    a
                    for a in prometheus_api(monitor.url, "alerts")["alerts"]
                    if a["labels"]["alertname"] == "PredictionShift" and a["state"] == "firing"
                ],
                "PredictionShift to fire",
            )
            elapsed = time.monotonic() - start
            assert "PredictErrorRate" not in firing(monitor.url) and "PredictLatencyP99" not in firing(monitor.url)
            # Every dashboard query parses and runs in this Prometheus.
            for expr in dashboard_queries(trained):
                prometheus_api(monitor.url, "query", query=expr)
        finally:
            monitor.stop()
    shifted = {alert["labels"]["predicted_class"] for alert in alerts}
    assert rarer in shifted, alerts
    print(
        f"\n[monitoring] Prometheus counted {sent} requests and fired PredictionShift {shifted} {elapsed:.1f} s after the load started"
    )


# --- the Grafana dashboard ---------------------------------------------------------------------------

PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset"}


def dashboard_queries(project: Path) -> list[str]:
    dashboard = json.loads((project / "monitoring" / "dashboard.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL query reads: its words minus label matchers, grouping labels, functions,
    durations, numbers and keywords."""
    expr = re.sub(r'\{[^}]*\}|"[^"]*"|\[[^\]]*\]', " ", expr)
    expr = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", " ", expr)
    words = re.findall(r"(?<![\w:.])[A-Za-z_:][\w:]*(?![\w:])(?!\s*\()", expr)
    return {word for word in words if word not in PROMQL_WORDS and not re.fullmatch(r"[\d.e+-]+|Inf|NaN", word)}


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_every_dashboard_query_names_a_metric_the_app_exports(task, request, tmp_path):
    project = request.getfixturevalue("trained" if task == "classification" else "trained_regression")
    with served(project, tmp_path, workers=1) as (server, _, _):
        frame = pd.read_csv(next((project / "data" / "raw").glob("*.csv")))
        target = yaml.safe_load((project / "params.yaml").read_text())["data"]["target"]
        send(server.url, frame.drop(columns=target).head(RECORDS_PER_REQUEST))
        assert httpx.post(f"{server.url}/predict", json={"records": []}).status_code == 422
        exported = {name for name, _ in scrape(server.url)}
    queries = dashboard_queries(project)
    assert len(queries) >= 6
    for expr in queries:
        names = metric_names(expr)
        assert names, expr
        assert names <= exported, f"{expr}: {sorted(names - exported)} not in /metrics"
