"""Shared helpers: bake the template with real cookiecutter, run real commands in the result."""

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from cookiecutter.generate import generate_context
from cookiecutter.main import cookiecutter
from cookiecutter.prompt import prompt_for_config

TEMPLATE = Path(__file__).resolve().parents[1]
# The test environment's tools (dvc, ruff, uv, python) come first, as in an activated environment:
# DVC stage commands call `python`, and the hooks run with this interpreter.
BIN = Path(sys.executable).parent
DEFAULTS = json.loads((TEMPLATE / "cookiecutter.json").read_text())


def tool_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", **extra}
    # Commits made by the tests themselves; the bake's own first commit must work without these.
    env.setdefault("GIT_AUTHOR_NAME", "Template Tests")
    env.setdefault("GIT_AUTHOR_EMAIL", "tests@example.com")
    env.setdefault("GIT_COMMITTER_NAME", "Template Tests")
    env.setdefault("GIT_COMMITTER_EMAIL", "tests@example.com")
    return env


def run(*command: str | Path, cwd: Path, check: bool = True, env: dict | None = None, timeout: int = 900):
    """Run a command; on failure the assertion shows its whole output."""
    result = subprocess.run(
        [str(part) for part in command],
        check=False,
        cwd=cwd,
        env=env or tool_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check:
        assert result.returncode == 0, (
            f"`{' '.join(map(str, command))}` exited {result.returncode} in {cwd}\n"
            f"--- stdout\n{result.stdout[-6000:]}\n--- stderr\n{result.stderr[-6000:]}"
        )
    return result


def bake(output_dir: Path, **answers: str) -> Path:
    """Bake the template with these answers (defaults for the rest); return the project directory."""
    return Path(
        cookiecutter(
            str(TEMPLATE),
            no_input=True,
            output_dir=str(output_dir),
            extra_context=answers,
            default_config=True,
        )
    )


def rendered_answers(**answers: str) -> dict:
    """Every answer as cookiecutter renders it for a bake (derived keys such as package filled in)."""
    context = generate_context(str(TEMPLATE / "cookiecutter.json"), extra_context=answers)
    return prompt_for_config(context, no_input=True)


def write_messy_csv(path: Path, rows: int = 240) -> Path:
    """A user's CSV as it arrives: mixed types, gaps everywhere, text labels, an ID column."""
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{index:05d}" for index in range(rows)],
            "age": [18 + (index * 7) % 60 for index in range(rows)],
            "monthly_spend": [round(20 + (index * 13) % 150 + (index % 3) * 0.5, 2) for index in range(rows)],
            "plan": [["basic", "plus", "premium"][index % 3] for index in range(rows)],
            "region": [["north", "south", "east", "west", None][index % 5] for index in range(rows)],
        }
    )
    frame.loc[frame.index % 9 == 0, "monthly_spend"] = None
    score = frame["age"] / 60 + frame["plan"].map({"basic": 0, "plus": 0.4, "premium": 0.9}) + (frame.index % 4) / 5
    frame["churned"] = ["yes" if value > 1.1 else "no" for value in score]
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def messy_csv(tmp_path_factory) -> Path:
    return write_messy_csv(tmp_path_factory.mktemp("user-data") / "customers.csv")


def stages_run(dvc_output: str) -> list[str]:
    """The stages `dvc repro` ran, in order, from its output."""
    return re.findall(r"Running stage '([^']+)'", dvc_output)


def mlflow_runs(project: Path) -> list[dict]:
    """The runs in the project's local MLflow store, read with sqlite3 (no MLflow import needed)."""
    with sqlite3.connect(project / "mlflow.db") as db:
        runs = db.execute("SELECT run_uuid FROM runs ORDER BY start_time").fetchall()
        return [
            {
                "id": run_id,
                "params": dict(db.execute("SELECT key, value FROM params WHERE run_uuid = ?", (run_id,))),
                "metrics": dict(db.execute("SELECT key, value FROM metrics WHERE run_uuid = ?", (run_id,))),
            }
            for (run_id,) in runs
        ]


def find_python(version: str) -> str | None:
    """An interpreter for `version`: on PATH, or one of pyenv's (whose shims may refuse to run)."""
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = [shutil.which(f"python{version}"), *sorted(pyenv_root.glob(f"versions/{version}.*/bin/python"))]
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [str(candidate), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            check=False,
            capture_output=True,
            text=True,
        )
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return str(candidate)
    return None
