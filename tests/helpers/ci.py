"""What the CI execution tests start from: a trained, pushed project and the comment API stand-in."""

import importlib.util
from pathlib import Path

import pytest

from helpers.baking import SPARK_BAKE, TEMPLATE, bake, trained_spark
from helpers.processes import run
from helpers.project import commit, set_hyperparams


def trained_s3_project(home: Path, s3_endpoint, bucket: str, mlflow_env: dict | None = None, **answers: str) -> Path:
    """A bake with an S3 remote on the moto endpoint whose main branch holds a trained model, committed
    and pushed: where the CI execution tests start. A 60-tree forest keeps every CI run short. The first
    `dvc repro` runs with mlflow_env added (the login to a tracking server the bake names)."""
    project = bake(home / "bake", dvc_remote="s3", dvc_remote_url=f"s3://{bucket}/dvc", **answers)
    s3_endpoint.client().create_bucket(Bucket=bucket)
    s3_env = s3_endpoint.env(AWS_ENDPOINT_URL_S3=s3_endpoint.url, **(mlflow_env or {}))
    set_hyperparams(project, n_estimators=60)
    run("dvc", "repro", cwd=project, env=s3_env)
    commit(project, "Train the first model", new_files=True)
    run("dvc", "push", cwd=project, env=s3_env)
    return project


def spark_s3_project(tmp_path_factory, s3_endpoint) -> Path:
    """The shared engine=spark bake (helpers.trained_spark: trained once per `make test`, a copy per caller),
    its data and model pushed to this endpoint's bucket: where the Spark CI execution tests start."""
    project, _ = trained_spark(tmp_path_factory)
    bucket = SPARK_BAKE["dvc_remote_url"].removeprefix("s3://").split("/")[0]
    client = s3_endpoint.client()
    if bucket not in [entry["Name"] for entry in client.list_buckets()["Buckets"]]:  # the other CI test's, if it ran
        client.create_bucket(Bucket=bucket)
    run("dvc", "push", cwd=project, env=s3_endpoint.env(AWS_ENDPOINT_URL_S3=s3_endpoint.url))
    return project


def load_comment_api(project: Path):
    """The baked project's own stand-in for the GitHub and GitLab comment APIs (tests/comment_api.py)."""
    spec = importlib.util.spec_from_file_location("baked_comment_api", project / "tests" / "comment_api.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.CommentAPI


def pyspark_wheel() -> Path:
    """The pyspark wheel `make test` built into the template's build/wheelhouse: what a spark bake's CI cache
    holds (its jobs would otherwise build it from the 456 MB source archive)."""
    wheels = sorted((TEMPLATE / "build" / "wheelhouse").glob("pyspark-4.3.*.whl"))
    if not wheels:
        pytest.fail(f"no pyspark wheel in {TEMPLATE / 'build' / 'wheelhouse'}: run `make test-fast` or `make test`")
    return wheels[-1]
