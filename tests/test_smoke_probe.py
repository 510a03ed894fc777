"""The image jobs' smoke probe (`make docker-smoke` runs `python -m <package>.serving.smoke` inside the
container), here against the default bake's app served by uvicorn outside one."""

import re
import subprocess
import sys

import pytest
from helpers import BIN, free_port, run, tool_env, trained_default

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The default bake after `dvc repro` (helpers.trained_default), its app served by uvicorn as `make serve`
    starts it, on a free port."""
    project, _ = trained_default(tmp_path_factory)
    app = re.search(r"^\tuvicorn (\S+) ", (project / "Makefile").read_text(), re.MULTILINE)[1]
    port = free_port()
    command = [BIN / "python", "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(command, cwd=project, env=tool_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield project, f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_smoke_probe_waits_for_health_and_predicts_one_record(served):
    """What `make docker-smoke` runs inside the container, here against the same app outside one."""
    project, url = served
    result = run(BIN / "python", "-m", "my_ml_project.serving.smoke", url, cwd=project, check=False, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert '/health: {"status":"ok"}' in result.stdout
    assert re.search(r'/predict: \{"predictions":\["\w+"\]', result.stdout), result.stdout


def test_smoke_probe_fails_saying_which_endpoint_did_not_answer(served, tmp_path):
    """A server whose /health answers but which has no /metadata (python's http.server on a folder)."""
    project, _ = served
    (tmp_path / "health").write_text("ok")
    port = free_port()
    command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    server = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        smoke = [BIN / "python", "-m", "my_ml_project.serving.smoke", f"http://127.0.0.1:{port}"]
        result = run(*smoke, cwd=project, check=False, timeout=120)
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "smoke: /metadata or /predict failed: HTTP Error 404" in result.stdout, result.stdout
