"""benchmarks/pipeline.py keeps working: its quick mode bakes the default project and two synthetic
ones, runs `dvc repro` and the plain baseline script on each, and writes every figure (ours, baseline,
ratio, goal) into a results file, keeping the other benchmarks' keys. Speed is never asserted: only
that each figure is there, positive and consistent, that both sides computed the same metrics, and that
a changed train parameter re-ran exactly train and evaluate (the real numbers: benchmarks/RESULTS.md)."""

import json

import pandas as pd
import pytest
from helpers import BIN, TEMPLATE, run

pytestmark = pytest.mark.slow

SCRIPT = TEMPLATE / "benchmarks" / "pipeline.py"
OTHER_BENCHMARK = {"P5_serving": {"batches": {}, "goal_throughput_ratio": 2.0}}
KEYS = {"P1_first_repro", "P2_1M_rows", "P3_noop_repro", "P4_changed_param", "P6_5M_rows"}
STAGES = ["validate", "prepare", "train", "evaluate"]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """(results file content, printed output, results path) of one quick run into a temporary file."""
    workdir = tmp_path_factory.mktemp("bench-pipeline")
    results = workdir / "results.json"
    results.write_text(json.dumps(OTHER_BENCHMARK))
    committed = (TEMPLATE / "benchmarks" / "results.json").read_text()
    output = run(BIN / "python", SCRIPT, "--quick", "--results", results, "--workdir", workdir / "work", cwd=workdir)
    assert (TEMPLATE / "benchmarks" / "results.json").read_text() == committed, "quick mode wrote the committed file"
    return json.loads(results.read_text()), output.stdout


def test_every_benchmark_is_written_and_the_others_are_kept(quick_run):
    results, _ = quick_run
    assert set(results) == KEYS | {"P5_serving"}
    assert results["P5_serving"] == OTHER_BENCHMARK["P5_serving"]
    for key in KEYS:
        assert results[key]["mode"] == "quick"
        assert results[key]["machine"]["cpus"] >= 1
        load = results[key]["load_1min"]
        assert 0 <= load["min"] <= load["median"] <= load["max"], load


def test_each_figure_has_ours_baseline_ratio_and_goal(quick_run):
    results, _ = quick_run
    for key in KEYS:
        for name, item in results[key]["figures"].items():
            assert item["ours"] > 0 and item["baseline"] > 0, (key, name, item)
            assert item["ratio"] == pytest.approx(item["ours"] / item["baseline"], abs=0.001), (key, name)
            if item["goal_max_ratio"] is None:
                assert item["meets"] is None
            else:
                assert item["meets"] == (item["ratio"] <= item["goal_max_ratio"]), (key, name)
    assert results["P1_first_repro"]["figures"]["wall_s"]["goal_max_ratio"] == 2.0
    assert results["P2_1M_rows"]["figures"]["wall_s"]["goal_max_ratio"] == 1.15
    assert results["P2_1M_rows"]["figures"]["peak_rss_mb"]["goal_max_ratio"] == 1.3
    assert results["P3_noop_repro"]["figures"]["noop_repro_s"]["goal_max_ratio"] == 1.2


def test_pipeline_and_baseline_compute_the_same_model(quick_run):
    results, _ = quick_run
    for key in ("P1_first_repro", "P2_1M_rows", "P6_5M_rows"):
        assert results[key]["same_metrics"] is True, key
        assert results[key]["stages_run"] == STAGES, key


def test_changed_train_param_reruns_exactly_train_and_evaluate(quick_run):
    results, _ = quick_run
    changed = results["P4_changed_param"]
    assert changed["stages_run"] == ["train", "evaluate"] and changed["meets"] is True


def test_peak_rss_covers_the_stage_processes(quick_run):
    """The stages are grandchildren of the measured `dvc repro` (dvc -> sh -> python): the peak from
    os.wait4 must be at least what polling saw in the biggest stage."""
    results, _ = quick_run
    for key in ("P2_1M_rows", "P6_5M_rows"):
        ours = results[key]["runs"]["ours"]
        biggest_stage = max(stage["peak_rss_mb"] for stage in ours["stages"].values())
        assert set(ours["stages"]) == set(STAGES), ours["stages"]
        assert ours["peak_rss_mb"] >= biggest_stage - 0.2, ours  # wait4 sees the grandchildren
        assert ours["tree_peak_rss_mb"] >= biggest_stage, ours


def test_synthetic_data_has_numbers_categories_gaps_and_two_classes(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_pipeline", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    path = module.write_synthetic_csv(tmp_path / "data.csv", rows=1_200, chunk=500)
    table = pd.read_csv(path)
    assert len(table) == 1_200
    assert table.select_dtypes("number").shape[1] >= 4
    assert table.select_dtypes(exclude="number").shape[1] >= 4
    assert table.isna().any().sum() >= 3
    assert set(table["churned"]) == {"yes", "no"} and 0.2 < (table["churned"] == "yes").mean() < 0.8
    assert module.write_synthetic_csv(tmp_path / "again.csv", rows=1_200, chunk=500).read_text() == path.read_text()


def test_table_prints_every_figure_with_a_verdict(quick_run):
    results, printed = quick_run
    lines = printed.splitlines()
    start = next(index for index, line in enumerate(lines) if line.split()[:2] == ["figure", "ours"])
    rows = lines[start + 1 : start + 1 + sum(len(results[key]["figures"]) for key in KEYS) + 2]
    assert [row.split(":")[0] for row in rows if row.startswith("P1")] == ["P1 first repro"]
    assert any(row.startswith("P4 changed param: stages run") for row in rows), printed
    assert any(row.startswith("P6 ") and ": completes" in row for row in rows), printed
    assert all(row.split()[-1] in ("meets", "misses", "-") for row in rows), rows
