"""One end-to-end `dvc repro` of this project's pipeline, on a small slice of the raw data."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[1]
ROWS = 80


def raw_csv() -> Path:
    """The raw data file, as the prepare stage's first dependency names it in dvc.yaml."""
    with open(PROJECT_ROOT / "dvc.yaml", encoding="utf-8") as file:
        return PROJECT_ROOT / yaml.safe_load(file)["stages"]["prepare"]["deps"][0]


def run(*command: str, cwd: Path) -> None:
    # Stage commands call `python`: make it this interpreter, as an activated environment would.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}"


def test_pipeline_runs_end_to_end_on_a_slice(tmp_path, monkeypatch):
    source = raw_csv()
    if not source.exists():
        pytest.skip(f"{source.relative_to(PROJECT_ROOT)} is not in the workspace: run `dvc pull` first")
    project = tmp_path / "project"
    shutil.copytree(
        PROJECT_ROOT,
        project,
        ignore=shutil.ignore_patterns(".*", "data", "models", "metrics", "plots", "reports", "mlflow.*", "mlruns"),
    )
    copy = project / source.relative_to(PROJECT_ROOT)
    copy.parent.mkdir(parents=True)
    pd.read_csv(source).sample(n=ROWS, random_state=0).to_csv(copy, index=False)
    run("git", "init", "--quiet", cwd=project)
    run(sys.executable, "-m", "dvc", "init", "--quiet", cwd=project)
    # A slice has its own ranges and gaps: give it its own contract, as `make schema` would.
    run(sys.executable, "-m", "{{ cookiecutter.package }}.contract", str(copy), "data/schema.yaml", cwd=project)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    run(sys.executable, "-m", "dvc", "repro", cwd=project)

    assert json.loads((project / "reports" / "validation.json").read_text())["problems"] == []
    metrics = json.loads((project / "metrics" / "metrics.json").read_text())
    assert metrics and all(isinstance(value, float) for value in metrics.values())
    assert (project / "models" / "model.joblib").exists()
    assert (project / "dvc.lock").exists()
    # MLFLOW_TRACKING_URI overrides the project's default store
    assert (tmp_path / "mlflow.db").exists() and not (project / "mlflow.db").exists()
