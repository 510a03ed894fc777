"""The template tests' shared fixtures; the plain helpers they use live in the helpers package."""

from pathlib import Path

import pytest
from helpers import MlflowAuthServer, S3Endpoint, serve_mlflow, serve_mlflow_with_logins, serve_s3, write_messy_csv

# The longest files first (seconds: the CPU time of `-n 0` measured for issue 16, or the wall time of
# the last `make test`; the unnumbered ones are estimates): `make test` hands whole files to its two
# workers in collection order (--dist loadfile --no-loadscope-reorder), so the two CI runs start at once
# on different workers and the short files fill in behind them, instead of a 7-minute file starting
# last. Files not listed follow, in name order.
LONGEST_FIRST = [
    "test_ci_github_act.py",  # 420
    "test_pipeline_spark.py",  # 525-890 wall at load 8-14 (-n 0, other jobs running); 8 Spark JVM start-ups
    "test_ci_gitlab_local.py",  # 240
    "test_setup.py",  # 205
    "test_spark_cluster.py",  # 320 at load 11 (two Spark pipelines and a standalone cluster)
    "test_container.py",
    "test_monitoring.py",
    "test_experiments.py",  # 140
    "test_benchmark_pipeline.py",  # 121
    "test_benchmark_spark.py",  # estimate: 90 (two Spark runs)
    "test_messy_data.py",  # 122 (240 before OMP_NUM_THREADS=1)
    "test_pipeline_default.py",  # 116
    "test_update_released.py",
    "test_update.py",
    "test_remotes.py",  # 84
    "test_pipeline_variants.py",  # 81
    "test_serving.py",
    "test_fuzz.py",
    "test_browser.py",  # 65
    "test_benchmark_serving.py",
    "test_mlflow_server.py",  # 57
    "test_remotes_s3.py",  # 54
    "test_registry.py",  # 51
    "test_options.py",  # 50
    "test_report_gate.py",  # 45
    "test_bad_data.py",  # 39
    "test_ci_configs.py",  # 30
]


@pytest.hookimpl(trylast=True)  # after pytest reorders by fixture scope; a stable sort keeps that order in a file
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: index for index, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture(scope="session")
def messy_csv(tmp_path_factory) -> Path:
    return write_messy_csv(tmp_path_factory.mktemp("user-data") / "customers.csv")


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory) -> S3Endpoint:
    """A real S3 API (moto_server) on a free port that accepts only the one key it issued."""
    with serve_s3(tmp_path_factory.mktemp("moto")) as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory) -> str:
    """A plain `mlflow server` (no authentication); yields its URL."""
    with serve_mlflow(tmp_path_factory.mktemp("mlflow-server")) as url:
        yield url


@pytest.fixture(scope="session")
def mlflow_auth_server(tmp_path_factory) -> MlflowAuthServer:
    """`mlflow server --app-name basic-auth` with an admin and the CI user `mlflow-ci`."""
    with serve_mlflow_with_logins(tmp_path_factory.mktemp("mlflow-auth-server")) as server:
        yield server
