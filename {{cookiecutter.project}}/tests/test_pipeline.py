"""One end-to-end `dvc repro` of this project's pipeline, on a small slice of the raw data."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from {{ cookiecutter.package }} import params

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PATHS = params.load(PROJECT_ROOT / "params.yaml").paths
ROWS = 80


def run(*command: str, cwd: Path) -> None:
    # Stage commands call `python`: make it this interpreter, as an activated environment would.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}"


def test_pipeline_runs_end_to_end_on_a_slice(tmp_path, monkeypatch):
    source = PROJECT_ROOT / PATHS.raw
    if not source.exists():
        pytest.skip(f"{PATHS.raw} is not in the workspace: run `dvc pull` first")
    project = tmp_path / "project"
    # The code and settings only: not the data, nor anything the pipeline wrote (the top folder of each path).
    outputs = {Path(path).parts[0] for path in vars(PATHS).values()}
    shutil.copytree(PROJECT_ROOT, project, ignore=shutil.ignore_patterns(".*", *outputs, "mlflow.*", "mlruns"))
    copy = project / PATHS.raw
    copy.parent.mkdir(parents=True)
    pd.read_csv(source).sample(n=ROWS, random_state=0).to_csv(copy, index=False)
    run("git", "init", "--quiet", cwd=project)
    run(sys.executable, "-m", "dvc", "init", "--quiet", cwd=project)
    # A slice has its own ranges and gaps: give it its own contract, as `make schema` would.
    run(sys.executable, "-m", "{{ cookiecutter.package }}.contract", cwd=project)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    run(sys.executable, "-m", "dvc", "repro", cwd=project)

    assert json.loads((project / PATHS.validation).read_text())["problems"] == []
    metrics = json.loads((project / PATHS.metrics).read_text())
    assert metrics and all(isinstance(value, float) for value in metrics.values())
    assert (project / PATHS.model).exists()
    assert (project / "dvc.lock").exists()
    # MLFLOW_TRACKING_URI overrides the project's default store
    assert (tmp_path / "mlflow.db").exists() and not (project / "mlflow.db").exists()
