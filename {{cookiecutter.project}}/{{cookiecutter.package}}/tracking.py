"""The one place that talks to MLflow: one run per pipeline run, logged by the evaluate stage.

A run holds every parameter of params.yaml (flattened), the metrics, the plot data, the test data as an
MLflow dataset (name, digest, rows), the model with its signature and an input example, and tags that
lead back to the code and data: git commit, branch and dirty flag, and the md5 hashes dvc.lock records
for the raw data and the model. Each run registers a new version of the model MODEL_NAME with the alias
`candidate`; only registry.py moves `champion`. A run inside a DVC experiment (`dvc exp run`, queued or
not) is the exception: it is tagged with the experiment's name and registers nothing, so a sweep of
twenty experiments compares twenty runs without adding twenty versions.

The tracking store is MLFLOW_TRACKING_URI when set, else DEFAULT_TRACKING_URI below.
`import mlflow` takes seconds, so it happens inside log_run, never at import time.
"""

import base64
import hashlib
import json
import os
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pandas as pd

from {{ cookiecutter.package }} import params

DEFAULT_TRACKING_URI = "{{ cookiecutter.mlflow_tracking_uri or 'sqlite:///mlflow.db' }}"
EXPERIMENT = "{{ cookiecutter.project }}"
MODEL_NAME = "{{ cookiecutter.project }}"  # the registered model; every pipeline run adds a version
CANDIDATE, CHAMPION = "candidate", "champion"  # aliases: the latest run's version, the one to deploy
# Pinned from what is installed: MLflow would otherwise spend seconds inferring them.
{%- if cookiecutter.engine == 'spark' %}
MODEL_REQUIREMENTS = ("pyspark", "pandas", "numpy", "pyarrow")
{%- else %}
MODEL_REQUIREMENTS = ("scikit-learn", "pandas", "numpy", "scipy")
{%- endif %}
PROBE_TIMEOUT_S = 5
# MLflow infers the test data's schema by reading every text value (seconds at 100k rows): a sample of this
# many rows gives the same column types, while the logged digest and row count stay the whole file's.
SCHEMA_SAMPLE_ROWS = 1000


class TrackingError(RuntimeError):
    """The tracking server cannot be reached, or MLflow refused a call."""


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def in_project(uri: str) -> str:
    """The URI with a relative SQLite path made relative to the project's root when DVC runs this stage.

    A queued experiment (`dvc exp run --queue`, `--temp`) runs its stages in a copy of the project under
    .dvc/tmp/exps that DVC deletes afterwards: a store relative to the working directory would vanish with
    it. DVC gives every stage it runs DVC_ROOT, the project's own root (not the copy's), so the runs of
    experiments land in the project's store, beside those of `dvc repro`.
    """
    path = uri.removeprefix("sqlite:///")
    if uri.startswith("sqlite:///") and not Path(path).is_absolute() and os.environ.get("DVC_ROOT"):
        return f"sqlite:///{Path(os.environ['DVC_ROOT'], path)}"
    return uri


def dvc_experiment() -> dict[str, str]:
    """The DVC experiment this process runs in, as MLflow tags; empty outside one.

    `dvc exp run` (in the workspace, --queue or --temp) sets DVC_EXP_NAME and DVC_EXP_BASELINE_REV (the
    commit it started from) for its stages; `dvc repro` sets neither.
    """
    name = os.environ.get("DVC_EXP_NAME")
    if not name:
        return {}
    return {"dvc_experiment": name, "dvc_baseline_rev": os.environ.get("DVC_EXP_BASELINE_REV", "")}


def artifact_location(uri: str) -> str | None:
    """Where a new MLflow experiment keeps its artifacts: mlruns/ beside a local SQLite store.

    MLflow's own default, ./mlruns, is relative to the working directory, which in a queued DVC
    experiment is a copy that is deleted afterwards. A tracking server decides for itself (None).
    """
    if not uri.startswith("sqlite:///"):
        return None
    return str(Path(uri.removeprefix("sqlite:///")).resolve().parent / "mlruns")


def without_credentials(uri: str) -> str:
    """The URI without the user and password a server URI may carry before its host: safe to print and store."""
    parts = urllib.parse.urlsplit(uri)
    if "@" not in parts.netloc:
        return uri
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def check_reachable(uri: str) -> None:
    """Raise TrackingError naming the server when an http(s) tracking URI does not answer.

    MLflow itself retries for minutes before it fails with a traceback; this asks once, quickly. Any
    HTTP answer counts, even an error status (no /health, a login page): something is listening.
    """
    if not uri.startswith(("http://", "https://")):
        return
    safe_uri = without_credentials(uri)
    try:
        urllib.request.urlopen(safe_uri.rstrip("/") + "/health", timeout=PROBE_TIMEOUT_S).close()
    except urllib.error.HTTPError:
        return
    except (OSError, ValueError) as error:  # refused, timed out, unknown host, malformed URI
        reason = getattr(error, "reason", None) or error
        raise TrackingError(
            f"MLflow tracking server {safe_uri} is not reachable ({reason}); "
            "start it, or set MLFLOW_TRACKING_URI to one that answers"
        ) from None
    check_credentials(safe_uri)


def check_credentials(safe_uri: str) -> None:
    """Raise TrackingError when the server refuses the credentials in MLFLOW_TRACKING_USERNAME and
    MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN), or asks for some and none are set: one line,
    before `import mlflow`, instead of MLflow's longer error about an API call. Any other answer passes."""
    user, password = os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD")
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    request = urllib.request.Request(safe_uri.rstrip("/") + "/api/2.0/mlflow/experiments/search?max_results=1")
    if user and password:
        request.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    elif token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        urllib.request.urlopen(request, timeout=PROBE_TIMEOUT_S).close()
    except urllib.error.HTTPError as error:
        if error.code not in (401, 403):
            return
        if user and password:
            given = f"refused the credentials of user '{user}'"
        elif token:
            given = "refused MLFLOW_TRACKING_TOKEN"
        elif Path("~/.mlflow/credentials").expanduser().exists():
            return  # MLflow reads this file itself; its own error names the problem if these are wrong
        else:
            given = "asks for credentials and none are set"
        raise TrackingError(
            f"MLflow tracking server {safe_uri} {given} (HTTP {error.code}); "
            "set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (in CI: the secrets or variables of those names)"
        ) from None
    except OSError:
        return  # it answered /health a moment ago: MLflow itself says what goes wrong now


def md5(path: Path) -> str:
    """The file's md5: the hash DVC records for it in dvc.lock and in .dvc files."""
{%- if cookiecutter.engine == 'spark' %}
    if path.is_dir():
        return dir_md5(path)
{%- endif %}
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "md5").hexdigest()
{%- if cookiecutter.engine == 'spark' %}


def dir_md5(path: Path) -> str:
    """A directory's hash as DVC records it (the Spark model): the md5 of the JSON list of its files' md5s
    and relative paths, sorted by path, followed by ".dir"."""
    files = sorted(item for item in path.rglob("*") if item.is_file())
    entries = [{"md5": md5(item), "relpath": item.relative_to(path).as_posix()} for item in files]
    listing = json.dumps(sorted(entries, key=lambda entry: entry["relpath"]), sort_keys=True)
    return hashlib.md5(listing.encode("utf-8")).hexdigest() + ".dir"
{%- endif %}


def _git(*args: str) -> str:
    """git's answer, or "" outside a repository or without git."""
    try:
        result = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        return ""
    return result.stdout.strip() if result.returncode == 0 else ""


def pipeline_outputs() -> list[str]:
    """The files git tracks that `dvc repro` itself rewrites: changes to them do not make the code or params
    "dirty". Nor do the data's *.dvc pointers (new data, `dvc update` in the retrain job): the data_md5 tag
    names the data."""
    paths = params.load().paths
    written = (paths.metrics, paths.plots, paths.validation, paths.drift_report, paths.report)
    return ["dvc.lock", "*.dvc", *map(str, written)]


def lineage(data_file: Path, model_file: Path) -> dict[str, str]:
    """Where a model comes from: git commit, branch and dirty flag; md5 of the raw data and of the model.

    git_dirty is "true" when tracked code or params differ from the commit (pipeline_outputs() do not
    count). CI checks out a commit, not a branch: the branch then comes from its variables.
    """
    exclude = [f":(exclude){path}" for path in pipeline_outputs()]
    dirty = _git("status", "--porcelain", "--untracked-files=no", "--", ".", *exclude)
    ci_branches = [os.environ.get(name) for name in ("GITHUB_HEAD_REF", "GITHUB_REF_NAME", "CI_COMMIT_REF_NAME")]
    branch = _git("branch", "--show-current") or next(filter(None, ci_branches), "")
    return {
        "git_commit": _git("rev-parse", "HEAD"),
        "git_branch": branch,
        "git_dirty": "true" if dirty else "false",
        "data_md5": md5(data_file),
        "model_md5": md5(model_file),
    }
{%- if cookiecutter.engine == 'spark' %}


def log_test_data(run_id: str, test_data: pd.DataFrame, target: str, test_file: Path, name: str, rows: int):
    """Log the test rows as the run's input dataset (context "test"): its name, the md5 of the file (or
    directory) as digest, its row count `rows`, and the column schema inferred from the sample test_data."""
{%- else %}


def log_test_data(run_id: str, test_data: pd.DataFrame, target: str, test_file: Path, name: str):
    """Log the test rows as the run's input dataset (context "test"): its name, the file's md5 as digest,
    its row count, and the column schema inferred from a sample of SCHEMA_SAMPLE_ROWS rows."""
{%- endif %}
    import mlflow
    from mlflow.entities import Dataset, DatasetInput, InputTag
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    sample = test_data.sample(n=min(len(test_data), SCHEMA_SAMPLE_ROWS), random_state=0)
    with warnings.catch_warnings():  # MLflow registers its local-file source twice, then warns about it
        warnings.filterwarnings("ignore", "The specified dataset source can be interpreted")
        dataset = mlflow.data.from_pandas(
            sample, source=str(test_file), targets=target, name=name, digest=md5(test_file)
        )
{%- if cookiecutter.engine == 'spark' %}
    profile = {"num_rows": rows, "num_elements": rows * test_data.shape[1]}
{%- else %}
    profile = {"num_rows": len(test_data), "num_elements": int(test_data.size)}
{%- endif %}
    logged = Dataset(**{**dataset.to_dict(), "profile": json.dumps(profile)})
    context = [InputTag(MLFLOW_DATASET_CONTEXT, "test")]
    mlflow.MlflowClient().log_inputs(run_id, datasets=[DatasetInput(logged, context)])
    return dataset


def log_run(
    params: dict[str, Any],
    metrics: dict[str, float],
    model: Any,
    test_data: pd.DataFrame,
    target: str,
    test_file: Path,
    dataset_name: str,
    tags: dict[str, str],
    artifacts: dict[str, str],
{%- if cookiecutter.engine == 'spark' %}
    test_rows: int,
{%- endif %}
) -> dict[str, str | None]:
    """Log one run, register its model as a new version with alias `candidate`, and return what
    models/model_info.json records of it: run_id, experiment, tracking_uri, model_name, model_version.
    Inside a DVC experiment the run is tagged with its name and nothing is registered (model_version None).

    test_data holds the features and the target column of the rows the metrics come from (read from
    test_file, logged as the dataset `dataset_name`); artifacts maps a file name to its text.
{%- if cookiecutter.engine == 'spark' %}
    Spark: model is a PipelineModel, test_data a sample of the test rows (the schema and the signature come
    from it) and test_rows the number of test rows.
{%- endif %}
    """
    uri = tracking_uri()
    check_reachable(uri)
    started = time.monotonic()
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.models import infer_signature
{%- if cookiecutter.engine == 'spark' %}
    from pyspark.sql import SparkSession

    from {{ cookiecutter.package }}.spark_session import SCRATCH

    # MLflow's Spark flavour stages the model in a "DFS" directory: a local one, in Spark's scratch space.
    os.environ.setdefault("MLFLOW_DFS_TMP", str(SCRATCH / "mlflow"))
    # A column without a gap in the sample would be marked required: one row of gaps marks them all optional.
    features = test_data.drop(columns=[target])
    with_gaps = pd.concat([features, pd.DataFrame([[None] * features.shape[1]], columns=features.columns)])
    spark = SparkSession.active()
    predicted = model.transform(spark.createDataFrame(features.head(5))).select("prediction").toPandas()
{%- else %}

    features = test_data.drop(columns=[target]).head(5)
{%- endif %}
    experiment = dvc_experiment()
    mlflow.set_tracking_uri(in_project(uri))
    try:
        if mlflow.get_experiment_by_name(EXPERIMENT) is None:
            mlflow.create_experiment(EXPERIMENT, artifact_location=artifact_location(in_project(uri)))
        mlflow.set_experiment(EXPERIMENT)
        # A DVC experiment's run is named after it: MLflow's run list and `dvc exp show` then use the same names.
        with mlflow.start_run(run_name=experiment.get("dvc_experiment"), tags={**tags, **experiment}) as run:
            mlflow.log_params(params)
{%- if cookiecutter.engine == 'spark' %}
            dataset = log_test_data(run.info.run_id, test_data, target, test_file, dataset_name, test_rows)
{%- else %}
            dataset = log_test_data(run.info.run_id, test_data, target, test_file, dataset_name)
{%- endif %}
            mlflow.log_metrics(metrics, dataset=dataset)
            for name, text in artifacts.items():
                mlflow.log_text(text, f"evaluation/{name}")
{%- if cookiecutter.engine == 'spark' %}
            # artifact_path, not name=: the Spark flavour still requires it. No input example: checking it
            # would load the model in a second Spark session.
            logged = mlflow.spark.log_model(
                model,
                artifact_path="model",
                signature=infer_signature(with_gaps, predicted["prediction"]),
                pip_requirements=[f"{name}=={version(name)}" for name in MODEL_REQUIREMENTS],
            )
{%- else %}
            logged = mlflow.sklearn.log_model(
                model,
                name="model",
                signature=infer_signature(features, model.predict(features)),
                input_example=features,
                pip_requirements=[f"{name}=={version(name)}" for name in MODEL_REQUIREMENTS],
                # Pickled like models/model.joblib: this pipeline just fitted it, so it trusts it.
                serialization_format="cloudpickle",
            )
{%- endif %}
            model_version = None  # a DVC experiment only compares: the one a team keeps is registered later
            if not experiment:
                version_tags = {**tags, "run_id": run.info.run_id}
                registered = mlflow.register_model(logged.model_uri, MODEL_NAME, tags=version_tags)
                mlflow.MlflowClient().set_registered_model_alias(MODEL_NAME, CANDIDATE, registered.version)
                model_version = str(registered.version)
    except MlflowException as error:
        raise TrackingError(f"MLflow at {without_credentials(uri)} failed: {error.message}") from None
    if experiment:
        name = experiment["dvc_experiment"]
        outcome = (
            f"no model version registered, as this is DVC experiment '{name}' "
            f"(to keep it: `dvc exp apply {name}`, commit, then `dvc repro -f -s evaluate` registers it)"
        )
    else:
        outcome = f"model '{MODEL_NAME}' version {model_version} is the {CANDIDATE}"
    print(
        f"evaluate: MLflow run {run.info.run_id} in experiment '{EXPERIMENT}' at {without_credentials(uri)} "
        f"(logged in {time.monotonic() - started:.1f} s); {outcome}"
    )
    return {
        "run_id": run.info.run_id,
        "experiment": EXPERIMENT,
        "tracking_uri": without_credentials(uri),
        "model_name": MODEL_NAME,
        "model_version": model_version,
    }
