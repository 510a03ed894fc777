"""Python interpreters other than the one running the tests."""

import os
import shutil
import subprocess
from pathlib import Path

from helpers.processes import BIN, run


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


def venv_seeing_test_packages(venv: Path, python_version: str) -> Path:
    """A new venv that also sees this test environment's packages (a .pth file): a CI job's
    `pip install -e .` run in it then installs only the project itself."""
    run(BIN / "python", "-m", "venv", venv, cwd=venv.parent)
    site = run(BIN / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=venv.parent)
    (venv / "lib" / f"python{python_version}" / "site-packages" / "template_tools.pth").write_text(site.stdout)
    return venv
