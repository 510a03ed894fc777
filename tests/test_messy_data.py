"""Realistic messy datasets bake through `data_path`/`target` and train end to end, without edits."""

import json

import numpy as np
import pandas as pd
import pytest
from helpers import BIN, bake, run, stages_run

pytestmark = pytest.mark.slow


def support_tickets(rows: int = 900) -> pd.DataFrame:
    """Multiclass, imbalanced (about 70/22/8), string labels, a 60-value product column, an ID, gap tokens
    ("n/a", "?") in a number column, and a column nobody ever filled in."""
    rng = np.random.default_rng(1)
    wait = rng.gamma(2.0, 3.0, rows)
    channel = rng.choice(["email", "phone", "chat"], rows, p=[0.5, 0.3, 0.2])
    score = wait / 6 + (channel == "phone") * 1.2 + rng.normal(0, 0.5, rows)
    priority = np.where(score > 3.2, "high", np.where(score > 2.0, "medium", "low"))
    table = pd.DataFrame(
        {
            "ticket_id": [f"T-{index:06d}" for index in range(rows)],
            "wait_hours": wait.round(1).astype(object),
            "channel": channel,
            "product": rng.choice([f"sku-{code}" for code in range(60)], rows),
            "previous_tickets": rng.poisson(2, rows).astype(float),
            "internal_notes": np.nan,
            "priority": priority,
        }
    )
    table.loc[rng.choice(rows, 40, replace=False), "wait_hours"] = rng.choice(["n/a", "?", ""], 40)
    table.loc[rng.choice(rows, 60, replace=False), "channel"] = np.nan
    return table


def house_prices(rows: int = 700) -> pd.DataFrame:
    """Regression: categories, gaps in numbers and categories, some rows without a price."""
    rng = np.random.default_rng(2)
    area = rng.normal(120, 35, rows).clip(30)
    neighbourhood = rng.choice(["centre", "harbour", "hills", "suburbs"], rows)
    bonus = pd.Series(neighbourhood).map({"centre": 90_000, "harbour": 60_000, "hills": 30_000, "suburbs": 0})
    built = rng.integers(1900, 2024, rows)
    price = 2_500 * area + bonus.to_numpy() + (built - 1900) * 400 + rng.normal(0, 25_000, rows)
    table = pd.DataFrame(
        {"area_m2": area.round(1), "neighbourhood": neighbourhood, "year_built": built, "price": price.round(-2)}
    )
    table.loc[rng.choice(rows, 50, replace=False), "area_m2"] = np.nan
    table.loc[rng.choice(rows, 30, replace=False), "neighbourhood"] = np.nan
    table.loc[rng.choice(rows, 12, replace=False), "price"] = np.nan
    return table


def card_fraud(rows: int = 1500) -> pd.DataFrame:
    """Binary, heavily imbalanced (about 6% positive), 0/1 labels, a merchant category, gaps."""
    rng = np.random.default_rng(3)
    amount = rng.lognormal(3.5, 1.0, rows)
    foreign = rng.random(rows) < 0.15
    night = rng.random(rows) < 0.25
    risk = np.log(amount) * 0.6 + foreign * 1.5 + night * 1.0 + rng.normal(0, 0.6, rows)
    table = pd.DataFrame(
        {
            "amount": amount.round(2),
            "merchant": rng.choice(["grocery", "travel", "online", "fuel", "electronics"], rows),
            "foreign": np.where(foreign, "yes", "no"),
            "hour": np.where(night, rng.integers(0, 6, rows), rng.integers(6, 24, rows)),
            "is_fraud": (risk > np.quantile(risk, 0.94)).astype(int),
        }
    )
    table.loc[rng.choice(rows, 90, replace=False), "merchant"] = np.nan
    return table


DATASETS = {
    # name: (table, answers, metric that must clear a bar a broken pipeline would not)
    "support_tickets": (
        support_tickets,
        {"target": "priority", "model": "gradient_boosting"},
        ("balanced_accuracy", 0.6),
    ),
    "house_prices": (house_prices, {"target": "price", "task": "regression", "model": "linear"}, ("r2", 0.6)),
    "card_fraud": (card_fraud, {"target": "is_fraud", "model": "random_forest"}, ("roc_auc", 0.75)),
}


@pytest.mark.parametrize("name", DATASETS)
def test_messy_dataset_trains_end_to_end_with_sensible_metrics(tmp_path, name):
    make_table, answers, (metric, bar) = DATASETS[name]
    csv = tmp_path / f"{name}.csv"
    make_table().to_csv(csv, index=False)
    project = bake(tmp_path / "out", data_path=str(csv), dvc_remote="none", ci="none", docker="no", **answers)

    output = run(BIN / "dvc", "repro", cwd=project).stdout
    assert stages_run(output) == ["validate", "prepare", "train", "evaluate"]
    metrics = json.loads((project / "metrics" / "metrics.json").read_text())
    assert metrics[metric] > bar, metrics
    report = json.loads((project / "reports" / "validation.json").read_text())
    assert report["problems"] == []
    if name == "house_prices":
        assert report["rows_without_target"] == 12 and "dropped 12 of 700 rows" in output
    if name == "support_tickets":
        contract = (project / "data" / "schema.yaml").read_text()
        assert "wait_hours: {type: number" in contract  # "n/a" and "?" are gaps, not text
        assert "product: {type: category, categories: null" in contract  # too many values to list
    # The bake's tests that read this data pass on it: the quality gates of the trained model and the
    # end-to-end run on a slice of the raw file (the whole suite runs in test_pipeline_default.py).
    data_tests = ["tests/test_model_quality.py", "tests/test_pipeline.py"]
    result = run(BIN / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *data_tests, cwd=project)
    assert " passed" in result.stdout and "skipped" not in result.stdout, result.stdout
