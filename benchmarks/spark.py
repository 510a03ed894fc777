"""P7: the Spark engine against pandas, on the same work (benchmarks/spark_workload.py) and the same data.

    python benchmarks/spark.py            # full sizes: 1M rows, then the search under a 3 GiB cap (30-60 min)
    python benchmarks/spark.py --quick    # small sizes: checks that the runner works (a minute or two)

P7a  1M rows: wall time and peak RSS of Spark local mode (local[2]) next to pandas + scikit-learn:
     a ratio, no goal (on 2 cores Spark is expected to be slower)
P7b  under one memory cap for the whole process tree (3 GiB), the largest row count each engine
     completes: pandas doubling from --start-rows until a run fails; Spark from 4x that size, doubling
     while it completes (up to --max-rows), halving while it fails                     goal: Spark >= 4x pandas

The data is a synthetic table of 21 columns (13 numbers, 7 categories, a yes/no target `churned`;
5% gaps in 4 numbers and 3 categories), made in chunks from fixed seeds, so a file of N rows is the
first N rows of every larger one: the search grows one file instead of writing each size anew.

The cap is a memory cgroup of its own for each run, holding the engine's whole process tree (the
Python process, and on Spark its JVM): cgroup v2 `memory.max` where the memory controller is there,
else cgroup v1 `memory.limit_in_bytes` (this machine: a v1 hierarchy, writable as root). A run over the
cap is OOM-killed by the kernel and counts as failed. Not used, and why: `systemd-run --scope -p
MemoryMax` needs systemd as PID 1 (it is not, here); `prlimit --as` caps each process's virtual
address space, not the tree's memory, and a JVM reserves far more address space than it uses.

Peak RSS is the largest sum over the tree's processes alive at once, polled every 0.2 s with psutil
(benchmarks/pipeline.py's TreeWatcher); the cgroup's own peak is recorded beside it, but it counts the
page cache of the files the run read and wrote, so it is not the figure compared.

Results go under P7a_engines_1M and P7b_scale_under_cap in the results file (other keys are kept); a full
run also rewrites the P7 table in benchmarks/RESULTS.md between its markers.
"""

import argparse
import contextlib
import datetime
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from pipeline import (
    BIN,
    DEFAULT_RESULTS,
    PYCACHE,
    ROOT,
    LoadSampler,
    TreeWatcher,
    bake,
    bench_env,
    figure,
    machine,
    mb,
    write_results,
)
from spark_workload import MAX_ITER, SPARK_DRIVER_MEMORY, TARGET

WORKLOAD = Path(__file__).resolve().parent / "spark_workload.py"
BAKED = False  # --baked: each run is `dvc repro` of a project baked with the engine (baked_stages)
ENGINES = ("pandas", "spark")
GOAL_RATIO = 4  # P7b: Spark completes at least this many times the rows pandas completes under the cap
GIB = 2**30
MODES = {
    "full": {"p7a_rows": 1_000_000, "cap_gb": 3.0, "start_rows": 500_000, "max_rows": 16_000_000, "timeout": 1800},
    "quick": {"p7a_rows": 2_000, "cap_gb": 3.0, "start_rows": 2_000, "max_rows": 4_000, "timeout": 600},
}
MARKERS = ("<!-- P7 table: start -->", "<!-- P7 table: end -->")
CHUNK = 250_000  # rows per generated chunk (and its seed's unit); smaller sizes are one chunk's prefix


# --- synthetic data -------------------------------------------------------------------------------


def synthetic_chunk(rows: int, seed: int) -> pd.DataFrame:
    """13 numbers, 7 categories (3-12 values), 5% gaps in 4 numbers and 3 categories, target `churned`."""
    rng = np.random.default_rng(seed)
    numbers = rng.normal(0, 1, (rows, 13)) * np.arange(1, 14) + np.arange(13) * 10
    levels = [3, 4, 5, 6, 8, 10, 12]
    codes = [rng.integers(0, count, rows) for count in levels]
    effects = [np.linspace(-1, 1, count) for count in levels]
    logit = (
        (numbers[:, :6] - np.arange(6) * 10) / np.arange(1, 7) @ np.array([0.8, -0.6, 0.5, -0.4, 0.3, 0.2])
        + sum(effect[code] for effect, code in zip(effects[:4], codes[:4], strict=True))
        + rng.normal(0, 1.0, rows)
    )
    table = pd.DataFrame(numbers.round(3), columns=[f"num_{index:02d}" for index in range(13)])
    for index, (count, code) in enumerate(zip(levels, codes, strict=True)):
        table[f"cat_{index}"] = np.array([f"c{index}_{value}" for value in range(count)], dtype=object)[code]
    table["churned"] = np.where(logit > 0, "yes", "no")
    for column in ("num_00", "num_03", "num_07", "num_11", "cat_0", "cat_3", "cat_6"):
        table.loc[rng.random(rows) < 0.05, column] = np.nan
    return table


def extend_csv(path: Path, rows: int, chunk: int = CHUNK) -> int:
    """Append `chunk`-row parts (seeds 0, 1, ...) to `path` until it holds `rows` rows; return the rows it
    holds. A file grown in the same chunks always holds the same rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    have = sum(1 for _ in path.open()) - 1 if path.exists() else 0
    while have < rows:
        if have % chunk:
            sys.exit(f"{path} holds {have} rows, not a whole number of {chunk}-row chunks: delete it")
        part = synthetic_chunk(min(chunk, rows - have), seed=have // chunk)
        part.to_csv(path, mode="a" if have else "w", header=not have, index=False)
        have += len(part)
    return have


# --- the memory cap -------------------------------------------------------------------------------


class MemoryCap:
    """A memory cgroup below this process's own, one per run: `wrap(command)` starts the command in it."""

    def __init__(self, limit_bytes: int | None, name: str):
        self.limit, self.kind, self.path = limit_bytes, *self._create(name)
        if limit_bytes is not None:
            limit_file = "memory.max" if self.kind == "cgroup2" else "memory.limit_in_bytes"
            (self.path / limit_file).write_text(str(limit_bytes))

    @staticmethod
    def _create(name: str) -> tuple[str, Path]:
        reasons = []
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            hierarchy, controllers, own = line.split(":", 2)
            if hierarchy == "0":
                root = Path("/sys/fs/cgroup")
                available = root / "cgroup.controllers"
                if not (available.exists() and "memory" in available.read_text().split()):
                    reasons.append("cgroup v2: no memory controller at /sys/fs/cgroup")
                    continue
                kind, parent = "cgroup2", root / own.lstrip("/")
            elif "memory" in controllers.split(","):
                kind, parent = "cgroup1", Path("/sys/fs/cgroup/memory") / own.lstrip("/")
            else:
                continue
            try:
                path = parent / name
                path.mkdir()
                return kind, path
            except OSError as error:
                reasons.append(f"{kind}: cannot create {parent / name}: {error.strerror}")
        sys.exit("no memory cgroup to cap the run in (" + "; ".join(reasons or ["none mounted"]) + "). "
                 "systemd-run needs systemd as PID 1, and prlimit caps each process's address space, not the tree.")  # fmt: skip

    def wrap(self, command: list[str]) -> list[str]:
        """The command, moved into this cgroup before it execs: its children are born inside it."""
        return ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', str(self.path), *command]

    def peak_bytes(self) -> int:
        return int((self.path / ("memory.peak" if self.kind == "cgroup2" else "memory.max_usage_in_bytes")).read_text())

    def oom_kills(self) -> int:
        events = (self.path / ("memory.events" if self.kind == "cgroup2" else "memory.oom_control")).read_text()
        return next((int(line.split()[1]) for line in events.splitlines() if line.startswith("oom_kill ")), 0)

    def remove(self) -> None:
        """Kill what is left in the cgroup (a JVM that outlived its driver), then remove it."""
        for _ in range(100):
            pids = (self.path / "cgroup.procs").read_text().split()
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
            time.sleep(0.1)
        with contextlib.suppress(OSError):
            self.path.rmdir()


# --- one engine's run -----------------------------------------------------------------------------


def workload(engine: str, csv: Path, workdir: Path) -> list[str]:
    """The command that does the engine's work on `csv` and prints its JSON line: spark_workload.py, or
    with --baked the template's own stages (the one place to point P7 at other code)."""
    if BAKED:
        return baked_stages(engine, csv, workdir)
    return [str(BIN / "python"), str(WORKLOAD), engine, str(csv), str(workdir)]


def baked_stages(engine: str, csv: Path, workdir: Path) -> list[str]:
    """Bake a project with this engine on `csv` (model linear, 20 iterations, a 1g Spark driver, as
    spark_workload.py) and return its `dvc repro`, then a JSON line with its test AUC. The bake (and its
    bootstrap, which hashes the CSV into DVC) happens here, before the timer starts."""
    project = bake(workdir / "bake", project_name=f"P7 {engine}", data_path=str(csv), target=TARGET, model="linear",
                   engine=engine, ci="none", docker="no")  # fmt: skip
    params = yaml.safe_load((project / "params.yaml").read_text())
    linear = params["train"]["linear"]
    linear["maxIter" if "maxIter" in linear else "max_iter"] = MAX_ITER  # MLlib's name, or scikit-learn's
    if engine == "spark":
        params["spark"]["driver_memory"] = SPARK_DRIVER_MEMORY
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    report = f"import json; print(json.dumps({{'engine': '{engine}', **json.load(open('metrics/metrics.json'))}}))"
    return ["sh", "-c", 'cd "$0" && "$1" repro && "$2" -c "$3"', str(project), str(BIN / "dvc"), str(BIN / "python"),
            report]  # fmt: skip


def run_engine(engine: str, csv: Path, workdir: Path, env: dict, cap_bytes: int | None, timeout: float) -> dict:
    """Run the workload in a cgroup of its own (capped or not): completed or why not, time, memory, AUC."""
    workdir.mkdir(parents=True, exist_ok=True)
    cap = MemoryCap(cap_bytes, f"p7-{os.getpid()}-{engine}-{time.monotonic_ns()}")
    try:
        with tempfile.TemporaryFile("w+") as output:
            start = time.perf_counter()
            process = subprocess.Popen(cap.wrap(workload(engine, csv, workdir)), cwd=workdir, env=env, stdout=output,
                                       stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
            watcher = TreeWatcher(process.pid)
            watcher.start()
            try:
                process.wait(timeout=timeout)
                reason = None
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                reason = f"timeout ({timeout:.0f} s)"
            seconds = time.perf_counter() - start
            watcher.done.set()
            watcher.join()
            oom_kills, cgroup_peak = cap.oom_kills(), cap.peak_bytes()
            output.seek(0)
            text = output.read()
    finally:
        cap.remove()
    lines = [line for line in text.splitlines() if line.startswith("{") and '"engine"' in line]  # the last one
    if reason is None and (process.returncode != 0 or not lines):
        reason = "out of memory (OOM-killed)" if oom_kills else f"exited {process.returncode}"
    result = {
        "engine": engine,
        "completed": reason is None,
        "reason": reason,
        "seconds": round(seconds, 2),
        "tree_peak_rss_mb": mb(watcher.tree_peak),
        "cgroup_peak_mb": mb(cgroup_peak),  # includes page cache
        "oom_kills": oom_kills,
        "cgroup": cap.kind,
    }
    if reason is None:
        result.update({key: value for key, value in json.loads(lines[-1]).items() if key in ("rows", "roc_auc")})
    else:
        result["output_tail"] = text[-1500:]
    return result


# --- the benchmarks -------------------------------------------------------------------------------


def p7a_engines(rows: int, workdir: Path, env: dict, timeout: float) -> dict:
    """The same rows through both engines, uncapped: time and peak RSS, Spark over pandas."""
    csv = workdir / "data.csv"
    extend_csv(csv, rows, min(CHUNK, rows))
    runs = {}
    for engine in ENGINES:
        runs[engine] = run_engine(engine, csv, workdir / engine, env, None, timeout)
        if not runs[engine]["completed"]:
            sys.exit(f"P7a: {engine} did not complete {rows:,} rows: {runs[engine]['reason']}\n"
                     f"{runs[engine]['output_tail']}")  # fmt: skip
    spark, plain = runs["spark"], runs["pandas"]
    return {
        "what": f"{rows:,} rows x 21 columns, logistic regression: Spark local[2] (ours) vs pandas + scikit-learn",
        "rows": rows,
        "csv_mb": mb(csv.stat().st_size),
        "figures": {
            "wall_s": figure(spark["seconds"], plain["seconds"], None, "s"),
            "peak_rss_mb": figure(spark["tree_peak_rss_mb"], plain["tree_peak_rss_mb"], None, "MB"),
        },
        "roc_auc": {engine: runs[engine]["roc_auc"] for engine in ENGINES},
        "runs": runs,
    }


def largest_completed(engine: str, csv: Path, start: int, settings: dict, workdir: Path, env: dict) -> dict:
    """Run `start` rows under the cap; if it completes, double until a run fails or the next size passes
    max_rows; if it fails, halve until one completes (or start_rows fails)."""
    runs, rows = [], start
    while settings["start_rows"] <= rows <= settings["max_rows"]:
        extend_csv(csv, rows, min(CHUNK, settings["start_rows"]))
        run = run_engine(engine, csv, workdir / f"{engine}-{rows}", env, int(settings["cap_gb"] * GIB),
                         settings["timeout"])  # fmt: skip
        run["rows"] = rows
        runs.append(run)
        print(f"P7b {engine} {rows:,} rows: {'completed' if run['completed'] else run['reason']} "
              f"in {run['seconds']:.0f} s, tree peak {run['tree_peak_rss_mb']:,.0f} MB", flush=True)  # fmt: skip
        going_up = runs[0]["completed"]
        if run["completed"] != going_up:  # the first failure above, or the first success below
            break
        rows = rows * 2 if going_up else rows // 2
    largest = max((run["rows"] for run in runs if run["completed"]), default=0)
    failed = sorted((run for run in runs if not run["completed"]), key=lambda run: run["rows"])
    return {
        "largest_rows": largest,
        "smallest_failure": {"rows": failed[0]["rows"], "reason": failed[0]["reason"]} if failed else None,
        "ceiling_reached": not any(run["rows"] > largest for run in failed),  # stopped by max_rows: a lower bound
        "runs": runs,
    }


def p7b_scale(settings: dict, workdir: Path, env: dict) -> dict:
    """pandas' largest size under the cap, doubling from start_rows; then Spark's, starting at the goal
    (4x pandas' largest): the sizes below it cost Spark time and say nothing about the goal."""
    csv = workdir / "data.csv"
    pandas = largest_completed("pandas", csv, settings["start_rows"], settings, workdir, env)
    goal_rows = min(max(GOAL_RATIO * pandas["largest_rows"], settings["start_rows"]), settings["max_rows"])
    spark = largest_completed("spark", csv, goal_rows, settings, workdir, env)
    ratio = round(spark["largest_rows"] / pandas["largest_rows"], 2) if pandas["largest_rows"] else None
    return {
        "what": f"largest row count completed under a {settings['cap_gb']:g} GiB cap on the whole process tree",
        "cap_gb": settings["cap_gb"],
        "cap_mechanism": pandas["runs"][0]["cgroup"],
        "start_rows": settings["start_rows"],
        "max_rows": settings["max_rows"],
        "engines": {"pandas": pandas, "spark": spark},
        "ratio": ratio,
        "goal_min_ratio": GOAL_RATIO,
        # No verdict when pandas never failed: its largest size is then the search's ceiling, not its limit.
        "meets": None if ratio is None or pandas["ceiling_reached"] else ratio >= GOAL_RATIO,
    }


# --- output ---------------------------------------------------------------------------------------


def rows_of(results: dict) -> list[tuple[str, str, str, str, str]]:
    """(figure, Spark, pandas, Spark/pandas, goal) for the P7 entries present in `results`."""
    table = []
    p7a = results.get("P7a_engines_1M")
    if p7a:
        name = f"P7a {p7a['rows']:,} rows"
        for label, item in p7a["figures"].items():
            unit = item["unit"]
            value = (lambda x: f"{x:,.0f} MB") if unit == "MB" else (lambda x: f"{x:.1f} s")
            table.append((f"{name}: {'time' if label == 'wall_s' else 'peak RSS (tree)'}", value(item["ours"]),
                          value(item["baseline"]), f"{item['ratio']:.2f}x", "-"))  # fmt: skip
        auc = p7a["roc_auc"]
        table.append((f"{name}: ROC AUC", f"{auc['spark']:.4f}", f"{auc['pandas']:.4f}", "-", "-"))
    p7b = results.get("P7b_scale_under_cap")
    if p7b:

        def largest(engine: str) -> str:
            entry = p7b["engines"][engine]
            return f"{'>= ' if entry['ceiling_reached'] else ''}{entry['largest_rows']:,} rows"

        at_least = ">= " if p7b["engines"]["spark"]["ceiling_reached"] else ""
        ratio = "-" if p7b["ratio"] is None else f"{at_least}{p7b['ratio']:.1f}x"
        verdict = {True: "meets", False: "misses", None: "-"}[p7b["meets"]]
        table.append((f"P7b largest completed under {p7b['cap_gb']:g} GiB", largest("spark"), largest("pandas"), ratio,
                      f">= {p7b['goal_min_ratio']:g}x: {verdict}"))  # fmt: skip
    return table


def text_table(results: dict) -> str:
    header = ("figure", "Spark", "pandas", "Spark/pandas", "goal")
    table = [header, *rows_of(results)]
    widths = [max(len(row[column]) for row in table) for column in range(len(header))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in table)


def markdown_table(results: dict) -> str:
    lines = ["| figure | Spark | pandas | Spark/pandas | goal |", "| --- | ---: | ---: | ---: | --- |",
             *(f"| {' | '.join(row)} |" for row in rows_of(results)), ""]  # fmt: skip
    for key in ("P7a_engines_1M", "P7b_scale_under_cap"):
        if key in results:
            entry, load = results[key], results[key]["load_1min"]
            lines.append(f"- {key}: {entry['measured_at']}, {entry['mode']} mode, {entry['machine']['cpus']} CPUs, "
                         f"load average {load['min']:.1f}-{load['max']:.1f} (median {load['median']:.1f})")  # fmt: skip
    return "\n".join(lines)


def update_markdown(path: Path, results: dict) -> None:
    text = path.read_text()
    start, end = text.index(MARKERS[0]) + len(MARKERS[0]), text.index(MARKERS[1])
    path.write_text(text[:start] + "\n" + markdown_table(results) + "\n" + text[end:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (checks the runner)")
    parser.add_argument("--results", type=Path, help="results file (default: benchmarks/results.json; quick: build/)")
    parser.add_argument("--markdown", type=Path, help="file whose P7 table to rewrite (full default: RESULTS.md)")
    parser.add_argument("--only", nargs="+", choices=["P7a", "P7b"], help="run only these")
    parser.add_argument("--workdir", type=Path, help="keep the data and the runs here (default: a temporary dir)")
    parser.add_argument("--baked", action="store_true", help="run the baked projects' `dvc repro` (see baked_stages)")
    for name in ("cap-gb", "start-rows", "max-rows", "timeout"):
        parser.add_argument(f"--{name}", type=float if name == "cap-gb" else int, help="override the mode's value")
    args = parser.parse_args()
    mode = "quick" if args.quick else "full"
    settings = dict(MODES[mode])
    for name in ("cap_gb", "start_rows", "max_rows", "timeout"):
        if getattr(args, name) is not None:
            settings[name] = getattr(args, name)
    results_path = args.results or DEFAULT_RESULTS[mode]
    markdown = args.markdown or (ROOT / "benchmarks" / "RESULTS.md" if mode == "full" else None)
    if markdown and MARKERS[0] not in (markdown.read_text() if markdown.exists() else ""):
        parser.error(f"{markdown} has no '{MARKERS[0]}' line to put the table after")
    only = set(args.only or ["P7a", "P7b"])

    with tempfile.TemporaryDirectory(prefix="bench-spark-") as tmp:
        workdir = (args.workdir or Path(tmp)).resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        env = bench_env(PYCACHE)
        if args.baked:
            global BAKED
            BAKED = True
            os.environ.update({key: env[key] for key in ("PYTHONPYCACHEPREFIX", "DVC_NO_ANALYTICS", "PATH")})
        env["OMP_NUM_THREADS"] = "1"  # scikit-learn's threads would spin on the cores Spark's two tasks use
        loads = LoadSampler()
        loads.start()
        new = {}

        def record(key: str, benchmark, *arguments) -> None:
            started, mark = datetime.datetime.now(datetime.UTC), len(loads.samples)
            result = benchmark(*arguments)
            result.update(measured_at=started.isoformat(timespec="seconds"), mode=mode, machine=machine(),
                          workload="baked stages" if BAKED else "spark_workload.py",
                          load_1min=loads.since(mark),
                          versions={name: version(name) for name in ("pyspark", "scikit-learn", "pandas")})  # fmt: skip
            new[key] = result

        if "P7a" in only:
            record("P7a_engines_1M", p7a_engines, settings["p7a_rows"], workdir / "p7a", env, settings["timeout"])
        if "P7b" in only:
            (workdir / "p7b").mkdir(exist_ok=True)
            record("P7b_scale_under_cap", p7b_scale, settings, workdir / "p7b", env)
        results = write_results(results_path, new)
    print(text_table(results))
    print(f"written under {', '.join(new)} in {results_path}")
    if markdown:
        update_markdown(markdown, results)
        print(f"table rewritten in {markdown}")


if __name__ == "__main__":
    main()
