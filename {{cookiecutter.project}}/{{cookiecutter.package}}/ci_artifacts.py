"""Copy pipeline files into a folder CI keeps: CI's YAML cannot read params.yaml, so it names the folder.

Usage: python -m {{ cookiecutter.package }}.ci_artifacts FOLDER KEY...   e.g. build/ci-artifacts report validation

Each KEY is a key of params.yaml's paths section; its file or directory is copied into FOLDER at its
path in the project (paths.report reports/report.md -> FOLDER/reports/report.md), so copying FOLDER
back into the project (`cp -R FOLDER/. .`) puts every file where the project reads it. A key whose
file is not there (the job stopped before making it) is named and skipped: a job keeps what it made.
.gitlab-ci.yml and .github/workflows/ci.yml use two folders: build/ci-artifacts/ (the report and what
explains it, to read) and build/ci-model/ (the trained model, for the image job).
Exit status: 0 copied (or skipped), 2 a key that params.yaml's paths section does not have.
"""

import dataclasses
import shutil
import sys
from pathlib import Path

from {{ cookiecutter.package }} import params


def collect(folder: Path, keys: list[str], paths: params.Paths) -> list[Path]:
    """Copy the files of `keys` into folder at their project paths; the ones copied."""
    known = [field.name for field in dataclasses.fields(paths)]
    unknown = [key for key in keys if key not in known]
    if unknown:
        raise KeyError(f"params.yaml has no paths.{unknown[0]}: the keys are {', '.join(known)}")
    folder.mkdir(parents=True, exist_ok=True)
    copied = []
    for key in keys:
        source = getattr(paths, key)
        target = folder / source
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        elif source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
        else:
            print(f"ci_artifacts: paths.{key} ({source}) is not there: skipped")
            continue
        copied.append(source)
    return copied


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2 or args[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        copied = collect(Path(args[0]), args[1:], params.load().paths)
    except (KeyError, params.ParamsError, OSError) as error:
        print(f"ci_artifacts: {error.args[0] if isinstance(error, KeyError) else error}", file=sys.stderr)
        return 2
    print(f"ci_artifacts: copied into {args[0]}: {', '.join(map(str, copied)) or 'nothing'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
