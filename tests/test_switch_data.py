"""A trained project moves to another data file by following its docs' "Bring your own data" steps to
the letter: the shell block of that section is run line by line, and its one edit in words (params.yaml)
is made as it says. The pipeline then reads only the new file, and a second `dvc repro` runs nothing."""

import json
import re
from pathlib import Path

import pytest
import yaml
from helpers import bake, run, stages_run, tool_env

pytestmark = pytest.mark.slow

HEADING = re.compile(r"^#+ Bring your own data$", re.MULTILINE)
BLOCK = re.compile(r"^```bash\n(.*?)^```", re.MULTILINE | re.DOTALL)


def switching_steps(project: Path) -> list[str]:
    """The lines of the first ```bash block under the heading "Bring your own data", in README.md or a
    page of docs/ (before the block, no other heading)."""
    for page in [project / "README.md", *sorted(project.glob("docs/**/*.md"))]:
        text = page.read_text()
        heading = HEADING.search(text)
        if not heading:
            continue
        block = BLOCK.search(text, heading.end())
        assert block, f"{page}: no ```bash block after the heading 'Bring your own data'"
        between = text[heading.end() : block.start()]
        assert not re.search(r"^#+ ", between, re.MULTILINE), f"{page}: the block is not in 'Bring your own data'"
        return [line for line in block[1].splitlines() if line.strip()]
    pytest.fail("no page of the baked project has a heading 'Bring your own data'")


def edit_params(project: Path, step: str, target: str) -> None:
    """The step in words: `# params.yaml: set paths.raw to <file> and data.target to the column ...`."""
    new_raw = re.search(r"paths\.raw to (\S+)", step)
    assert new_raw and "data.target" in step, f"the params.yaml step does not name paths.raw and data.target: {step}"
    path = project / "params.yaml"
    text = re.sub(
        r"^(paths:\n(?:  .*\n)*?  raw:) [^#\n]*", rf"\g<1> {new_raw[1]}  ", path.read_text(), flags=re.MULTILINE
    )
    text = re.sub(r"^(data:\n(?:  .*\n)*?  target:) [^#\n]*", rf"\g<1> {target}", text, flags=re.MULTILINE)
    path.write_text(text)
    settings = yaml.safe_load(text)
    assert (settings["paths"]["raw"], settings["data"]["target"]) == (new_raw[1], target)


def test_following_the_docs_switches_a_trained_project_to_another_csv(tmp_path, messy_csv):
    project = bake(tmp_path / "bake")
    run("dvc", "repro", cwd=project)
    run("git", "add", "--all", cwd=project)
    run("git", "commit", "--quiet", "-m", "Trained on the sample", cwd=project)
    old_raw = yaml.safe_load((project / "params.yaml").read_text())["paths"]["raw"]
    new_csv = messy_csv  # customers.csv: 240 rows, target `churned`

    env = tool_env()
    for name in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):  # a `make test` around this run must not leak in
        env.pop(name, None)
    steps = switching_steps(project)
    assert any("/path/to/customers.csv" in step for step in steps), steps
    for step in steps:
        if step.startswith("# params.yaml:"):
            edit_params(project, step, target="churned")
        elif not step.startswith("#"):
            run(
                "bash",
                "-euo",
                "pipefail",
                "-c",
                step.replace("/path/to/customers.csv", str(new_csv)),
                cwd=project,
                env=env,
            )

    report = json.loads((project / "reports" / "validation.json").read_text())
    assert (report["file"], report["rows"], report["problems"]) == ("data/raw/customers.csv", 240, [])
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    for stage in ("validate", "prepare", "evaluate"):
        raw_deps = [dep["path"] for dep in lock["stages"][stage]["deps"] if dep["path"].startswith("data/raw/")]
        assert raw_deps == ["data/raw/customers.csv"], (stage, raw_deps)
    contract = yaml.safe_load((project / "data" / "schema.yaml").read_text())
    assert contract["target"]["column"] == "churned"
    assert set(contract["columns"]) == {"customer_id", "age", "monthly_spend", "plan", "region"}
    assert not (project / old_raw).exists() and not (project / f"{old_raw}.dvc").exists()
    assert run("git", "status", "--porcelain", cwd=project).stdout == ""  # the block's commit took it all
    assert stages_run(run("dvc", "repro", cwd=project).stdout) == []
