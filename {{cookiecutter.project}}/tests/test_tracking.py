"""What MLflow is told, and when it is not asked at all: none of these tests import MLflow."""

import base64
import hashlib
import http.server
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from {{ cookiecutter.package }} import params, tracking

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def with_password(uri: str) -> str:
    """The URI with a user and password before the host, built here so no file holds such a URI."""
    return uri.replace("://", "://" + ":".join(["me", "s3cret"]) + "@", 1)


@pytest.mark.parametrize(
    "uri", ["https://mlflow.example.com/path", "postgresql://db:5432/mlflow", "http://127.0.0.1:5000"]
)
def test_credentials_never_leave_the_tracking_uri(uri):
    assert tracking.without_credentials(with_password(uri)) == uri
    assert tracking.without_credentials(uri) == uri


def test_local_store_uri_is_kept_as_it_is():
    assert tracking.without_credentials("sqlite:///mlflow.db") == "sqlite:///mlflow.db"


def test_unreachable_server_is_named_without_its_password():
    port = closed_port()
    with pytest.raises(tracking.TrackingError, match=rf"server http://127\.0\.0\.1:{port} is not reachable") as error:
        tracking.check_reachable(with_password(f"http://127.0.0.1:{port}"))
    assert "s3cret" not in str(error.value)


def test_a_server_that_answers_with_an_error_status_is_reachable():
    class NotFound(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the name http.server calls)
            self.send_error(404)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        tracking.check_reachable(f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()


def test_local_stores_are_not_probed():
    tracking.check_reachable("sqlite:///does/not/exist/mlflow.db")


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def test_lineage_names_the_commit_and_the_md5_dvc_records(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    git("init", "--quiet", "--initial-branch=lineage", cwd=tmp_path)
    shutil.copy(PROJECT_ROOT / "params.yaml", "params.yaml")
    metrics = params.load().paths.metrics
    metrics.parent.mkdir(parents=True)
    metrics.write_text("{}")
    Path("data.csv").write_text("a,b\n1,2\n")
    Path("model.joblib").write_bytes(b"model bytes")
    git("add", "params.yaml", str(metrics), cwd=tmp_path)
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "--quiet", "-m", "first", cwd=tmp_path)

    lineage = tracking.lineage(Path("data.csv"), Path("model.joblib"))
    assert lineage["git_commit"] == git("rev-parse", "HEAD", cwd=tmp_path)
    assert lineage["git_branch"] == "lineage"
    assert lineage["git_dirty"] == "false"  # untracked files do not count
    assert lineage["data_md5"] == hashlib.md5(b"a,b\n1,2\n").hexdigest()
    assert lineage["model_md5"] == hashlib.md5(b"model bytes").hexdigest()

    metrics.write_text('{"accuracy": 1}')  # `dvc repro` rewrites it: not a change of code or params
    assert tracking.lineage(Path("data.csv"), Path("model.joblib"))["git_dirty"] == "false"
    Path("params.yaml").write_text(Path("params.yaml").read_text().replace("seed: 42", "seed: 43", 1))
    assert tracking.lineage(Path("data.csv"), Path("model.joblib"))["git_dirty"] == "true"


def test_only_tracking_and_registry_import_mlflow():
    """`import mlflow` costs seconds: the stages that do not log must not pay for it."""
    probe = (
        "import sys\n"
        "import {{ cookiecutter.package }}.stages.evaluate, {{ cookiecutter.package }}.stages.prepare\n"
        "import {{ cookiecutter.package }}.stages.train, {{ cookiecutter.package }}.stages.validate\n"
        "import {{ cookiecutter.package }}.registry, {{ cookiecutter.package }}.tracking\n"
        "print('mlflow' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


def test_a_relative_sqlite_store_is_the_projects_even_from_a_queued_experiments_copy(monkeypatch, tmp_path):
    """`dvc exp run --queue` runs the stages in a copy under .dvc/tmp/exps, with DVC_ROOT the project's root."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    assert tracking.in_project("sqlite:///mlflow.db") == "sqlite:///mlflow.db"  # run by hand: where you are
    monkeypatch.setenv("DVC_ROOT", "/work/project")
    assert tracking.in_project("sqlite:///mlflow.db") == "sqlite:////work/project/mlflow.db"
    assert tracking.in_project("sqlite:////data/mlflow.db") == "sqlite:////data/mlflow.db"
    assert tracking.in_project("https://mlflow.example.com") == "https://mlflow.example.com"
    assert tracking.artifact_location("sqlite:////work/project/mlflow.db") == "/work/project/mlruns"
    assert tracking.artifact_location("https://mlflow.example.com") is None


def test_a_dvc_experiment_is_recognised_by_the_variables_dvc_sets(monkeypatch):
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    assert tracking.dvc_experiment() == {}  # dvc repro, or a stage run by hand: a version is registered
    monkeypatch.setenv("DVC_EXP_NAME", "ashen-daws")
    monkeypatch.setenv("DVC_EXP_BASELINE_REV", "f" * 40)
    assert tracking.dvc_experiment() == {"dvc_experiment": "ashen-daws", "dvc_baseline_rev": "f" * 40}


def test_refused_credentials_stop_in_one_line_naming_the_server_and_user(tmp_path, monkeypatch):
    """A server with basic auth, as `mlflow server --app-name basic-auth` answers: /health for anyone,
    the API only with the right user and password (the template's tests run the real one)."""
    accepted = "Basic " + base64.b64encode(b"ci:right-pw").decode()

    class BasicAuth(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the name http.server calls)
            if self.path == "/health" or self.headers.get("Authorization") == accepted:
                self.send_response(200)
                self.end_headers()
            else:
                self.send_error(401)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), BasicAuth)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    uri = f"http://127.0.0.1:{server.server_port}"
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.mlflow/credentials
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    try:
        with pytest.raises(tracking.TrackingError, match=rf"^MLflow tracking server {uri} asks for credentials"):
            tracking.check_reachable(uri)
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "ci")
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "wrong-pw")
        with pytest.raises(tracking.TrackingError) as error:
            tracking.check_reachable(uri)
        message = str(error.value)
        assert message.startswith(f"MLflow tracking server {uri} refused the credentials of user 'ci' (HTTP 401)")
        assert "wrong-pw" not in message and "\n" not in message
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "right-pw")
        tracking.check_reachable(uri)
    finally:
        server.shutdown()


def test_changed_data_pointers_do_not_make_the_tree_dirty(tmp_path, monkeypatch):
    """New data (`dvc add`, or `dvc update` in the retrain job) changes only a *.dvc file: the data_md5
    tag names that data, so the model still comes from its commit's code and params."""
    monkeypatch.chdir(tmp_path)
    git("init", "--quiet", cwd=tmp_path)
    Path("data.csv.dvc").write_text("md5: 1\n")
    shutil.copy(PROJECT_ROOT / "params.yaml", "params.yaml")
    Path("data.csv").write_text("a\n1\n")
    Path("model.joblib").write_bytes(b"model")
    git("add", "data.csv.dvc", "params.yaml", cwd=tmp_path)
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "--quiet", "-m", "first", cwd=tmp_path)
    Path("data.csv.dvc").write_text("md5: 2\n")
    assert tracking.lineage(Path("data.csv"), Path("model.joblib"))["git_dirty"] == "false"
