"""Set up a fresh copy of this project: git, DVC, the raw data and its contract, the DVC remote, a first commit.

Safe to run again: every step checks whether it is already done. The cookiecutter hook runs it when
the project is created, and `make setup` runs it after installing the dependencies. The raw data and its
contract are where params.yaml's paths.raw and paths.schema say.

Usage: python -m {{ cookiecutter.package }}.bootstrap
"""

import subprocess
import sys
import tomllib
from pathlib import Path

from {{ cookiecutter.package }} import params

REMOTE_URL = "{{ cookiecutter.dvc_remote_url }}"  # empty: no DVC remote
REMOTE_NAME = "storage"


def run(*command: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(command, check=check, capture_output=True, text=True)


def dvc(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run DVC from this interpreter's environment, whatever is first on PATH."""
    return run(sys.executable, "-m", "dvc", *args, check=check)
{%- if not cookiecutter.data_path %}


def write_sample_data(path: Path) -> None:
    """The bundled sample: a table that ships inside scikit-learn, so no download is needed."""
    from sklearn import datasets
{% if cookiecutter.task == 'classification' %}
    # Breast cancer diagnosis: 569 tumours, the ten "mean" measurements, malignant or benign.
    bunch = datasets.load_breast_cancer(as_frame=True)
    table = bunch.data.filter(like="mean ").rename(columns=lambda name: name.replace(" ", "_"))
    table["diagnosis"] = bunch.target.map(dict(enumerate(bunch.target_names)))
{%- else %}
    # Diabetes progression: 442 patients, age, sex, BMI, blood pressure and six blood serum values.
    bunch = datasets.load_diabetes(as_frame=True, scaled=False)
    serum = {"s1": "tc", "s2": "ldl", "s3": "hdl", "s4": "tch", "s5": "ltg", "s6": "glu"}
    table = bunch.data.rename(columns=serum)
    table["progression"] = bunch.target
{%- endif %}
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False)
    print(f"bootstrap: wrote the sample data to {path}")
{%- endif %}


def git_identity() -> list[str]:
    """Commit as the project's author when git has no identity configured (a fresh machine or CI)."""
    if run("git", "config", "user.email", check=False).stdout.strip():
        return []
    with open("pyproject.toml", "rb") as file:
        author = tomllib.load(file)["project"]["authors"][0]
    return ["-c", f"user.name={author['name']}", "-c", f"user.email={author['email']}"]


def add_raw_data(raw_csv: Path) -> None:
    if Path(f"{raw_csv}.dvc").exists() and not raw_csv.exists():
        print(f"bootstrap: {raw_csv} is tracked by DVC but not here; fetch it with: dvc pull")
        return
    if not raw_csv.exists():
{%- if cookiecutter.data_path %}
        sys.exit(f"bootstrap: {raw_csv} is missing; copy your CSV there, then run this again")
{%- else %}
        write_sample_data(raw_csv)
{%- endif %}
    dvc("add", "--quiet", str(raw_csv))


def main() -> None:
    paths = params.load().paths
    if not Path(".git").exists():
        run("git", "init", "--quiet", "--initial-branch=main")
    if not Path(".dvc").exists():
        dvc("init", "--quiet")
        # `dvc plots show` and `dvc plots diff` draw into this page, which holds Vega itself: no CDN, no internet.
        dvc("config", "plots.html_template", "../plots_template.html")
    add_raw_data(paths.raw)
    if paths.raw.exists() and not paths.schema.exists():
        from {{ cookiecutter.package }} import contract

        contract.main([str(paths.raw), str(paths.schema)])
    if REMOTE_URL and not dvc("remote", "list").stdout.strip():
        dvc("remote", "add", "--default", REMOTE_NAME, REMOTE_URL)
        print(f"bootstrap: DVC remote '{REMOTE_NAME}' -> {REMOTE_URL}")
    if run("git", "rev-parse", "--verify", "--quiet", "HEAD", check=False).returncode == 0:
        return  # the repository has history: what changed is the owner's to commit
    run("git", "add", "--all")
    run("git", *git_identity(), "commit", "--quiet", "--no-verify", "-m", "Create the project from the template")
    print("bootstrap: first commit done; next: dvc repro")


if __name__ == "__main__":
    try:
        main()
    except subprocess.CalledProcessError as error:
        sys.exit(f"bootstrap: '{' '.join(error.cmd)}' failed:\n{error.stderr or error.stdout}")
    except params.ParamsError as error:
        sys.exit(f"bootstrap: {error}")  # it names the file and the key: a traceback would bury that
