"""benchmarks/spark.py (P7) keeps working: its quick mode runs both engines on a small synthetic table,
uncapped and then under the memory cap, and writes both engines' figures into a results file, keeping
the other benchmarks' keys. Speed is never asserted (the real numbers: benchmarks/RESULTS.md); the cap
itself is: a run that goes over it is reported as out of memory."""

import importlib.util
import json
import os
import sys

import pandas as pd
import pytest
from helpers import BIN, TEMPLATE, run

pytestmark = pytest.mark.slow

SCRIPT = TEMPLATE / "benchmarks" / "spark.py"
OTHER_BENCHMARK = {"P2_1M_rows": {"figures": {}}}
KEYS = {"P7a_engines_1M", "P7b_scale_under_cap"}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """(results file content, printed output) of one quick run into a temporary file."""
    assert importlib.util.find_spec("pyspark"), (
        "pyspark is not in the test venv: `make test` installs it from build/wheelhouse"
    )
    workdir = tmp_path_factory.mktemp("bench-spark")
    results = workdir / "results.json"
    results.write_text(json.dumps(OTHER_BENCHMARK))
    committed = (TEMPLATE / "benchmarks" / "results.json").read_text()
    output = run(BIN / "python", SCRIPT, "--quick", "--results", results, "--workdir", workdir / "work", cwd=workdir)
    assert (TEMPLATE / "benchmarks" / "results.json").read_text() == committed, "quick mode wrote the committed file"
    return json.loads(results.read_text()), output.stdout


@pytest.fixture(scope="module")
def module(tmp_path_factory):
    """benchmarks/spark.py imported (it imports benchmarks/pipeline.py as `pipeline`)."""
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        spec = importlib.util.spec_from_file_location("bench_spark", SCRIPT)
        loaded = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(loaded)
        return loaded
    finally:
        sys.path.remove(str(SCRIPT.parent))


def test_both_benchmarks_are_written_and_the_others_are_kept(quick_run):
    results, _ = quick_run
    assert set(results) == KEYS | set(OTHER_BENCHMARK)
    assert results["P2_1M_rows"] == OTHER_BENCHMARK["P2_1M_rows"]
    for key in KEYS:
        assert results[key]["mode"] == "quick"
        load = results[key]["load_1min"]
        assert 0 <= load["min"] <= load["median"] <= load["max"], load


def test_p7a_gives_both_engines_time_peak_rss_and_auc(quick_run):
    p7a = quick_run[0]["P7a_engines_1M"]
    for name, item in p7a["figures"].items():
        assert item["ours"] > 0 and item["baseline"] > 0, (name, item)
        assert item["ratio"] == pytest.approx(item["ours"] / item["baseline"], abs=0.001), name
        assert item["goal_max_ratio"] is None and item["meets"] is None, name  # a ratio, no goal
    for engine, auc in p7a["roc_auc"].items():
        assert 0.7 < auc <= 1.0, (engine, auc)  # the target is learnable: both engines learned it
    spark = p7a["runs"]["spark"]
    # The tree's peak includes the JVM the Python driver starts (a JVM alone holds a few hundred MB).
    assert spark["tree_peak_rss_mb"] > p7a["runs"]["pandas"]["tree_peak_rss_mb"] + 200, p7a["runs"]


def test_p7b_gives_each_engine_a_largest_size_under_the_cap(quick_run):
    p7b = quick_run[0]["P7b_scale_under_cap"]
    assert p7b["cap_mechanism"] in ("cgroup1", "cgroup2")
    for engine in ("pandas", "spark"):
        entry = p7b["engines"][engine]
        assert entry["largest_rows"] >= p7b["start_rows"], entry
        for attempt in entry["runs"]:
            assert attempt["completed"] and attempt["cgroup"] == p7b["cap_mechanism"], attempt
            assert 0 < attempt["cgroup_peak_mb"] <= p7b["cap_gb"] * 1024, attempt
    # Quick sizes never reach the cap: no verdict on the goal, but the ratio is there.
    assert p7b["engines"]["pandas"]["ceiling_reached"] and p7b["meets"] is None
    assert p7b["ratio"] == p7b["engines"]["spark"]["largest_rows"] / p7b["engines"]["pandas"]["largest_rows"]


def test_a_run_over_the_cap_is_out_of_memory_and_one_under_it_completes(module, tmp_path, monkeypatch):
    """The cap holds the whole tree: a child process that allocates 400 MB under a 200 MB cap is OOM-killed."""
    allocate = "import json, subprocess, sys; subprocess.run([sys.executable, '-c', 'bytearray({size})'], check=True); " \
               "print(json.dumps({{'engine': 'probe', 'rows': 1, 'roc_auc': 1.0}}))"  # fmt: skip

    def probe(size: int):
        return lambda engine, csv, workdir: [sys.executable, "-c", allocate.format(size=size)]

    monkeypatch.setattr(module, "workload", probe(400 * 2**20))
    over = module.run_engine("probe", tmp_path / "none.csv", tmp_path / "over", dict(os.environ), 200 * 2**20, 60)
    assert not over["completed"] and over["oom_kills"] >= 1 and "out of memory" in over["reason"], over
    monkeypatch.setattr(module, "workload", probe(50 * 2**20))
    under = module.run_engine("probe", tmp_path / "none.csv", tmp_path / "under", dict(os.environ), 200 * 2**20, 60)
    assert under["completed"] and under["oom_kills"] == 0 and under["cgroup_peak_mb"] >= 50, under


def test_synthetic_data_has_21_columns_gaps_two_classes_and_grows_deterministically(module, tmp_path):
    grown, whole = tmp_path / "grown.csv", tmp_path / "whole.csv"
    module.extend_csv(grown, 1_000, chunk=500)
    module.extend_csv(grown, 2_000, chunk=500)
    module.extend_csv(whole, 2_000, chunk=500)
    assert grown.read_text() == whole.read_text()
    table = pd.read_csv(whole)
    assert len(table) == 2_000 and table.shape[1] == 21
    assert table.select_dtypes("number").shape[1] == 13 and table.filter(like="cat_").shape[1] == 7
    gaps = table.isna().mean()
    assert (gaps > 0.02).sum() == 7 and gaps.max() < 0.08, gaps
    assert set(table["churned"]) == {"yes", "no"} and 0.2 < (table["churned"] == "yes").mean() < 0.8


def test_table_prints_both_engines_and_the_goal(quick_run):
    _, printed = quick_run
    lines = printed.splitlines()
    start = next(index for index, line in enumerate(lines) if line.split()[:3] == ["figure", "Spark", "pandas"])
    rows = lines[start + 1 : start + 5]
    assert [row.split(":")[0] for row in rows[:3]] == ["P7a 2,000 rows"] * 3, rows
    assert rows[3].startswith("P7b largest completed under 3 GiB") and ">= 4x" in rows[3], rows
