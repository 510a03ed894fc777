"""Data and models on an S3 remote, against a real S3 endpoint on this machine (moto server, which
checks signatures like S3): the push/clone/pull round trip, and the failures that must be clear and
lose nothing (unreachable endpoint, wrong or missing credentials, missing bucket, interrupted push).

One s3 bake is reproduced, committed and pushed once per module. The endpoint and the keys reach DVC
the ways the baked docs/data-and-remotes.md documents: `dvc remote modify --local` and AWS_* environment variables.
"""

import itertools
import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from helpers import BIN, bake, commit, free_port, md5, run, scan_for_credentials, stages_run, wall_time

pytestmark = pytest.mark.slow

DVC = BIN / "dvc"
RAW = Path("data/raw/breast_cancer.csv")
MODEL = Path("models/model.joblib")
UP_TO_DATE = "Data and pipelines are up to date."
IN_SYNC = "Cache and remote 'storage' are in sync."


def cache_files(project: Path) -> set[str]:
    """The DVC cache as remote keys: files/md5/<2>/<30>."""
    cache = project / ".dvc" / "cache"
    return {str(path.relative_to(cache)) for path in (cache / "files").rglob("*") if path.is_file()}


def workspace(project: Path) -> dict[str, str]:
    """md5 of every file in git or DVC's care in the workspace (internals and MLflow's store excluded)."""
    skip = {".git", ".dvc", "__pycache__", "mlruns", "mlartifacts"}
    return {
        str(path.relative_to(project)): md5(path)
        for path in sorted(project.rglob("*"))
        if path.is_file() and not skip & set(path.relative_to(project).parts) and path.name != "mlflow.db"
    }


def local_state(project: Path) -> dict:
    """Everything a failed remote command must leave alone: workspace, cache, DVC's view of both."""
    cache = project / ".dvc" / "cache"
    return {
        "workspace": workspace(project),
        "cache": {name: md5(cache / name) for name in sorted(cache_files(project))},
        "status": run(DVC, "status", cwd=project).stdout,
    }


def storage_section(project: Path) -> str:
    """The baked docs' "Where data and models are stored" section: where the errors below must be explained."""
    page = (project / "docs" / "data-and-remotes.md").read_text()
    return page.split("## Where data and models are stored", 1)[1].split("\n## ", 1)[0]


def files_pushed(output: str) -> int:
    found = re.search(r"(\d+) files? pushed", output)
    assert found, output
    return int(found.group(1))


@pytest.fixture(scope="module")
def bucket(s3_endpoint) -> str:
    name = f"dvc-{uuid.uuid4().hex[:12]}"
    s3_endpoint.client().create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="module")
def s3_project(s3_endpoint, bucket, tmp_path_factory):
    """An s3 bake whose endpoint is set for this machine only; reproduced, committed, pushed."""
    with wall_time("bake, dvc_remote=s3"):
        project = bake(tmp_path_factory.mktemp("s3-remote"), dvc_remote="s3", dvc_remote_url=f"s3://{bucket}/dvc")
    run(DVC, "remote", "modify", "--local", "storage", "endpointurl", s3_endpoint.url, cwd=project)
    with wall_time("first dvc repro (s3 bake)"):
        run(DVC, "repro", cwd=project)
    commit(project, "First pipeline run", new_files=True)
    with wall_time("dvc push to S3 (moto server), 5 files"):
        output = run(DVC, "push", cwd=project, env=s3_endpoint.env()).stdout
    assert files_pushed(output) == len(cache_files(project))
    assert scan_for_credentials(project, s3_endpoint.secrets) == []
    return project


DATA_VERSIONS = itertools.count(10)


@pytest.fixture
def unpushed(s3_project, tmp_path):
    """A copy of the project with a new data version added and committed, whose only copy is local.

    Each test gets a different version (fewer rows each time): none is in the bucket already.
    """
    project = shutil.copytree(s3_project, tmp_path / s3_project.name, symlinks=True)
    lines = (project / RAW).read_text().splitlines(keepends=True)
    (project / RAW).write_text("".join(lines[: -next(DATA_VERSIONS)]))
    run(DVC, "add", RAW, cwd=project)
    commit(project, "Data version 2", new_files=True)
    return project


def push(project: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    result = run(DVC, "push", cwd=project, env=env, check=False)
    result.output = result.stdout + result.stderr
    return result


# --- the round trip ------------------------------------------------------------------------------


def test_tracked_config_names_the_bucket_and_nothing_machine_specific(s3_project, bucket, s3_endpoint):
    config = (s3_project / ".dvc" / "config").read_text()
    assert f"url = s3://{bucket}/dvc" in config
    assert "endpointurl" not in config and s3_endpoint.url not in config
    assert s3_endpoint.url in (s3_project / ".dvc" / "config.local").read_text()
    run("git", "check-ignore", "--quiet", ".dvc/config.local", cwd=s3_project)  # exits 1 if git would track it


def test_push_stores_every_cached_file_in_the_bucket(s3_project, s3_endpoint, bucket):
    keys = {key.removeprefix("dvc/") for key in s3_endpoint.keys(bucket, "dvc/")}
    assert cache_files(s3_project) <= keys
    assert IN_SYNC in run(DVC, "status", "--cloud", cwd=s3_project, env=s3_endpoint.env()).stdout


def test_fresh_clone_pulls_from_s3_and_repro_then_runs_nothing(s3_project, s3_endpoint, tmp_path):
    clone = tmp_path / "teammate"
    run("git", "clone", "--quiet", s3_project, clone, cwd=tmp_path)
    # the CI way: endpoint and keys from the environment, no local config at all
    env = s3_endpoint.env(AWS_ENDPOINT_URL_S3=s3_endpoint.url)
    with wall_time("clone + dvc pull from S3 (endpoint from AWS_ENDPOINT_URL_S3)"):
        run(DVC, "pull", cwd=clone, env=env)
    for path in (RAW, MODEL, Path("data/prepared/train.parquet"), Path("data/prepared/test.parquet")):
        assert md5(clone / path) == md5(s3_project / path), path
    with wall_time("dvc repro in the S3 clone (nothing to run)"):
        assert stages_run(run(DVC, "repro", cwd=clone, env=env).stdout) == []
    assert UP_TO_DATE in run(DVC, "status", cwd=clone, env=env).stdout
    assert scan_for_credentials(clone, s3_endpoint.secrets) == []


# --- failures: each is clear, documented, loses nothing, and the documented fix works ------------


def test_push_to_an_unreachable_endpoint_fails_clearly_and_loses_nothing(unpushed, s3_endpoint):
    before = local_state(unpushed)
    run(DVC, "remote", "modify", "--local", "storage", "endpointurl", f"http://127.0.0.1:{free_port()}", cwd=unpushed)
    with wall_time("failing push: unreachable endpoint (botocore retries)"):
        failed = push(unpushed, s3_endpoint.env())
    assert failed.returncode != 0
    assert "Could not connect to the endpoint URL" in failed.output, failed.output
    assert "Could not connect to the endpoint URL" in storage_section(unpushed)
    assert local_state(unpushed) == before

    run(DVC, "remote", "modify", "--local", "storage", "endpointurl", s3_endpoint.url, cwd=unpushed)
    assert files_pushed(push(unpushed, s3_endpoint.env()).output) == 1
    assert scan_for_credentials(unpushed, s3_endpoint.secrets) == []


# What S3 answers, per mistake: a HEAD of one object says `Forbidden`; a listing (DVC lists the remote when
# it has more objects to check) names the cause. The docs' table must explain whichever comes.
CREDENTIAL_FAILURES = {
    "wrong secret key": (
        {"AWS_SECRET_ACCESS_KEY": "not-the-secret-key-at-all-0000000000000"},
        ("Forbidden", "SignatureDoesNotMatch"),
    ),
    "unknown access key id": ({"AWS_ACCESS_KEY_ID": "AKIA" + "UNKNOWNKEY000000"}, ("Forbidden", "InvalidAccessKeyId")),
    "no credentials": ({"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None}, ("Unable to locate credentials",)),
}


@pytest.mark.parametrize("change,messages", CREDENTIAL_FAILURES.values(), ids=CREDENTIAL_FAILURES.keys())
def test_push_with_bad_credentials_fails_clearly_and_loses_nothing(unpushed, s3_endpoint, change, messages):
    before = local_state(unpushed)
    env = s3_endpoint.env()
    for name, value in change.items():
        if value is None:
            env.pop(name)
        else:
            env[name] = value
    failed = push(unpushed, env)
    assert failed.returncode != 0
    said = [message for message in messages if message in failed.output]
    assert said, failed.output
    assert said[0] in storage_section(unpushed)
    assert local_state(unpushed) == before

    assert files_pushed(push(unpushed, s3_endpoint.env()).output) == 1  # with the right keys
    assert scan_for_credentials(unpushed, (*s3_endpoint.secrets, *filter(None, change.values()))) == []


def test_push_to_a_missing_bucket_fails_clearly_and_loses_nothing(unpushed, s3_endpoint, bucket):
    before = local_state(unpushed)
    run(DVC, "remote", "modify", "--local", "storage", "url", f"s3://no-{bucket}/dvc", cwd=unpushed)
    failed = push(unpushed, s3_endpoint.env())
    assert failed.returncode != 0
    assert "The specified bucket does not exist" in failed.output, failed.output
    assert "The specified bucket does not exist" in storage_section(unpushed)
    assert local_state(unpushed) == before

    run(DVC, "remote", "modify", "--local", "--unset", "storage", "url", cwd=unpushed)  # back to the tracked URL
    assert files_pushed(push(unpushed, s3_endpoint.env()).output) == 1
    assert scan_for_credentials(unpushed, s3_endpoint.secrets) == []


def test_interrupted_push_completes_on_the_next_push_and_a_clone_pulls_everything(
    s3_project, s3_endpoint, bucket, tmp_path
):
    project = shutil.copytree(s3_project, tmp_path / s3_project.name, symlinks=True)
    scans = project / "data" / "raw" / "scans"
    scans.mkdir()
    for index in range(400):  # a dataset of many small files: a push takes seconds, and can be cut
        (scans / f"scan_{index:04d}.bin").write_bytes(os.urandom(2048))
    run(DVC, "add", scans, cwd=project)
    commit(project, "Add 400 scans", new_files=True)
    # a fresh prefix, set for this machine only: every object has to travel
    url = f"s3://{bucket}/interrupted"
    run(DVC, "remote", "modify", "--local", "storage", "url", url, cwd=project)
    expected = cache_files(project)

    def pushed_keys() -> set[str]:
        return {key.removeprefix("interrupted/") for key in s3_endpoint.keys(bucket, "interrupted/")}

    with wall_time("dvc push of 406 files, SIGKILLed after 30 reached S3"):
        first = subprocess.Popen(
            [str(DVC), "push"],
            cwd=project,
            env=s3_endpoint.env(),
            start_new_session=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            deadline = time.monotonic() + 300
            while len(pushed_keys()) < 30:
                assert first.poll() is None, f"push ended before it could be interrupted:\n{first.stdout.read()}"
                assert time.monotonic() < deadline, "push sent nothing in 300 s"
                time.sleep(0.05)
        finally:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
    time.sleep(0.5)  # requests already in flight when the client died
    partial = pushed_keys()
    assert 0 < len(partial) < len(expected), "the kill did not land mid-push"
    assert partial <= expected

    with wall_time("the next dvc push (completes the interrupted one)"):
        second = run(DVC, "push", cwd=project, env=s3_endpoint.env()).stdout
    sent = files_pushed(second)
    assert len(partial) + sent >= len(expected) and sent < len(expected), second  # only what was missing
    assert pushed_keys() == expected
    assert IN_SYNC in run(DVC, "status", "--cloud", cwd=project, env=s3_endpoint.env()).stdout
    assert scan_for_credentials(project, s3_endpoint.secrets) == []

    clone = tmp_path / "teammate"
    run("git", "clone", "--quiet", project, clone, cwd=tmp_path)
    run(DVC, "remote", "modify", "--local", "storage", "url", url, cwd=clone)
    run(DVC, "remote", "modify", "--local", "storage", "endpointurl", s3_endpoint.url, cwd=clone)
    with wall_time("clone + dvc pull of 406 files from S3"):
        run(DVC, "pull", cwd=clone, env=s3_endpoint.env())
    assert workspace(clone) == workspace(project)  # the 400 scans, the data, the model: all of it
    assert UP_TO_DATE in run(DVC, "status", cwd=clone).stdout
