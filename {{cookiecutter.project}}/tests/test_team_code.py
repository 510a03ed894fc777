"""The names the template's own code reads from the team's stages, which are otherwise the team's to
change (see "What the template reads from your code" in the README): renaming one would break a
template command, so it fails here first, saying which command needs it."""

from pathlib import Path

from sklearn.dummy import {{ 'DummyClassifier' if cookiecutter.task == 'classification' else 'DummyRegressor' }}

from {{ cookiecutter.package }} import params
from {{ cookiecutter.package }}.dataset import features_and_target
from {{ cookiecutter.package }}.stages import evaluate, train

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def test_train_lists_its_models_in_estimators():
    """`make sweep` runs one experiment per key; tests/test_params.py checks the sections against it."""
    estimators = getattr(train, "ESTIMATORS", None)
    assert isinstance(estimators, dict) and estimators, "stages/train.py must define ESTIMATORS = {name: class}"
    assert all(callable(estimator) for estimator in estimators.values())


def test_evaluate_returns_the_metrics_promote_compares(mixed_table):
    """`make promote` (registry.py) scores champion and candidate with evaluate(model, features, actual),
    and compares the evaluate.primary_metric of the metrics it returns."""
    features, actual = features_and_target(mixed_table, params.Data(target="label", drop_columns=[]), "test table")
    model = {{ 'DummyClassifier' if cookiecutter.task == 'classification' else 'DummyRegressor' }}().fit(features, actual)  # predicts the mean or the class shares
    metrics, _ = evaluate.evaluate(model, features, actual)
    primary = params.load(PROJECT_ROOT / "params.yaml").evaluate.primary_metric
    assert primary in metrics, f"evaluate() of stages/evaluate.py returns no {primary} (evaluate.primary_metric)"
    float(metrics[primary])  # what promote compares
