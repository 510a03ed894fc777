"""benchmarks/serving.py keeps working: its quick mode, on a trained default project, serves the model
with our app (monitoring on, again with the prediction log off, and again with batching off) and with `mlflow models serve`,
measures all three, and merges its results into an existing results file without touching the other
benchmarks' keys. Speed is not asserted: only that every figure is there and positive, and that our
app's own /metrics and prediction log counted every request it was sent (the numbers of the real run
are in benchmarks/README.md)."""

import json

import pytest
from helpers import BIN, TEMPLATE, run, trained_default

pytestmark = pytest.mark.slow

OTHER_BENCHMARK = {"P3_pipeline": {"noop_repro_ratio": 1.1}}
STATS = {"requests_per_s", "rows_per_s", "p50_ms", "p99_ms", "wall_s"}
SERVERS = ("ours", "ours_nolog", "ours_unbatched", "mlflow")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """(results file, printed output) of one quick run."""
    workdir = tmp_path_factory.mktemp("bench-serving")
    project, _ = trained_default(tmp_path_factory)  # the default bake, trained
    results = workdir / "results.json"
    results.write_text(json.dumps(OTHER_BENCHMARK))
    script = TEMPLATE / "benchmarks" / "serving.py"
    output = run(BIN / "python", script, "--quick", "--project", project, "--results", results, cwd=workdir)
    return json.loads(results.read_text()), output.stdout


def test_quick_run_measures_the_servers_for_1_and_100_rows(quick_run):
    results, _ = quick_run
    serving = results["P5_serving"]
    assert serving["mode"] == "quick" and serving["requests"] > 0 and serving["concurrency"] > 0
    assert set(serving["batches"]) == {"1", "100"}
    for case in serving["batches"].values():
        for server in SERVERS:
            assert set(case[server]) == STATS
            assert all(value > 0 for value in case[server].values()), case[server]
        assert case["throughput_ratio"] > 0 and case["p50_ratio"] > 0
        ratio = case["ours"]["requests_per_s"] / case["mlflow"]["requests_per_s"]
        assert case["throughput_ratio"] == pytest.approx(ratio, abs=0.01)
        log_ratio = case["ours"]["requests_per_s"] / case["ours_nolog"]["requests_per_s"]
        assert case["log_throughput_ratio"] == pytest.approx(log_ratio, abs=0.001) and case["log_p50_ratio"] > 0
        batching_ratio = case["ours"]["requests_per_s"] / case["ours_unbatched"]["requests_per_s"]
        assert case["batching_throughput_ratio"] == pytest.approx(batching_ratio, abs=0.001)
        assert case["batching_p50_ratio"] > 0 and case["batching_p99_ratio"] > 0
    assert serving["mlflow_model_uri"].startswith("models:/")


def test_monitoring_was_on_and_counted_every_request(quick_run):
    monitoring = quick_run[0]["P5_serving"]["monitoring"]
    sent = monitoring["requests_sent_to_ours"]
    assert sent > 0
    assert monitoring["requests_counted_by_its_metrics"] == sent
    assert monitoring["prediction_log_lines"] == sent and monitoring["prediction_log_bytes"] > 0


def test_results_keep_the_other_benchmarks_keys(quick_run):
    results, _ = quick_run
    assert results["P3_pipeline"] == OTHER_BENCHMARK["P3_pipeline"]


def test_table_prints_every_case_and_the_ratio(quick_run):
    _, printed = quick_run
    assert printed.count("throughput ours/mlflow") == 2
    assert printed.count("prediction log on/off: throughput") == 2
    assert printed.count("batching on/off: throughput") == 2
    for batch in ("1", "100"):
        for server in SERVERS:
            assert any(line.split()[:2] == [batch, server] for line in printed.splitlines()), printed
