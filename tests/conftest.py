"""The template tests' shared fixtures; the plain helpers they use live in the helpers package."""

from pathlib import Path

import pytest
from helpers import MlflowAuthServer, S3Endpoint, serve_mlflow, serve_mlflow_with_logins, serve_s3, write_messy_csv


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
