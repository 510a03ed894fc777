"""Bad answers are refused before anything is written; unusual but valid ones bake."""

import filecmp

import pytest
from helpers import BIN, TEMPLATE, run, tool_env, write_messy_csv


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


BAD_ANSWERS = {
    "slug with spaces": (["project=my project!"], "project:"),
    "package starting with a digit": (["package=1model"], "package:"),
    "package that is a keyword": (["package=class"], "package:"),
    "package shadowing pandas": (["package=pandas"], "package: 'pandas' would shadow"),
    "python 3.10 (end of life)": (["python_version=3.10"], "python_version: 3.10 is not supported. Python 3.10 reached end of life"),
    "python 2.7": (["python_version=2.7"], "python_version: 2.7 is not supported"),
    "python 3.15 (unknown)": (["python_version=3.15"], "python_version: '3.15' is not one of"),
    "unknown task": (["task=clustering"], "task: 'clustering' is not one of classification, regression"),
    "unknown model": (["model=xgboost"], "model: 'xgboost' is not one of"),
    "unknown remote": (["dvc_remote=gcs"], "dvc_remote: 'gcs' is not one of"),
    "unknown ci": (["ci=jenkins"], "ci: 'jenkins' is not one of"),
    "unknown docker": (["docker=maybe"], "docker: 'maybe' is not one of"),
    "unknown license": (["license=GPL-3.0"], "license: 'GPL-3.0' is not one of"),
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
    result = cookiecutter_cli(tmp_path, "task=clustering", "license=GPL", "python_version=3.9")
    assert result.returncode != 0
    for option in ("task:", "license:", "python_version:"):
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
