import numpy as np
import pandas as pd
import pytest
{%- if cookiecutter.engine == 'spark' %}

from {{ cookiecutter.package }} import spark_session
{%- endif %}


@pytest.fixture(scope="session")
def shared_mixed_table() -> pd.DataFrame:
    """A small table with what real data has: gaps, text categories, a column of one repeated value. One
    object for the whole run, for fixtures that build something once from it (never change it)."""
    rng = np.random.default_rng(0)
    rows = 120
    table = pd.DataFrame(
        {
            "age": rng.integers(18, 90, rows).astype(float),
            "income": rng.normal(50_000, 15_000, rows),
            "city": rng.choice(["paris", "lyon", "nice"], rows),
            "constant": 1.0,
        }
    )
    table.loc[::7, "income"] = np.nan
    table.loc[::11, "city"] = None
{%- if cookiecutter.task == 'classification' %}
    table["label"] = np.where(table["age"] + rng.normal(0, 10, rows) > 50, "yes", "no")
{%- else %}
    table["label"] = table["age"] * 2.0 + rng.normal(0, 5, rows)
{%- endif %}
    return table


@pytest.fixture
def mixed_table(shared_mixed_table) -> pd.DataFrame:
    """The table above, this test's own copy to change."""
    return shared_mixed_table.copy()
{%- if cookiecutter.engine == 'spark' %}


@pytest.fixture(scope="session")
def spark():
    """One Spark session for the whole test run (each start costs seconds), as params.yaml's spark section sets it."""
    session = spark_session.start("tests")
    yield session
    session.stop()
{%- endif %}
