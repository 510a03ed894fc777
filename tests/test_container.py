"""The baked project's real Dockerfile, built and run as a team would after `dvc repro`: the image
answers /health and /predict, its HEALTHCHECK passes, the app runs as uid 10001, and a code edit
rebuilds without reinstalling the dependencies. Monitoring in the image: /metrics counts what was sent,
the prediction log is written as uid 10001, and WEB_CONCURRENCY=2 runs two workers whose metrics add up.

There is no Docker engine and no reachable registry here, so this uses podman (rootful) and a base
image made from Debian's packages with mmdebstrap, per shared/notes/containers.md. `make test` installs
podman and mmdebstrap first (`make system-tools`); the only skip is a machine where they cannot be
installed (not root, or no apt-get). Run with `-s` to see the build times and the image size.
"""

import contextlib
import fcntl
import json
import os
import re
import resource
import shutil
import time
import uuid
from pathlib import Path

import httpx
import pandas as pd
import pytest
import yaml
from helpers import BIN, TEMPLATE, bake, free_port, md5, run, scrape, tool_env

pytestmark = pytest.mark.slow

PACKAGES = "podman runc uidmap slirp4netns fuse-overlayfs mmdebstrap"
# podman's default runtime, crun, refuses hosts whose cgroups are "hybrid" (v1 plus a v2 mount) like
# this one; runc works. Given as flags, so no file under /etc/containers is written.
RUNTIME = ("--runtime", "runc", "--cgroup-manager", "cgroupfs", "--events-backend", "file")
# The base image's tarball is built once per machine; a lock keeps two test runs from building it twice.
BASE_LOCK = Path("/tmp/template-tests-podman-base.lock")
BASE_CACHE = "localhost/debian-python:{codename}"
UID = 10001  # the Dockerfile's USER
RECORDS_SENT = 5


def podman(*args: str | Path, check: bool = True, timeout: int = 900):
    return run("podman", *RUNTIME, *args, cwd=TEMPLATE, check=check, timeout=timeout)


def ulimits() -> list[str]:
    """As root, podman asks for more open files and processes than the hard limits let a process raise
    to, and the container fails to start (`setrlimit ... Operation not permitted`): ask for the hard
    limits instead; processes at most 32768, which is what podman's own process gets here."""
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    nproc = 32768 if nproc == resource.RLIM_INFINITY else min(nproc, 32768)
    limits = [] if nofile == resource.RLIM_INFINITY else ["--ulimit", f"nofile={nofile}:{nofile}"]
    return [*limits, "--ulimit", f"nproc={nproc}:{nproc}"]


def image_exists(name: str) -> bool:
    return podman("image", "exists", name, check=False).returncode == 0


def os_release() -> dict[str, str]:
    lines = Path("/etc/os-release").read_text().splitlines()
    return {key: value.strip('"') for key, _, value in (line.partition("=") for line in lines) if value}


def apt_sources() -> list[str]:
    """The host's apt sources, so mmdebstrap uses the mirror this machine can reach."""
    for path in (Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list")):
        if path.exists() and path.read_text().strip():
            return [str(path)]
    return []


@pytest.fixture(scope="session")
def podman_ready():
    """podman installed (by `make system-tools` when it can) and working, or a skip that says why."""
    if os.geteuid() != 0:
        pytest.skip(
            "needs root: this test runs rootful podman and mmdebstrap (rootless podman needs subuid/subgid "
            f"setup it does not do); run it as root, with `apt-get install {PACKAGES}` or `make system-tools`"
        )
    if shutil.which("podman") is None or shutil.which("mmdebstrap") is None:
        run("make", "system-tools", cwd=TEMPLATE, check=False)
    if shutil.which("podman") is None or shutil.which("mmdebstrap") is None:
        pytest.skip(f"podman or mmdebstrap missing and apt-get could not install them: apt-get install {PACKAGES}")
    podman("info")


def ensure_base_image(version: str, workdir: Path) -> str:
    """localhost/python:<version>-slim, made once from Debian's packages: the Dockerfile's FROM resolves
    to it with --pull=never. Debian's python3 is not <version> (bookworm has 3.11): the same image is
    tagged for every version asked for, so the build and the app run on Debian's Python. The pipeline
    and the baked tests run on the real versions elsewhere; this test is about the image."""
    image = f"localhost/python:{version}-slim"
    with BASE_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if image_exists(image):
            return image
        codename = os_release().get("VERSION_CODENAME", "bookworm")
        base = BASE_CACHE.format(codename=codename)
        if not image_exists(base):
            start = time.perf_counter()
            tarball = workdir / "base.tar"
            hooks = ['ln -sf python3 "$1/usr/bin/python"', 'rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED']
            # Where HTTPS goes through a proxy with its own CA (as here), pip in the image needs that CA too.
            if list(Path("/usr/local/share/ca-certificates").glob("*.crt")):
                hooks.append(
                    'cp /usr/local/share/ca-certificates/*.crt "$1/usr/local/share/ca-certificates/"'
                    ' && chroot "$1" update-ca-certificates'
                )
            run(
                "mmdebstrap",
                "--variant=minbase",
                "--include=python3,python3-venv,python3-pip,ca-certificates",
                "--dpkgopt=path-exclude=/usr/share/doc/*",
                "--dpkgopt=path-exclude=/usr/share/man/*",
                "--dpkgopt=path-exclude=/usr/share/locale/*",
                "--dpkgopt=path-include=/usr/share/locale/locale.alias",
                *(f"--customize-hook={hook}" for hook in hooks),
                codename,
                tarball,
                *apt_sources(),
                cwd=workdir,
            )
            podman(
                "import",
                "--change",
                "ENV LANG=C.UTF-8",
                "--change",
                "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "--change",
                'CMD ["python3"]',
                tarball,
                base,
            )
            tarball.unlink()
            print(f"\n[container] base image {base} made with mmdebstrap in {time.perf_counter() - start:.1f} s")
        podman("tag", base, image)
    return image


def podman_as_docker(folder: Path, *build_flags: str) -> Path:
    """A `docker` that runs podman as this machine needs it (RUNTIME, ulimits), adding build_flags to a build."""
    shim = folder / "docker"
    limits = " ".join(ulimits())
    flags = " ".join(build_flags)
    shim.write_text(
        "#!/bin/sh\n"
        f'case "$1" in run) shift; set -- run {limits} "$@";; build) shift; set -- build {flags} "$@";; esac\n'
        f'exec podman {" ".join(RUNTIME)} "$@"\n'
    )
    shim.chmod(0o755)
    return shim


def build(project: Path, tag: str, *flags: str) -> tuple[float, str]:
    """(seconds, output) of the project's `make docker-build`, with podman. --pull=never: no registry is
    asked for the base image. --format docker: the OCI format would drop the HEALTHCHECK."""
    start = time.perf_counter()
    shim = podman_as_docker(project.parent, "--pull=never", "--format", "docker", *flags)
    result = run("make", "--no-print-directory", "docker-build", f"DOCKER={shim}", f"IMAGE={tag}", cwd=project)
    return time.perf_counter() - start, result.stdout + result.stderr


@pytest.fixture(scope="session")
def trained_project(tmp_path_factory):
    project = bake(tmp_path_factory.mktemp("container"))
    run(BIN / "dvc", "repro", cwd=project)
    return project


@pytest.fixture(scope="session")
def built(podman_ready, trained_project, tmp_path_factory):
    """The image built cold (no layer cache), then again after a code edit; the images are removed after."""
    dockerfile = (trained_project / "Dockerfile").read_text()
    python_version = re.search(r"^FROM python:(\S+)-slim", dockerfile, re.MULTILINE)[1]
    ensure_base_image(python_version, tmp_path_factory.mktemp("base"))
    before = set(podman("images", "--all", "--quiet", "--no-trunc").stdout.split())
    tag = f"localhost/template-test-{uuid.uuid4().hex[:8]}:latest"
    try:
        cold, _ = build(trained_project, tag, "--no-cache")
        serve_py = trained_project / "my_ml_project" / "serving" / "app.py"
        # A new edit each run: the same edit built by another run on this machine would be a cached layer.
        edit = f"\n# an edit ({uuid.uuid4().hex[:8]}): only the layers from the code's COPY on rebuild\n"
        serve_py.write_text(serve_py.read_text() + edit)
        cached, cached_output = build(trained_project, tag)
        size = int(podman("image", "inspect", "--format", "{{.Size}}", tag).stdout)
        print(
            f"\n[container] cold build {cold:.1f} s, rebuild after a code edit {cached:.1f} s, image {size / 1e6:.0f} MB"
        )
        yield {"tag": tag, "cached_output": cached_output, "size": size}
    finally:
        podman("rmi", "--force", tag, check=False)
        created = set(podman("images", "--all", "--quiet", "--no-trunc").stdout.split()) - before
        if created:  # the builder stage's layers, left untagged
            podman("rmi", "--force", *created, check=False)


@contextlib.contextmanager
def running(image: str, *options: str):
    """The image running as `docker run -p 127.0.0.1:PORT:8000 [options]` would; its name and base URL
    once /health is up. Removed after."""
    name = f"template-test-{uuid.uuid4().hex[:8]}"
    port = free_port()
    try:
        podman("run", "--detach", "--name", name, *ulimits(), "--publish", f"127.0.0.1:{port}:8000", *options, image)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                    break
            state = podman("inspect", "--format", "{{.State.Status}}", name).stdout.strip()
            if state != "running" or time.monotonic() > deadline:
                logs = podman("logs", name, check=False)
                pytest.fail(f"container {state}, /health never answered 200:\n{logs.stdout}{logs.stderr}")
            time.sleep(0.5)
        yield {"name": name, "url": url}
    finally:
        podman("rm", "--force", "--time", "2", name, check=False)


@pytest.fixture(scope="session")
def container(built):
    with running(built["tag"]) as started:
        yield started


def records(project: Path, count: int) -> list[dict]:
    """Rows of the project's own raw data as a client would send them: features only, gaps as null."""
    target = yaml.safe_load((project / "params.yaml").read_text())["data"]["target"]
    frame = pd.read_csv(next((project / "data" / "raw").glob("*.csv")), nrows=count).drop(columns=target)
    return json.loads(frame.to_json(orient="records"))


def test_health_answers_ok_from_the_container(container):
    response = httpx.get(f"{container['url']}/health", timeout=10)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_predict_answers_a_batch_with_the_model_dvc_built(container, trained_project):
    response = httpx.post(
        f"{container['url']}/predict", json={"records": records(trained_project, RECORDS_SENT)}, timeout=30
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["predictions"]) == RECORDS_SENT
    for probabilities in body["probabilities"]:
        assert sum(probabilities.values()) == pytest.approx(1, abs=1e-6)
    lock = yaml.safe_load((trained_project / "dvc.lock").read_text())
    model_hashes = [
        out["md5"]
        for stage in lock["stages"].values()
        for out in stage.get("outs", [])
        if out["path"] == "models/model.joblib"
    ]
    assert body["model_version"] == md5(trained_project / "models/model.joblib")
    assert model_hashes == [body["model_version"]]


def test_metadata_reports_the_lineage_dvc_and_mlflow_recorded(container, trained_project):
    response = httpx.get(f"{container['url']}/metadata", timeout=10)
    assert response.status_code == 200, response.text
    body = response.json()
    info = json.loads((trained_project / "models/model_info.json").read_text())
    assert (
        body["git_commit"] == info["git_commit"] == run("git", "rev-parse", "HEAD", cwd=trained_project).stdout.strip()
    )
    assert body["mlflow_run_id"] == info["run_id"] and body["mlflow_run_id"]
    assert (body["registered_model"], body["registered_version"]) == (info["model_name"], str(info["model_version"]))
    assert body["metrics"] == json.loads((trained_project / "metrics/metrics.json").read_text())


def test_predict_refuses_a_bad_record_with_422(container, trained_project):
    (record,) = records(trained_project, 1)
    record[next(iter(record))] = "not a number"
    response = httpx.post(f"{container['url']}/predict", json={"records": [record]}, timeout=30)
    assert response.status_code == 422, response.text


def test_healthcheck_of_the_image_passes(container):
    # No systemd here, so podman never runs the HEALTHCHECK by itself: run it once, as the engine would.
    result = podman("healthcheck", "run", container["name"], check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_app_runs_as_uid_10001_not_root(container):
    assert podman("exec", container["name"], "id", "-u").stdout.strip() == str(UID)
    processes = podman("top", container["name"], "user", "args").stdout
    assert "uvicorn" in processes and "root" not in processes, processes


def test_image_holds_the_app_and_model_only_not_the_pipeline_tools(container):
    listing = podman("exec", container["name"], "ls", "-A", "/app").stdout.split()
    assert sorted(listing) == [
        "Dockerfile",
        "data",
        "logs",
        "metrics",
        "models",
        "my_ml_project",
        "params.yaml",
        "pyproject.toml",
    ]
    # The files params.yaml `paths:` names for the model, its lineage and metrics and the contract; no data.
    files = podman("exec", container["name"], "find", "data", "models", "metrics", "-type", "f").stdout.split()
    assert sorted(files) == [
        "data/schema.yaml",
        "metrics/metrics.json",
        "models/model.joblib",
        "models/model_info.json",
    ]
    probe = "import importlib.util as u; print([m for m in ('dvc', 'mlflow', 'pyarrow') if u.find_spec(m)])"
    assert podman("exec", container["name"], "python", "-c", probe).stdout.strip() == "[]"


def test_code_edit_rebuild_reuses_the_dependency_layer(built):
    # buildah prints each "[stage] STEP n/m: ...", then "--> Using cache <id>" when it reuses that step's layer.
    steps = re.split(r"^(?:\[\d+/\d+\] )?STEP \d+/\d+: ", built["cached_output"], flags=re.MULTILINE)[1:]
    install = [step for step in steps if step.startswith("RUN") and "pip install" in step]
    assert install and all("Using cache" in step for step in install), built["cached_output"][-3000:]
    code = [step for step in steps if step.startswith("COPY . .")]
    assert code and "Using cache" not in code[0], built["cached_output"][-3000:]


def test_ci_smoke_test_step_passes_against_the_image(built, trained_project, tmp_path):
    """The generated CI's smoke-test step (`make docker-smoke`, on GitHub and GitLab), with podman as docker,
    in the trained project (its Makefile is the s3 bake's)."""
    project = bake(tmp_path / "ci", ci="github", dvc_remote="s3", dvc_remote_url="s3://my-bucket/dvc")
    workflow = yaml.safe_load((project / ".github/workflows/ci.yml").read_text())
    smoke = next(step for step in workflow["jobs"]["image"]["steps"] if step.get("name", "").startswith("Smoke"))
    assert smoke["run"] == "make docker-smoke"
    (tmp_path / "bin").mkdir()
    shim = podman_as_docker(tmp_path / "bin")
    env = tool_env(IMAGE=built["tag"])
    env["PATH"] = f"{shim.parent}:{env['PATH']}"
    try:
        result = run("bash", "-e", "-c", smoke["run"], cwd=trained_project, env=env, check=False, timeout=300)
    finally:
        podman("rm", "--force", "my-ml-project-smoke", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert '/health: {"status":"ok"}' in result.stdout
    assert re.search(r'/predict: \{"predictions":\["\w+"\],"probabilities"', result.stdout), result.stdout


def answered(samples: dict, status: str) -> float:
    return samples.get(("http_requests_total", (("handler", "/predict"), ("method", "POST"), ("status", status))), 0)


def test_metrics_of_the_container_count_what_was_sent_and_name_the_model(container, trained_project):
    before = scrape(container["url"])
    records_sent = records(trained_project, RECORDS_SENT)
    for _ in range(2):
        assert httpx.post(f"{container['url']}/predict", json={"records": records_sent}, timeout=30).status_code == 200
    assert httpx.post(f"{container['url']}/predict", json={"records": []}, timeout=30).status_code == 422
    after = scrape(container["url"])
    assert answered(after, "200") - answered(before, "200") == 2
    assert answered(after, "422") - answered(before, "422") == 1
    rejected = ("predict_rejected_total", (("reason", "empty_batch"),))
    assert after[rejected] - before.get(rejected, 0) == 1
    (info,) = [dict(labels) for name, labels in after if name == "model_info"]
    assert info["git_commit"] == run("git", "rev-parse", "HEAD", cwd=trained_project).stdout.strip()
    assert info["model_version"] == md5(trained_project / "models/model.joblib")
    # The image's one worker also counts through PROMETHEUS_MULTIPROC_DIR, which the CMD made at start.
    files = podman("exec", container["name"], "sh", "-c", 'ls "$PROMETHEUS_MULTIPROC_DIR"').stdout.split()
    assert any(name.startswith("counter_") for name in files), files


def test_prediction_log_in_the_container_has_a_line_per_answered_request(container):
    """Written by uid 10001 into /app/logs, one line per 200 (sampling is 1 by default)."""
    deadline = time.monotonic() + 30
    while True:
        answers = answered(scrape(container["url"]), "200")
        listing = podman("exec", container["name"], "sh", "-c", "cat /app/logs/predictions-*.jsonl", check=False)
        lines = [json.loads(line) for line in listing.stdout.splitlines()]
        if len(lines) == answers or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert answers > 0 and len(lines) == answers, listing.stderr
    owner = podman("exec", container["name"], "stat", "-c", "%u", "/app/logs").stdout.strip()
    assert owner == str(UID)


def test_two_workers_in_one_container_add_up_their_metrics(built, trained_project):
    requests_sent = 40
    with running(built["tag"], "--env", "WEB_CONCURRENCY=2") as started:
        body = {"records": records(trained_project, 1)}
        for _ in range(requests_sent):  # a new connection each: both workers get some
            assert httpx.post(f"{started['url']}/predict", json=body, timeout=30).status_code == 200
        counts = [answered(scrape(started["url"]), "200") for _ in range(6)]
        processes = podman("top", started["name"], "args").stdout
    assert counts == [requests_sent] * 6, counts
    assert processes.count("multiprocessing.spawn") == 2, processes  # uvicorn's two worker processes


def test_plain_build_of_the_folder_gets_nothing_and_stops(built, trained_project):
    """.dockerignore lets nothing in: only `make docker-build` sends the build what the image holds."""
    result = podman("build", "--pull=never", "--format", "docker", trained_project, check=False)
    assert result.returncode != 0
    assert "pyproject.toml" in result.stdout + result.stderr
