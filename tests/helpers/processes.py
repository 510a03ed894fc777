"""Run the tools the way a developer does: this test environment's bin first, commands checked, free ports."""

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

# The test environment's tools (dvc, ruff, uv, python) come first, as in an activated environment:
# DVC stage commands call `python`, and the hooks run with this interpreter.
BIN = Path(sys.executable).parent


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


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def wall_time(label: str):
    """Print how long the block took (visible with `pytest -s`), for the notes on each workflow."""
    start = time.monotonic()
    try:
        yield
    finally:
        print(f"\n[wall time] {label}: {time.monotonic() - start:.1f} s", flush=True)
