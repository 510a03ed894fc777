"""The files the app reads besides its code: the model, its data contract, its training metrics and its
lineage, at the paths params.yaml `paths:` gives them. Each can be set by an environment variable
instead, for a model kept elsewhere.

Usage: python -m {{ cookiecutter.package }}.serving.files   (print them, as the image must hold them: `make docker-build`)
It needs only params.py (PyYAML), so it runs before the project's other dependencies are installed.
"""

import os
import sys
from pathlib import Path

from {{ cookiecutter.package }} import params

# The environment variable that may set each file, and its key in params.yaml `paths:`.
FILES = {"MODEL_PATH": "model", "SCHEMA_PATH": "schema", "METRICS_PATH": "metrics", "MODEL_INFO_PATH": "model_info"}


def defaults() -> list[Path]:
    """The files in FILES' order, as params.yaml names them."""
    paths = params.load().paths
    return [getattr(paths, key) for key in FILES.values()]


def from_environment() -> list[Path]:
    """The files in FILES' order: the environment's paths, else params.yaml's (read only when needed)."""
    given = [os.environ.get(variable) for variable in FILES]
    fallback = given if all(given) else defaults()
    return [Path(path) if path else default for path, default in zip(given, fallback, strict=True)]


def main() -> None:
    """Print the files as params.yaml names them (the image sets no variable); exit 1 naming one that is missing."""
    try:
        files = defaults()
    except params.ParamsError as error:
        sys.exit(f"serving: {error}")
    if missing := [path for path in files if not path.exists()]:
        sys.exit(f"no {missing[0]}: run `dvc repro` or `dvc pull` first")
    print(" ".join(map(str, files)))


if __name__ == "__main__":
    main()
