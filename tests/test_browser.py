"""What a team looks at, opened in headless Chromium (Debian's, driven by Playwright) on pages that may
reach nothing but this machine: the plots page draws every plot without internet, the report comment's
Mermaid charts parse and draw with the mermaid npm package (the newest and 10.9, the oldest line with
xychart-beta), and `make screenshots` takes the docs' pictures.

A missing browser fails these tests, it never skips them: `make test` installs Chromium (make
system-tools) and Playwright (requirements-dev.txt). The plots page screenshot is kept as
build/test-artifacts/plots.png.
"""

import functools
import http.server
import json
import sqlite3
import struct
import sys
import threading
from pathlib import Path

import pytest
import yaml
from helpers import BIN, TEMPLATE, run, tool_env

sys.path.insert(0, str(TEMPLATE / "scripts"))
import screenshots  # scripts/ is not a package: found through sys.path

ARTIFACTS = TEMPLATE / "build" / "test-artifacts"
COMMENT_LIMIT = 65_536  # GitHub's


@pytest.fixture(scope="module")
def browser():
    with screenshots.chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def classification(tmp_path_factory):
    """The default bake: trained on main, then a smaller forest on a branch, with its report."""
    return screenshots.demo_project(tmp_path_factory.mktemp("classification"))


@pytest.fixture(scope="module")
def regression(tmp_path_factory):
    """A regression bake trained once: its branch reports against the same model on main."""
    return screenshots.demo_project(tmp_path_factory.mktemp("regression"), retrain=False, task="regression")


def plot_names(project) -> list[str]:
    return [next(iter(plot)) for plot in yaml.safe_load((project / "dvc.yaml").read_text())["plots"]]


def png_size(path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", header[16:24])


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_make_plots_draws_every_plot_of_dvc_yaml_without_internet(task, request, browser):
    project = request.getfixturevalue(task)
    run("make", "plots", cwd=project, env=tool_env())
    page = project / "dvc_plots" / "index.html"
    assert "cdn.jsdelivr" not in page.read_text() and "<script src=" not in page.read_text()
    names = plot_names(project)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    picture = ARTIFACTS / f"plots-{task}.png" if task == "regression" else ARTIFACTS / "plots.png"
    shown = screenshots.plots_page(browser, page, plots=len(names), picture=picture)
    assert shown["problems"] == []  # no request beyond this machine, none failed, no script error
    assert len(shown["marks"]) == len(names), (names, shown)
    assert all(marks > 0 for marks in shown["marks"]), dict(zip(names, shown["marks"], strict=True))
    assert png_size(picture)[1] > 400


def test_plots_diff_draws_both_sides_offline_as_ci_artifact_does(classification, browser, tmp_path):
    run(BIN / "dvc", "plots", "diff", "main", "--out", tmp_path, cwd=classification)
    shown = screenshots.plots_page(browser, tmp_path / "index.html", plots=len(plot_names(classification)))
    assert shown["problems"] == [] and all(marks > 0 for marks in shown["marks"])
    assert {"main", "workspace"} <= set(shown["legends"])


@pytest.mark.parametrize("library", ["mermaid", "mermaid10"])
@pytest.mark.parametrize("task, charts", [("classification", 1), ("regression", 2)])
def test_report_comment_charts_parse_and_draw_base_and_branch_lines(task, charts, library, request, browser):
    report = (request.getfixturevalue(task) / "reports" / "report.md").read_text()
    assert len(report) < COMMENT_LIMIT
    assert "### Plots" in report and "#### Permutation importance" in report
    assert ("#### Confusion matrix" in report) == (task == "classification")
    shown = screenshots.comment_page(browser, report, library=library)
    assert shown["problems"] == []
    assert len(shown["charts"]) == charts
    for chart in shown["charts"]:
        assert chart["parsed"] and chart["width"] > 300
        colours = [stroke for stroke, _ in chart["lines"]]
        assert colours[-2:] == ["#1f77b4", "#ff7f0e"], chart  # base blue, this branch orange
        assert all(length > 40 for _, length in chart["lines"]), chart  # each line has a real path


def test_screenshot_command_takes_the_plots_comment_and_mlflow_run_pages(classification, browser, tmp_path):
    taken = screenshots.take(classification, tmp_path, browser)
    assert sorted(taken) == ["mlflow-run", "plots", "report-comment"]
    for name, (picture, shown) in taken.items():
        assert shown["problems"] == [], name
        width, height = png_size(picture)
        assert width >= 800 and height >= 400, (name, width, height)
    mlflow = taken["mlflow-run"][1]
    assert mlflow["run_name"] in mlflow["text"] and "roc_auc" in mlflow["text"]
    assert "importance_rows" in mlflow["text"]  # the run's params, as params.yaml has them
    assert len(taken["report-comment"][1]["charts"]) == 1


def test_importance_is_a_dvc_plot_an_artifact_of_the_mlflow_run_and_a_table_in_the_comment(classification):
    importance = (classification / "plots" / "importance.csv").read_text()
    assert importance.startswith("feature,importance,std\n") and len(importance.splitlines()) == 11  # 10 columns
    assert "Permutation importance" in plot_names(classification)
    run_id = json.loads((classification / "models" / "model_info.json").read_text())["run_id"]
    with sqlite3.connect(classification / "mlflow.db") as db:  # where MLflow put the run's artifacts
        (artifacts,) = db.execute("SELECT artifact_uri FROM runs WHERE run_uuid = ?", (run_id,)).fetchone()
    logged = Path(artifacts.removeprefix("file://")) / "evaluation" / "importance.csv"
    assert logged.read_text() == importance
    report = (classification / "reports" / "report.md").read_text()
    top = importance.splitlines()[1].split(",")[0]
    assert f"| 1 | `{top}` |" in report


def test_plots_template_is_what_vendor_vega_writes_from_the_pinned_npm_packages():
    """The 830 kB of JavaScript in the baked plots_template.html is traceable: exactly the browser builds of
    vega, vega-lite and vega-embed pinned in ci-tools/package-lock.json (make ci-tools installs them)."""
    result = run(BIN / "python", TEMPLATE / "scripts" / "vendor_vega.py", "--check", cwd=TEMPLATE, check=False)
    assert result.returncode == 0, result.stderr
    page = (TEMPLATE / "{{cookiecutter.project}}" / "plots_template.html").read_text()
    assert "{plot_divs}" in page and "{scripts}" not in page  # DVC would put its CDN <script> tags there
    assert "vega@5.33.1, vega-lite@5.23.0, vega-embed@6.29.0" in page and "Redistribution and use" in page


def test_docs_site_pages_load_nothing_beyond_this_machine(browser, tmp_path):
    """Served as GitHub Pages would serve it, every page draws with its images and loads no font or
    script from elsewhere (theme.font is off)."""
    run(
        BIN / "mkdocs", "build", "--strict", "--site-dir", tmp_path, cwd=TEMPLATE, env=tool_env(NO_MKDOCS_2_WARNING="1")
    )
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            for page in sorted(tmp_path.rglob("index.html")):
                watched = screenshots.Watched(browser)
                url = f"http://127.0.0.1:{server.server_address[1]}/{page.parent.relative_to(tmp_path).as_posix()}/"
                watched.page.goto(url)
                watched.page.wait_for_load_state("load")
                broken = watched.page.evaluate("[...document.images].filter(i => !i.naturalWidth).map(i => i.src)")
                assert watched.problems() == [] and broken == [], (url, watched.problems(), broken)
                watched.page.close()
        finally:
            server.shutdown()
