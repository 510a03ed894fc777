"""Train: fit preprocessing and the estimator named in params.yaml, save them as one sklearn Pipeline.

Usage: python -m {{ cookiecutter.package }}.stages.train TRAIN_PARQUET MODEL_FILE
"""

import sys
from pathlib import Path
from typing import Any

import joblib
from sklearn.compose import ColumnTransformer, make_column_selector
{%- if cookiecutter.task == 'classification' %}
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
{%- else %}
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Ridge
{%- endif %}
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from {{ cookiecutter.package }} import params
from {{ cookiecutter.package }}.dataset import read_features_target

MAX_CATEGORIES = 30  # per text column, see make_preprocessing
# The models `train.model` in params.yaml may name, each with its own section train.<name> there, whose
# keys are passed to the class as keyword arguments. This table is the one list of models: to add one,
# add its line here and its section to params.yaml (tests/test_params.py checks that they agree).
ESTIMATORS = {
{%- if cookiecutter.task == 'classification' %}
    "random_forest": RandomForestClassifier,
    "gradient_boosting": HistGradientBoostingClassifier,
    "linear": LogisticRegression,
{%- else %}
    "random_forest": RandomForestRegressor,
    "gradient_boosting": HistGradientBoostingRegressor,
    "linear": Ridge,
{%- endif %}
}


def make_estimator(model: str, hyperparams: dict[str, Any], seed: int) -> Any:
    """The estimator for `model`, with `hyperparams` (its section train.<model>) checked against what it accepts."""
    if model not in ESTIMATORS:
        known = ", ".join(ESTIMATORS)
        raise params.ParamsError(f"params.yaml: train.model '{model}' is not in ESTIMATORS of stages/train.py: {known}")
    estimator = ESTIMATORS[model]()
    accepted = estimator.get_params()
    unknown = sorted(set(hyperparams) - set(accepted))
    if unknown:
        raise params.ParamsError(
            f"params.yaml: {', '.join(f'train.{model}.{key}' for key in unknown)} not accepted by "
            f"{type(estimator).__name__}; it takes: {', '.join(sorted(accepted))}"
        )
    if "random_state" in accepted:
        estimator.set_params(random_state=seed)
    return estimator.set_params(**hyperparams)


def make_preprocessing() -> ColumnTransformer:
    """Numbers: fill gaps with the median, then scale. Everything else: fill, then one-hot encode.

    A column with no value at all is dropped by its imputer. Only the MAX_CATEGORIES - 1 most frequent
    values of a text column get a column of their own; the rest, and values first seen at predict
    time, share one "infrequent" column, so an ID-like or free-text column cannot blow up the model.
    """
    numeric = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
    categorical = make_pipeline(
        SimpleImputer(strategy="most_frequent"),
        OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=MAX_CATEGORIES, sparse_output=False),
    )
    return ColumnTransformer(
        [
            ("numeric", numeric, make_column_selector(dtype_include="number")),
            ("categorical", categorical, make_column_selector(dtype_exclude="number")),
        ]
    )


def make_model(train_params: params.Train) -> Pipeline:
    estimator = make_estimator(train_params.model, train_params.hyperparams, train_params.seed)
    return Pipeline([("preprocess", make_preprocessing()), ("model", estimator)])


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        sys.exit(__doc__)
    train_file, model_file = Path(args[0]), Path(args[1])
    p = params.load()
    features, target = read_features_target(train_file, p.data)
    model = make_model(p.train).fit(features, target)
    model_file.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, model_file)
    print(f"train: fitted {p.train.model} on {len(features)} rows x {features.shape[1]} columns -> {model_file}")


if __name__ == "__main__":
    try:
        main()
    except params.ParamsError as error:
        sys.exit(f"train: {error}")  # it names the file and the key: a traceback would bury that
