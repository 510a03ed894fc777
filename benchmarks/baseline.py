"""The plain baseline: the baked pipeline's work as one script in one process, as an engineer would
write it without DVC. Read the CSV, split, fit, evaluate, save the model, log one MLflow run.

    python benchmarks/baseline.py RAW_CSV PARAMS_YAML OUT_DIR

It reads the same params.yaml as the baked project (data, prepare and train sections) and does the
same computation: the same stratified split, the same preprocessing and estimator with the same
hyperparameters, the same metrics and plot data (permutation importance too), and the same MLflow calls
as the evaluate stage
(SQLite store in the working directory: params, the test rows as a dataset, metrics, plot files, the
model with signature, input example and explicit pip requirements, a registered version with the alias
`candidate`). It skips what the pipeline adds on top: checking the data against its contract,
intermediate Parquet files, DVC's hashing and caching, lineage tags (git state, md5 of data and model).
Supports classification (the benchmarks' task). Writes OUT_DIR/model.joblib, metrics.json, plots/.
"""

import json
import sys
from importlib.metadata import version
from pathlib import Path

import joblib
import mlflow
import pandas as pd
import yaml
from mlflow.models import infer_signature
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, roc_auc_score, roc_curve
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

ESTIMATORS = {
    "random_forest": RandomForestClassifier,
    "gradient_boosting": HistGradientBoostingClassifier,
    "linear": LogisticRegression,
}


def flat(section: dict, prefix: str = "") -> dict:
    items = {}
    for key, value in section.items():
        if isinstance(value, dict):
            items.update(flat(value, f"{prefix}{key}."))
        else:
            items[f"{prefix}{key}"] = value
    return items


def main() -> None:
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    raw_csv, params_file, out_dir = (Path(arg) for arg in sys.argv[1:])
    params = yaml.safe_load(params_file.read_text())
    target, drop = params["data"]["target"], params["data"]["drop_columns"]
    train_params = params["train"]

    table = pd.read_csv(raw_csv)
    table = table[table[target].notna()]
    train, test = train_test_split(
        table, test_size=params["prepare"]["test_size"], random_state=params["prepare"]["seed"], stratify=table[target]
    )
    x_train, y_train = train.drop(columns=[target, *drop]), train[target]
    x_test, y_test = test.drop(columns=[target, *drop]), test[target]

    numeric = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
    categorical = make_pipeline(
        SimpleImputer(strategy="most_frequent"),
        OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=30, sparse_output=False),
    )
    preprocess = ColumnTransformer(
        [
            ("numeric", numeric, make_column_selector(dtype_include="number")),
            ("categorical", categorical, make_column_selector(dtype_exclude="number")),
        ]
    )
    hyperparams = train_params[train_params["model"]]  # the selected model's section
    estimator = ESTIMATORS[train_params["model"]](random_state=train_params["seed"], **hyperparams)
    model = Pipeline([("preprocess", preprocess), ("model", estimator)]).fit(x_train, y_train)

    predicted = model.predict(x_test)
    probabilities = model.predict_proba(x_test)
    positive = y_test == model.classes_[1]
    metrics = {
        "accuracy": accuracy_score(y_test, predicted),
        "balanced_accuracy": balanced_accuracy_score(y_test, predicted),
        "f1_macro": f1_score(y_test, predicted, average="macro"),
        "roc_auc": roc_auc_score(positive, probabilities[:, 1]),
    }
    metrics = {name: round(float(value), 6) for name, value in metrics.items()}
    fpr, tpr, _ = roc_curve(positive, probabilities[:, 1])
    # The evaluate stage's permutation importance: the same scorer, repeats, row sample and seed.
    evaluate = params.get("evaluate", {})
    rows = min(evaluate.get("importance_rows", 5000), len(x_test))
    importance = permutation_importance(
        model, x_test, y_test, scoring=evaluate.get("primary_metric", "roc_auc"),
        n_repeats=evaluate.get("importance_repeats", 5), max_samples=rows, random_state=train_params["seed"],
    )  # fmt: skip

    (out_dir / "plots").mkdir(parents=True, exist_ok=True)
    joblib.dump(model, out_dir / "model.joblib")
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    pd.DataFrame({"actual": y_test.to_numpy(), "predicted": predicted}).to_csv(
        out_dir / "plots/confusion.csv", index=False
    )
    pd.DataFrame({"fpr": fpr, "tpr": tpr}).round(6).to_csv(out_dir / "plots/roc.csv", index=False)
    means, spreads = importance.importances_mean.round(6), importance.importances_std.round(6)
    pd.DataFrame({"feature": x_test.columns, "importance": means, "std": spreads}).sort_values(
        ["importance", "feature"], ascending=[False, True]
    ).to_csv(out_dir / "plots/importance.csv", index=False)
    print(f"baseline: {json.dumps(metrics)}")

    mlflow.set_tracking_uri("sqlite:///mlflow.db")
    mlflow.set_experiment("baseline")
    example = x_test.head(5)
    with mlflow.start_run() as run:
        mlflow.log_params(flat(params))
        dataset = mlflow.data.from_pandas(test, source=str(raw_csv), targets=target, name="test")
        mlflow.log_input(dataset, context="test")
        mlflow.log_metrics(metrics, dataset=dataset)
        for name in ("metrics.json", "plots/confusion.csv", "plots/roc.csv", "plots/importance.csv"):
            mlflow.log_artifact(str(out_dir / name), artifact_path="evaluation")
        logged = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(example, model.predict(example)),
            input_example=example,
            pip_requirements=[f"{name}=={version(name)}" for name in ("scikit-learn", "pandas", "numpy", "scipy")],
            serialization_format="cloudpickle",
        )
        registered = mlflow.register_model(logged.model_uri, "baseline", tags={"run_id": run.info.run_id})
        mlflow.MlflowClient().set_registered_model_alias("baseline", "candidate", registered.version)


if __name__ == "__main__":
    main()
