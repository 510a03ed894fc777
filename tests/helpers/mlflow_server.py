"""A real `mlflow server` (tracking and registry), plain or with basic-auth logins."""

import base64
import contextlib
import json
import os
import secrets
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from helpers.processes import BIN, free_port, tool_env


@contextlib.contextmanager
def serve_mlflow(home: Path, *options: str, env: dict[str, str] | None = None):
    """`mlflow server` on a free port (one worker; SQLite and artifacts in `home`); yields its URL.

    It starts worker processes: it runs in a session of its own and is stopped by process group.
    """
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


@contextlib.contextmanager
def serve_mlflow_with_logins(home: Path):
    """`mlflow server --app-name basic-auth`, as a team runs it: every request needs a user and password
    (only /health answers anyone); the admin is created at start-up, the user `mlflow-ci` by the admin. Any
    logged-in user may log runs and register versions (default_permission EDIT). The passwords are made
    here at run time, so no file holds one. Yields an MlflowAuthServer."""
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
