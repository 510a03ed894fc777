"""Work in a baked project as its team does: edit params, commit, read what the pipeline recorded."""

import hashlib
import json
import re
import sqlite3
from pathlib import Path

import yaml

from helpers.processes import run


def md5(path: Path) -> str:
    """The file's MD5, as DVC records it in dvc.lock and the served model reports it as its version."""
    return hashlib.md5(path.read_bytes()).hexdigest()


def commit(project: Path, message: str, *, new_files: bool = False) -> str:
    """Commit every change to tracked files (and, with new_files, every file git does not ignore);
    return the new commit's hash."""
    if new_files:
        run("git", "add", "--all", cwd=project)
    run("git", "commit", "--quiet", "--all", "--message", message, cwd=project)
    return run("git", "rev-parse", "HEAD", cwd=project).stdout.strip()


def set_hyperparams(project: Path, **values) -> dict:
    """Change keys of the selected model's section (train.<train.model>) in params.yaml by editing their
    lines, so its comments stay; return the values they had before."""
    path = project / "params.yaml"
    text = path.read_text()
    model = yaml.safe_load(text)["train"]["model"]
    section = re.search(rf"^  {model}:.*\n((?:    .*\n)+)", text, flags=re.MULTILINE)
    assert section, f"train.{model} not found in {path}"
    body = section[1]
    before = {}
    for name, value in values.items():
        pattern = rf"^(    {name}:) *(.*?)(  #.*)?$"
        match = re.search(pattern, body, flags=re.MULTILINE)
        assert match, f"train.{model}.{name} not found in {path}"
        before[name] = yaml.safe_load(match[2])
        body = re.sub(pattern, rf"\g<1> {json.dumps(value)}\g<3>", body, count=1, flags=re.MULTILINE)
    path.write_text(text[: section.start(1)] + body + text[section.end(1) :])
    return before


def stages_run(dvc_output: str) -> list[str]:
    """The stages `dvc repro` ran, in order, from its output."""
    return re.findall(r"Running stage '([^']+)'", dvc_output)


def model_md5s(lock_text: str) -> tuple[str, str]:
    """(data_md5, model_md5) as a dvc.lock records them: the raw CSV prepare read, the model train wrote."""
    stages = yaml.safe_load(lock_text)["stages"]
    (data,) = [dep["md5"] for dep in stages["prepare"]["deps"] if dep["path"].startswith("data/raw/")]
    (model,) = [out["md5"] for out in stages["train"]["outs"] if out["path"] == "models/model.joblib"]
    return data, model


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
