"""Take the screenshots the docs show (`make screenshots`): the plots page, the report comment and the
MLflow run page, with Playwright driving Debian's Chromium (Playwright's own browser download needs a
CDN this machine cannot reach).

The pictures come from a real project: the default bake in build/screenshots, trained on main, then
again on the branch `smaller-forest` (20 trees of depth 3), so that the plots, the report comment and
MLflow compare two models. tests/test_browser.py checks the same pages with these functions.

Usage: python scripts/screenshots.py [OUT_DIR]       (default: docs/images)
"""

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import markdown
import yaml

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"  # Debian's package (make system-tools installs it)
MERMAID = {  # the npm packages in ci-tools (make ci-tools)
    "mermaid": ROOT / "ci-tools/node_modules/mermaid/dist/mermaid.min.js",
    "mermaid10": ROOT / "ci-tools/node_modules/mermaid10/dist/mermaid.min.js",
}
BIN = Path(sys.executable).parent  # the template's .venv: cookiecutter, dvc, mlflow
sys.path.insert(0, str(ROOT / "tests"))
from helpers.mlflow_server import serve_mlflow

LOCAL = ("file:", "data:", "about:", "http://127.0.0.1")  # all a page may reach; anything else is blocked
GIT_IDENTITY = ["-c", "user.name=Screenshots", "-c", "user.email=screenshots@example.com"]
BRANCH = "smaller-forest"
# A pull request's comment, drawn roughly as GitHub draws one.
COMMENT_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Report comment</title><style>
body {{ font: 14px/1.5 -apple-system, "Segoe UI", "Noto Sans", Helvetica, Arial, sans-serif; color: #1f2328;
       background: #f6f8fa; margin: 0; padding: 24px; }}
.comment {{ max-width: 860px; margin: auto; background: white; border: 1px solid #d1d9e0; border-radius: 6px; }}
.header {{ background: #f6f8fa; border-bottom: 1px solid #d1d9e0; padding: 8px 16px; color: #59636e; }}
.body {{ padding: 8px 16px 16px; }}
table {{ border-collapse: collapse; margin: 8px 0; }}
th, td {{ border: 1px solid #d1d9e0; padding: 4px 12px; }}
th {{ background: #f6f8fa; }}
code {{ background: #eff1f3; border-radius: 4px; padding: 1px 4px; font-size: 85%; }}
.chart svg {{ max-width: 620px; }}
</style></head><body><div class="comment"><div class="header"><b>report-bot</b> commented</div>
<div class="body">{body}</div></div></body></html>
"""


def run(*command, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "MLFLOW_DISABLE_TELEMETRY": "true"}
    result = subprocess.run(
        [str(part) for part in command], check=False, cwd=cwd, env=env, capture_output=True, text=True
    )
    if check and result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(map(str, command))} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
        )
    return result


# --- the project the pictures show -----------------------------------------------------------------


def demo_project(parent: Path, retrain: bool = True, **answers: str) -> Path:
    """A bake (default answers unless given), trained on main and committed; then, on the branch BRANCH, a
    smaller forest trained (unless not `retrain`: then BRANCH is main's model) and `make report`'s comment
    written to reports/report.md."""
    from cookiecutter.main import cookiecutter

    project = Path(cookiecutter(str(ROOT), no_input=True, output_dir=str(parent), extra_context=answers))
    run("dvc", "repro", cwd=project)
    run("git", "add", "--all", cwd=project)
    run("git", *GIT_IDENTITY, "commit", "--quiet", "-m", "Train the first model", cwd=project)
    run("git", "checkout", "--quiet", "-b", BRANCH, cwd=project)
    if retrain:
        params = project / "params.yaml"
        text = re.sub(r"(\n\s+n_estimators:) \d+", r"\1 20", params.read_text(), count=1)
        params.write_text(re.sub(r"(\n\s+max_depth:) null", r"\1 3", text, count=1))
        run("git", *GIT_IDENTITY, "commit", "--quiet", "--all", "-m", "A smaller forest", cwd=project)
        run("dvc", "repro", cwd=project)  # as CI does on the pull request's commit
    run(sys.executable, "-m", report_module(project), "main", cwd=project, check=False)  # exit 1: the gate fails
    return project


def report_module(project: Path) -> str:
    """The baked package's report module (python -m NAME)."""
    (package,) = {path.parent.name for path in project.glob("*/report.py")}
    return f"{package}.report"


# --- the browser ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def chromium():
    """Debian's Chromium under Playwright; it fails, saying what to install, when either is missing."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} not found: install Debian's chromium (make system-tools, as root)")
    with sync_playwright() as playwright:
        # Chromium refuses to start its sandbox as root; these pages are our own files.
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            yield browser
        finally:
            browser.close()


class Watched:
    """A page that may reach only this machine (LOCAL): it records what it tried beyond that, what failed
    to load, and its script errors."""

    def __init__(self, browser, width: int = 1100, height: int = 800):
        self.page = browser.new_page(viewport={"width": width, "height": height})
        self.blocked, self.failed, self.errors = [], [], []
        self.page.route("**/*", self._route)
        self.page.on("requestfailed", lambda request: self.failed.append(f"{request.url}: {request.failure}"))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _route(self, route):
        if route.request.url.startswith(LOCAL):
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort()

    def problems(self) -> list[str]:
        return [f"blocked {url}" for url in self.blocked] + self.failed + [f"error {text}" for text in self.errors]


def plots_page(browser, html: Path, plots: int, picture: Path | None = None) -> dict:
    """Open a page of `dvc plots show/diff`, wait until `plots` plots drew; the marks each drew (Vega's
    mark groups: lines, bars, rectangles, points) and the page's problems. Saves a picture when asked."""
    watched = Watched(browser)
    watched.page.goto(html.as_uri())
    watched.page.wait_for_function(
        f"document.querySelectorAll('.vega-embed svg.marks').length >= {plots}", timeout=60_000
    )
    marks = watched.page.evaluate(
        "[...document.querySelectorAll('.vega-embed svg.marks')]"
        ".map(svg => svg.querySelectorAll('g.role-mark > path, g.role-mark > g > path').length)"
    )
    legends = watched.page.evaluate(
        "[...document.querySelectorAll('.vega-embed g.role-legend-label text')].map(text => text.textContent)"
    )
    if picture:
        watched.page.screenshot(path=str(picture), full_page=True)
    return {"marks": marks, "legends": legends, "problems": watched.problems()}


def mermaid_blocks(markdown_text: str) -> list[str]:
    return re.findall(r"^```mermaid\n(.*?)\n```$", markdown_text, flags=re.DOTALL | re.MULTILINE)


def draw_mermaid(page, blocks: list[str], library: str = "mermaid") -> list[dict]:
    """Parse and draw each block with the mermaid npm package into the page's `#chart-N` elements (a new
    div when the page has none); per block: whether it parsed, and the lines it drew (stroke, path length)."""
    page.add_script_tag(path=str(MERMAID[library]))
    page.evaluate("mermaid.initialize({startOnLoad: false})")
    return page.evaluate(
        """async (blocks) => {
            const drawn = [];
            for (const [index, text] of blocks.entries()) {
                const parsed = await mermaid.parse(text);
                const {svg} = await mermaid.render(`mermaid-${index}`, text);
                let holder = document.getElementById(`chart-${index}`);
                if (!holder) { holder = document.createElement("div"); document.body.appendChild(holder); }
                holder.innerHTML = svg;
                const lines = [...holder.querySelectorAll("svg g[class^=line-plot] > path")];
                drawn.push({parsed: parsed !== false, lines: lines.map(p => [p.getAttribute("stroke"),
                            (p.getAttribute("d") || "").length]), width: holder.querySelector("svg").clientWidth});
            }
            return drawn;
        }""",
        blocks,
    )


def comment_page(browser, markdown_text: str, picture: Path | None = None, library: str = "mermaid") -> dict:
    """The report comment drawn as a pull request shows it: Markdown, and its Mermaid blocks as charts."""
    blocks = mermaid_blocks(markdown_text)
    holders = iter(range(len(blocks)))
    text = re.sub(
        r"^```mermaid\n.*?\n```$",
        lambda _: f'<div class="chart" id="chart-{next(holders)}"></div>',
        markdown_text,
        flags=re.DOTALL | re.MULTILINE,
    )
    watched = Watched(browser, width=960)
    watched.page.set_content(COMMENT_PAGE.format(body=markdown.markdown(text, extensions=["tables"])))
    drawn = draw_mermaid(watched.page, blocks, library)
    if picture:
        watched.page.locator(".comment").screenshot(path=str(picture))
    return {"charts": drawn, "problems": watched.problems()}


# --- MLflow's UI -----------------------------------------------------------------------------------------


def mlflow_run_page(browser, project: Path, picture: Path | None = None) -> dict:
    """The MLflow page of the project's last run (models/model_info.json); waits for its metrics to show
    (the UI polls, so "network idle" never comes)."""
    info = json.loads((project / "models" / "model_info.json").read_text())
    with serve_mlflow(project) as url:
        with urllib.request.urlopen(f"{url}/api/2.0/mlflow/runs/get?run_id={info['run_id']}", timeout=30) as answer:
            run_info = json.load(answer)["run"]["info"]
        watched = Watched(browser, width=1280, height=1000)
        watched.page.goto(f"{url}/#/experiments/{run_info['experiment_id']}/runs/{info['run_id']}")
        watched.page.get_by_text("roc_auc").first.wait_for(timeout=120_000)
        watched.page.get_by_text(run_info["run_name"]).first.wait_for(timeout=30_000)
        assistant = watched.page.get_by_role("button", name="Close", exact=True)  # MLflow 3's chat panel, open at first
        if assistant.count():
            assistant.first.click()
        if picture:
            watched.page.screenshot(path=str(picture))
        return {
            "run_name": run_info["run_name"],
            "text": watched.page.inner_text("body"),
            "problems": watched.problems(),
        }


# --- the command -------------------------------------------------------------------------------------------


def take(project: Path, out: Path, browser) -> dict[str, tuple[Path, dict]]:
    """Every picture of the docs, from a project made by demo_project; {name: (file, what the page showed)}."""
    out.mkdir(parents=True, exist_ok=True)
    pictures = {name: out / f"{name}.png" for name in ("plots", "report-comment", "mlflow-run")}
    run("dvc", "plots", "diff", "main", "--out", "dvc_plots_diff", cwd=project)  # both models, as CI's artifact
    plots = len(yaml.safe_load((project / "dvc.yaml").read_text())["plots"])
    report = (project / "reports" / "report.md").read_text()
    return {
        "plots": (
            pictures["plots"],
            plots_page(browser, project / "dvc_plots_diff/index.html", plots, pictures["plots"]),
        ),
        "report-comment": (pictures["report-comment"], comment_page(browser, report, pictures["report-comment"])),
        "mlflow-run": (pictures["mlflow-run"], mlflow_run_page(browser, project, pictures["mlflow-run"])),
    }


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else ROOT / "docs" / "images"
    work = ROOT / "build" / "screenshots"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    with chromium() as browser:
        taken = take(demo_project(work), out.resolve(), browser)
    for name, (path, shown) in taken.items():
        where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        print(f"screenshots: {name}: {where}" + "".join(f"\n  problem: {line}" for line in shown["problems"]))
    return 1 if any(shown["problems"] for _, shown in taken.values()) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
