"""Pull/merge request report and regression gate, the same on GitHub and GitLab.

Compares this branch's metrics and params with the base branch's (`dvc metrics diff`, `dvc params
diff`), fails when the primary metric (params.yaml evaluate.primary_metric) dropped by more than
evaluate.max_regression, and draws the plots of both sides (charts.py: Mermaid charts and tables from
plots/*.csv). comment.py posts the result as one comment that later runs update in place.

Usage: python -m {{ cookiecutter.package }}.report BASE_REF      (make report BASE=main)

Run it from the project root after `dvc repro`. BASE_REF is the base branch (main, origin/main) or any
commit; `dvc metrics diff` reads it from git, so CI must check out the full history.
Exit status: 0 the gate passes, 1 it fails (the report says why), 2 usage or tool error.

The report always goes to stdout and params.yaml's paths.report, and to $GITHUB_STEP_SUMMARY when set; in a
pull/merge request it is also posted as a comment (comment.py says with which token). Needs only the
standard library and PyYAML (which DVC installs), so CI can run it without the project's heavier
dependencies.
"""

import json
import math
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import yaml

from {{ cookiecutter.package }} import charts, comment, params


class ReportError(Exception):
    """A usage or tool problem: no report can be made (exit status 2)."""


# --- what changed, and the gate ---------------------------------------------------------------


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, check=False)


def resolve_base(ref: str) -> str:
    """The git ref to compare with: `ref` itself, else `origin/ref` (what a CI checkout has)."""
    for candidate in (ref, f"origin/{ref}"):
        if run("git", "rev-parse", "--verify", "--quiet", candidate + "^{commit}").returncode == 0:
            return candidate
    shallow = run("git", "rev-parse", "--is-shallow-repository").stdout.strip() == "true"
    raise ReportError(
        f"unknown git ref '{ref}' (nor origin/{ref}): the base branch must be in this clone's history. "
        f"Fetch it (git fetch origin {ref}){'; this clone is shallow' if shallow else ''}: CI must check out "
        "the full history (GitHub: actions/checkout with fetch-depth: 0; GitLab: GIT_DEPTH: 0)."
    )


def dvc(*args: str) -> str:
    """Run DVC from this interpreter's environment; its stdout."""
    result = run(sys.executable, "-m", "dvc", *args)
    if result.returncode != 0:
        raise ReportError(f"`dvc {' '.join(args)}` failed (exit {result.returncode}): {result.stderr.strip()[-2000:]}")
    return result.stdout


def as_float(value) -> float | None:
    """A metric value as a float; None when missing or not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return None
    return float(value)


def base_max_regression(base: str) -> float | None:
    """evaluate.max_regression as the base branch has it, so a change cannot loosen its own gate."""
    shown = run("git", "show", f"{base}:params.yaml")
    if shown.returncode != 0:
        return None
    try:
        evaluate = yaml.safe_load(shown.stdout) or {}
    except yaml.YAMLError:
        return None
    for key in ("evaluate", "max_regression"):
        evaluate = evaluate.get(key) if isinstance(evaluate, dict) else None
    return as_float(evaluate)


def gate(metrics: dict, primary: str, max_regression: float, base: str) -> tuple[bool, str]:
    """(passed, why): fails only when `primary` dropped by more than max_regression below `base`."""
    values = next((by_name[primary] for by_name in metrics.values() if primary in by_name), {})
    old, new = as_float(values.get("old")), as_float(values.get("new"))
    if new is None:
        return False, (
            f"this branch has no value for the primary metric `{primary}` (evaluate.primary_metric): "
            "run `dvc repro` before the report, and check that the evaluate stage writes that metric."
        )
    if old is None:
        return True, f"`{base}` has no `{primary}` yet (no metrics committed there): nothing to regress from."
    drop = round(old - new, 9)  # rounded: 0.98 - 0.97 must not count as more than 0.01
    change = f"{old:g} on `{base}` -> {new:g} on this branch ({new - old:+.6g})"
    if drop > max_regression:
        return False, (
            f"`{primary}` dropped by {drop:g}, more than the allowed {max_regression:g} "
            f"(evaluate.max_regression): {change}."
        )
    return True, f"`{primary}` {change}; a drop of more than {max_regression:g} (evaluate.max_regression) fails."


# --- the markdown ----------------------------------------------------------------------------


def metrics_table(metrics: dict, primary: str, base: str) -> list[str]:
    rows = [f"| File | Metric | `{base}` | this branch | Change |", "| --- | --- | ---: | ---: | ---: |"]
    for path, by_name in metrics.items():
        for name, values in sorted(by_name.items()):
            old, new = as_float(values.get("old")), as_float(values.get("new"))
            change = f"{new - old:+.6g}" if old is not None and new is not None else "-"
            label = f"**{name}** (primary)" if name == primary else name
            shown = [f"{value:.6g}" if value is not None else "missing" for value in (old, new)]
            rows.append(f"| {path} | {label} | {shown[0]} | {shown[1]} | {change} |")
    return rows if len(rows) > 2 else ["No metrics on either side: run `dvc repro` first."]


def model_line(model_info: Path) -> str:
    """Which model this branch trained, from the evaluate stage's model info file (paths.model_info)."""
    try:
        info = json.loads(model_info.read_text(encoding="utf-8"))
    except OSError:
        return f"**Model:** unknown ({model_info} not found)"
    except ValueError:
        info = None
    if not isinstance(info, dict):
        return f"**Model:** unknown ({model_info} is not a JSON object)"
    keys = ("model_name", "model_version", "run_id", "git_commit")
    name, version, run_id, commit = (info.get(key) or "?" for key in keys)
    return f"**Model:** `{name}` version {version} (MLflow run `{run_id}`, commit `{str(commit)[:12]}`)"


def plots_line(base: str, env: Mapping[str, str]) -> str:
    """Where CI keeps the plots diff: the GitHub run's artifacts or the GitLab job's artifacts."""
    if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        url = f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    elif env.get("CI_JOB_URL"):
        url = f"{env['CI_JOB_URL']}/artifacts/browse"
    else:
        return f"**Plots:** `dvc plots diff {base}` renders them locally."
    return f"**Plots:** [`dvc plots diff {base}` in this run's artifacts]({url})"


def plot_texts(base: str, plots_dir: Path) -> dict[str, tuple[str | None, str | None]]:
    """{file name: (its text on base, its text here)} for each file of plots_dir (paths.plots) the comment
    draws; None: not there. Git tracks plots_dir, so the base branch has it too."""
    texts = {}
    for name in charts.DRAWINGS:
        here = plots_dir / name
        shown = run("git", "show", f"{base}:./{here.as_posix()}")
        old = shown.stdout if shown.returncode == 0 else None
        if here.is_file():
            texts[name] = (old, here.read_text(encoding="utf-8"))
    return texts


def build_markdown(
    metrics: dict,
    params_md: str,
    passed: bool,
    why: str,
    primary: str,
    base: str,
    env,
    model_info: Path,
    plots: list[str] = (),
) -> str:
    """The report; `plots` are charts.plots_section's lines. The params table goes last: it can be long."""
    params_lines = params_md.strip().splitlines()
    if len(params_lines) <= 2:  # only the header: nothing changed
        params_lines = [f"No params differ from `{base}`."]
    return "\n".join(
        [
            comment.MARKER,
            f"## Model report: this branch vs `{base}`",
            "",
            f"**Gate {'passed' if passed else 'FAILED'}:** {why}",
            "",
            model_line(model_info),
            "",
            plots_line(base, env),
            "",
            "### Metrics",
            "",
            *metrics_table(metrics, primary, base),
            "",
            *plots,
            "### Params",
            "",
            *params_lines,
            "",
        ]
    )


# --- the command ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    env = os.environ if env is None else env
    if len(args) != 1 or args[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        p = params.load()
        base = resolve_base(args[0])
        metrics = json.loads(dvc("metrics", "diff", "--json", "--all", base) or "{}")
        params_md = dvc("params", "diff", "--md", base)
    except (ReportError, params.ParamsError, OSError, ValueError) as error:
        print(f"report: {error}", file=sys.stderr)
        return 2
    primary, margin = p.evaluate.primary_metric, p.evaluate.max_regression
    base_margin = base_max_regression(base)
    passed, why = gate(metrics, primary, margin if base_margin is None else base_margin, base)
    if base_margin is not None and base_margin != margin:
        why += f" The margin is `{base}`'s; this branch's {margin:g} applies once it is merged."

    plots = charts.plots_section(plot_texts(base, p.paths.plots), base, p.paths.plots)
    markdown = build_markdown(metrics, params_md, passed, why, primary, base, env, p.paths.model_info, plots)
    p.paths.report.parent.mkdir(parents=True, exist_ok=True)
    p.paths.report.write_text(markdown, encoding="utf-8")
    print(markdown)
    short = comment.truncate(markdown, p.paths.report)
    if env.get("GITHUB_STEP_SUMMARY"):
        with open(env["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as summary:
            summary.write(short + "\n")
    print(comment.publish(short, env))
    print(f"report: written to {p.paths.report}")
    print(f"report: gate {'passed' if passed else 'FAILED'}: {why}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
