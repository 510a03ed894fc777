"""The template tests' shared fixtures; the plain helpers they use live in the helpers package."""

from pathlib import Path

import pytest
from helpers import MlflowAuthServer, S3Endpoint, serve_mlflow, serve_mlflow_with_logins, serve_s3, write_messy_csv

# The longest files first, longest first (seconds of `-n 0` on an idle 2-core machine, measured for
# issue 16): `make test` hands whole files to its two workers in collection order (--dist loadfile
# --no-loadscope-reorder), so the two CI runs start at once on different workers and the short files
# fill in behind them, instead of a 7-minute file starting last. Files not listed follow, in name order.
LONGEST_FIRST = [
    "test_ci_github_act.py",  # ~420
    "test_ci_gitlab_local.py",  # ~240
    "test_container.py",
    "test_monitoring.py",
    "test_benchmark_pipeline.py",  # ~125
    "test_experiments.py",  # ~140
    "test_setup.py",  # ~110
    "test_options.py",
    "test_update_released.py",
    "test_update.py",
    "test_remotes.py",
    "test_serving.py",
    "test_fuzz.py",
    "test_remotes_s3.py",
    "test_benchmark_serving.py",
    "test_ci_configs.py",
]


@pytest.hookimpl(trylast=True)  # after pytest's own reordering by fixture scope, which keeps files whole
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
