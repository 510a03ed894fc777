"""The template tests' shared fixtures; the plain helpers they use live in the helpers package."""

import os
from pathlib import Path

import pytest
from helpers import MlflowAuthServer, S3Endpoint, serve_mlflow, serve_mlflow_with_logins, serve_s3, write_messy_csv
from helpers.jvm import spark_submit_options

# The longest files first (seconds: each file's summed test time in the last `make test`, fresh clone, 2 workers;
# unnumbered ones are shorter): `make test` hands whole files to its two workers in collection order (--dist
# loadfile --no-loadscope-reorder), so the long ones start at once on different workers and the short files
# fill in behind them, instead of a 7-minute file starting last. Files not listed follow, in name order.
LONGEST_FIRST = [
    "test_ci_github_act.py",  # 371
    "test_update_released.py",  # 353: one update per released version
    "test_ci_gitlab_local.py",  # 286
    "test_setup.py",  # 212
    "test_predict.py",  # 141, with the shared Spark bake's first pipeline run (helpers.trained_spark)
    "test_benchmark_pipeline.py",  # 133
    "test_experiments.py",  # 121
    "test_messy_data.py",  # 118
    "test_update.py",  # 102
    "test_container.py",  # 102
    "test_spark_cluster.py",  # 98 (a standalone cluster and a Spark pipeline on it)
    "test_pipeline_default.py",  # 94
    "test_browser.py",  # 85
    "test_remotes.py",  # 82
    "test_pipeline_variants.py",  # 67
    "test_monitoring.py",  # 62
    "test_pipeline_spark.py",  # 59
    "test_remotes_s3.py",  # 58
    "test_mlflow_server.py",  # 51
    "test_fuzz.py",  # 48
    "test_report_gate.py",
    "test_options.py",
    "test_registry.py",
    "test_bad_data.py",
    "test_benchmark_spark.py",
    "test_serving.py",
    "test_switch_data.py",
    "test_ci_configs.py",
]


def pytest_configure(config: pytest.Config) -> None:
    """The environment of every process the tests start (the workers inherit the controller's)."""
    if hasattr(config, "workerinput"):
        return
    # DVC starts a daemon after each command to send usage analytics: ~0.4 CPU-seconds, a few thousand times
    # per run, and this machine has no internet to send them to.
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    if "SPARK_SUBMIT_OPTS" not in os.environ:  # helpers/jvm.py: Spark's JVMs start in a third of the CPU
        os.environ["SPARK_SUBMIT_OPTS"] = spark_submit_options()


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
