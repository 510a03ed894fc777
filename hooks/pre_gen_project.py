"""Check every free-text answer before cookiecutter writes a file, then bring in the user's CSV.

Standard library only: this runs wherever cookiecutter runs (pipx, uvx), before the project's own
dependencies exist. Each bad answer gets one line naming the option and the fix; then exit 1, and
cookiecutter removes the (still empty) project directory. The choice options need no check here:
cookiecutter itself refuses a value that is not in their list, before any hook runs, but it cannot say
why; so `python_version`, whose refusal must say why (3.10's end of life), is free text checked here
against its list, `_checked_choices` among the template's options.

The CSV is copied here, the one place that knows where a relative data_path points. The template
has no data/ directory, so cookiecutter, which refuses to write into a directory that exists,
never meets the data/raw/ made here.
"""

import csv
import json
import keyword
import os
import re
import shutil
import sys
from pathlib import Path

# The whole rendered context, as JSON (tojson escapes quotes, so any answer fits in this string).
ANSWERS = json.loads(r"""{{ cookiecutter | tojson }}""")
SAMPLE_TARGETS = {"classification": "diagnosis", "regression": "progression"}
# Import names that would shadow a library the pipeline imports.
TAKEN_NAMES = {"dvc", "mlflow", "sklearn", "pandas", "numpy", "yaml", "joblib", "pyarrow", "tests"}
S3_URL = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[^\s]*)?$")
CREDENTIALS_IN_URL = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@\s]+:[^/@\s]*@", re.IGNORECASE)
MIN_PYTHON = (3, 11)
# cruft (create, update, diff) adds the template commit to the context; cookiecutter never does.
RENDERED_BY_CRUFT = "_commit" in ANSWERS


def check_checked_choices(answers):
    for option, allowed in answers["_checked_choices"].items():
        value = answers[option]
        if value in allowed:
            continue
        if option == "python_version" and _older_than_supported(value):
            yield (
                f"python_version: {value} is not supported. Python 3.10 reached end of life in "
                f"October 2026 and pandas 3 and current scikit-learn need 3.11+; "
                f"choose one of {', '.join(allowed)}."
            )
        else:
            yield f"{option}: '{value}' is not one of {', '.join(allowed)}."


def _older_than_supported(version):
    try:
        return tuple(int(part) for part in version.split(".")[:2]) < MIN_PYTHON
    except ValueError:
        return False


def check_names(answers):
    if not answers["project_name"].strip():
        yield "project_name: must not be empty."
    project = answers["project"]
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", project):
        yield (
            f"project: '{project}' is not a usable directory/repository name; use letters, digits, "
            f"'-', '_' and '.', starting with a letter or digit (e.g. project=churn-model)."
        )
    package = answers["package"]
    if not package.isidentifier() or keyword.iskeyword(package) or not package.isascii():
        yield (
            f"package: '{package}' is not a valid Python import name; use lowercase letters, digits "
            f"and '_', not starting with a digit (e.g. package=churn_model)."
        )
    elif package in TAKEN_NAMES or package in sys.stdlib_module_names:
        yield f"package: '{package}' would shadow the module of the same name; choose another name."
    if "@" not in answers["author_email"]:
        yield f"author_email: '{answers['author_email']}' is not an email address."


def check_data(answers):
    target = answers["target"].strip()
    data_path = answers["data_path"].strip()
    if not target:
        yield "target: must name the column to predict."
        return
    if not data_path:
        sample_target = SAMPLE_TARGETS.get(answers["task"])
        if sample_target and target != sample_target:
            yield (
                f"target: the bundled {answers['task']} sample predicts '{sample_target}', not "
                f"'{target}'; leave target at its default or give data_path (your CSV)."
            )
        return
    path = resolve_user_path(data_path)
    if path.suffix.lower() != ".csv":
        yield f"data_path: '{data_path}' is not a .csv file; export your data as CSV."
        return
    if not path.is_file():
        if RENDERED_BY_CRUFT:
            return  # `cruft update` re-renders on any machine; the data is the team's by then (bootstrap checks it)
        yield f"data_path: '{path}' does not exist; give the path of your CSV (absolute is safest)."
        return
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", path.stem):
        yield (
            f"data_path: the file name '{path.name}' becomes a DVC-tracked path; rename it to "
            f"letters, digits, '_', '-' and '.' (e.g. customers.csv)."
        )
    try:
        with path.open(newline="", encoding="utf-8-sig") as file:
            header = next(csv.reader(file), [])
    except (OSError, UnicodeDecodeError) as error:
        yield f"data_path: cannot read '{path}' as UTF-8 CSV ({error})."
        return
    if target not in header:
        yield f"target: column '{target}' is not in {path.name}; its columns are: {', '.join(header) or '(none)'}."
    elif len(header) < 2:
        yield f"data_path: {path.name} has no column besides the target '{target}' to learn from."


def resolve_user_path(data_path):
    """A relative data_path is relative to where cookiecutter was started, not the new project."""
    path = Path(os.path.expanduser(data_path))
    if not path.is_absolute():
        path = Path(os.environ.get("PWD", os.getcwd())) / path
    return path


def check_remote(answers):
    kind, url = answers["dvc_remote"], answers["dvc_remote_url"].strip()
    if re.search(r'["\\\s]', url):
        yield f"dvc_remote_url: '{url}' contains quotes, backslashes or spaces; use a plain path or URL."
    elif CREDENTIALS_IN_URL.match(url):
        yield (
            "dvc_remote_url: holds a user and password; it would be committed. Give the URL alone "
            "and credentials through the environment (AWS_ACCESS_KEY_ID, ...)."
        )
    elif kind == "none" and url:
        yield f"dvc_remote_url: '{url}' is set but dvc_remote is none; leave it empty or pick local/s3."
    elif kind == "local" and (not url or "://" in url):
        yield (
            f"dvc_remote_url: '{url}' is not a directory path; a local remote needs one "
            f"(e.g. ../{answers['project']}-dvc-storage or /mnt/shared/dvc)."
        )
    elif kind == "local" and not Path(os.path.expanduser(url)).is_absolute() and not url.startswith(".."):
        yield (
            f"dvc_remote_url: '{url}' is inside the project; a local remote must be outside it "
            f"(e.g. ../{answers['project']}-dvc-storage or an absolute path)."
        )
    elif kind == "s3" and not S3_URL.match(url):
        yield (
            f"dvc_remote_url: '{url}' is not an S3 URL; an s3 remote needs "
            f"s3://<bucket>/<prefix> (bucket: 3-63 lowercase letters, digits, '.', '-')."
        )


def check_engine(answers):
    """A served Spark model (a JVM in each server) misses the serving app's latency budget by far."""
    if answers["engine"] == "spark" and answers["docker"] == "yes":
        yield (
            "docker: engine=spark takes docker=no: a served Spark model needs ~1 GB and 20-35 s to load and "
            "answers a one-row request in ~0.66 s, over the serving app's p99 budget of 250 ms; bake with "
            "docker=no and score in batch with `make predict`."
        )


def check_tracking_uri(answers):
    uri = answers["mlflow_tracking_uri"].strip()
    if not uri:
        return
    if re.search(r'["\\\s]', uri):
        yield f"mlflow_tracking_uri: '{uri}' contains quotes, backslashes or spaces; give a plain URI."
    elif CREDENTIALS_IN_URL.match(uri):
        yield (
            "mlflow_tracking_uri: holds a user and password; it would be committed. Give the URI "
            "alone and set MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD in the environment."
        )
    elif not re.match(r"^(https?|sqlite|postgresql|mysql|mssql|databricks)(\+\w+)?:", uri):
        yield (
            f"mlflow_tracking_uri: '{uri}' is not a tracking server or database URI; use "
            f"http(s)://host:port, sqlite:///file.db, or leave it empty (MLflow 3 refuses the "
            f"plain file store)."
        )


def main():
    problems = [
        problem
        for check in (check_checked_choices, check_names, check_data, check_remote, check_engine, check_tracking_uri)
        for problem in check(ANSWERS)
    ]
    if problems:
        print("Cannot create the project; fix these answers and run cookiecutter again:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        sys.exit(1)
    copy_user_data(ANSWERS)


def copy_user_data(answers):
    data_path = answers["data_path"].strip()
    source = resolve_user_path(data_path) if data_path else None
    if source and source.is_file():  # else the sample, or a re-render under cruft on another machine
        raw_csv = Path(answers["__raw_csv"])  # params.yaml's paths.raw is rendered from the same answer
        raw_csv.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, raw_csv)


if __name__ == "__main__":
    main()
