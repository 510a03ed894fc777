"""A project made from each earlier released template version takes `cruft update` to this commit and
still runs `dvc repro` and its own tests, after only the manual steps CHANGELOG.md names.

The repository holds no tags, so the released versions come from the history of `__template_version`
in cookiecutter.json: the first commit that declares each version older than this commit's. The update
goes to this repository's HEAD (cruft clones the template), so commit a change before testing it here.
"""

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from helpers import BIN, TEMPLATE, run, wall_time

pytestmark = pytest.mark.slow

CRUFT = BIN / "cruft"
DVC = BIN / "dvc"
PACKAGE = "my_ml_project"


def version_at(commit: str) -> str:
    text = run("git", "show", f"{commit}:cookiecutter.json", cwd=TEMPLATE).stdout
    return json.loads(text)["__template_version"]


def released_versions() -> dict[str, str]:
    """{version: the first commit declaring it}, oldest first, for every version older than HEAD's."""
    shallow = run("git", "rev-parse", "--is-shallow-repository", cwd=TEMPLATE).stdout.strip()
    assert shallow == "false", "this test needs the template's whole git history: clone without --depth"
    commits = run(
        "git", "log", "--reverse", "--format=%H", "-G", "__template_version", "--", "cookiecutter.json", cwd=TEMPLATE
    ).stdout.split()
    current = version_at("HEAD")
    versions: dict[str, str] = {}
    for commit in commits:
        versions.setdefault(version_at(commit), commit)
    versions.pop(current, None)
    return versions


def changelog_manual_steps(version: str) -> str:
    """The text of the "Manual steps" sections of every version newer than `version`."""
    changelog = (TEMPLATE / "CHANGELOG.md").read_text()
    sections = re.split(r"^## \[", changelog, flags=re.MULTILINE)[1:]
    newer = []
    for section in sections:
        name = section.split("]", 1)[0]
        if name == version:
            break
        newer.append(section)
    return "\n".join(re.findall(r"### Manual steps.*?(?=^### |\Z)", "\n".join(newer), re.DOTALL | re.MULTILINE))


def template_copy_of(project: Path, relative: str) -> str:
    """The template's own version of a team-owned file, rendered with the project's answers: what the
    CHANGELOG's "take the template's" means (`cruft create` into a scratch directory)."""
    answers = json.loads((project / ".cruft.json").read_text())["context"]["cookiecutter"]
    answers = {key: value for key, value in answers.items() if not key.startswith("_")}
    scratch = project.parent / "template-copy"
    if not scratch.exists():
        run(CRUFT, "create", "--no-input", "--default-config", "--output-dir", scratch,
            "--extra-context", json.dumps(answers), TEMPLATE, cwd=project.parent)  # fmt: skip
    return (scratch / project.name / relative).read_text()


def models_get_sections(project: Path) -> None:
    """params.yaml: train.hyperparams becomes the selected model's section, beside the other models'."""
    params = project / "params.yaml"
    text = params.read_text().replace("  hyperparams:\n", "  random_forest:\n", 1)
    others = "  gradient_boosting:\n    max_iter: 200\n    learning_rate: 0.1\n    max_leaf_nodes: 31\n"
    others += "  linear:\n    C: 1.0\n    max_iter: 1000\n"
    params.write_text(text.replace("\nevaluate:", f"{others}\nevaluate:", 1))


def take_the_templates(*relatives: str) -> Callable[[Path], None]:
    def step(project: Path) -> None:
        for relative in relatives:
            (project / relative).write_text(template_copy_of(project, relative))

    return step


def importance_params(project: Path) -> None:
    """The template's dvc.yaml lists evaluate.importance_*: DVC needs them in params.yaml."""
    params = project / "params.yaml"
    text = params.read_text().replace(
        "\nevaluate:\n", "\nevaluate:\n  importance_repeats: 5\n  importance_rows: 5000\n", 1
    )
    params.write_text(text)


PATHS_SECTION = """paths:
  raw: data/raw/breast_cancer.csv
  schema: data/schema.yaml
  validation: reports/validation.json
  train_data: data/prepared/train.parquet
  test_data: data/prepared/test.parquet
  model: models/model.joblib
  model_info: models/model_info.json
  metrics: metrics/metrics.json
  plots: plots
  drift_report: reports/drift.json
  report: reports/report.md
"""


def paths_section(project: Path) -> None:
    """params.yaml gets the `paths:` section (0.4.0): the CHANGELOG's YAML, with the project's raw CSV."""
    params = project / "params.yaml"
    params.write_text(params.read_text().rstrip("\n") + "\n\n" + PATHS_SECTION)


def stage_tests_use_estimators(project: Path) -> None:
    tests = project / "tests" / "test_stages.py"
    tests.write_text(tests.read_text().replace("params.MODELS", "train.ESTIMATORS"))


# What a team does by hand after the update, per version it came from: exactly the CHANGELOG's manual
# steps, each named by a phrase that CHANGELOG.md uses (test_manual_steps_are_the_changelogs checks it).
# The projects are baked with the default answers (random_forest, classification).
MANUAL_STEPS: dict[str, list[tuple[str, Callable[[Path], None]]]] = {
    "0.2.0": [
        ("rename `train.hyperparams`", models_get_sections),
        ("take the template's `dvc.yaml`", take_the_templates("dvc.yaml")),
        ("the template's `stages/evaluate.py`", take_the_templates(f"{PACKAGE}/stages/evaluate.py")),
        ("add `importance_repeats: 5` and `importance_rows: 5000` under `evaluate:`", importance_params),
        ("replace `params.MODELS` with `train.ESTIMATORS`", stage_tests_use_estimators),
        ("add the `paths:` section", paths_section),
        (
            "the template's `stages/validate.py` and `stages/prepare.py`",
            take_the_templates(f"{PACKAGE}/stages/validate.py", f"{PACKAGE}/stages/prepare.py"),
        ),
    ],
    "0.3.0": [
        ("add the `paths:` section", paths_section),
        ("Take the template's `stages/validate.py`", take_the_templates(f"{PACKAGE}/stages/validate.py")),
    ],
}


def files_digest(project: Path) -> str:
    """One hash of the project's inputs: every file git would track (committed or not) but .cruft.json (which
    names the version it came from), README.md (its "made with version X" line; the project's tests never read
    it), dvc.lock and the pipeline's outputs (the inputs and the seed make them; they also hold MLflow's run id)."""
    listed = run("git", "ls-files", "--cached", "--others", "--exclude-standard", "-z", cwd=project).stdout
    stages = yaml.safe_load((project / "dvc.lock").read_text())["stages"]
    outputs = [out["path"] for stage in stages.values() for out in stage.get("outs", [])]
    names = set(listed.split("\0")) - {"", ".cruft.json", "README.md", "dvc.lock"}
    names = {name for name in names if not any(name == out or name.startswith(f"{out}/") for out in outputs)}
    digest = hashlib.sha256()
    for name in sorted(names):
        path = project / name
        digest.update(name.encode() + b"\0" + (path.read_bytes() if path.is_file() else b"") + b"\0")
    return digest.hexdigest()


# {files_digest: the version whose updated project's own tests passed with those files}: a later version whose
# update leaves the same files (the releases since changed no file the team owns) needs no second run of them.
TESTS_PASSED: dict[str, str] = {}


@pytest.mark.parametrize("version,commit", released_versions().items())
def test_project_from_released_version_updates_and_still_runs(tmp_path, version, commit):
    with wall_time(f"cruft create {version} + bootstrap + repro"):
        run(CRUFT, "create", "--no-input", "--checkout", commit, "--default-config", "--output-dir", tmp_path,
            TEMPLATE, cwd=tmp_path)  # fmt: skip
        project = tmp_path / "my-ml-project"
        run(BIN / "python", "-m", f"{PACKAGE}.bootstrap", cwd=project)
        run(DVC, "repro", cwd=project)
        run("git", "add", "--all", cwd=project)
        run("git", "commit", "--quiet", "-m", f"Trained with template {version}", cwd=project)

    with wall_time(f"cruft update from {version}"):
        update = run(CRUFT, "update", "--skip-apply-ask", cwd=project)
    assert "conflict" not in update.stdout + update.stderr
    assert not list(project.rglob("*.rej"))
    state = json.loads((project / ".cruft.json").read_text())
    assert state["context"]["cookiecutter"]["__template_version"] == version_at("HEAD")

    for _, step in MANUAL_STEPS.get(version, []):
        step(project)
    with wall_time(f"dvc repro of a project updated from {version}"):
        # The stages whose template modules changed re-run (which ones depends on the version: none when
        # the update changed no stage's code), and what they wrote leaves the pipeline up to date.
        repro = run(DVC, "repro", cwd=project)
        assert "up to date" in run(DVC, "status", cwd=project).stdout, repro.stdout
    assert run(CRUFT, "check", cwd=project).returncode == 0
    digest = files_digest(project)
    if digest in TESTS_PASSED:
        print(f"\n[update from {version}] the same files as the update from {TESTS_PASSED[digest]}, whose tests passed")
        return
    with wall_time(f"the tests of a project updated from {version}"):
        tests = run(BIN / "python", "-m", "pytest", "-q", "-p", "no:randomly", cwd=project, check=False)
    assert tests.returncode == 0 and " passed" in tests.stdout, tests.stdout[-4000:]
    TESTS_PASSED[digest] = version


@pytest.mark.parametrize("version", released_versions())
def test_manual_steps_are_the_changelogs(version):
    steps = " ".join(changelog_manual_steps(version).split())  # lines wrap anywhere
    # Both ways: a CHANGELOG step for this version that the update test never performs fails too.
    assert MANUAL_STEPS.get(version) or not steps, f"CHANGELOG.md has manual steps from {version}: add them here"
    for name, _ in MANUAL_STEPS.get(version, []):
        assert name in steps, f"the manual step '{name}' is not in CHANGELOG.md for updates from {version}"


def test_every_released_version_is_found_in_history():
    versions = released_versions()
    assert "0.2.0" in versions, versions
    assert all(re.fullmatch(r"\d+\.\d+\.\d+", version) for version in versions)
