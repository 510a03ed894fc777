"""The files the app reads besides its code: the model, its data contract, its training metrics and its
lineage. Each can be set by an environment variable, for a model kept elsewhere; else the default.

Usage: python -m {{ cookiecutter.package }}.serving.files   (print them, as the image must hold them: `make docker-build`)
It imports nothing beyond the standard library, so it runs before the project's dependencies are installed.
"""

import os
import sys
from pathlib import Path

# The environment variable that sets each file, and its default.
FILES = {
    "MODEL_PATH": "models/model.joblib",
    "SCHEMA_PATH": "data/schema.yaml",
    "METRICS_PATH": "metrics/metrics.json",
    "MODEL_INFO_PATH": "models/model_info.json",
}


def from_environment() -> list[Path]:
    """The files in FILES' order: the environment's paths, else the defaults."""
    return [Path(os.environ.get(variable, default)) for variable, default in FILES.items()]


def main() -> None:
    """Print the files at their default paths (the image sets no variable); exit 1 naming one that is missing."""
    files = [Path(default) for default in FILES.values()]
    if missing := [path for path in files if not path.exists()]:
        sys.exit(f"no {missing[0]}: run `dvc repro` or `dvc pull` first")
    print(" ".join(map(str, files)))


if __name__ == "__main__":
    main()
