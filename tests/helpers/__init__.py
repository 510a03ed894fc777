"""Plain helpers for the template's tests (fixtures live in tests/conftest.py); one module per role.

Import them from here (`from helpers import bake, run`) or from their module."""

from helpers.baking import (
    DEFAULTS,
    SPARK_BAKE,
    TEMPLATE,
    bake,
    bake_on_first_use,
    rendered_answers,
    template_in_git,
    trained_default,
    trained_once,
    trained_spark,
)
from helpers.ci import load_comment_api, pyspark_wheel, spark_s3_project, trained_s3_project
from helpers.credentials import CREDENTIAL_PATTERNS, MACHINE_LOCAL_FILES, scan_for_credentials
from helpers.data import write_messy_csv
from helpers.interpreters import find_python, venv_seeing_test_packages
from helpers.mlflow_server import MlflowAuthServer, serve_mlflow, serve_mlflow_with_logins
from helpers.processes import BIN, free_port, run, tool_env, wall_time
from helpers.project import commit, md5, mlflow_runs, model_md5s, set_hyperparams, stages_run
from helpers.prometheus import scrape
from helpers.s3 import S3Endpoint, serve_s3
from helpers.spark_cluster import SparkCluster, spark_cluster

__all__ = [
    "BIN", "CREDENTIAL_PATTERNS", "DEFAULTS", "MACHINE_LOCAL_FILES", "SPARK_BAKE", "TEMPLATE", "MlflowAuthServer",
    "S3Endpoint", "SparkCluster", "bake", "bake_on_first_use", "commit", "find_python", "free_port",
    "load_comment_api", "md5", "mlflow_runs", "model_md5s", "pyspark_wheel", "rendered_answers", "run",
    "scan_for_credentials", "scrape", "serve_mlflow", "serve_mlflow_with_logins", "serve_s3", "set_hyperparams",
    "spark_cluster", "spark_s3_project", "stages_run", "template_in_git", "tool_env", "trained_default", "trained_once",
    "trained_s3_project", "trained_spark", "venv_seeing_test_packages", "wall_time", "write_messy_csv",
]  # fmt: skip
