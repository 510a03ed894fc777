"""engine=spark in local mode: DVC stays exact with Spark's Parquet directories (no spurious re-runs), Spark
leaves nothing in the workspace, and bad data gets the pandas engine's sentences.

The shared Spark bake (helpers.trained_spark: its pipeline runs once per `make test`, each Spark stage
costing ~30 s of JVM start-up), a copy for this module; the tests run in file order on it, each leaving the
project as the next one expects."""

import importlib.util
import json
import shutil
import textwrap
import venv

import pytest
import yaml
from helpers import BIN, bake, run, set_hyperparams, stages_run, tool_env, trained_spark, write_messy_csv

pytestmark = pytest.mark.slow

ANSWERS = {"engine": "spark", "docker": "no", "ci": "none", "dvc_remote": "none", "target": "churned"}
PREPARED = ["data/prepared/train.parquet", "data/prepared/test.parquet"]
SPARK_SCRATCH = ("spark-warehouse", "metastore_db", "derby.log")
PARQUET_LEFTOVERS = ("*.crc", ".*.crc", "_SUCCESS", "*.tmp")


def lock_outs(project) -> dict[str, str]:
    """Every stage output's md5 as dvc.lock records it."""
    stages = yaml.safe_load((project / "dvc.lock").read_text())["stages"]
    return {out["path"]: out["md5"] for stage in stages.values() for out in stage.get("outs", [])}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_messy_csv(tmp_path_factory.mktemp("data") / "customers.csv")


@pytest.fixture(scope="module")
def first_repro(tmp_path_factory):
    """(project, output of its first `dvc repro`): the shared spark bake, run and committed as a team would."""
    assert shutil.which("java"), "no java on PATH: `make system-tools` installs Debian's default JRE (as root)"
    assert importlib.util.find_spec("pyspark"), "pyspark is not in the test venv: `make test` installs it"
    return trained_spark(tmp_path_factory)


@pytest.fixture(scope="module")
def project(first_repro):
    return first_repro[0]


def test_first_repro_runs_every_stage_and_writes_parquet_directories(first_repro):
    project, output = first_repro
    assert stages_run(output) == ["validate", "prepare", "train", "evaluate"]
    for path in PREPARED:
        assert sorted(file.name for file in (project / path).iterdir()) == ["part-00000.parquet"], path
    assert lock_outs(project)["data/prepared/train.parquet"].endswith(".dir")


def test_spark_leaves_nothing_in_the_workspace(project):
    """No Spark scratch (warehouse, Derby) anywhere, no .crc/_SUCCESS/staging in the prepared Parquet directories.
    (The model directories Spark saves, in models/ and MLflow's mlruns/, hold .crc files: they are the model.)"""
    scratch = [path for name in SPARK_SCRATCH for path in project.rglob(name) if ".git" not in path.parts]
    assert scratch == []
    left = [
        path
        for out in PREPARED
        for pattern in PARQUET_LEFTOVERS
        for path in (project / out).parent.glob(f"**/{pattern}")
    ]
    assert left == []
    assert run("git", "status", "--porcelain", cwd=project).stdout == ""


def test_a_no_op_repro_runs_no_stage(project):
    output = run(BIN / "dvc", "repro", cwd=project).stdout
    assert stages_run(output) == [], output


def test_forced_prepare_writes_the_same_directories_and_train_is_skipped(project):
    before = lock_outs(project)
    forced = run(BIN / "dvc", "repro", "--force", "--single-item", "prepare", cwd=project).stdout
    assert stages_run(forced) == ["prepare"]
    assert {path: lock_outs(project)[path] for path in PREPARED} == {path: before[path] for path in PREPARED}
    assert run("git", "status", "--porcelain", cwd=project).stdout == ""  # dvc.lock unchanged
    assert stages_run(run(BIN / "dvc", "repro", cwd=project).stdout) == []


def test_a_changed_train_param_reruns_only_train_and_evaluate(project):
    model = yaml.safe_load((project / "params.yaml").read_text())["train"]["model"]
    key = {"random_forest": "maxDepth", "gradient_boosting": "maxIter", "linear": "regParam"}[model]  # MLlib's names
    set_hyperparams(project, **{key: 3})
    output = run(BIN / "dvc", "repro", cwd=project).stdout
    assert stages_run(output) == ["train", "evaluate"]
    changed = {line[3:] for line in run("git", "status", "--porcelain", cwd=project).stdout.splitlines()}
    results = {"metrics/metrics.json", *(f"plots/{name}" for name in ("confusion.csv", "roc.csv", "importance.csv"))}
    assert {"dvc.lock", "params.yaml"} <= changed <= {"dvc.lock", "params.yaml", *results}, changed


# Edits of the raw CSV, each breaking the contract in its own way (and one in several at once).
BAD_DATA = {
    "out of range": "t.loc[:5, 'monthly_spend'] = '1000'",
    "text in a number column": "t.loc[:2, 'age'] = 'forty'; t.loc[7, 'age'] = '?x'",
    "unknown category": "t.loc[[3, 9], 'plan'] = 'gold'",
    "too many gaps": "t.loc[:150, 'region'] = ''",
    "missing and extra columns": "t = t.drop(columns=['age', 'plan']).assign(notes='x', channel='web')",
    "header only": "t = t.head(0)",
    "unknown class": "t.loc[:3, 'churned'] = 'maybe'",
    "one class": "t['churned'] = 'yes'",
    "several at once": (
        "t = t.drop(columns=['age']).assign(notes='x'); t.loc[:5, 'monthly_spend'] = '1000';"
        " t.loc[:150, 'region'] = ''; t.loc[:3, 'churned'] = 'maybe'"
    ),
}
WRITE_BAD_DATA = """
import json, sys
import pandas as pd
t0 = pd.read_csv(sys.argv[1], dtype=str, keep_default_na=False)
for name, edit in json.loads(sys.argv[3]).items():
    t = t0.copy()
    exec(edit)
    t.to_csv(f"{sys.argv[2]}/{name}.csv", index=False)
"""
PROBLEMS = {
    "pandas": """
        from {package} import contract
        from {package}.stages.validate import find_problems
        problems = lambda path: find_problems(*contract.read(path, rules), rules, schema)
    """,
    "spark": """
        from {package} import spark_session
        from {package}.stages.validate import find_problems
        spark = spark_session.start("probe")
        problems = lambda path: find_problems(spark_session.read_csv(spark, path), rules, schema)[0]
    """,
}
PROBE = """
import json, sys
from pathlib import Path
from {package} import contract
schema = Path("data/schema.yaml")
rules = contract.load(schema)
{problems}
print(json.dumps({{path.stem: problems(path) for path in sorted(Path(sys.argv[1]).glob("*.csv"))}}))
"""


def problems_found(project, engine: str, folder) -> dict[str, list[str]]:
    package = project.name.replace("-", "_")
    body = textwrap.dedent(PROBLEMS[engine]).format(package=package)
    result = run(BIN / "python", "-c", PROBE.format(package=package, problems=body), folder, cwd=project)
    return json.loads(result.stdout.splitlines()[-1])


def test_bad_data_gets_the_pandas_engines_sentences(data, tmp_path):
    """The same bad CSVs (of a team's messy data) through both engines' validate: the same sentences, in the
    same order."""
    project = bake(tmp_path / "spark", **ANSWERS, data_path=str(data))
    pandas_project = bake(tmp_path / "pandas", **{**ANSWERS, "engine": "pandas"}, data_path=str(data))
    assert (pandas_project / "data/schema.yaml").read_text() == (project / "data/schema.yaml").read_text()
    folder = tmp_path / "bad"
    folder.mkdir()
    run(BIN / "python", "-c", WRITE_BAD_DATA, data, folder, json.dumps(BAD_DATA), cwd=tmp_path)
    on_pandas = problems_found(pandas_project, "pandas", folder)
    on_spark = problems_found(project, "spark", folder)
    assert sorted(on_pandas) == sorted(BAD_DATA) and all(on_pandas.values()), on_pandas
    assert on_spark == on_pandas


def validate_args(project) -> list[str]:
    """The validate stage's arguments, as dvc.yaml passes them."""
    paths = yaml.safe_load((project / "params.yaml").read_text())["paths"]
    return [paths["raw"], paths["schema"], paths["validation"]]


def test_a_stage_without_pyspark_says_how_to_install_it_in_one_line(project, tmp_path):
    venv.create(tmp_path / "bare")  # a Python with nothing installed
    package = project.name.replace("-", "_")
    validate = validate_args(project)
    result = run(tmp_path / "bare/bin/python", "-m", f"{package}.stages.validate", *validate, cwd=project, check=False)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "spark: pyspark is not installed in this Python; `make setup` installs it (the project's [spark] extra)"
    ]


def test_a_stage_without_java_says_how_to_install_it_in_one_line(project, tmp_path):
    env = {key: value for key, value in tool_env(PATH=str(tmp_path)).items() if key != "JAVA_HOME"}  # no java
    package = project.name.replace("-", "_")
    validate = validate_args(project)
    result = run(BIN / "python", "-m", f"{package}.stages.validate", *validate, cwd=project, check=False, env=env)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1].startswith("spark: Java not found (no `java` on PATH, JAVA_HOME unset)")
    assert [line for line in result.stderr.splitlines() if "Traceback" in line] == []
    assert (project / "reports/validation.json").is_file()  # the previous report stays
