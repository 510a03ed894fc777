"""P5 serving benchmark: /predict of the baked project's app against `mlflow models serve` on the same
model, in one run: throughput and p50/p99 latency for batches of 1 and 100 rows. Goal: >= 2x throughput.
Ours runs with its monitoring on, as the image runs it: Prometheus metrics in multiprocess mode
(PROMETHEUS_MULTIPROC_DIR) and the prediction log at sample rate 1. In the same rounds run the same app
with the prediction log off (the log's cost is the ratio of the two) and the same app with batching off
(PREDICT_BATCHING=off: one model call per request; what batching.py buys is the ratio of the two).

    python benchmarks/serving.py                 # bakes + trains the default project, ~2 min
    python benchmarks/serving.py --quick         # a few requests per case: checks the runner works
    python benchmarks/serving.py --project DIR   # a project already trained (`dvc repro` done)

The servers run on this machine, one uvicorn worker each, on free 127.0.0.1 ports, and serve the model
of one `dvc repro`: ours loads models/model.joblib, MLflow the model the evaluate stage logged from that
file to the project's store (the benchmark checks that both predict the same classes). Each case sends
a fixed number of requests from a few client threads, in rounds that alternate between the servers;
the client runs on the same cores, so compare the ratio, not the absolute numbers. The results go under "P5_serving" in benchmarks/results.json
(other keys there are kept) and are printed as a table.
"""

import argparse
import concurrent.futures
import datetime
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import httpx
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
KEY = "P5_serving"
BATCHES = (1, 100)
GOAL = 2.0  # our throughput / MLflow's
HEADERS = {"Content-Type": "application/json"}
MODES = {
    "full": {"requests": 400, "concurrency": 4, "warmup": 20, "rounds": 4},
    "quick": {"requests": 12, "concurrency": 2, "warmup": 2, "rounds": 2},
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def command(*args: str | Path, cwd: Path, env: dict | None = None) -> str:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"`{' '.join(map(str, args))}` failed in {cwd}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result.stdout


def tool_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", **extra}


def trained_default_project(workdir: Path) -> Path:
    """The default project baked with cookiecutter and trained with `dvc repro`."""
    from cookiecutter.main import cookiecutter

    project = Path(cookiecutter(str(ROOT), no_input=True, output_dir=str(workdir), default_config=True))
    command(BIN / "dvc", "repro", cwd=project, env=tool_env())
    return project


def logged_model_uri(project: Path, tracking_uri: str) -> str:
    """The model the project's last pipeline run logged to MLflow (the same pipeline as models/model.joblib)."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    experiments = [experiment.experiment_id for experiment in mlflow.search_experiments()]
    models = mlflow.search_logged_models(experiment_ids=experiments, output_format="list")
    if not models:
        sys.exit(f"no model logged in {tracking_uri}: run `dvc repro` in {project} first")
    return max(models, key=lambda model: model.creation_timestamp).model_uri


class Server:
    """A server process in its own process group (MLflow starts uvicorn as a child), stopped on exit."""

    def __init__(self, name: str, args: list, cwd: Path, env: dict, ready_path: str, log: Path):
        self.name, self.port = name, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ready_path, self.log = ready_path, log
        args = [str(arg).replace("{port}", str(self.port)) for arg in args]
        with log.open("w") as output:
            self.process = subprocess.Popen(
                args, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if httpx.get(self.url + self.ready_path, timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        self.stop()
        sys.exit(f"{self.name} did not answer {self.ready_path}:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def warm_up(url: str, body: bytes, warmup: int) -> dict:
    """A few requests first (imports, caches); the last response's body."""
    with httpx.Client(timeout=60) as client:
        for _ in range(warmup):
            response = client.post(url, content=body, headers=HEADERS)
            response.raise_for_status()
    return response.json()


def drive(url: str, body: bytes, requests: int, concurrency: int) -> tuple[list[float], float]:
    """Send `requests` POSTs from `concurrency` threads: (latency of each, wall time), in seconds."""

    def worker(count: int) -> list[float]:
        latencies = []
        with httpx.Client(timeout=60) as client:
            for _ in range(count):
                start = time.perf_counter()
                response = client.post(url, content=body, headers=HEADERS)
                latencies.append(time.perf_counter() - start)
                response.raise_for_status()
        return latencies

    shares = [requests // concurrency + (index < requests % concurrency) for index in range(concurrency)]
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        latencies = [latency for part in pool.map(worker, shares) for latency in part]
    return latencies, time.perf_counter() - start


def summary(latencies: list[float], wall: float, rows: int) -> dict:
    percentiles = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "requests_per_s": round(len(latencies) / wall, 2),
        "rows_per_s": round(len(latencies) * rows / wall, 1),
        "p50_ms": round(percentiles[49] * 1000, 2),
        "p99_ms": round(percentiles[98] * 1000, 2),
        "wall_s": round(wall, 3),
    }


def sample_records(project: Path, rows: int) -> list[dict]:
    """Rows of the project's raw data as a client sends them: the model's features only, gaps as null."""
    params = yaml.safe_load((project / "params.yaml").read_text())["data"]
    csv = next((project / "data" / "raw").glob("*.csv"))
    frame = pd.read_csv(csv).drop(columns=[params["target"], *params.get("drop_columns", [])])
    frame = pd.concat([frame] * (rows // len(frame) + 1)).head(rows)
    return json.loads(frame.to_json(orient="records"))


def monitored_env(env: dict, workdir: Path, prediction_log: Path | None) -> dict:
    """The app's environment as the image sets it: metrics through an empty PROMETHEUS_MULTIPROC_DIR, and
    the prediction log at sample rate 1 (or off)."""
    metrics_dir = workdir / "prometheus"
    metrics_dir.mkdir(parents=True)
    return {**env, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), "PREDICTION_LOG": str(prediction_log or ""),
            "PREDICTION_LOG_SAMPLE": "1"}  # fmt: skip


def counted_requests(url: str) -> float:
    """/predict requests answered 200, as the app's own /metrics counts them."""
    text = httpx.get(f"{url}/metrics", timeout=30).text
    pattern = r'^http_requests_total\{handler="/predict",method="POST",status="200"\} (\S+)$'
    return sum(float(value) for value in re.findall(pattern, text, re.MULTILINE))


def log_lines(folder: Path) -> int:
    return sum(1 for path in folder.glob("predictions-*.jsonl*") for _ in path.open())


def wait_for_lines(folder: Path, expected: int, timeout: float = 60) -> None:
    """Until the prediction log has `expected` lines (it is written by a thread, after the answers)."""
    deadline = time.monotonic() + timeout
    while log_lines(folder) < expected and time.monotonic() < deadline:
        time.sleep(0.05)


def benchmark(project: Path, mode: str, logs: Path) -> dict:
    settings = MODES[mode]
    tracking_uri = f"sqlite:///{project / 'mlflow.db'}"
    model_uri = logged_model_uri(project, tracking_uri)
    env = tool_env(MLFLOW_TRACKING_URI=tracking_uri)
    package = next(path.parent.parent.name for path in project.glob("*/serving/app.py"))
    uvicorn = [BIN / "python", "-m", "uvicorn", f"{package}.serving.app:app", "--host", "127.0.0.1", "--port", "{port}",
               "--workers", "1", "--no-access-log", "--log-level", "warning"]  # fmt: skip
    prediction_log = logs / "ours" / "predictions.jsonl"
    ours = Server(
        "ours", uvicorn, project, monitored_env(env, logs / "ours", prediction_log), "/health", logs / "ours.log"
    )
    ours_nolog = Server(
        "ours_nolog", uvicorn, project, monitored_env(env, logs / "ours_nolog", None), "/health", logs / "nolog.log"
    )
    unbatched_log = logs / "ours_unbatched" / "predictions.jsonl"
    unbatched_env = {**monitored_env(env, logs / "ours_unbatched", unbatched_log), "PREDICT_BATCHING": "off"}
    ours_unbatched = Server("ours_unbatched", uvicorn, project, unbatched_env, "/health", logs / "unbatched.log")
    # Where each server with a prediction log writes it: the log's thread finishes before the next turn.
    log_folders = {"ours": prediction_log.parent, "ours_unbatched": unbatched_log.parent}
    mlflow = Server(
        "mlflow",
        [BIN / "mlflow", "models", "serve", "-m", model_uri, "--env-manager", "local", "--host", "127.0.0.1",
         "--port", "{port}", "--workers", "1"],
        project, env, "/ping", logs / "mlflow.log",
    )  # fmt: skip
    servers = (ours, ours_nolog, ours_unbatched, mlflow)
    cases = {}
    # Requests sent to each server with a prediction log, warm-up included: what ours' /metrics and log must count.
    logged: dict[str, int] = {}
    try:
        for server in servers:
            server.wait_ready()
        for batch in BATCHES:
            records = sample_records(project, batch)
            body = json.dumps({"records": records}).encode()
            targets = {
                "ours": (f"{ours.url}/predict", body),
                "ours_nolog": (f"{ours_nolog.url}/predict", body),
                "ours_unbatched": (f"{ours_unbatched.url}/predict", body),
                "mlflow": (f"{mlflow.url}/invocations", json.dumps({"dataframe_records": records}).encode()),
            }
            answers = {name: warm_up(url, body, settings["warmup"]) for name, (url, body) in targets.items()}
            if answers["ours"]["predictions"] != answers["mlflow"]["predictions"]:
                sys.exit(f"the two servers predict differently for the {batch}-row batch: not the same model")
            logged = {name: logged.get(name, 0) + settings["warmup"] for name in log_folders}
            # Rounds taking turns, so that a change in the machine's load falls on every server alike.
            measured = {name: ([], 0.0) for name in targets}
            for index in range(settings["rounds"]):
                order = list(targets)
                order = order[index % len(order) :] + order[: index % len(order)]  # each goes first in turn
                for name in order:
                    url, body = targets[name]
                    latencies, wall = drive(
                        url, body, settings["requests"] // settings["rounds"], settings["concurrency"]
                    )
                    measured[name] = (measured[name][0] + latencies, measured[name][1] + wall)
                    if name in log_folders:  # the log's thread finishes writing before the next server's turn
                        wait_for_lines(log_folders[name], logged[name] + len(measured[name][0]))
            logged = {name: logged[name] + len(measured[name][0]) for name in log_folders}
            stats = {name: summary(latencies, wall, batch) for name, (latencies, wall) in measured.items()}
            cases[str(batch)] = {
                **stats,
                "throughput_ratio": round(stats["ours"]["requests_per_s"] / stats["mlflow"]["requests_per_s"], 2),
                "p50_ratio": round(stats["ours"]["p50_ms"] / stats["mlflow"]["p50_ms"], 2),
                # the prediction log's cost: the same app with the log on over off (1.0: free)
                "log_throughput_ratio": round(
                    stats["ours"]["requests_per_s"] / stats["ours_nolog"]["requests_per_s"], 3
                ),
                "log_p50_ratio": round(stats["ours"]["p50_ms"] / stats["ours_nolog"]["p50_ms"], 3),
                # what batching buys: the same app with batching on over off (above 1: it pays)
                "batching_throughput_ratio": round(
                    stats["ours"]["requests_per_s"] / stats["ours_unbatched"]["requests_per_s"], 3
                ),
                "batching_p50_ratio": round(stats["ours"]["p50_ms"] / stats["ours_unbatched"]["p50_ms"], 3),
                "batching_p99_ratio": round(stats["ours"]["p99_ms"] / stats["ours_unbatched"]["p99_ms"], 3),
            }
        counted = counted_requests(ours.url)
        sent = logged["ours"]
    finally:
        for server in servers:
            server.stop()  # the app's shutdown writes the prediction log's queued lines
    log_files = list(prediction_log.parent.glob("predictions-*.jsonl*"))
    lines = log_lines(prediction_log.parent)
    return {
        "measured_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "mode": mode,
        **settings,
        "model": yaml.safe_load((project / "params.yaml").read_text())["train"]["model"],
        "mlflow_model_uri": model_uri,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_1min": os.getloadavg()[0]},
        "versions": {name: version(name) for name in ("fastapi", "uvicorn", "mlflow", "scikit-learn")},
        "batches": cases,
        "goal_throughput_ratio": GOAL,
        "monitoring": {
            "metrics": "prometheus-client multiprocess mode, as in the image",
            "prediction_log_sample": 1.0,
            "requests_sent_to_ours": sent,
            "requests_counted_by_its_metrics": counted,
            "prediction_log_lines": lines,
            "prediction_log_bytes": sum(path.stat().st_size for path in log_files),
        },
        "notes": (
            "ours: /predict returns classes and their probabilities (predict_proba), with /metrics and the "
            "prediction log on; ours_nolog: the same with the prediction log off; ours_unbatched: the same as ours "
            "with batching off (PREDICT_BATCHING=off); MLflow: /invocations "
            "returns predict() only. One uvicorn worker each; the load client shares the same cores."
        ),
    }


def write_results(path: Path, results: dict) -> None:
    """Merge: replace only our key, keep what other benchmarks wrote."""
    existing = json.loads(path.read_text()) if path.exists() else {}
    existing[KEY] = results
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(existing, indent=2) + "\n")


def table(results: dict) -> str:
    title = (
        f"P5 serving ({results['mode']}): {results['requests']} requests per case, {results['concurrency']} "
        f"concurrent, model {results['model']}, {results['machine']['cpus']} CPUs"
    )
    lines = [
        title,
        "ours: metrics and prediction log on; ours_nolog: the prediction log off; ours_unbatched: batching off",
        f"{'batch':>5}  {'server':<15}{'req/s':>9}{'rows/s':>10}{'p50 ms':>9}{'p99 ms':>9}",
    ]
    for batch, case in results["batches"].items():
        for name in ("ours", "ours_nolog", "ours_unbatched", "mlflow"):
            stats = case[name]
            lines.append(
                f"{batch:>5}  {name:<15}{stats['requests_per_s']:>9.1f}{stats['rows_per_s']:>10.1f}"
                f"{stats['p50_ms']:>9.1f}{stats['p99_ms']:>9.1f}"
            )
        verdict = "meets" if case["throughput_ratio"] >= results["goal_throughput_ratio"] else "below"
        lines.append(
            f"{'':>5}  throughput ours/mlflow {case['throughput_ratio']:.2f}x ({verdict} the "
            f"{results['goal_throughput_ratio']:g}x goal), p50 ours/mlflow {case['p50_ratio']:.2f}x"
        )
        lines.append(
            f"{'':>5}  prediction log on/off: throughput {case['log_throughput_ratio']:.3f}x, "
            f"p50 {case['log_p50_ratio']:.3f}x"
        )
        lines.append(
            f"{'':>5}  batching on/off: throughput {case['batching_throughput_ratio']:.3f}x, "
            f"p50 {case['batching_p50_ratio']:.3f}x, p99 {case['batching_p99_ratio']:.3f}x"
        )
    monitoring = results["monitoring"]
    lines.append(
        f"ours' /metrics counted {monitoring['requests_counted_by_its_metrics']:g} of the "
        f"{monitoring['requests_sent_to_ours']} requests sent; its prediction log has "
        f"{monitoring['prediction_log_lines']} lines ({monitoring['prediction_log_bytes'] / 1e6:.1f} MB)"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few requests per case (checks the runner)")
    parser.add_argument("--project", type=Path, help="a trained project (default: bake and train one)")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        project = args.project.resolve() if args.project else trained_default_project(Path(tmp))
        results = benchmark(project, "quick" if args.quick else "full", Path(tmp))
    write_results(args.results, results)
    print(table(results))
    print(f"written under {KEY!r} in {args.results}")


if __name__ == "__main__":
    main()
