"""The baked serving app, fuzzed from its own OpenAPI schema with schemathesis: whatever a client sends,
the answer is never a server error (5xx).

Each project is baked, trained with `dvc repro`, and served by uvicorn on 127.0.0.1, as `make serve`
does. schemathesis generates requests for every operation; the hooks in schemathesis_hooks.py also put
its generated values under the model's real feature names, so they reach the model (the uvicorn access
log shows how many predictions answered 200). The seed is fixed so a failure reproduces; the number of
examples is bounded so each run takes well under a minute.
"""

import json
import re
import subprocess
import time

import httpx
import pytest
from helpers import BIN, TEMPLATE, bake, free_port, run, tool_env, write_messy_csv

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 150  # per operation; about 20-40 s per project on 2 busy cores
SEED = 7
HOOKS = TEMPLATE / "tests" / "schemathesis_hooks.py"
# The default project (all features numeric, classification) and a user's CSV with categories and gaps
# (regression): between them, every kind of feature and both response shapes.
PROJECTS = {
    "default": {},
    "messy-regression": {"task": "regression", "target": "monthly_spend", "dvc_remote": "none", "ci": "none"},
}


@pytest.fixture(scope="module", params=PROJECTS)
def served(request, tmp_path_factory):
    """(base URL, access log path) of the trained project's app under uvicorn on a free local port."""
    answers = dict(PROJECTS[request.param])
    workdir = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    if request.param.startswith("messy"):
        answers["data_path"] = str(write_messy_csv(workdir / "customers.csv"))
    project = bake(workdir / "out", **answers)
    run(BIN / "dvc", "repro", cwd=project)
    port = free_port()
    log = workdir / "uvicorn.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            [
                BIN / "python",
                "-m",
                "uvicorn",
                "my_ml_project.serving.app:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=project,
            env=tool_env(),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not _healthy(url):
            assert server.poll() is None and time.monotonic() < deadline, f"uvicorn did not start:\n{log.read_text()}"
            time.sleep(0.3)
        yield url, log
    finally:
        server.terminate()
        server.wait(timeout=30)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def test_fuzzing_the_openapi_schema_finds_no_server_error(served, tmp_path):
    url, log = served
    features = list(httpx.get(f"{url}/metadata", timeout=10).json()["features"])
    result = run(
        BIN / "schemathesis",
        "--no-color",
        "run",
        f"{url}/openapi.json",
        "--checks",
        "not_a_server_error",
        "--max-examples",
        MAX_EXAMPLES,
        "--seed",
        SEED,
        cwd=tmp_path,
        env=tool_env(SCHEMATHESIS_HOOKS=str(HOOKS), FUZZ_FEATURES=json.dumps(features)),
        check=False,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-8000:]
    assert re.search(r"\d+ generated, \d+ passed", output), output[-3000:]
    access = log.read_text()
    assert not re.search(r'HTTP/1\.1" 5\d\d', access), "server errors in the uvicorn log"
    # The fuzzing reached the model, and also its refusals: both answers are in the access log.
    assert len(re.findall(r'"POST /predict HTTP/1\.1" 200', access)) >= 10, access[-3000:]
    assert re.search(r'"POST /predict HTTP/1\.1" 422', access)
