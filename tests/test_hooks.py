"""Bad answers are refused before anything is written; valid ones bake, and the project keeps them."""

import filecmp
import json

import pytest
from helpers import BIN, DEFAULTS, TEMPLATE, bake, run, template_in_git, tool_env, write_messy_csv

CRUFT = BIN / "cruft"
CHOICES = {name: value for name, value in DEFAULTS.items() if isinstance(value, list)}
BAD_CHOICES = {
    "task": "clasification",
    "model": "xgboost",
    "engine": "dask",
    "dvc_remote": "gcs",
    "ci": "jenkins",
    "docker": "maybe",
    "license": "GPL-3.0",
}


def cookiecutter_cli(output_dir, *answers: str, cwd=None):
    return run(
        BIN / "cookiecutter",
        "--no-input",
        TEMPLATE,
        "--output-dir",
        output_dir,
        *answers,
        cwd=cwd or output_dir,
        check=False,
    )


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    write_messy_csv(folder / "customers.csv")
    (folder / "notes.txt").write_text("churned\nyes\n")
    (folder / "no_target.csv").write_text("age,plan\n30,basic\n")
    (folder / "only_target.csv").write_text("churned\nyes\nno\n")
    (folder / "My Data.csv").write_text("age,churned\n30,yes\n")
    return folder


@pytest.fixture(scope="module")
def template_repository(tmp_path_factory):
    """The template as committed files in a git repository: what cruft clones (it ignores a work tree)."""
    return template_in_git(tmp_path_factory.mktemp("template"), "Template")


def test_every_choice_option_has_a_bad_value_below():
    assert BAD_CHOICES.keys() == CHOICES.keys()
    assert [option for option, value in BAD_CHOICES.items() if value in CHOICES[option]] == []


def choice_refusal(option: str) -> str:
    """cookiecutter's own refusal, raised while it reads the answers: no hook has run, no file exists."""
    return f"{BAD_CHOICES[option]} provided for choice variable {option}, but the choices are {CHOICES[option]}."


@pytest.mark.parametrize("option", BAD_CHOICES)
def test_bad_choice_is_refused_by_cookiecutter_naming_the_choices_and_nothing_is_written(tmp_path, option):
    result = cookiecutter_cli(tmp_path, f"{option}={BAD_CHOICES[option]}")
    assert result.returncode != 0
    assert choice_refusal(option) in result.stderr, result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("option", ["task", "ci"])
def test_bad_choice_is_refused_by_cruft_create_and_nothing_is_written(tmp_path, template_repository, option):
    out = tmp_path / "out"
    context = json.dumps({option: BAD_CHOICES[option]})
    result = run(CRUFT, "create", "--no-input", "--extra-context", context, "--output-dir", out, template_repository,
                 cwd=tmp_path, check=False)  # fmt: skip
    assert result.returncode != 0
    # cruft prints the exception in a box that wraps long lines
    assert choice_refusal(option) in " ".join((result.stdout + result.stderr).replace("│", " ").split())
    assert not out.exists() or list(out.iterdir()) == []


BAD_ANSWERS = {
    "Python at end of life": (["python_version=3.10"], "python_version: 3.10 is not supported. Python 3.10 reached end of life in October 2026"),
    "Python not offered": (["python_version=3.15"], "python_version: '3.15' is not one of 3.12, 3.11, 3.13, 3.14."),
    "slug with spaces": (["project=my project!"], "project:"),
    "package starting with a digit": (["package=1model"], "package:"),
    "package that is a keyword": (["package=class"], "package:"),
    "package shadowing pandas": (["package=pandas"], "package: 'pandas' would shadow"),
    "email without @": (["author_email=nobody"], "author_email:"),
    "target not in the sample": (["target=price"], "target: the bundled classification sample predicts 'diagnosis'"),
    "missing CSV": (["data_path={data}/absent.csv", "target=churned"], "data_path:"),
    "not a CSV": (["data_path={data}/notes.txt", "target=churned"], "data_path: '{data}/notes.txt' is not a .csv"),
    "CSV without the target": (["data_path={data}/no_target.csv", "target=churned"], "target: column 'churned' is not in no_target.csv"),
    "CSV with only the target": (["data_path={data}/only_target.csv", "target=churned"], "data_path: only_target.csv has no column"),
    "CSV name with a space": (["data_path={data}/My Data.csv", "target=churned"], "data_path: the file name 'My Data.csv'"),
    "s3 remote without s3 URL": (["dvc_remote=s3", "dvc_remote_url=http://bucket"], "dvc_remote_url: 'http://bucket' is not an S3 URL"),
    "s3 bucket name too short": (["dvc_remote=s3", "dvc_remote_url=s3://b/x"], "dvc_remote_url:"),
    "local remote with an S3 URL": (["dvc_remote=local", "dvc_remote_url=s3://bucket/x"], "dvc_remote_url:"),
    "local remote inside the project": (["dvc_remote_url=storage"], "dvc_remote_url: 'storage' is inside the project"),
    "URL while remote is none": (["dvc_remote=none", "dvc_remote_url=/srv/dvc"], "dvc_remote_url: '/srv/dvc' is set but dvc_remote is none"),
    "credentials in the remote URL": (["dvc_remote=s3", "dvc_remote_url=s3://AKIAKEY:secret@bucket/x"], "dvc_remote_url: holds a user and password"),
    "MLflow file store": (["mlflow_tracking_uri=./mlruns"], "mlflow_tracking_uri: './mlruns' is not a tracking server"),
    "Spark model served": (["engine=spark"], "docker: engine=spark takes docker=no: a served Spark model needs ~1 GB"),
    "credentials in the tracking URI": (["mlflow_tracking_uri=https://me:pw@mlflow.example.com"], "mlflow_tracking_uri: holds a user and password"),
}  # fmt: skip


@pytest.mark.parametrize("answers,message", BAD_ANSWERS.values(), ids=BAD_ANSWERS.keys())
def test_bad_answer_is_refused_naming_the_option_and_nothing_is_left(tmp_path, data_dir, answers, message):
    answers = [answer.format(data=data_dir) for answer in answers]
    result = cookiecutter_cli(tmp_path, *answers)
    assert result.returncode != 0
    assert message.format(data=data_dir) in result.stderr, result.stderr
    assert list(tmp_path.iterdir()) == []


def test_every_problem_is_reported_at_once(tmp_path):
    result = cookiecutter_cli(tmp_path, "project=my project!", "author_email=nobody", "mlflow_tracking_uri=./mlruns")
    assert result.returncode != 0
    for option in ("project:", "author_email:", "mlflow_tracking_uri:"):
        assert option in result.stderr


def test_relative_data_path_is_relative_to_where_cookiecutter_runs(tmp_path, data_dir):
    # A shell sets PWD to its directory, as when a user types the command.
    result = run(
        "bash", "-c", f'cd "{data_dir}" && "{BIN}/cookiecutter" --no-input "{TEMPLATE}" -o "{tmp_path}" '
        "data_path=customers.csv target=churned dvc_remote=none",
        cwd=tmp_path,
    )  # fmt: skip
    assert "first commit done" in result.stdout
    copied = tmp_path / "my-ml-project" / "data" / "raw" / "customers.csv"
    assert filecmp.cmp(copied, data_dir / "customers.csv", shallow=False)


def test_first_commit_works_without_a_git_identity_and_leaves_global_config_alone(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = tool_env(HOME=str(home), GIT_CONFIG_NOSYSTEM="1")
    for variable in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        env.pop(variable)
    answers = ["author_name=Zoë Analyst", "author_email=zoe@example.org", "dvc_remote=none"]
    run(BIN / "cookiecutter", "--no-input", TEMPLATE, "-o", tmp_path / "out", *answers, cwd=tmp_path, env=env)
    project = tmp_path / "out" / "my-ml-project"
    author = run("git", "log", "-1", "--format=%an <%ae>", cwd=project, env=env).stdout.strip()
    assert author == "Zoë Analyst <zoe@example.org>"
    assert not (home / ".gitconfig").exists() and not (home / ".config" / "git").exists()
    assert run("git", "config", "--local", "--get", "user.email", cwd=project, env=env, check=False).stdout == ""


def test_kept_answers_link_a_cookiecutter_project_to_cruft_without_retyping(tmp_path, template_repository):
    """A project made with plain cookiecutter gets cruft's updates after one `cruft link` that reads its
    .cookiecutter.json: .cruft.json then holds exactly the answers it was made with."""
    answers = {"project_name": "Churn Model", "python_version": "3.11", "task": "regression", "model": "linear",
               "ci": "gitlab", "docker": "no", "dvc_remote": "none", "license": "Apache-2.0"}  # fmt: skip
    project = bake(tmp_path / "out", **answers)
    kept = (project / ".cookiecutter.json").read_text()
    assert {key: json.loads(kept)[key] for key in answers} == answers

    made_from = run("git", "rev-parse", "HEAD", cwd=template_repository).stdout.strip()
    run(CRUFT, "link", "--no-input", "--checkout", made_from, "--extra-context", kept, template_repository, cwd=project)
    state = json.loads((project / ".cruft.json").read_text())
    assert state["commit"] == made_from
    context = state["context"]["cookiecutter"]
    assert {key: value for key, value in context.items() if not key.startswith("_")} == json.loads(kept)
    # The linked answers render the files the project has: nothing to update, nothing differs.
    assert run(CRUFT, "diff", "--exit-code", cwd=project).stdout == ""
