"""The one place that talks to MLflow: one run per pipeline run, logged by the evaluate stage.

A run holds every parameter of params.yaml (flattened), the metrics, the plot data, the test data as an
MLflow dataset (name, digest, rows), the model with its signature and an input example, and tags that
lead back to the code and data: git commit, branch and dirty flag, and the md5 hashes dvc.lock records
for the raw data and the model. Each run registers a new version of the model MODEL_NAME with the alias
`candidate`; only registry.py moves `champion`.

The tracking store is MLFLOW_TRACKING_URI when set, else DEFAULT_TRACKING_URI below.
`import mlflow` takes seconds, so it happens inside log_run, never at import time.
"""

import base64
import hashlib
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

DEFAULT_TRACKING_URI = "{{ cookiecutter.mlflow_tracking_uri or 'sqlite:///mlflow.db' }}"
EXPERIMENT = "{{ cookiecutter.project }}"
MODEL_NAME = "{{ cookiecutter.project }}"  # the registered model; every pipeline run adds a version
CANDIDATE, CHAMPION = "candidate", "champion"  # aliases: the latest run's version, the one to deploy
# Pinned from what is installed: MLflow would otherwise spend seconds inferring them.
MODEL_REQUIREMENTS = ("scikit-learn", "pandas", "numpy", "scipy")
PROBE_TIMEOUT_S = 5
# Files `dvc repro` itself rewrites: changes to them do not make the code or params "dirty". Nor do
# the data's *.dvc pointers (new data, `dvc update` in the retrain job): the data_md5 tag names the data.
PIPELINE_OUTPUTS = ("dvc.lock", "metrics", "plots", "reports", "*.dvc")


class TrackingError(RuntimeError):
    """The tracking server cannot be reached, or MLflow refused a call."""


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


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
    except (OSError, ValueError):
        return  # it answered /health a moment ago: MLflow itself says what goes wrong now


def md5(path: Path) -> str:
    """The file's md5: the hash DVC records for it in dvc.lock and in .dvc files."""
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "md5").hexdigest()


def _git(*args: str) -> str:
    """git's answer, or "" outside a repository or without git."""
    try:
        result = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        return ""
    return result.stdout.strip() if result.returncode == 0 else ""


def lineage(data_file: Path, model_file: Path) -> dict[str, str]:
    """Where a model comes from: git commit, branch and dirty flag; md5 of the raw data and of the model.

    git_dirty is "true" when tracked code or params differ from the commit (files of PIPELINE_OUTPUTS
    do not count). CI checks out a commit, not a branch: the branch then comes from its variables.
    """
    exclude = [f":(exclude){path}" for path in PIPELINE_OUTPUTS]
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
) -> dict[str, str]:
    """Log one run, register its model as a new version with alias `candidate`, and return what
    models/model_info.json records of it: run_id, experiment, tracking_uri, model_name, model_version.

    test_data holds the features and the target column of the rows the metrics come from (read from
    test_file, logged as the dataset `dataset_name`); artifacts maps a file name to its text.
    """
    uri = tracking_uri()
    check_reachable(uri)
    started = time.monotonic()
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.models import infer_signature

    features = test_data.drop(columns=[target]).head(5)
    mlflow.set_tracking_uri(uri)
    try:
        mlflow.set_experiment(EXPERIMENT)
        with mlflow.start_run(tags=tags) as run:
            mlflow.log_params(params)
            with warnings.catch_warnings():  # MLflow registers its local-file source twice, then warns about it
                warnings.filterwarnings("ignore", "The specified dataset source can be interpreted")
                dataset = mlflow.data.from_pandas(
                    test_data, source=str(test_file), targets=target, name=dataset_name, digest=md5(test_file)
                )
            mlflow.log_input(dataset, context="test")
            mlflow.log_metrics(metrics, dataset=dataset)
            for name, text in artifacts.items():
                mlflow.log_text(text, f"evaluation/{name}")
            logged = mlflow.sklearn.log_model(
                model,
                name="model",
                signature=infer_signature(features, model.predict(features)),
                input_example=features,
                pip_requirements=[f"{name}=={version(name)}" for name in MODEL_REQUIREMENTS],
                # Pickled like models/model.joblib: this pipeline just fitted it, so it trusts it.
                serialization_format="cloudpickle",
            )
            registered = mlflow.register_model(logged.model_uri, MODEL_NAME, tags={**tags, "run_id": run.info.run_id})
            mlflow.MlflowClient().set_registered_model_alias(MODEL_NAME, CANDIDATE, registered.version)
    except MlflowException as error:
        raise TrackingError(f"MLflow at {without_credentials(uri)} failed: {error.message}") from None
    print(
        f"evaluate: MLflow run {run.info.run_id} in experiment '{EXPERIMENT}' at {without_credentials(uri)}; "
        f"model '{MODEL_NAME}' version {registered.version} is the {CANDIDATE} "
        f"(logged in {time.monotonic() - started:.1f} s)"
    )
    return {
        "run_id": run.info.run_id,
        "experiment": EXPERIMENT,
        "tracking_uri": without_credentials(uri),
        "model_name": MODEL_NAME,
        "model_version": str(registered.version),
    }
