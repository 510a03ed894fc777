"""The update path: a project baked with cruft takes the template's later changes and keeps the team's.

A copy of the template becomes a git repository with two commits: the second changes a CI job on both
platforms, the Dockerfile, params.py and contract.py (which every stage depends on), adds a Makefile
target and bumps the template version; it also edits files the team owns (params.yaml, dvc.yaml, a
stage, the README), which `[tool.cruft] skip` must keep out. The project is baked from the first commit
with `cruft create --checkout`, set up with its bootstrap, and changed as a team would, in its own files
only: a param of its own read by a stage, a stage of its own with its own params section, new data with
a new feature column (`dvc add`, `make schema`), a metric of its own as the primary metric, its own
module and test; then `dvc repro`.
"""

import hashlib
import json
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml
from helpers import BIN, run, stages_run, template_in_git, wall_time

pytestmark = pytest.mark.slow

CRUFT = BIN / "cruft"
DVC = BIN / "dvc"
ANSWERS = {"task": "regression", "model": "linear", "ci": "both", "docker": "yes", "dvc_remote": "none"}
PACKAGE = "my_ml_project"
RAW = Path("data/raw/diabetes.csv")
# What the template's second commit changes, as it reads in a baked project.
CI_CHANGE = "pytest --durations=10"
DOCKER_CHANGE = 'LABEL org.opencontainers.image.documentation="README.md"'
MAKE_TARGET = "template-version"
TEMPLATE_MARK = "changed by the template's second commit"
# The files cruft may change in the update, and nothing else (docs/updates.md names the template version).
TEMPLATE_CHANGED = {".cruft.json", ".github/workflows/ci.yml", ".gitlab-ci.yml", "Dockerfile", "Makefile",
                    f"{PACKAGE}/params.py", f"{PACKAGE}/contract.py", "docs/updates.md"}  # fmt: skip
# The team's own pipeline pieces.
FEATURE = "bmi_x_bp"  # a feature column the team derives in its data
METRIC = "explained_variance"  # a metric the team adds, and makes the primary one
SUMMARY_STAGE = f"""\"""Summary: the training data's size and the target's mean, for the team's weekly note.\"""

import json
import sys
from pathlib import Path

import pandas as pd

from {PACKAGE} import params

if __name__ == "__main__":
    train_file, summary_file = Path(sys.argv[1]), Path(sys.argv[2])
    p = params.load()
    table = pd.read_parquet(train_file)
    mean = round(float(table[p.data.target].mean()), p.summary.decimals)
    summary_file.write_text(json.dumps({{"rows": len(table), "target_mean": mean}}) + "\\n")
"""


def next_version(version: str) -> str:
    major, minor, patch = (int(part) for part in version.split("."))
    return f"{major}.{minor}.{patch + 1}"


def edit(path: Path, old: str, new: str) -> None:
    """Replace the first `old` in a file of the template copy; say which anchor moved when it is gone."""
    text = path.read_text()
    assert old in text, f"{path.name} no longer contains {old!r}: update this test's edit of it"
    path.write_text(text.replace(old, new, 1))


def append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


def make_template_repository(root: Path) -> tuple[Path, str, str, str]:
    """(repository, first commit, first version, second version): a copy of the template, in git."""
    template = template_in_git(root, "Template, first version")
    first = run("git", "rev-parse", "HEAD", cwd=template).stdout.strip()

    project = template / "{{cookiecutter.project}}"
    edit(project / ".github/workflows/ci.yml", "      - run: pytest\n", f"      - run: {CI_CHANGE}\n")
    edit(
        project / "{% if cookiecutter.ci in ['gitlab', 'both'] %}.gitlab-ci.yml{% endif %}",
        "\n    - pytest\n",
        f"\n    - {CI_CHANGE}\n",
    )
    append(project / "{% if cookiecutter.docker == 'yes' %}Dockerfile{% endif %}", f"\n{DOCKER_CHANGE}\n")
    append(
        project / "Makefile",
        f"\n## Show the template version this project's template-owned files match\n{MAKE_TARGET}:\n"
        "\t@python -c \"import json; print(json.load(open('.cruft.json'))['context']['cookiecutter']"
        "['__template_version'])\"\n",
    )
    version = json.loads((template / "cookiecutter.json").read_text())["__template_version"]
    new_version = next_version(version)
    edit(template / "cookiecutter.json", f'"__template_version": "{version}"', f'"__template_version": "{new_version}"')
    # The team's files change in the template too: the skip list must keep these changes out.
    pandas_train = "{{cookiecutter.package}}/stages/{% if cookiecutter.engine == 'pandas' %}train.py{% endif %}"
    for name in ("params.yaml", "dvc.yaml", pandas_train):
        append(project / name, f"# {TEMPLATE_MARK}\n")
    # ... and the template's own code, which the team never edits now: its improvements arrive.
    for name in ("params.py", "contract.py"):
        append(project / "{{cookiecutter.package}}" / name, f"# {TEMPLATE_MARK}\n")
    append(project / "README.md", f"\n{TEMPLATE_MARK}\n")
    run("git", "commit", "--quiet", "--all", "-m", "Template, second version", cwd=template)
    return template, first, version, new_version


def team_files(project: Path) -> dict[str, str]:
    """sha256 of every file the team owns: data, contract, params, pipeline, outputs, model code, own code."""
    roots = ["data", "params.yaml", "dvc.yaml", "dvc.lock", "metrics", "plots", "reports", "models",
             f"{PACKAGE}/stages", f"{PACKAGE}/features.py", "tests/test_features.py", "tests/test_stages.py",
             "tests/test_model_quality.py", "README.md", "LICENSE"]  # fmt: skip
    files = {}
    for root in roots:
        path = project / root
        for file in sorted([path] if path.is_file() else path.rglob("*")):
            if file.is_file():
                files[str(file.relative_to(project))] = hashlib.sha256(file.read_bytes()).hexdigest()
    return files


def changed_paths(project: Path) -> set[str]:
    """Every path `git status` reports (staged, unstaged, unmerged, untracked)."""
    lines = run("git", "status", "--porcelain", "--untracked-files=all", cwd=project).stdout.splitlines()
    return {line[3:] for line in lines}


@pytest.fixture(scope="module")
def team_project(tmp_path_factory):
    """(project, first and second template version): baked from the first commit, then changed and
    committed by its team."""
    root = tmp_path_factory.mktemp("update")
    template, first, version, new_version = make_template_repository(root)
    with wall_time("cruft create + bootstrap"):
        created = run(CRUFT, "create", "--no-input", "--checkout", first, "--default-config", "--output-dir", root / "out",
                      "--extra-context", json.dumps(ANSWERS), template, cwd=root)  # fmt: skip
        # Under cruft the hook leaves git, DVC and the data to bootstrap (`make setup` runs it), silently:
        # the README says so, and `cruft update` runs the same hook.
        assert "not set up" not in created.stdout
        project = root / "out" / "my-ml-project"
        assert not (project / ".git").exists()
        run("python", "-m", f"{PACKAGE}.bootstrap", cwd=project)
    assert json.loads((project / ".cruft.json").read_text())["commit"] == first
    # .cruft.json is in the first commit: the tree is clean, as `cruft update` requires.
    assert ".cruft.json" in run("git", "ls-files", cwd=project).stdout.split()
    assert changed_paths(project) == set()

    # The team at work, in its own files only: a changed param and one of its own, read by its train stage.
    edit(project / "params.yaml", "alpha: 1.0", "alpha: 0.5")
    edit(project / "params.yaml", "\ntrain:\n", "\ntrain:\n  min_rows: 50  # the team's: train refuses less data\n")
    edit(project / "dvc.yaml", "      - train.model\n", "      - train.model\n      - train.min_rows\n")
    edit(project / PACKAGE / "stages" / "train.py", "    model = make_model(p.train)",
         "    if len(features) < p.train.min_rows:\n"
         "        sys.exit(f\"train: {len(features)} rows, fewer than train.min_rows = {p.train.min_rows}\")\n"
         "    model = make_model(p.train)")  # fmt: skip
    # A stage of its own, with its own params section.
    (project / PACKAGE / "stages" / "summary.py").write_text(SUMMARY_STAGE)
    append(project / "params.yaml", "\nsummary:\n  decimals: 2\n")
    pipeline = yaml.safe_load((project / "dvc.yaml").read_text())
    pipeline["stages"]["summary"] = {
        "cmd": f"python -m {PACKAGE}.stages.summary data/prepared/train.parquet reports/summary.json",
        "deps": ["data/prepared/train.parquet", f"{PACKAGE}/stages/summary.py", f"{PACKAGE}/params.py"],
        "params": ["data.target", "summary"],
        "outs": [{"reports/summary.json": {"cache": False}}],
    }
    (project / "dvc.yaml").write_text(yaml.safe_dump(pipeline, sort_keys=False))
    # A metric of its own, the primary metric now; its test of the metrics knows it.
    evaluate = project / PACKAGE / "stages" / "evaluate.py"
    edit(evaluate, 'GATE_METRICS = ("r2",)', f'GATE_METRICS = ("r2", "{METRIC}")')
    edit(evaluate, "from sklearn.metrics import ", "from sklearn.metrics import explained_variance_score, ")
    edit(evaluate, '        "r2": r2_score(actual, predicted),\n',
         f'        "r2": r2_score(actual, predicted),\n        "{METRIC}": explained_variance_score(actual, predicted),\n')  # fmt: skip
    edit(project / "params.yaml", "primary_metric: r2", f"primary_metric: {METRIC}")
    edit(project / "tests" / "test_stages.py", '{"rmse", "mae", "r2"}', f'{{"rmse", "mae", "r2", "{METRIC}"}}')
    # New data, with a feature column of its own: the contract follows (`make schema`).
    table = pd.read_csv(project / RAW)
    table = table.iloc[: len(table) - 42].assign(**{FEATURE: lambda rows: rows["bmi"] * rows["bp"]})
    table.to_csv(project / RAW, index=False)
    run(DVC, "add", "--quiet", RAW, cwd=project)
    run("make", "--no-print-directory", "schema", cwd=project)
    assert f"{FEATURE}:" in (project / "data" / "schema.yaml").read_text()
    (project / PACKAGE / "features.py").write_text('"""The team\'s own features."""\n\nBMI_OBESE = 30.0\n')
    (project / "tests" / "test_features.py").write_text(
        f"from {PACKAGE} import features\n\n\ndef test_obesity_threshold():\n    assert features.BMI_OBESE == 30.0\n"
    )
    append(project / PACKAGE / "stages" / "train.py", "# the team tuned this model\n")
    with wall_time("team's dvc repro and first champion"):
        assert "summary" in stages_run(run(DVC, "repro", cwd=project).stdout)
        # Trained from uncommitted changes: promoted anyway, the champion that the update's model meets.
        run("make", "--no-print-directory", "promote", "ARGS=--ignore-lineage", cwd=project)
    run("git", "add", "--all", cwd=project)
    run("git", "commit", "--quiet", "-m", "Our data, feature, param, stage and metric", cwd=project)
    assert changed_paths(project) == set()
    return project, version, new_version


def test_update_applies_template_changes_and_leaves_team_files_byte_identical(team_project):
    project, version, new_version = team_project
    before = team_files(project)
    assert {"dvc.lock", "metrics/metrics.json", "data/schema.yaml", f"{RAW}.dvc"} <= before.keys()

    check = run(CRUFT, "check", cwd=project, check=False)
    assert check.returncode == 1 and "out of date" in check.stdout

    with wall_time("cruft update"):
        update = run(CRUFT, "update", "--skip-apply-ask", cwd=project)
    assert "conflict" not in update.stdout + update.stderr
    assert "not set up" not in update.stdout + update.stderr  # no create-time advice on an update
    assert changed_paths(project) == TEMPLATE_CHANGED
    assert team_files(project) == before
    for name in ("params.yaml", "dvc.yaml", "README.md", f"{PACKAGE}/stages/train.py"):
        assert TEMPLATE_MARK not in (project / name).read_text(), f"the template's change reached {name}"
    for name in ("params.py", "contract.py"):  # the template's code, untouched by the team: merged cleanly
        assert (project / PACKAGE / name).read_text().endswith(f"# {TEMPLATE_MARK}\n"), name

    # The template's changes arrived on both CI platforms, in the Dockerfile and the Makefile.
    assert f"- run: {CI_CHANGE}" in (project / ".github/workflows/ci.yml").read_text()
    assert f"- {CI_CHANGE}" in (project / ".gitlab-ci.yml").read_text()
    assert (project / "Dockerfile").read_text().endswith(f"{DOCKER_CHANGE}\n")
    assert run("make", "--no-print-directory", MAKE_TARGET, cwd=project).stdout.strip() == new_version
    # .cruft.json records the version the template-owned files now match; the README keeps its own line.
    state = json.loads((project / ".cruft.json").read_text())
    assert state["context"]["cookiecutter"]["__template_version"] == new_version
    readme = (project / "README.md").read_text()
    assert f"version {version} of" in readme and f"version {new_version}" not in readme

    assert run(CRUFT, "check", cwd=project).returncode == 0
    # Every stage depends on the template's changed code: all run again, the team's own one too, with the
    # team's param, section, feature column and metric, read through the template's new params.py.
    with wall_time("dvc repro after the update"):
        repro = run(DVC, "repro", cwd=project)
    assert sorted(stages_run(repro.stdout)) == ["evaluate", "prepare", "summary", "train", "validate"]
    assert json.loads((project / "reports" / "summary.json").read_text())["rows"] > 100
    assert FEATURE in (project / "plots" / "importance.csv").read_text()
    assert METRIC in json.loads((project / "metrics" / "metrics.json").read_text())
    # The template's registry scores the champion and the new candidate with the team's evaluate stage.
    promote = run("make", "--no-print-directory", "promote", "ARGS=--ignore-lineage", cwd=project)
    assert f"{METRIC} on data/prepared/test.parquet" in promote.stdout, promote.stdout
    with wall_time("project's own tests after the update"):
        tests = run("make", "--no-print-directory", "test", "PYTEST_ADDOPTS=-q -p no:randomly", cwd=project)
    assert " passed" in tests.stdout and " failed" not in tests.stdout


def team_clone_that_edited_the_dockerfile(project: Path, where: Path) -> Path:
    """A clone of the team's project (before any update) whose team also edited the Dockerfile's end,
    where the template's second commit changes it too."""
    clone = where / "clone"
    run("git", "clone", "--quiet", project, clone, cwd=where)
    append(clone / "Dockerfile", '\nLABEL team.owner="fraud-detection"\n')
    run("git", "commit", "--quiet", "--all", "-m", "Label the image with its owner", cwd=clone)
    return clone


def test_conflicting_edit_is_merged_with_both_versions_kept(team_project, tmp_path):
    """With the history (a normal clone), cruft merges three-way: markers in the file, nothing lost."""
    project, _, _ = team_project
    clone = team_clone_that_edited_the_dockerfile(project, tmp_path)
    ours = (clone / "Dockerfile").read_text()

    update = run(CRUFT, "update", "--skip-apply-ask", cwd=clone)
    assert "Applied patch to 'Dockerfile' with conflicts." in update.stdout + update.stderr
    status = run("git", "status", "--porcelain", cwd=clone).stdout.splitlines()
    assert "UU Dockerfile" in status
    merged = (clone / "Dockerfile").read_text()
    conflict = re.search(r"<<<<<<< ours\n(.*)=======\n(.*)>>>>>>> theirs\n", merged, re.DOTALL)
    assert conflict, merged[-600:]
    assert conflict.group(1).strip() == 'LABEL team.owner="fraud-detection"'
    assert conflict.group(2).strip() == DOCKER_CHANGE
    assert run("git", "show", "HEAD:Dockerfile", cwd=clone).stdout == ours
    # The rest of the update applied cleanly.
    assert f"- run: {CI_CHANGE}" in (clone / ".github/workflows/ci.yml").read_text()

    # Resolve as the README says: keep both lines, drop the markers, `git add`, commit.
    (clone / "Dockerfile").write_text(merged[: conflict.start()] + conflict.group(1) + conflict.group(2))
    run("git", "add", "Dockerfile", cwd=clone)
    run("git", "commit", "--quiet", "--all", "-m", "Update from the template", cwd=clone)
    assert changed_paths(clone) == set()
    assert run(CRUFT, "check", cwd=clone).returncode == 0


def test_conflicting_edit_without_history_leaves_a_rej_file_and_the_team_version(team_project, tmp_path):
    """A shallow clone lacks the file as the template first made it: cruft applies what it can and
    leaves the hunk it could not place in Dockerfile.rej."""
    project, _, _ = team_project
    full = team_clone_that_edited_the_dockerfile(project, tmp_path)
    clone = tmp_path / "shallow"
    run("git", "clone", "--quiet", "--depth=1", f"file://{full}", clone, cwd=tmp_path)
    ours = (clone / "Dockerfile").read_text()

    update = run(CRUFT, "update", "--skip-apply-ask", cwd=clone)
    assert "*.rej" in update.stdout + update.stderr
    assert (clone / "Dockerfile").read_text() == ours
    rejected = (clone / "Dockerfile.rej").read_text()
    assert f"+{DOCKER_CHANGE}" in rejected
    assert changed_paths(clone) == TEMPLATE_CHANGED - {"Dockerfile"} | {"Dockerfile.rej"}

    # Resolve as the README says: apply the `+` lines by hand, delete the .rej, commit.
    append(clone / "Dockerfile", f"{DOCKER_CHANGE}\n")
    (clone / "Dockerfile.rej").unlink()
    run("git", "commit", "--quiet", "--all", "-m", "Update from the template", cwd=clone)
    assert changed_paths(clone) == set()
    assert run(CRUFT, "check", cwd=clone).returncode == 0
