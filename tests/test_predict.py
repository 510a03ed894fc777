"""`make predict` on both engines, each on one bake whose pipeline ran once: a CSV and a Parquet file scored
(every row; the input's columns, the prediction and the class probabilities) with the model at paths.model
before a champion exists and with the champion after; an input that breaks the data contract is refused,
naming the file and each column, and nothing is written. The Spark bake also runs its own Spark tests
(contract, split, quality gates, team code) and params tests, and shows its model_md5 tag is DVC's hash of
the model directory and `make promote` scoring two Spark models."""

import glob
import json

import pandas as pd
import pytest
import yaml
from helpers import BIN, run, tool_env, trained_default, trained_spark

pytestmark = pytest.mark.slow

ENGINES = ("pandas", "spark")
SCORE_COLUMNS = ["prediction", "probability_benign", "probability_malignant"]  # the breast cancer sample's classes


def project_env() -> dict[str, str]:
    """tool_env without an MLFLOW_TRACKING_URI of the caller's: the project's own store (SQLite) decides."""
    env = tool_env()
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def make(project, *args: str, check: bool = True):
    return run("make", "--no-print-directory", *args, cwd=project, env=project_env(), check=check)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """engine -> a classification bake of that engine whose pipeline ran (a copy of its own), made on first use:
    the Spark tests' shared bake (helpers.trained_spark), and the default one (helpers.trained_default)."""
    projects = {}

    def project(engine: str):
        if engine not in projects:
            made = trained_spark if engine == "spark" else trained_default
            projects[engine], _ = made(tmp_path_factory)
        return projects[engine]

    return project


def read_output(path) -> pd.DataFrame:
    """OUTPUT as one table: a file (pandas), or Spark's directory of part files."""
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    parts = sorted(glob.glob(str(path / "part-*.csv"))) if path.is_dir() else [str(path)]
    assert parts, f"no part files in {path}"
    return pd.concat([pd.read_csv(part) for part in parts], ignore_index=True)


def bad_csv(project, tmp_path):
    """The raw data's first rows, with a column missing, text in a number column and a number out of range."""
    table = pd.read_csv(project / "data" / "raw" / "breast_cancer.csv", dtype=str).head(30)
    table.loc[3, "mean_radius"] = "abc"
    table.loc[4, "mean_texture"] = "1e6"
    path = tmp_path / "bad.csv"
    table.drop(columns=["mean_area"]).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("engine", ENGINES)
def test_input_that_breaks_the_contract_is_refused_naming_each_column(trained, engine, tmp_path):
    project = trained(engine)
    output = tmp_path / "scored.csv"
    result = make(project, "predict", f"INPUT={bad_csv(project, tmp_path)}", f"OUTPUT={output}", check=False)
    assert result.returncode != 0
    bad = str(tmp_path / "bad.csv")
    assert f"{bad}: missing column 'mean_area' (the contract data/schema.yaml requires it)" in result.stderr
    assert f"{bad}: column 'mean_radius': 1 values are not numbers (e.g. 'abc')" in result.stderr
    assert f"{bad}: column 'mean_texture': 1 values outside [" in result.stderr
    assert f"predict: 3 problem(s) with {bad}; nothing was written" in result.stderr
    assert not output.exists()


@pytest.mark.parametrize("engine", ENGINES)
def test_csv_and_parquet_are_scored_with_the_model_then_with_the_champion(trained, engine, tmp_path):
    project = trained(engine)
    raw = project / "data" / "raw" / "breast_cancer.csv"
    test_data = project / "data" / "prepared" / "test.parquet"
    csv_out, parquet_out = tmp_path / "scored.csv", tmp_path / "scored.parquet"

    before = make(project, "predict", f"INPUT={raw}", f"OUTPUT={csv_out}").stdout
    model_dir = "models/model" if engine == "spark" else "models/model.joblib"
    assert f"scored with {model_dir} -> " in before  # no champion yet
    scored = read_output(csv_out)
    inputs = pd.read_csv(raw)
    assert len(scored) == len(inputs)
    assert list(scored.columns) == [*inputs.columns, *SCORE_COLUMNS]
    assert set(scored["prediction"]) <= {"benign", "malignant"}
    assert (scored["prediction"] == inputs["diagnosis"]).mean() > 0.8  # the model's own training rows among them

    assert "is the champion now" in make(project, "promote", "ARGS=--ignore-lineage").stdout
    after = make(project, "predict", f"INPUT={test_data}", f"OUTPUT={parquet_out}").stdout
    assert f"scored with the champion models:/{project.name}@champion -> " in after
    scored, inputs = read_output(parquet_out), pd.read_parquet(test_data)
    assert len(scored) == len(inputs)
    assert list(scored.columns) == [*inputs.columns, *SCORE_COLUMNS]
    assert (scored[SCORE_COLUMNS[1:]].sum(axis=1) - 1).abs().max() < 1e-9


def test_spark_bake_passes_its_own_spark_tests_and_promote_scores_spark_models(trained):
    """The pandas bake's own tests run in test_pipeline_default.py."""
    project = trained("spark")
    # The bake's engine-specific tests (one Spark session for all), and its params tests.
    tests = ["tests/test_contract.py", "tests/test_model_quality.py", "tests/test_params.py", "tests/test_stages.py",
             "tests/test_team_code.py"]  # fmt: skip
    result = run(BIN / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests, cwd=project, env=project_env())
    assert " passed" in result.stdout and "skipped" not in result.stdout, result.stdout
    # The lineage tag of a model directory is the hash DVC records for it.
    train_outs = yaml.safe_load((project / "dvc.lock").read_text())["stages"]["train"]["outs"]
    model_info = json.loads((project / "models" / "model_info.json").read_text())
    assert model_info["model_md5"] == train_outs[0]["md5"] and model_info["model_md5"].endswith(".dir")
    make(project, "promote", "ARGS=--ignore-lineage")  # version 1 is the champion (or already was)
    # A second version (the same model, evaluated again) against the champion: both loaded with Spark and scored.
    run(BIN / "dvc", "repro", "--force", "--single-item", "evaluate", cwd=project, env=project_env())
    info = json.loads((project / "models" / "model_info.json").read_text())
    promoted = make(project, "promote", "ARGS=--ignore-lineage", check=False)
    assert "roc_auc on data/prepared/test.parquet" in promoted.stdout, promoted.stdout + promoted.stderr
    assert f"version {info['model_version']} is the champion now" in promoted.stdout  # a tie passes margin 0
