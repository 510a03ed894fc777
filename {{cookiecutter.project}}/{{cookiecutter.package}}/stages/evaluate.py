"""Evaluate: score the model on the held-out rows, log the run to MLflow, write metrics, plot data and
MODEL_INFO_JSON (which run and registered model version this model is).

The plot data includes importance.csv, permutation importance: one prediction per column and repeat on
at most evaluate.importance_rows test rows, whatever the test set's size; seeded by train.seed.

Usage: python -m {{ cookiecutter.package }}.stages.evaluate MODEL_FILE TEST_PARQUET RAW_CSV METRICS_JSON PLOTS_DIR
       MODEL_INFO_JSON
RAW_CSV is read only for its md5, the data version that MLflow records with the run.
"""

import json
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance
{%- if cookiecutter.task == 'classification' %}
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    f1_score,
    make_scorer,
    roc_auc_score,
    roc_curve,
)
from sklearn.preprocessing import label_binarize
{%- else %}
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
{%- endif %}

from {{ cookiecutter.package }} import params, tracking
from {{ cookiecutter.package }}.dataset import read_features_target

DECIMALS = 6  # metrics are rounded so that reruns and diffs compare cleanly
# The metrics evaluate.primary_metric may name: it gates a merge (CI), `make promote` and ranks a sweep, all
# of which take higher as better. A metric of your own: compute it in compute_metrics and add it here.
# Each is also a scikit-learn scorer name, which permutation importance scores with (`scoring` in main).
{%- if cookiecutter.task == 'classification' %}
GATE_METRICS = ("accuracy", "balanced_accuracy", "f1_macro", "roc_auc")
{%- else %}
GATE_METRICS = ("r2",)  # rmse and mae are not: lower is better
{%- endif %}
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
    """(metrics, plot tables) of `model` on these rows. `make promote` (registry.py) scores the champion
    and the candidate with this function: keep its name and what it takes and returns."""
    probabilities = model.predict_proba(features)
    classes = model.classes_
    # The most probable class is what model.predict returns; taking it here saves a second pass over the rows.
    predicted = classes[probabilities.argmax(axis=1)]
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
    """(metrics, plot tables) of `model` on these rows. `make promote` (registry.py) scores the champion
    and the candidate with this function: keep its name and what it takes and returns."""
    predicted = model.predict(features)
    return compute_metrics(actual, predicted), plot_tables(actual, predicted)
{% endif %}

def importance_table(
    model, features: pd.DataFrame, actual: pd.Series, scoring: str, repeats: int, rows: int, seed: int
) -> pd.DataFrame:
    """Permutation importance of each input column on (a sample of `rows` of) the test rows: the mean
    drop of `scoring` over `repeats` shuffles of the column, and its spread. Most important first."""
    sample = min(rows, len(features))
    result = permutation_importance(
        model, features, actual, scoring=scoring, n_repeats=repeats, max_samples=sample, random_state=seed
    )
    table = pd.DataFrame(
        {
            "feature": features.columns,
            # + 0.0 turns -0.0 (a column the model ignores) into 0.0
            "importance": np.round(result.importances_mean, DECIMALS) + 0.0,
            "std": np.round(result.importances_std, DECIMALS) + 0.0,
        }
    )
    return table.sort_values(["importance", "feature"], ascending=[False, True], ignore_index=True)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 6:
        sys.exit(__doc__)
    model_file, test_file, raw_file, metrics_file, plots_dir, info_file = (Path(arg) for arg in args)
    p = params.load()
    if p.evaluate.primary_metric not in GATE_METRICS:  # before anything is written
        raise params.ParamsError(
            f"{params.PARAMS_FILE}: evaluate.primary_metric must be one of {', '.join(GATE_METRICS)}, "
            f"got '{p.evaluate.primary_metric}' (GATE_METRICS in stages/evaluate.py)"
        )
    model = joblib.load(model_file)
    features, actual = read_features_target(test_file, p.data)
    metrics, plots = evaluate(model, features, actual)
{%- if cookiecutter.task == 'classification' %}
    scoring = p.evaluate.primary_metric
    if scoring == "roc_auc" and len(model.classes_) > 2:
        # The one-vs-rest AUC that compute_metrics reports, over every class the model knows: sklearn's own
        # "roc_auc_ovr" scorer fails on test rows that lack one of them.
        scoring = make_scorer(roc_auc_score, response_method="predict_proba", multi_class="ovr", labels=model.classes_)
{%- else %}
    scoring = p.evaluate.primary_metric
{%- endif %}
    repeats, rows = p.evaluate.importance_repeats, p.evaluate.importance_rows
    plots["importance.csv"] = importance_table(model, features, actual, scoring, repeats, rows, p.train.seed)
    metrics = {name: round(float(value), DECIMALS) for name, value in metrics.items()}
    print(f"evaluate: {json.dumps(metrics)}")
    metrics_text = json.dumps(metrics, indent=2, sort_keys=True) + "\n"
    plot_texts = {name: table.to_csv(index=False) for name, table in plots.items()}

    # Log first, write after: when MLflow fails, no output is left that claims a run which does not exist.
    lineage = tracking.lineage(raw_file, model_file)
    try:
        run = tracking.log_run(
            params=params.as_flat_dict(p),
            metrics=metrics,
            model=model,
            test_data=features.assign(**{p.data.target: actual}),
            target=p.data.target,
            test_file=test_file,
            dataset_name=f"{raw_file.stem}-{test_file.stem}",
            tags=lineage,
            artifacts={metrics_file.name: metrics_text, **plot_texts},
        )
    except tracking.TrackingError as error:
        sys.exit(f"evaluate: {error} (no output was changed; run `dvc repro` again when it works)")

    metrics_file.parent.mkdir(parents=True, exist_ok=True)
    metrics_file.write_text(metrics_text)
    plots_dir.mkdir(parents=True, exist_ok=True)
    for name, text in plot_texts.items():
        (plots_dir / name).write_text(text)
    # Lineage from the project's side: which run and registered version this model is (serving reports it).
    info_file.parent.mkdir(parents=True, exist_ok=True)
    info_file.write_text(json.dumps({**run, **lineage, "metrics": metrics}, indent=2) + "\n")


if __name__ == "__main__":
    try:
        main()
    except params.ParamsError as error:
        sys.exit(f"evaluate: {error}")  # it names the file and the key: a traceback would bury that
