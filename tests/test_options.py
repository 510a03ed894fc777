"""Every value of every option is baked at least once, and each bake is checked file by file."""

import itertools
import json
import re
import tomllib

import pytest
import yaml
from helpers import (
    BIN,
    DEFAULTS,
    TEMPLATE,
    bake,
    rendered_answers,
    run,
    scan_for_credentials,
    tool_env,
    write_messy_csv,
)

# A list value in cookiecutter.json is a choice variable: its first item is the default. The free-text
# options the pre-gen hook checks against a list (`_checked_choices`) are baked with each value too.
CHOICES = {name: value for name, value in DEFAULTS.items() if isinstance(value, list)} | DEFAULTS["_checked_choices"]
UNUSUAL_NAMES = {
    "project_name": 'Café "Ölçü": l\'équipe',
    "author_name": "Zoë O'Brien",
    "description": 'Predicts "churn": colons, quotes \' and a back\\slash.',
}
TRACKING_SERVER = "http://mlflow.internal:5000"
# engine=spark on two of the six sets, one per task, both with docker=no (the pre-gen hook refuses
# engine=spark with docker=yes): every engine value is baked without baking more projects.
SPARK_SETS = (1, 5)


def option_sets() -> list[dict]:
    """task x model in full (the model's classes and hyper-parameters depend on the task); the
    independent options cycled across those six, so every value of every option is baked once; the
    engine is spark on SPARK_SETS."""
    cycled = {name: CHOICES[name] for name in ("python_version", "dvc_remote", "ci", "docker", "license")}
    cycled["data"] = ["sample", "user"]
    cycled["mlflow_tracking_uri"] = ["", TRACKING_SERVER]
    sets = []
    for index, (task, model) in enumerate(itertools.product(CHOICES["task"], CHOICES["model"])):
        answers = {"task": task, "model": model}
        answers.update({name: values[index % len(values)] for name, values in cycled.items()})
        answers["engine"] = "spark" if index in SPARK_SETS else "pandas"
        sets.append(answers)
    sets.append({**UNUSUAL_NAMES, "data": "sample"})
    return sets


def set_id(answers: dict) -> str:
    if "project_name" in answers:
        return "unusual-names"
    return "-".join(
        [answers["task"], answers["model"], answers["engine"], f"py{answers['python_version']}", f"remote_{answers['dvc_remote']}",
         f"ci_{answers['ci']}", f"docker_{answers['docker']}", answers["license"], f"{answers['data']}_data",
         "mlflow_server" if answers["mlflow_tracking_uri"] else "mlflow_local"]
    )  # fmt: skip


def cookiecutter_answers(answers: dict, user_csv) -> dict:
    extra = {key: value for key, value in answers.items() if key != "data"}
    if answers["data"] == "user":
        extra["data_path"] = str(user_csv)
        extra["target"] = "churned" if answers.get("task") == "classification" else "monthly_spend"
    if answers.get("dvc_remote") == "s3":
        extra["dvc_remote_url"] = "s3://team-bucket/dvc/churn"
    return extra


@pytest.fixture(scope="module", params=option_sets(), ids=set_id)
def baked(request, tmp_path_factory):
    """(every answer as rendered, the project directory), baked once per option set."""
    tmp = tmp_path_factory.mktemp("bake")
    extra = cookiecutter_answers(request.param, write_messy_csv(tmp / "customers.csv"))
    return {**rendered_answers(**extra), "data": request.param["data"]}, bake(tmp / "out", **extra)


def test_every_option_in_cookiecutter_json_has_a_prompt_and_a_help_text():
    """Read from cookiecutter.json itself: an option added there without its prompt or the help the
    options table shows fails here (test_template checks that the files use only declared options)."""
    options = [key for key in DEFAULTS if not key.startswith("_")]
    assert len(options) >= 10, options
    for texts in ("__prompts__", "_help"):
        assert sorted(DEFAULTS[texts]) == sorted(options), texts
        texts_of = {key: DEFAULTS[texts][key] for key in options}
        # a choice's prompt may label each value: then its question is the `__prompt__` entry
        questions = {key: text["__prompt__"] if isinstance(text, dict) else text for key, text in texts_of.items()}
        assert [key for key, text in questions.items() if not text.strip()] == [], texts


def test_choice_prompts_label_only_declared_choices():
    """A `__prompts__` entry with per-choice labels names only choices the option has (a renamed choice
    would otherwise keep a stale label and lose its own)."""
    labelled = {name: prompt for name, prompt in DEFAULTS["__prompts__"].items() if isinstance(prompt, dict)}
    for name, prompt in labelled.items():
        assert set(prompt) - {"__prompt__"} <= set(CHOICES[name]), name


def test_option_sets_bake_every_value_of_every_option():
    sets = option_sets()
    for option, values in CHOICES.items():
        baked_values = {answers.get(option, values[0]) for answers in sets}
        assert set(values) <= baked_values, option
    assert {answers["docker"] for answers in sets if answers.get("engine") == "spark"} == {"no"}


def tracked_files(project) -> set[str]:
    return set(run("git", "ls-files", cwd=project).stdout.split())


def expected_files(answers: dict) -> set[str]:
    package = answers["package"]
    dataset = answers["__dataset"]
    files = {
        ".dvc/.gitignore", ".dvc/config", ".dvcignore", ".gitignore", ".pre-commit-config.yaml", "LICENSE",
        ".cookiecutter.json", "Makefile", "README.md", "dvc.yaml", "params.yaml", "pyproject.toml",
        "data/raw/.gitignore", f"data/raw/{dataset}.csv.dvc", "data/schema.yaml",
        "tests/conftest.py", "tests/test_contract.py", "tests/test_model_quality.py", "tests/test_params.py",
        "tests/test_pipeline.py", "tests/test_stages.py", "tests/test_team_code.py",
        "tests/test_registry.py", "tests/test_tracking.py",  # MLflow issue
        "tests/test_report.py", "tests/comment_api.py", "tests/test_drift.py", "tests/test_ci_artifacts.py",
        "tests/test_ci_data.py",
        "plots_template.html",  # dvc plots show/diff draw offline (issue 18)
        *(f"docs/{page}.md" for page in (  # the machinery's pages, template-owned (issue 18)
            "pipeline", "experiments", "data-and-remotes", "ci-report", "registry", "serving", "updates",
            "troubleshooting",
        )),
        *(f"{package}/{module}" for module in (
            "__init__.py", "bootstrap.py", "contract.py", "dataset.py", "params.py", "tracking.py", "registry.py",
            "report.py", "comment.py", "retrain.py", "ci_artifacts.py", "ci_data.py", "drift.py", "charts.py",
            "predict.py",
            "stages/__init__.py", "stages/validate.py", "stages/prepare.py", "stages/train.py", "stages/evaluate.py",
        )),
    }  # fmt: skip
    if answers["engine"] == "spark":
        files |= {f"{package}/spark_session.py", "docs/spark.md"}
    if answers["ci"] in ("github", "both"):
        files |= {".github/workflows/ci.yml", ".github/workflows/retrain.yml"}
    if answers["ci"] in ("gitlab", "both"):
        files.add(".gitlab-ci.yml")
    if answers["docker"] == "yes":
        files |= {"Dockerfile", ".dockerignore", "tests/test_serve.py"}
        modules = ("__init__", "app", "batching", "files", "model", "records", "metrics", "prediction_log", "alerts")
        modules += ("smoke",)  # make docker-smoke's probe
        files |= {f"{package}/serving/{module}.py" for module in modules}
        files |= {"monitoring/prometheus.yml", "monitoring/dashboard.json"}
    return files


def test_tree_holds_exactly_the_selected_files(baked):
    answers, project = baked
    assert tracked_files(project) == expected_files(answers)


def test_project_keeps_its_answers(baked):
    """.cookiecutter.json holds every answer (what `cruft link --extra-context` takes back), nothing else."""
    answers, project = baked
    kept = json.loads((project / ".cookiecutter.json").read_text())
    assert kept == {key: value for key, value in answers.items() if not key.startswith("_") and key != "data"}


def test_no_template_syntax_is_left_in_any_file(baked):
    _, project = baked
    leftovers = []
    for path in project.rglob("*"):
        if path.is_file() and not {".git", "cache", "tmp"} & set(path.relative_to(project).parts):
            text = path.read_text(errors="replace")
            # ${{ ... }} is GitHub Actions' own expression syntax, not Jinja.
            if re.search(r"(?<!\$)\{\{|\{%|\{#", text):
                leftovers.append(str(path.relative_to(project)))
    assert leftovers == []


def test_every_yaml_toml_and_json_file_parses(baked):
    _, project = baked
    parsers = {".yaml": yaml.safe_load, ".yml": yaml.safe_load, ".toml": tomllib.loads, ".json": json.loads}
    checked = 0
    for path in project.rglob("*"):
        if path.suffix in parsers and ".git" not in path.parts:
            parsers[path.suffix](path.read_text())
            checked += 1
    assert checked >= 3
    run(BIN / "dvc", "config", "--list", "--project", cwd=project)  # .dvc/config is DVC's own format


def test_generated_python_passes_ruff(baked):
    _, project = baked
    run(BIN / "ruff", "check", ".", cwd=project)
    run(BIN / "ruff", "format", "--check", ".", cwd=project)


def test_bake_is_one_clean_commit_on_main(baked):
    _, project = baked
    assert run("git", "branch", "--show-current", cwd=project).stdout.strip() == "main"
    assert run("git", "rev-list", "--count", "HEAD", cwd=project).stdout.strip() == "1"
    assert run("git", "status", "--porcelain", cwd=project).stdout == ""


def test_answers_reach_the_files_that_use_them(baked):
    answers, project = baked
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    params = yaml.safe_load((project / "params.yaml").read_text())
    version = answers["python_version"]
    assert pyproject["project"]["requires-python"] == f">={version}"
    assert pyproject["tool"]["ruff"]["target-version"] == "py" + version.replace(".", "")
    assert pyproject["project"]["authors"][0]["name"] == answers["author_name"]
    assert pyproject["project"]["description"] == answers["description"]
    assert params["train"]["model"] == answers["model"]
    assert params["data"]["target"] == answers["target"]
    assert (answers["dvc_remote"] == "s3") == any(
        dep.startswith("dvc[s3]") for dep in pyproject["project"]["dependencies"]
    )
    spark = answers["engine"] == "spark"
    assert ("spark" in pyproject["project"]["optional-dependencies"]) == spark
    assert pyproject["project"]["optional-dependencies"].get("spark", ["pyspark==4.3.*"]) == ["pyspark==4.3.*"]
    makefile = (project / "Makefile").read_text()
    assert ("EXTRAS ?= dev,spark" in makefile and '-e ".[$(EXTRAS)]"' in makefile) == spark  # make install
    assert ('-e ".[dev]"' in makefile) != spark
    tracking = (project / answers["package"] / "tracking.py").read_text()
    expected_uri = answers["mlflow_tracking_uri"] or "sqlite:///mlflow.db"
    assert f'DEFAULT_TRACKING_URI = "{expected_uri}"' in tracking


def estimator_table(project, package: str) -> dict[str, str]:
    """ESTIMATORS of the baked stages/train.py, the one list of models: {model name: class name}."""
    probe = f"import json; from {package}.stages.train import ESTIMATORS as E; print(json.dumps({{k: v.__name__ for k, v in E.items()}}))"
    return json.loads(run(BIN / "python", "-c", probe, cwd=project).stdout)


def test_every_list_of_models_is_the_estimator_table(baked):
    """The models are declared once, by ESTIMATORS in the baked train.py; the option's choices, its prompt,
    the options table of the template's README, params.yaml's sections, the baked docs' models table (the
    pipeline page) and sweep command (the experiments page) must name exactly those models."""
    answers, project = baked
    estimators = estimator_table(project, answers["package"])
    models = list(estimators)
    assert CHOICES["model"] == models
    (row,) = [line for line in (TEMPLATE / "README.md").read_text().splitlines() if line.startswith("| `model` |")]
    listed = re.sub(r"\s*\([^)]*\)", "", row.split("|")[3]).split(":")[0]
    assert [name.strip(" `") for name in listed.split(",")] == models  # the generated table's Choices column

    train = yaml.safe_load((project / "params.yaml").read_text())["train"]
    assert [key for key in train if key not in ("model", "seed")] == models
    if answers["task"] == "regression" and answers["engine"] == "pandas":
        assert train["linear"] == {"alpha": 1.0}  # Ridge takes alpha, not LogisticRegression's C
    elif answers["task"] == "regression":
        assert "regParam" in train["linear"]  # MLlib's LinearRegression: its own parameter names
    pipeline = (project / "docs" / "pipeline.md").read_text()
    table = dict(re.findall(r"^\| `(\w+)` \| `(\w+)` \| `train\.\1` \|$", pipeline, flags=re.MULTILINE))
    assert table == estimators
    assert f"-S 'train.model={','.join(models)}'" in (project / "docs" / "experiments.md").read_text()


def test_mlflow_ui_follows_the_tracking_uri(baked):
    answers, project = baked
    server = "https://mlflow.example.com"
    # --no-print-directory: under `make test` make's "Entering directory" lines would join the output
    result = run("make", "--no-print-directory", "mlflow-ui", cwd=project, env=tool_env(MLFLOW_TRACKING_URI=server))
    assert result.stdout.strip() == f"Open {server} in a browser"
    if answers["mlflow_tracking_uri"]:
        env = {key: value for key, value in tool_env().items() if key != "MLFLOW_TRACKING_URI"}
        shown = run("make", "--no-print-directory", "mlflow-ui", cwd=project, env=env).stdout.strip()
        assert shown == f"Open {TRACKING_SERVER} in a browser"


def test_dvc_remote_matches_the_answer(baked):
    answers, project = baked
    remotes = run(BIN / "dvc", "remote", "list", cwd=project).stdout.split()
    if answers["dvc_remote"] == "none":
        assert remotes == []
    else:
        assert remotes[0] == "storage"
        assert "storage" in run(BIN / "dvc", "config", "core.remote", cwd=project).stdout
        config = (project / ".dvc" / "config").read_text()
        if answers["dvc_remote"] == "s3":
            assert "url = s3://team-bucket/dvc/churn" in config
        else:
            # a local directory beside the project, stored relative to .dvc/
            assert f"url = ../../{project.name}-dvc-storage" in config


def test_license_file_matches_the_answer(baked):
    answers, project = baked
    first_line = (project / "LICENSE").read_text().splitlines()[0].strip()
    expected = {
        "MIT": "MIT License",
        "Apache-2.0": "Apache License",
        "BSD-3-Clause": "BSD 3-Clause License",
        "proprietary": "Copyright (c)",
    }[answers["license"]]
    assert first_line.startswith(expected)
    assert answers["author_name"] in (project / "LICENSE").read_text() or answers["license"] == "Apache-2.0"


def test_raw_data_is_tracked_by_dvc_not_git(baked):
    answers, project = baked
    (dvc_file,) = (project / "data" / "raw").glob("*.csv.dvc")
    csv = dvc_file.with_suffix("")
    assert csv.exists()
    assert run("git", "check-ignore", "-q", csv.relative_to(project), cwd=project, check=False).returncode == 0
    header = csv.read_text().splitlines()[0].split(",")
    assert answers["target"] in header


def test_no_tracked_file_holds_a_credential(baked):
    _, project = baked
    assert scan_for_credentials(project) == []
