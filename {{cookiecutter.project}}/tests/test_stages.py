from pathlib import Path

import pandas as pd
import pytest
import yaml

from {{ cookiecutter.package }} import contract, params
from {{ cookiecutter.package }}.dataset import features_and_target
from {{ cookiecutter.package }}.stages import evaluate, prepare, train

DATA = params.Data(target="label", drop_columns=[])
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def fit(table: pd.DataFrame, model: str = "{{ cookiecutter.model }}", **hyperparams):
    features, target = features_and_target(table, DATA, "test table")
    return train.make_model(params.Train(model=model, seed=0, hyperparams=hyperparams)).fit(features, target)


def test_split_holds_out_the_test_share(mixed_table):
    train_part, test_part = prepare.split(mixed_table, "label", test_size=0.25, seed=0)
    assert len(test_part) == 30
    assert len(train_part) + len(test_part) == len(mixed_table)
{%- if cookiecutter.task == 'classification' %}


def test_split_keeps_class_proportions(mixed_table):
    train_part, test_part = prepare.split(mixed_table, "label", test_size=0.25, seed=0)
    overall = mixed_table["label"].value_counts(normalize=True)
    held_out = test_part["label"].value_counts(normalize=True)
    assert held_out.sub(overall).abs().max() < 0.05
{%- endif %}


def test_prepare_writes_the_split_to_the_files_its_command_line_names(mixed_table, tmp_path, monkeypatch):
    settings = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())
    settings["data"]["target"] = "label"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(settings))
    monkeypatch.chdir(tmp_path)
    mixed_table.to_csv("raw.csv", index=False)
    contract.write(contract.infer(contract.read("raw.csv")[0], "label"), "schema.yaml", "raw.csv", len(mixed_table))
    prepare.main(["raw.csv", "schema.yaml", "split/a.parquet", "held_out/b.parquet"])
    train_part, test_part = pd.read_parquet("split/a.parquet"), pd.read_parquet("held_out/b.parquet")
    assert len(test_part) == round(len(mixed_table) * settings["prepare"]["test_size"])
    assert len(train_part) + len(test_part) == len(mixed_table)


def test_rows_without_target_are_dropped(mixed_table):
    mixed_table.loc[:4, "label"] = None
    assert len(prepare.drop_missing_target(mixed_table, "label")) == len(mixed_table) - 5


@pytest.mark.parametrize("model", train.ESTIMATORS)
def test_every_model_trains_on_mixed_types_with_gaps(mixed_table, model):
    fitted = fit(mixed_table, model)
    predictions = pd.Series(fitted.predict(mixed_table.drop(columns="label")), index=mixed_table.index)
    assert len(predictions) == len(mixed_table)
    # The label follows age (conftest), so every model must learn it, not only return one value per row.
{%- if cookiecutter.task == 'classification' %}
    assert set(predictions) == {"yes", "no"}
    assert (predictions == mixed_table["label"]).mean() > 0.8
{%- else %}
    assert predictions.dtype.kind == "f" and predictions.notna().all()
    assert predictions.corr(mixed_table["label"]) > 0.9
{%- endif %}


def test_unseen_category_at_predict_time_is_accepted(mixed_table):
    fitted = fit(mixed_table)
    new_rows = mixed_table.drop(columns="label").head(3).assign(city="marseille")
    predictions = fitted.predict(new_rows)
    assert len(predictions) == 3
{%- if cookiecutter.task == 'classification' %}
    assert set(predictions) <= {"yes", "no"}
{%- else %}
    assert pd.Series(predictions).notna().all()
{%- endif %}


def test_unknown_hyperparameter_is_named_with_its_section():
    with pytest.raises(params.ParamsError, match="train.random_forest.n_trees not accepted by RandomForest.*it takes"):
        train.make_estimator("random_forest", {"n_trees": 10}, seed=0)


def test_a_key_the_estimator_accepts_can_be_added_to_its_section():
    estimator = train.make_estimator("random_forest", {"n_estimators": 5, "max_features": 0.5}, seed=3)
    assert (estimator.max_features, estimator.random_state) == (0.5, 3)


def test_a_model_without_an_estimator_is_named():
    with pytest.raises(params.ParamsError, match="train.model 'xgboost' is not in ESTIMATORS of stages/train.py"):
        train.make_estimator("xgboost", {}, seed=0)


def test_missing_feature_column_is_named(mixed_table):
    data = params.Data(target="label", drop_columns=["customer_id"])
    with pytest.raises(SystemExit, match="test table: no column 'customer_id'"):
        features_and_target(mixed_table, data, "test table")


def test_metrics_are_in_range(mixed_table):
    fitted = fit(mixed_table)
    features, target = features_and_target(mixed_table, DATA, "test table")
    metrics, plots = evaluate.evaluate(fitted, features, target)
{%- if cookiecutter.task == 'classification' %}
    assert set(metrics) == {"accuracy", "balanced_accuracy", "f1_macro", "roc_auc"}
    assert all(0 <= value <= 1 for value in metrics.values())
    assert set(plots) == {"confusion.csv", "roc.csv"}
{%- else %}
    assert set(metrics) == {"rmse", "mae", "r2"}
    assert metrics["rmse"] >= metrics["mae"] >= 0
    assert set(plots) == {"predictions.csv", "residuals.csv"}
{%- endif %}


def test_permutation_importance_ranks_every_feature_column_and_a_rerun_writes_the_same_table(mixed_table):
    fitted = fit(mixed_table)
    features, target = features_and_target(mixed_table, DATA, "test table")
    scoring = "{{ 'accuracy' if cookiecutter.task == 'classification' else 'r2' }}"
    table = evaluate.importance_table(fitted, features, target, scoring, repeats=2, rows=60, seed=0)
    assert sorted(table["feature"]) == sorted(features.columns)
    assert list(table["importance"]) == sorted(table["importance"], reverse=True)
    again = evaluate.importance_table(fitted, features, target, scoring, repeats=2, rows=60, seed=0)
    assert again.to_csv(index=False) == table.to_csv(index=False)


@pytest.mark.parametrize("key", ["importance_repeats", "importance_rows"])
def test_importance_settings_below_one_are_refused(tmp_path, key):
    raw = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text(encoding="utf-8"))
    raw["evaluate"][key] = 0
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(params.ParamsError, match=f"evaluate.{key} must be 1 or more, got 0"):
        params.load(tmp_path / "params.yaml")
