"""The one place that talks to MLflow: one run per pipeline run, logged by the evaluate stage.

The tracking store is MLFLOW_TRACKING_URI when set, else DEFAULT_TRACKING_URI below.
`import mlflow` takes seconds, so it happens inside log_run, never at import time.
"""

import os
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pandas as pd

DEFAULT_TRACKING_URI = "{{ cookiecutter.mlflow_tracking_uri or 'sqlite:///mlflow.db' }}"
EXPERIMENT = "{{ cookiecutter.project }}"
# Pinned from what is installed: MLflow would otherwise spend seconds inferring them.
MODEL_REQUIREMENTS = ("scikit-learn", "pandas", "numpy", "scipy")


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def log_run(
    params: dict[str, Any], metrics: dict[str, float], model: Any, input_example: pd.DataFrame, artifacts: list[Path]
) -> str:
    """Log params, metrics, plot files and the model (with signature) as one run; return its id."""
    import mlflow
    from mlflow.models import infer_signature

    mlflow.set_tracking_uri(tracking_uri())
    mlflow.set_experiment(EXPERIMENT)
    with mlflow.start_run() as run:
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)
        for path in artifacts:
            mlflow.log_artifact(str(path), artifact_path="evaluation")
        mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(input_example, model.predict(input_example)),
            input_example=input_example,
            pip_requirements=[f"{name}=={version(name)}" for name in MODEL_REQUIREMENTS],
            # Pickled like models/model.joblib: this pipeline just fitted it, so it trusts it.
            serialization_format="cloudpickle",
        )
    print(f"evaluate: MLflow run {run.info.run_id} in experiment '{EXPERIMENT}' at {tracking_uri()}")
    return run.info.run_id
