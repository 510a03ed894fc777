"""Shared helpers: bake the template with real cookiecutter, run real commands in the result."""

import contextlib
import importlib.util
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest
import yaml
from cookiecutter.generate import generate_context
from cookiecutter.main import cookiecutter
from cookiecutter.prompt import prompt_for_config
from prometheus_client.parser import text_string_to_metric_families

TEMPLATE = Path(__file__).resolve().parents[1]
# The test environment's tools (dvc, ruff, uv, python) come first, as in an activated environment:
# DVC stage commands call `python`, and the hooks run with this interpreter.
BIN = Path(sys.executable).parent
DEFAULTS = json.loads((TEMPLATE / "cookiecutter.json").read_text())


def tool_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", **extra}
    # Commits made by the tests themselves; the bake's own first commit must work without these.
    env.setdefault("GIT_AUTHOR_NAME", "Template Tests")
    env.setdefault("GIT_AUTHOR_EMAIL", "tests@example.com")
    env.setdefault("GIT_COMMITTER_NAME", "Template Tests")
    env.setdefault("GIT_COMMITTER_EMAIL", "tests@example.com")
    return env


def run(*command: str | Path, cwd: Path, check: bool = True, env: dict | None = None, timeout: int = 900):
    """Run a command; on failure the assertion shows its whole output."""
    result = subprocess.run(
        [str(part) for part in command],
        check=False,
        cwd=cwd,
        env=env or tool_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check:
        assert result.returncode == 0, (
            f"`{' '.join(map(str, command))}` exited {result.returncode} in {cwd}\n"
            f"--- stdout\n{result.stdout[-6000:]}\n--- stderr\n{result.stderr[-6000:]}"
        )
    return result


def bake(output_dir: Path, **answers: str) -> Path:
    """Bake the template with these answers (defaults for the rest); return the project directory."""
    return Path(
        cookiecutter(
            str(TEMPLATE),
            no_input=True,
            output_dir=str(output_dir),
            extra_context=answers,
            default_config=True,
        )
    )


def bake_on_first_use(tmp_path_factory, answers_by_name: dict[str, dict]):
    """A function name -> project directory that bakes with answers_by_name[name] once, then reuses it."""
    projects: dict[str, Path] = {}

    def project(name: str) -> Path:
        if name not in projects:
            projects[name] = bake(tmp_path_factory.mktemp(f"bake-{name}"), **answers_by_name[name])
        return projects[name]

    return project


def rendered_answers(**answers: str) -> dict:
    """Every answer as cookiecutter renders it for a bake (derived keys such as package filled in)."""
    context = generate_context(str(TEMPLATE / "cookiecutter.json"), extra_context=answers)
    return prompt_for_config(context, no_input=True)


def write_messy_csv(path: Path, rows: int = 240) -> Path:
    """A user's CSV as it arrives: mixed types, gaps everywhere, text labels, an ID column."""
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{index:05d}" for index in range(rows)],
            "age": [18 + (index * 7) % 60 for index in range(rows)],
            "monthly_spend": [round(20 + (index * 13) % 150 + (index % 3) * 0.5, 2) for index in range(rows)],
            "plan": [["basic", "plus", "premium"][index % 3] for index in range(rows)],
            "region": [["north", "south", "east", "west", None][index % 5] for index in range(rows)],
        }
    )
    frame.loc[frame.index % 9 == 0, "monthly_spend"] = None
    score = frame["age"] / 60 + frame["plan"].map({"basic": 0, "plus": 0.4, "premium": 0.9}) + (frame.index % 4) / 5
    frame["churned"] = ["yes" if value > 1.1 else "no" for value in score]
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def messy_csv(tmp_path_factory) -> Path:
    return write_messy_csv(tmp_path_factory.mktemp("user-data") / "customers.csv")


def set_hyperparams(project: Path, **values) -> dict:
    """Change keys of the selected model's section (train.<train.model>) in params.yaml by editing their
    lines, so its comments stay; return the values they had before."""
    path = project / "params.yaml"
    text = path.read_text()
    model = yaml.safe_load(text)["train"]["model"]
    section = re.search(rf"^  {model}:.*\n((?:    .*\n)+)", text, flags=re.MULTILINE)
    assert section, f"train.{model} not found in {path}"
    body = section[1]
    before = {}
    for name, value in values.items():
        pattern = rf"^(    {name}:) *(.*?)(  #.*)?$"
        match = re.search(pattern, body, flags=re.MULTILINE)
        assert match, f"train.{model}.{name} not found in {path}"
        before[name] = yaml.safe_load(match[2])
        body = re.sub(pattern, rf"\g<1> {json.dumps(value)}\g<3>", body, count=1, flags=re.MULTILINE)
    path.write_text(text[: section.start(1)] + body + text[section.end(1) :])
    return before


def commit(project: Path, message: str) -> str:
    """Commit every tracked change; return the new commit's hash."""
    run("git", "commit", "--quiet", "--all", "--message", message, cwd=project)
    return run("git", "rev-parse", "HEAD", cwd=project).stdout.strip()


def trained_s3_project(home: Path, s3_endpoint, bucket: str, mlflow_env: dict | None = None, **answers: str) -> Path:
    """A bake with an S3 remote on the moto endpoint whose main branch holds a trained model, committed
    and pushed: where the CI execution tests start. A 60-tree forest keeps every CI run short. The first
    `dvc repro` runs with mlflow_env added (the login to a tracking server the bake names)."""
    project = bake(home / "bake", dvc_remote="s3", dvc_remote_url=f"s3://{bucket}/dvc", **answers)
    s3_endpoint.client().create_bucket(Bucket=bucket)
    s3_env = s3_endpoint.env(AWS_ENDPOINT_URL_S3=s3_endpoint.url, **(mlflow_env or {}))
    set_hyperparams(project, n_estimators=60)
    run("dvc", "repro", cwd=project, env=s3_env)
    run("git", "add", "--all", cwd=project)
    commit(project, "Train the first model")
    run("dvc", "push", cwd=project, env=s3_env)
    return project


def venv_seeing_test_packages(venv: Path, python_version: str) -> Path:
    """A new venv that also sees this test environment's packages (a .pth file): a CI job's
    `pip install -e .` run in it then installs only the project itself."""
    run(BIN / "python", "-m", "venv", venv, cwd=venv.parent)
    site = run(BIN / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=venv.parent)
    (venv / "lib" / f"python{python_version}" / "site-packages" / "template_tools.pth").write_text(site.stdout)
    return venv


def load_comment_api(project: Path):
    """The baked project's own stand-in for the GitHub and GitLab comment APIs (tests/comment_api.py)."""
    spec = importlib.util.spec_from_file_location("baked_comment_api", project / "tests" / "comment_api.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.CommentAPI


def stages_run(dvc_output: str) -> list[str]:
    """The stages `dvc repro` ran, in order, from its output."""
    return re.findall(r"Running stage '([^']+)'", dvc_output)


def mlflow_runs(project: Path) -> list[dict]:
    """The runs in the project's local MLflow store, read with sqlite3 (no MLflow import needed)."""
    with sqlite3.connect(project / "mlflow.db") as db:
        runs = db.execute("SELECT run_uuid FROM runs ORDER BY start_time").fetchall()
        return [
            {
                "id": run_id,
                "params": dict(db.execute("SELECT key, value FROM params WHERE run_uuid = ?", (run_id,))),
                "metrics": dict(db.execute("SELECT key, value FROM metrics WHERE run_uuid = ?", (run_id,))),
            }
            for (run_id,) in runs
        ]


def find_python(version: str) -> str | None:
    """An interpreter for `version`: on PATH, or one of pyenv's (whose shims may refuse to run)."""
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = [shutil.which(f"python{version}"), *sorted(pyenv_root.glob(f"versions/{version}.*/bin/python"))]
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [str(candidate), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            check=False,
            capture_output=True,
            text=True,
        )
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return str(candidate)
    return None


# --- DVC remotes: a real S3 endpoint served locally, and a scan for committed credentials ---------


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    """Every sample a /metrics page exports: {(name, sorted labels): value}."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class S3Endpoint:
    """A running moto server that checks credentials like S3: only the key it issued is accepted."""

    region = "us-east-1"

    def __init__(self, url: str, access_key_id: str, secret_access_key: str, home: Path):
        self.url, self.access_key_id, self.secret_access_key = url, access_key_id, secret_access_key
        self.home = home  # holds no AWS config: the developer's own profiles stay out of the tests

    def env(self, **overrides: str) -> dict[str, str]:
        """tool_env with this endpoint's credentials, as a CI secret or `export` would provide them."""
        env = tool_env(
            AWS_ACCESS_KEY_ID=self.access_key_id,
            AWS_SECRET_ACCESS_KEY=self.secret_access_key,
            AWS_DEFAULT_REGION=self.region,
            AWS_CONFIG_FILE=str(self.home / "config"),
            AWS_SHARED_CREDENTIALS_FILE=str(self.home / "credentials"),
            AWS_EC2_METADATA_DISABLED="true",  # no credentials found must fail at once, not probe for a VM
        )
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
            env.pop(name, None)
        env.update(overrides)
        return env

    @property
    def secrets(self) -> tuple[str, str]:
        return self.access_key_id, self.secret_access_key

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
        )

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory) -> S3Endpoint:
    """`moto_server` on a free port, with one IAM user's key; requests signed otherwise are refused."""
    import urllib.request

    import boto3

    home = tmp_path_factory.mktemp("moto")
    url = f"http://127.0.0.1:{free_port()}"
    with open(home / "moto_server.log", "w") as log:
        server = subprocess.Popen(
            [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", url.rsplit(":", 1)[1]], stdout=log, stderr=log
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=2).close()
                break
            except OSError:
                assert server.poll() is None, (home / "moto_server.log").read_text()
                assert time.monotonic() < deadline, "moto_server did not answer within 60 s"
                time.sleep(0.1)
        # Until authentication is switched on, moto accepts any request: issue the one valid key.
        iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1", aws_access_key_id="setup",
                           aws_secret_access_key="setup")  # fmt: skip
        iam.create_user(UserName="dvc")
        iam.put_user_policy(
            UserName="dvc",
            PolicyName="everything",
            PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
            ),
        )
        key = iam.create_access_key(UserName="dvc")["AccessKey"]
        switch_on = urllib.request.Request(
            f"{url}/moto-api/reset-auth", data=b"0", method="POST", headers={"Content-Type": "text/plain"}
        )
        urllib.request.urlopen(switch_on, timeout=10).close()
        yield S3Endpoint(url, key["AccessKeyId"], key["SecretAccessKey"], home)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


# What a credential looks like in a file; the values a test used are searched for verbatim as well.
CREDENTIAL_PATTERNS = {
    "an AWS access key id": re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    "a credential setting": re.compile(
        r"^\s*(aws_)?(access_key_id|secret_access_key|session_token|password|key_secret|client_secret)\s*=",
        re.IGNORECASE | re.MULTILINE,
    ),
    "a user and password in a URL": re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@'\"]+:[^/\s@'\"]+@", re.IGNORECASE),
    "a private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
}
MACHINE_LOCAL_FILES = {".dvc/config.local", ".env", ".aws/credentials", ".aws/config"}


def scan_for_credentials(project: Path, secrets: tuple[str, ...] = ()) -> list[str]:
    """Every place git tracks a credential: files in the work tree and every blob of every ref.

    Returns one line per finding ("<where>: <what>"); empty means clean. History counts because a
    secret committed once and removed later is still in every clone.
    """
    findings = []

    def check(where: str, path: str, text: str) -> None:
        if path in MACHINE_LOCAL_FILES or path.endswith("/config.local"):
            findings.append(f"{where}: a machine-local file is tracked")
        for secret in filter(None, secrets):
            if secret in text:
                findings.append(f"{where}: holds the secret {secret[:4]}...")
        for what, pattern in CREDENTIAL_PATTERNS.items():
            if match := pattern.search(text):
                findings.append(f"{where}: {what} ({match.group(0).strip()[:24]}...)")

    tracked = run("git", "ls-files", "-z", cwd=project).stdout.split("\0")
    for path in filter(None, tracked):
        file = project / path
        if file.is_file():
            check(path, path, file.read_text(errors="replace"))
    objects = run("git", "rev-list", "--all", "--objects", cwd=project).stdout.splitlines()
    blobs = {}
    for line in objects:
        sha, _, path = line.partition(" ")
        if path:
            blobs.setdefault(sha, path)
    if blobs:
        listing = subprocess.run(
            ["git", "cat-file", "--batch"],
            input="\n".join(blobs).encode(),
            cwd=project,
            capture_output=True,
            check=True,
        ).stdout
        position = 0
        while position < len(listing):
            header_end = listing.index(b"\n", position)
            sha, kind, size = listing[position:header_end].decode().split()
            body = listing[header_end + 1 : header_end + 1 + int(size)]
            position = header_end + 1 + int(size) + 1
            if kind == "blob":
                check(f"{blobs[sha]} (in history, blob {sha[:8]})", blobs[sha], body.decode(errors="replace"))
    return findings


@contextlib.contextmanager
def wall_time(label: str):
    """Print how long the block took (visible with `pytest -s`), for the notes on each workflow."""
    start = time.monotonic()
    try:
        yield
    finally:
        print(f"\n[wall time] {label}: {time.monotonic() - start:.1f} s", flush=True)


# --- MLflow: a real tracking server (issue: MLflow tracking, registry and lineage) ------------------


@contextlib.contextmanager
def serve_mlflow(home: Path, *options: str, env: dict[str, str] | None = None):
    """`mlflow server` on a free port (one worker; SQLite and artifacts in `home`); yields its URL.

    It starts worker processes: it runs in a session of its own and is stopped by process group.
    """
    import signal
    import urllib.request

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        str(BIN / "mlflow"), "server", *options, "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--backend-store-uri", f"sqlite:///{home / 'mlflow.db'}", "--artifacts-destination", str(home / "artifacts"),
    ]  # fmt: skip
    # Job execution (GenAI jobs) would start seven more processes; tracking and the registry need none.
    env = tool_env(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false", **(env or {}))
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        env.pop(name, None)
    with open(home / "server.log", "w") as log:
        server = subprocess.Popen(
            command, cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 180  # ~17 s on an idle machine, ~45 s under load
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None, (home / "server.log").read_text()[-4000:]
            assert time.monotonic() < deadline, (
                "mlflow server: no /health within 180 s\n" + (home / "server.log").read_text()[-4000:]
            )
            time.sleep(0.5)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=20)
        with contextlib.suppress(ProcessLookupError):  # a worker that outlived the main process, or a hang
            os.killpg(server.pid, signal.SIGKILL)
        server.wait()


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory) -> str:
    """A plain `mlflow server` (no authentication); yields its URL."""
    with serve_mlflow(tmp_path_factory.mktemp("mlflow-server")) as url:
        yield url


class MlflowAuthServer:
    """A running `mlflow server --app-name basic-auth`: its URL, the admin's login, and the user
    `mlflow-ci` that CI jobs log in as (their secrets MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD)."""

    def __init__(self, url: str, admin: tuple[str, str], ci: tuple[str, str]):
        self.url, self.admin, self.ci = url, admin, ci

    def login(self, user: tuple[str, str]) -> dict[str, str]:
        return {"MLFLOW_TRACKING_USERNAME": user[0], "MLFLOW_TRACKING_PASSWORD": user[1]}

    def registry(self, name: str) -> dict:
        """What the registry holds for model `name`, read as the admin with MlflowClient:
        {"versions": {version: tags}, "aliases": {alias: version}} (empty before its first version)."""
        from unittest import mock

        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        client = MlflowClient(tracking_uri=self.url, registry_uri=self.url)
        with mock.patch.dict(os.environ, self.login(self.admin)):  # MLflow reads the login per request
            try:
                aliases = client.get_registered_model(name).aliases
            except MlflowException as error:
                if error.error_code != "RESOURCE_DOES_NOT_EXIST":
                    raise
                return {"versions": {}, "aliases": {}}
            versions = client.search_model_versions(f"name = '{name}'")
        return {
            "versions": {str(version.version): dict(version.tags) for version in versions},
            "aliases": {alias: str(version) for alias, version in aliases.items()},
        }


@pytest.fixture(scope="session")
def mlflow_auth_server(tmp_path_factory) -> MlflowAuthServer:
    """`mlflow server --app-name basic-auth`, as a team runs it: every request needs a user and password
    (only /health answers anyone); the admin is created at start-up, the user `mlflow-ci` by the admin. Any
    logged-in user may log runs and register versions (default_permission EDIT). The passwords are made
    here at run time, so no file holds one."""
    import base64
    import secrets
    import urllib.request

    home = tmp_path_factory.mktemp("mlflow-auth-server")
    config = home / "basic_auth.ini"
    config.write_text(
        "[mlflow]\ndefault_permission = EDIT\n"
        f"database_uri = sqlite:///{home / 'basic_auth.db'}\nadmin_username = admin\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
    # A user name that is no common word: GitHub (and act) mask every occurrence of a secret in logs.
    admin, ci = ("admin", secrets.token_urlsafe(12)), ("mlflow-ci", secrets.token_urlsafe(12))
    env = {
        "MLFLOW_AUTH_CONFIG_PATH": str(config),
        "MLFLOW_AUTH_ADMIN_PASSWORD": admin[1],
        # The auth app's CSRF protection needs a key that stays the same while it runs.
        "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16),
    }
    with serve_mlflow(home, "--app-name", "basic-auth", env=env) as url:
        create = urllib.request.Request(
            f"{url}/api/2.0/mlflow/users/create",
            data=json.dumps({"username": ci[0], "password": ci[1]}).encode(),
            headers={
                "Content-Type": "application/json",
                "Authorization": "Basic " + base64.b64encode(":".join(admin).encode()).decode(),
            },
        )
        urllib.request.urlopen(create, timeout=30).close()
        yield MlflowAuthServer(url, admin, ci)
