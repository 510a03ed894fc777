"""Remove the directories the answers did not select, then hand over to bootstrap.

All real setup (git, DVC, data, remote, first commit) lives in the project's own
`{{ cookiecutter.package }}/bootstrap.py`, which `make setup` runs too. This hook only runs it when every
dependency in the project's pyproject.toml is installed here; under pipx or uvx they are not, and the
hook says how to finish. (Single files that were not selected never get written: their names render
empty. The user's CSV is already in data/raw/: the pre-gen hook copied it.)

Under cruft the hook stops after pruning, silently: `cruft update` and `cruft diff` render the template
into throw-away directories to diff two versions, and a git repository or DVC cache there would enter
that diff. `cruft create` also writes `.cruft.json` only after this hook, so a new project finishes with
`make setup` (the template's README says so), whose first commit includes it.
"""

import importlib.metadata
import re
import shutil
import subprocess
import sys
from pathlib import Path

PACKAGE = "{{ cookiecutter.package }}"
CI = "{{ cookiecutter.ci }}"
DOCKER = "{{ cookiecutter.docker }}"
# cruft (create, update, diff) adds the template commit it renders to the context; cookiecutter never does.
CRUFT_COMMIT = "{{ cookiecutter['_commit'] if '_commit' in cookiecutter else '' }}"

UNSELECTED = {
    ".github": CI not in ("github", "both"),
    f"{PACKAGE}/serving": DOCKER != "yes",
    "monitoring": DOCKER != "yes",
}


def remove_unselected():
    for name, unselected in UNSELECTED.items():
        path = Path(name)
        if not unselected or not path.exists():
            continue
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()


def missing_dependencies():
    """The project's dependencies (pyproject.toml) that are not installed where cookiecutter runs.

    The stages import every one of them, so the project is ready only when none is missing.
    """
    try:
        import tomllib  # Python 3.11+; cookiecutter may run on an older one

        with open("pyproject.toml", "rb") as file:
            requirements = tomllib.load(file)["project"]["dependencies"]
    except ImportError:
        return ["Python 3.11+ (tomllib)"]
    missing = []
    for requirement in requirements:
        name = re.match(r"[A-Za-z0-9._-]+", requirement).group()
        try:
            importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(name)
    return missing


def main():
    remove_unselected()
    if CRUFT_COMMIT:
        return
    subprocess.run(["git", "init", "--quiet", "--initial-branch=main"], check=True)
    missing = missing_dependencies()
    if missing:
        print(
            f"\nCreated {Path.cwd().name}/ as a git repository. {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not installed where cookiecutter runs, so DVC and "
            f"the data are not set up yet.\n"
            f"Finish with:  cd {Path.cwd().name} && make setup\n"
        )
        return
    result = subprocess.run([sys.executable, "-m", f"{PACKAGE}.bootstrap"], check=False)
    if result.returncode != 0:
        print(f"\nbootstrap failed (see above); fix the cause, then: cd {Path.cwd().name} && make setup")
        sys.exit(result.returncode)


if __name__ == "__main__":
    main()
