"""Evaluate: score the model on the held-out rows, write metrics and plot data, log the run to MLflow.

Usage: python -m {{ cookiecutter.package }}.stages.evaluate MODEL_FILE TEST_PARQUET METRICS_JSON PLOTS_DIR
"""

import json
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
{%- if cookiecutter.task == 'classification' %}
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, roc_auc_score, roc_curve
from sklearn.preprocessing import label_binarize
{%- else %}
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
{%- endif %}

from {{ cookiecutter.package }} import params, tracking
from {{ cookiecutter.package }}.dataset import read_features_target

DECIMALS = 6  # metrics are rounded so that reruns and diffs compare cleanly
{% if cookiecutter.task == 'classification' %}

def compute_metrics(actual: pd.Series, predicted: np.ndarray, probabilities: np.ndarray, classes: np.ndarray) -> dict:
    """Accuracy; balanced accuracy and macro F1, where every class counts the same however rare it is;
    ROC AUC (one-vs-rest when multiclass)."""
    if len(classes) == 2:
        roc_auc = roc_auc_score(actual == classes[1], probabilities[:, 1])
    else:
        roc_auc = roc_auc_score(actual, probabilities, multi_class="ovr", labels=classes)
    return {
        "accuracy": accuracy_score(actual, predicted),
        "balanced_accuracy": balanced_accuracy_score(actual, predicted),
        "f1_macro": f1_score(actual, predicted, average="macro"),
        "roc_auc": roc_auc,
    }


def plot_tables(actual: pd.Series, predicted: np.ndarray, probabilities: np.ndarray, classes: np.ndarray) -> dict:
    """Data for the confusion matrix and the ROC curve (micro-averaged over classes when multiclass)."""
    confusion = pd.DataFrame({"actual": actual.to_numpy(), "predicted": predicted})
    if len(classes) == 2:
        fpr, tpr, _ = roc_curve(actual == classes[1], probabilities[:, 1])
    else:
        fpr, tpr, _ = roc_curve(label_binarize(actual, classes=classes).ravel(), probabilities.ravel())
    roc = pd.DataFrame({"fpr": fpr, "tpr": tpr}).round(DECIMALS)
    return {"confusion.csv": confusion, "roc.csv": roc}


def evaluate(model, features: pd.DataFrame, actual: pd.Series) -> tuple[dict, dict]:
    predicted = model.predict(features)
    probabilities = model.predict_proba(features)
    classes = model.classes_
    return (
        compute_metrics(actual, predicted, probabilities, classes),
        plot_tables(actual, predicted, probabilities, classes),
    )
{% else %}

def compute_metrics(actual: pd.Series, predicted: np.ndarray) -> dict:
    """RMSE and MAE in the target's units, and R² (share of variance explained)."""
    return {
        "rmse": float(np.sqrt(mean_squared_error(actual, predicted))),
        "mae": mean_absolute_error(actual, predicted),
        "r2": r2_score(actual, predicted),
    }


def plot_tables(actual: pd.Series, predicted: np.ndarray) -> dict:
    """Data for predicted-vs-actual and residuals-vs-predicted scatter plots."""
    actual, predicted = actual.to_numpy(), np.round(predicted, DECIMALS)
    return {
        "predictions.csv": pd.DataFrame({"actual": actual, "predicted": predicted}),
        "residuals.csv": pd.DataFrame({"predicted": predicted, "residual": np.round(actual - predicted, DECIMALS)}),
    }


def evaluate(model, features: pd.DataFrame, actual: pd.Series) -> tuple[dict, dict]:
    predicted = model.predict(features)
    return compute_metrics(actual, predicted), plot_tables(actual, predicted)
{% endif %}

def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 4:
        sys.exit(__doc__)
    model_file, test_file, metrics_file, plots_dir = (Path(arg) for arg in args)
    p = params.load()
    model = joblib.load(model_file)
    features, actual = read_features_target(test_file, p.data)
    metrics, plots = evaluate(model, features, actual)
    metrics = {name: round(float(value), DECIMALS) for name, value in metrics.items()}

    metrics_file.parent.mkdir(parents=True, exist_ok=True)
    metrics_file.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    plots_dir.mkdir(parents=True, exist_ok=True)
    for name, table in plots.items():
        table.to_csv(plots_dir / name, index=False)
    print(f"evaluate: {json.dumps(metrics)}")

    tracking.log_run(
        params=params.as_flat_dict(p),
        metrics=metrics,
        model=model,
        input_example=features.head(5),
        artifacts=[metrics_file, *(plots_dir / name for name in plots)],
    )


if __name__ == "__main__":
    main()
