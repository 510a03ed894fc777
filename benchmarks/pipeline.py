"""Pipeline benchmarks P1-P4 and P6: the baked project's `dvc repro` against benchmarks/baseline.py,
the same work as one plain script in one process.

    python benchmarks/pipeline.py            # full sizes (1M and 5M rows): 15-30 min on 2 cores
    python benchmarks/pipeline.py --quick    # small sizes, one repetition: checks that the runner works

P1  first `dvc repro` of the default project (bundled sample) vs the plain script    goal <= 2.0x
P2  1M synthetic rows: `dvc repro` wall time and peak RSS vs the plain script        goal <= 1.15x, <= 1.3x
P3  no-op `dvc repro` vs the no-op repro of a one-stage DVC project running the
    plain script on the same data (DESIGN.md); the ratio to `dvc status` beside it     goal <= 1.2x
P4  a changed train parameter re-runs exactly train and evaluate                       goal: those two
P6  5M synthetic rows complete; time and peak RSS (the plain script beside them)       goal: completes

The synthetic data is a mixed-type CSV (numbers, categories, a high-cardinality category, gaps, a
binary target a model can learn). It is baked in through the template's own `data_path` option, so the
project's bootstrap infers data/schema.yaml, runs `dvc add` and commits. P1 uses the default model
(random forest of 200 trees). P2 and P6 use `gradient_boosting` (scikit-learn's histogram gradient
boosting, the template's defaults), on both sides: a 200-tree forest of unlimited depth on 800k rows
needs hours and tens of GB here; the benchmark measures the pipeline around the model, not the model.

Peak RSS is the largest resident set of one process in the measured command's tree: os.wait4 on the
command returns the maximum over the command and every descendant that was waited for (dvc waits for
its stage commands, their shell for python). A thread also polls the tree with psutil every 0.2 s,
for the per-stage times and RSS and the largest sum over processes alive at once.

Every command runs with a bytecode cache (PYTHONPYCACHEPREFIX=build/bench-pycache, kept between runs;
full mode also warms it with one untimed run of each side): this machine sets PYTHONDONTWRITEBYTECODE=1,
so without compiled files in .venv every process compiles scikit-learn, pandas and MLflow from source
again (`import sklearn` 9 s instead of 1.3 s), which an ordinary environment does once and which would
punish a pipeline of four processes four times. The cache makes the figures independent of how .venv
was installed (`make install` now compiles bytecode; older .venvs hold none).

Results go under their own keys in the results file (other keys, e.g. P5_serving, are kept); a full
run also rewrites the table in benchmarks/RESULTS.md between its markers.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
BASELINE = Path(__file__).resolve().parent / "baseline.py"
TARGET = "churned"
LARGE_MODEL = "gradient_boosting"
MODES = {
    "full": {"p2_rows": 1_000_000, "p6_rows": 5_000_000, "repeats": 3, "noop_repeats": 9, "warmup": True},
    "quick": {"p2_rows": 3_000, "p6_rows": 6_000, "repeats": 1, "noop_repeats": 2, "warmup": False},
}
DEFAULT_RESULTS = {"full": ROOT / "benchmarks" / "results.json", "quick": ROOT / "build" / "bench-quick.json"}
MARKERS = ("<!-- results table: start -->", "<!-- results table: end -->")
PYCACHE = ROOT / "build" / "bench-pycache"  # bytecode of everything the benchmarks import, kept between runs


# --- synthetic data -------------------------------------------------------------------------------


def synthetic_chunk(rows: int, seed: int) -> pd.DataFrame:
    """Customers of a subscription service: 6 numbers, 4 categories (one with 300 values), gaps, churn."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 91, rows).astype(float)
    income = rng.lognormal(10.5, 0.6, rows).round(2)
    balance = rng.normal(1_500, 900, rows).round(2)
    tenure = rng.integers(0, 121, rows)
    products = rng.integers(1, 7, rows)
    satisfaction = rng.uniform(0, 10, rows).round(1)
    plan = rng.choice(["basic", "plus", "premium", "business"], rows, p=[0.4, 0.3, 0.2, 0.1])
    region = rng.choice(["north", "south", "east", "west", "central"], rows).astype(object)
    channel = rng.choice(["web", "store", "phone"], rows, p=[0.6, 0.3, 0.1])
    city = np.char.add("city_", rng.integers(0, 300, rows).astype(str)).astype(object)
    logit = (
        -0.35 * (satisfaction - 5)
        - 0.02 * (tenure - 60)
        + 0.8 * (plan == "basic")
        - 0.6 * (plan == "business")
        + 0.5 * (channel == "phone")
        + 0.3 * (products == 1)
        - 0.00015 * (balance - 1_500)
        + rng.normal(0, 0.8, rows)
    )
    table = pd.DataFrame(
        {
            "age": age,
            "income": income,
            "balance": balance,
            "tenure_months": tenure,
            "products": products,
            "satisfaction": satisfaction,
            "plan": plan,
            "region": region,
            "channel": channel,
            "city": city,
            TARGET: np.where(logit > 0, "yes", "no"),
        }
    )
    for column, share in {"age": 0.03, "income": 0.08, "satisfaction": 0.1, "region": 0.06, "city": 0.02}.items():
        table.loc[rng.random(rows) < share, column] = np.nan
    return table


def write_synthetic_csv(path: Path, rows: int, chunk: int = 250_000) -> Path:
    """`rows` rows, written in chunks so that 5M rows need little memory; the same seed gives the same file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for index, start in enumerate(range(0, rows, chunk)):
        part = synthetic_chunk(min(chunk, rows - start), seed=index)
        part.to_csv(path, mode="w" if index == 0 else "a", header=index == 0, index=False)
    return path


# --- running and measuring ------------------------------------------------------------------------


def bench_env(pycache: Path) -> dict[str, str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    env["DVC_NO_ANALYTICS"] = "1"
    for name in ("AUTHOR", "COMMITTER"):
        env.setdefault(f"GIT_{name}_NAME", "Benchmark")
        env.setdefault(f"GIT_{name}_EMAIL", "benchmark@example.com")
    env.pop("MLFLOW_TRACKING_URI", None)  # both sides use the SQLite store in their directory
    return env


def check(*args: str | Path, cwd: Path, env: dict) -> str:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"`{' '.join(map(str, args))}` failed in {cwd}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result.stdout


class TreeWatcher(threading.Thread):
    """Polls a process tree: per-stage first/last seen and largest RSS, and the largest summed RSS."""

    def __init__(self, pid: int, interval: float = 0.2):
        super().__init__(daemon=True)
        self.root, self.interval = psutil.Process(pid), interval
        self.stages: dict[str, dict[str, float]] = {}
        self.tree_peak = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.interval):
            try:
                processes = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            total, now = 0, time.monotonic()
            for process in processes:
                try:
                    rss, cmdline = process.memory_info().rss, process.cmdline()
                except psutil.Error:
                    continue
                total += rss
                # The module argument itself (`python -m pkg.stages.train`), not `sh -c "python -m ... x.json"`
                # caught by the poll just before sh execs python (its name read after: python, not sh).
                modules = (re.fullmatch(r"[\w.]+\.stages\.(\w+)", part) for part in cmdline)
                stage = next((match[1] for match in modules if match), None)
                if stage and process.name() != "sh":
                    seen = self.stages.setdefault(stage, {"first": now, "last": now, "rss": 0})
                    seen["last"], seen["rss"] = now, max(seen["rss"], rss)
            self.tree_peak = max(self.tree_peak, total)


def measure(*args: str | Path, cwd: Path, env: dict) -> dict:
    """Run a command to the end: wall seconds, peak RSS (os.wait4: the largest waited process), output."""
    with tempfile.TemporaryFile("w+") as output:
        start = time.perf_counter()
        process = subprocess.Popen([str(a) for a in args], cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT)
        watcher = TreeWatcher(process.pid)
        watcher.start()
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        watcher.done.set()
        watcher.join()
        output.seek(0)
        text = output.read()
    if process.returncode != 0:
        sys.exit(f"`{' '.join(map(str, args))}` exited {process.returncode} in {cwd}:\n{text[-4000:]}")
    stages = {
        name: {"seconds": round(seen["last"] - seen["first"], 1), "peak_rss_mb": mb(seen["rss"])}
        for name, seen in watcher.stages.items()
    }
    return {
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux: kilobytes
        "tree_peak_rss_mb": mb(watcher.tree_peak),
        "stages": stages,
        "output": text,
    }


def mb(size: int) -> float:
    return round(size / 2**20, 1)


def stages_run(output: str) -> list[str]:
    return re.findall(r"Running stage '([^']+)'", output)


def bake(workdir: Path, **answers: str) -> Path:
    from cookiecutter.main import cookiecutter

    workdir.mkdir(parents=True, exist_ok=True)
    return Path(
        cookiecutter(str(ROOT), no_input=True, output_dir=str(workdir), extra_context=answers, default_config=True)
    )


def raw_csv(project: Path) -> Path:
    return next((project / "data" / "raw").glob("*.csv"))


def run_pipeline(project: Path, env: dict) -> dict:
    result = measure(BIN / "dvc", "repro", cwd=project, env=env)
    result["stages_run"] = stages_run(result["output"])
    result["metrics"] = json.loads((project / "metrics" / "metrics.json").read_text())
    return result


def run_baseline(project: Path, workdir: Path, env: dict) -> dict:
    """The plain script on the project's raw CSV and params.yaml, in a fresh directory (fresh MLflow store)."""
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    result = measure(BIN / "python", BASELINE, raw_csv(project), project / "params.yaml", "out", cwd=workdir, env=env)
    result["metrics"] = json.loads((workdir / "out" / "metrics.json").read_text())
    return result


def figure(ours: float, baseline: float | None, goal: float | None, unit: str, **extra) -> dict:
    """One compared number: ours, the baseline's, ours/baseline, and whether that meets `goal` (at most)."""
    ratio = round(ours / baseline, 3) if baseline else None
    meets = None if goal is None or ratio is None else ratio <= goal
    return {"ours": ours, "baseline": baseline, "ratio": ratio, "goal_max_ratio": goal, "meets": meets, "unit": unit,
            **extra}  # fmt: skip


def summary(run: dict) -> dict:
    """What a run keeps in results.json (the output is only for parsing)."""
    return {key: value for key, value in run.items() if key not in ("output", "metrics")}


def median(runs: list[dict], key: str) -> float:
    return round(statistics.median(run[key] for run in runs), 2)


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


class LoadSampler(threading.Thread):
    """The 1-minute load average every 5 s, to say how busy the shared machine was during a benchmark
    (the benchmark itself adds 1 to 2 on this machine: one busy process, two for the model's threads)."""

    def __init__(self, interval: float = 5.0):
        super().__init__(daemon=True)
        self.interval, self.samples = interval, [os.getloadavg()[0]]

    def run(self) -> None:
        while True:
            time.sleep(self.interval)
            self.samples.append(os.getloadavg()[0])

    def since(self, mark: int) -> dict:
        window = self.samples[max(mark - 1, 0) :]
        return {
            "min": round(min(window), 2),
            "median": round(statistics.median(window), 2),
            "max": round(max(window), 2),
        }


def machine() -> dict:
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu_model(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
    }


# --- the benchmarks -------------------------------------------------------------------------------


def p1_first_repro(pristine: Path, workdir: Path, settings: dict, env: dict) -> dict:
    """First `dvc repro` of copies of a fresh bake, alternating with the plain script; medians. Its
    "project" is the last copy, for P3 and P4."""
    ours, plain = [], []
    if settings["warmup"]:  # fills the bytecode cache; not counted
        project = Path(shutil.copytree(pristine, workdir / "warmup", symlinks=True))
        run_pipeline(project, env)
        run_baseline(project, workdir / "warmup-plain", env)
    for index in range(settings["repeats"]):
        project = workdir / f"repro-{index}"
        shutil.copytree(pristine, project, symlinks=True)
        ours.append(run_pipeline(project, env))
        plain.append(run_baseline(project, workdir / f"plain-{index}", env))
    same = all(run["metrics"] == plain[0]["metrics"] for run in ours + plain)
    result = {
        "what": "first `dvc repro` of the default project (569 rows, random forest) vs the plain script",
        "figures": {"wall_s": figure(median(ours, "seconds"), median(plain, "seconds"), 2.0, "s")},
        "stages_run": ours[-1]["stages_run"],
        "same_metrics": same,
        "runs": {"ours": [summary(run) for run in ours], "baseline": [summary(run) for run in plain]},
        "project": project,
    }
    return result


def minimal_project(project: Path, workdir: Path, env: dict) -> Path:
    """A one-stage DVC project: the plain script as its only stage, on the same CSV (tracked by DVC)."""
    minimal = workdir / "one-stage"
    csv = raw_csv(project)
    (minimal / "data" / "raw").mkdir(parents=True)
    shutil.copy(csv, minimal / "data" / "raw" / csv.name)
    shutil.copy(project / "params.yaml", minimal / "params.yaml")
    shutil.copy(BASELINE, minimal / "baseline.py")
    stage = {
        "cmd": f"python baseline.py data/raw/{csv.name} params.yaml out",
        "deps": [f"data/raw/{csv.name}", "params.yaml", "baseline.py"],
        "outs": ["out/model.joblib", {"out/plots": {"cache": False}}],
        "metrics": [{"out/metrics.json": {"cache": False}}],
    }
    (minimal / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"plain": stage}}, sort_keys=False))
    (minimal / ".gitignore").write_text("mlflow.db\nmlruns/\n")
    check("git", "init", "--quiet", cwd=minimal, env=env)
    check(BIN / "dvc", "init", "--quiet", cwd=minimal, env=env)
    check(BIN / "dvc", "add", "--quiet", f"data/raw/{csv.name}", cwd=minimal, env=env)
    check("git", "add", "--all", cwd=minimal, env=env)
    check("git", "commit", "--quiet", "-m", "one-stage baseline", cwd=minimal, env=env)
    return minimal


def p3_noop_repro(project: Path, workdir: Path, settings: dict, env: dict) -> dict:
    """No-op `dvc repro` of our project, of the one-stage project, and `dvc status` of ours; medians."""
    minimal = minimal_project(project, workdir, env)
    first_minimal = measure(BIN / "dvc", "repro", cwd=minimal, env=env)
    ours, theirs, status = [], [], []
    for _ in range(settings["noop_repeats"]):
        ours.append(measure(BIN / "dvc", "repro", cwd=project, env=env))
        theirs.append(measure(BIN / "dvc", "repro", cwd=minimal, env=env))
        status.append(measure(BIN / "dvc", "status", cwd=project, env=env))
    reran = [stages_run(run["output"]) for run in ours + theirs]
    if any(reran):
        sys.exit(f"a no-op `dvc repro` ran stages: {reran}")
    noop = median(ours, "seconds")
    return {
        "what": "no-op `dvc repro` of the default project vs that of a one-stage DVC project running the plain script",
        "figures": {
            "noop_repro_s": figure(noop, median(theirs, "seconds"), 1.2, "s"),
            "noop_repro_vs_dvc_status": figure(noop, median(status, "seconds"), None, "s"),
        },
        "one_stage_first_repro_s": first_minimal["seconds"],
        "runs": {
            "ours": [run["seconds"] for run in ours],
            "one_stage": [run["seconds"] for run in theirs],
            "dvc_status": [run["seconds"] for run in status],
        },
    }


def p4_changed_param(project: Path, plain_seconds: float, env: dict) -> dict:
    """Change train.seed; `dvc repro` must run train and evaluate only (the plain script redoes everything)."""
    params_file = project / "params.yaml"
    params = yaml.safe_load(params_file.read_text())
    params["train"]["seed"] += 1
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    rerun = run_pipeline(project, env)
    expected = ["train", "evaluate"]
    return {
        "what": "`dvc repro` after changing train.seed: the stages it runs; its time vs the plain script's full run",
        "figures": {"wall_s": figure(rerun["seconds"], plain_seconds, None, "s")},
        "stages_run": rerun["stages_run"],
        "goal_stages": expected,
        "meets": rerun["stages_run"] == expected,
    }


def large(rows: int, workdir: Path, env: dict, goals: tuple[float | None, float | None]) -> dict:
    """Bake a project on `rows` synthetic rows; its first `dvc repro` and the plain script, once each."""
    data = write_synthetic_csv(workdir / "data" / "customers.csv", rows)
    project = bake(workdir / "bake", project_name=f"Bench {rows}", data_path=str(data), target=TARGET,
                   model=LARGE_MODEL, ci="none", docker="no")  # fmt: skip
    data.unlink()  # the project holds its copy (and DVC its cache); keep the disk free
    ours = run_pipeline(project, env)
    plain = run_baseline(project, workdir / "plain", env)
    noop = measure(BIN / "dvc", "repro", cwd=project, env=env)
    return {
        "what": f"{rows:,} synthetic rows, {LARGE_MODEL}: first `dvc repro` vs the plain script",
        "rows": rows,
        "csv_mb": mb(raw_csv(project).stat().st_size),
        "model": LARGE_MODEL,
        "figures": {
            "wall_s": figure(ours["seconds"], plain["seconds"], goals[0], "s"),
            "peak_rss_mb": figure(ours["peak_rss_mb"], plain["peak_rss_mb"], goals[1], "MB"),
        },
        "stages_run": ours["stages_run"],
        "same_metrics": ours["metrics"] == plain["metrics"],
        "metrics": ours["metrics"],
        "noop_repro_s": noop["seconds"],
        "runs": {"ours": summary(ours), "baseline": summary(plain)},
    }


# --- output ---------------------------------------------------------------------------------------


def rows_of(results: dict) -> list[tuple[str, str, str, str, str, str]]:
    """(figure, ours, baseline, ratio, goal, verdict) for every benchmark present in `results`."""

    def verdict(meets):
        return {True: "meets", False: "misses", None: "-"}[meets]

    def number(value, unit):
        if value is None:
            return "-"
        return f"{value:,.0f} {unit}" if unit == "MB" else f"{value:.2f} {unit}"

    table = []
    names = {"P1_first_repro": "P1 first repro", "P2_1M_rows": "P2 1M rows", "P3_noop_repro": "P3 no-op repro",
             "P4_changed_param": "P4 changed param", "P6_5M_rows": "P6 5M rows"}  # fmt: skip
    labels = {"wall_s": "time", "peak_rss_mb": "peak RSS", "noop_repro_s": "vs one-stage DVC",
              "noop_repro_vs_dvc_status": "vs `dvc status`"}  # fmt: skip
    for key, name in names.items():
        if key not in results:
            continue
        entry = results[key]
        if key == "P6_5M_rows" and "rows" in entry and entry["rows"] != 5_000_000:
            name = f"P6 {entry['rows']:,} rows"
        if key == "P2_1M_rows" and "rows" in entry and entry["rows"] != 1_000_000:
            name = f"P2 {entry['rows']:,} rows"
        for label, item in entry["figures"].items():
            ratio = "-" if item["ratio"] is None else f"{item['ratio']:.2f}x"
            goal = "-" if item["goal_max_ratio"] is None else f"<= {item['goal_max_ratio']:g}x"
            table.append((f"{name}: {labels[label]}", number(item["ours"], item["unit"]),
                          number(item["baseline"], item["unit"]), ratio, goal, verdict(item["meets"])))  # fmt: skip
        if key == "P4_changed_param":
            table.append((f"{name}: stages run", ", ".join(entry["stages_run"]), "all (one script)", "-",
                          ", ".join(entry["goal_stages"]), verdict(entry["meets"])))  # fmt: skip
        if key == "P6_5M_rows":
            table.append((f"{name}: completes", "yes", "yes", "-", "completes", "meets"))
    serving = results.get("P5_serving")
    if serving:
        for batch, case in serving["batches"].items():
            table.append((f"P5 serving, {batch}-row requests: throughput", f"{case['ours']['requests_per_s']:.1f} req/s",
                          f"{case['mlflow']['requests_per_s']:.1f} req/s", f"{case['throughput_ratio']:.2f}x",
                          f">= {serving['goal_throughput_ratio']:g}x",
                          verdict(case["throughput_ratio"] >= serving["goal_throughput_ratio"])))  # fmt: skip
    return table


def text_table(results: dict) -> str:
    header = ("figure", "ours", "baseline", "ratio", "goal", "verdict")
    table = [header, *rows_of(results)]
    widths = [max(len(row[column]) for row in table) for column in range(len(header))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in table)


def markdown_table(results: dict) -> str:
    """The table, then when and under which load each benchmark ran (they may come from separate runs)."""
    lines = [
        "| figure | ours | baseline | ratio | goal | verdict |",
        "| --- | ---: | ---: | ---: | --- | --- |",
        *(f"| {' | '.join(row)} |" for row in rows_of(results)),
        "",
    ]
    for key, entry in results.items():
        host = entry.get("machine", {})
        when = entry.get("measured_at", "?")
        load = entry.get("load_1min", host.get("load_1min"))
        if isinstance(load, dict):
            load = f"load average {load['min']:.1f}-{load['max']:.1f} (median {load['median']:.1f})"
        else:
            load = f"load average {load:.1f}" if load is not None else "load not recorded"
        memory = f", {host['memory_gb']} GiB" if "memory_gb" in host else ""
        lines.append(
            f"- {key}: {when}, {entry.get('mode', '?')} mode, {host.get('cpus', '?')} CPUs "
            f"({host.get('cpu', '?')}){memory}, Python {host.get('python', '?')}, {load}"
        )
    return "\n".join(lines)


def update_markdown(path: Path, results: dict) -> None:
    """Replace the text between the markers in `path` with the table (the rest of the file is prose)."""
    text = path.read_text()
    start, end = text.index(MARKERS[0]) + len(MARKERS[0]), text.index(MARKERS[1])
    path.write_text(text[:start] + "\n" + markdown_table(results) + "\n" + text[end:])


def write_results(path: Path, new: dict) -> dict:
    """Merge: replace only our keys, keep what other benchmarks wrote; return the whole file."""
    existing = json.loads(path.read_text()) if path.exists() else {}
    existing.update(new)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(existing, indent=2) + "\n")
    return existing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one repetition (checks the runner)")
    parser.add_argument("--results", type=Path, help="results file (default: benchmarks/results.json; quick: build/)")
    parser.add_argument("--markdown", type=Path, help="file whose table to rewrite (full default: RESULTS.md)")
    parser.add_argument("--only", nargs="+", choices=["P1", "P2", "P3", "P4", "P6"], help="run only these")
    parser.add_argument("--workdir", type=Path, help="keep the baked projects here (default: a temporary dir)")
    args = parser.parse_args()
    mode = "quick" if args.quick else "full"
    settings = MODES[mode]
    results_path = args.results or DEFAULT_RESULTS[mode]
    markdown = args.markdown or (ROOT / "benchmarks" / "RESULTS.md" if mode == "full" else None)
    only = set(args.only or ["P1", "P2", "P3", "P4", "P6"])
    if markdown and MARKERS[0] not in (markdown.read_text() if markdown.exists() else ""):
        parser.error(f"{markdown} has no '{MARKERS[0]}' line to put the table after")

    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        workdir = (args.workdir or Path(tmp)).resolve()
        env = bench_env(PYCACHE)
        os.environ.update({key: env[key] for key in ("PYTHONPYCACHEPREFIX", "DVC_NO_ANALYTICS", "PATH")})
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # the bake's hook and bootstrap inherit this process's env
        loads = LoadSampler()
        loads.start()
        new = {}

        def record(key: str, benchmark, *arguments) -> dict:
            """Run one benchmark; add when it ran, the machine, the versions and the load meanwhile."""
            started, mark = datetime.datetime.now(datetime.UTC), len(loads.samples)
            result = benchmark(*arguments)
            result.update(
                measured_at=started.isoformat(timespec="seconds"),
                mode=mode,
                machine=machine(),
                load_1min=loads.since(mark),
                versions={name: version(name) for name in ("dvc", "mlflow", "scikit-learn", "pandas", "pandera")},
            )
            new[key] = result
            return result

        if only & {"P1", "P3", "P4"}:
            pristine = bake(workdir / "default")
            p1 = record("P1_first_repro", p1_first_repro, pristine, workdir / "p1", settings, env)
            project = p1.pop("project")
            if "P1" not in only:
                del new["P1_first_repro"]
            if "P3" in only:
                record("P3_noop_repro", p3_noop_repro, project, workdir / "p3", settings, env)
            if "P4" in only:
                record("P4_changed_param", p4_changed_param, project, p1["figures"]["wall_s"]["baseline"], env)
        if "P2" in only:
            record("P2_1M_rows", large, settings["p2_rows"], workdir / "p2", env, (1.15, 1.3))
        if "P6" in only:
            record("P6_5M_rows", large, settings["p6_rows"], workdir / "p6", env, (None, None))
            shutil.rmtree(workdir / "p6", ignore_errors=True)
        results = write_results(results_path, new)
    print(text_table(results))
    print(f"written under {', '.join(new)} in {results_path}")
    if markdown:
        update_markdown(markdown, results)
        print(f"table rewritten in {markdown}")


if __name__ == "__main__":
    main()
