"""report.py: the regression gate, the markdown and the plots drawn in it (charts.py); comment.py: the
comment on a local stand-in for the GitHub and GitLab comment APIs (tests/comment_api.py): create, update
in place, no token, fork, API errors, and the cut to the comment limit."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from comment_api import CommentAPI

from {{ cookiecutter.package }} import charts, comment, params, report

PROJECT_ROOT = Path(__file__).resolve().parents[1]
EVALUATE = params.load(PROJECT_ROOT / "params.yaml").evaluate
PATHS = params.load(PROJECT_ROOT / "params.yaml").paths
MODEL_INFO, PLOTS = PATHS.model_info, PATHS.plots  # relative: the tests run in a directory of their own
PRIMARY, MARGIN = EVALUATE.primary_metric, EVALUATE.max_regression
TOKEN = "t0k3n-only-for-these-tests"
WHERE = {"github": ("acme/churn", 7), "gitlab": ("42", 7)}  # repository / project id, pull / merge request
PLATFORMS = ["github", "gitlab"]


def metrics_diff(old, new, name: str = PRIMARY) -> dict:
    """`dvc metrics diff --json --all` as DVC writes it (None: no value on that side)."""
    return {"metrics/metrics.json": {name: {"old": old, "new": new}, "other": {"old": 0.5, "new": 0.5}}}


# --- the gate and the markdown -------------------------------------------------------------------


def test_gate_fails_on_a_drop_larger_than_the_margin_and_names_metric_values_and_margin():
    passed, why = report.gate(metrics_diff(0.9, 0.8), PRIMARY, 0.01, "main")
    assert not passed
    for part in (f"`{PRIMARY}` dropped by 0.1", "0.9 on `main`", "0.8 on this branch", "0.01", "max_regression"):
        assert part in why


def test_gate_passes_a_drop_within_the_margin_and_a_drop_of_exactly_the_margin():
    assert report.gate(metrics_diff(0.98, 0.975), PRIMARY, 0.01, "main")[0]
    assert report.gate(metrics_diff(0.98, 0.97), PRIMARY, 0.01, "main")[0]  # 0.98 - 0.97 > 0.01 in floats
    assert not report.gate(metrics_diff(0.98, 0.9699), PRIMARY, 0.01, "main")[0]
    assert report.gate(metrics_diff(0.5, 0.9), PRIMARY, 0.0, "main")[0]


def test_gate_passes_when_the_base_branch_has_no_metrics_yet_and_says_so():
    passed, why = report.gate(metrics_diff(None, 0.9), PRIMARY, MARGIN, "main")
    assert passed
    assert f"`main` has no `{PRIMARY}` yet" in why


def test_gate_fails_when_this_branch_has_no_primary_metric_and_says_so():
    passed, why = report.gate({"metrics/metrics.json": {"other": {"old": 1.0, "new": 1.0}}}, PRIMARY, MARGIN, "main")
    assert not passed
    assert f"no value for the primary metric `{PRIMARY}`" in why


def test_a_metric_missing_on_one_side_is_shown_as_missing():
    table = report.metrics_table(
        {"metrics/metrics.json": {PRIMARY: {"old": 0.9, "new": 0.91}, "added": {"old": None, "new": 0.5}}},
        PRIMARY,
        "main",
    )
    assert "| metrics/metrics.json | added | missing | 0.5 | - |" in table
    assert f"| metrics/metrics.json | **{PRIMARY}** (primary) | 0.9 | 0.91 | +0.01 |" in table


def test_markdown_has_marker_verdict_model_version_and_plots_link(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / MODEL_INFO).parent.mkdir(parents=True)
    (tmp_path / MODEL_INFO).write_text(
        json.dumps({"model_name": "churn", "model_version": "3", "run_id": "abc123", "git_commit": "f" * 40})
    )
    env = {"GITHUB_SERVER_URL": "https://ghe.example.com", "GITHUB_REPOSITORY": "acme/churn", "GITHUB_RUN_ID": "99"}
    markdown = report.build_markdown(metrics_diff(0.9, 0.8), "", False, "it dropped.", PRIMARY, "main", env, MODEL_INFO)
    assert markdown.startswith(comment.MARKER)
    assert "**Gate FAILED:** it dropped." in markdown
    assert "`churn` version 3 (MLflow run `abc123`" in markdown
    assert "(https://ghe.example.com/acme/churn/actions/runs/99)" in markdown
    assert "No params differ from `main`." in markdown
    env = {"CI_JOB_URL": "https://gitlab.example.com/acme/churn/-/jobs/5"}
    gitlab = report.build_markdown(metrics_diff(0.9, 0.8), "", False, "x", PRIMARY, "main", env, MODEL_INFO)
    assert "(https://gitlab.example.com/acme/churn/-/jobs/5/artifacts/browse)" in gitlab


def test_markdown_without_model_info_says_the_model_is_unknown(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    markdown = report.build_markdown(metrics_diff(0.9, 0.9), "", True, "ok.", PRIMARY, "main", {}, MODEL_INFO)
    assert f"**Model:** unknown ({MODEL_INFO} not found" in markdown
    assert "`dvc plots diff main` renders them locally" in markdown


def test_a_long_report_is_cut_below_githubs_comment_limit_keeping_the_verdict(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rows = [f"| params.yaml | train.hyperparams.p{index} | {index} | {index + 1} |" for index in range(5000)]
    params_md = "\n".join(["| Path | Param | main | workspace |", "|---|---|---|---|", *rows])
    markdown = report.build_markdown(metrics_diff(0.9, 0.95), params_md, True, "ok.", PRIMARY, "main", {}, MODEL_INFO)
    assert len(markdown) > 65_536
    cut = comment.truncate(markdown, PATHS.report)
    assert len(cut) <= 65_536
    assert cut.startswith(comment.MARKER) and "**Gate passed:** ok." in cut
    assert f"more lines are in the job log and {PATHS.report.as_posix()}" in cut
    assert comment.truncate("short", PATHS.report) == "short"


# --- the plots in the comment (charts.py) --------------------------------------------------------

ROC_BASE = "fpr,tpr\n0.0,0.0\n0.0,0.8\n0.1,0.9\n1.0,1.0\n"
ROC_HEAD = "fpr,tpr\n0.0,0.0\n0.2,0.7\n0.5,0.9\n1.0,1.0\n"


def mermaid_blocks(lines: list[str]) -> list[list[str]]:
    """The lines inside each ```mermaid fence."""
    text = "\n".join(lines)
    return [block.split("\n") for block in re.findall(r"```mermaid\n(.*?)\n```", text, flags=re.DOTALL)]


def series(block: list[str]) -> list[list[float]]:
    return [json.loads(line.strip()[len("line ") :]) for line in block if line.strip().startswith("line [")]


def test_roc_chart_draws_chance_base_and_this_branch_read_at_the_same_false_positive_rates():
    lines = charts.roc_chart(charts.read_rows(ROC_BASE), charts.read_rows(ROC_HEAD), "main", PLOTS / "roc.csv")
    (block,) = mermaid_blocks(lines)
    assert "xychart-beta" in block and '      plotColorPalette: "#9e9e9e, #1f77b4, #ff7f0e"' in block
    chance, base, head = series(block)
    assert chance == charts.ROC_GRID and len(base) == len(head) == len(charts.ROC_GRID)
    assert base[charts.ROC_GRID.index(0.1)] == 0.9 and head[charts.ROC_GRID.index(0.1)] == 0.0  # best TPR by then
    assert base[-1] == head[-1] == 1.0
    assert "_Lines: grey: chance, blue: `main`, orange: this branch._" in lines


def test_a_chart_without_base_data_draws_this_branch_in_its_own_colour_and_says_so():
    lines = charts.roc_chart(None, charts.read_rows(ROC_HEAD), "main", PLOTS / "roc.csv")
    (block,) = mermaid_blocks(lines)
    assert len(series(block)) == 2 and '      plotColorPalette: "#9e9e9e, #ff7f0e"' in block
    assert any("`main` has no data for this plot yet" in line for line in lines)


def test_confusion_table_counts_this_branch_and_the_change_against_base():
    base = "actual,predicted\nyes,yes\nyes,no\nno,no\n"
    head = "actual,predicted\nyes,yes\nyes,yes\nno,no\n"
    lines = charts.confusion_table(charts.read_rows(base), charts.read_rows(head), "main", PLOTS / "confusion.csv")
    assert "| `no` | 1 | 0 |" in lines
    assert "| `yes` | 0 (-1) | 2 (+1) |" in lines


def test_importance_table_ranks_the_top_columns_with_their_change_against_base():
    head = "feature,importance,std\n" + "".join(f"c{index},{index / 100},0.0\n" for index in range(12))
    base = "feature,importance,std\nc11,0.2,0.0\n"
    lines = charts.importance_table(charts.read_rows(base), charts.read_rows(head), "main", PLOTS / "importance.csv")
    assert lines[lines.index("| ---: | --- | ---: | ---: | ---: |") + 1] == "| 1 | `c11` | 0.2000 | 0.1100 | -0.0900 |"
    assert "| 2 | `c10` | - | 0.1000 | - |" in lines
    assert f"_2 more columns in {(PLOTS / 'importance.csv').as_posix()}._" in lines


def test_regression_charts_draw_predictions_by_tenth_and_the_share_of_rows_per_residual_bin():
    rows = "actual,predicted\n" + "".join(f"{index},{index + 1}\n" for index in range(100))
    drawn = charts.predictions_chart(charts.read_rows(rows), charts.read_rows(rows), "main", PLOTS / "predictions.csv")
    (block,) = mermaid_blocks(drawn)
    actual, base, head = series(block)
    assert actual[0] == 4.5 and head[0] == base[0] == 5.5 and len(head) == charts.DECILES
    residuals = "predicted,residual\n" + "".join(f"0,{value}\n" for value in (-3, -1, 1, 1, 2, 3))
    drawn = charts.residuals_chart(None, charts.read_rows(residuals), "main", PLOTS / "residuals.csv")
    (block,) = mermaid_blocks(drawn)
    (shares,) = series(block)
    assert len(shares) == charts.RESIDUAL_BINS and abs(sum(shares) - 100) < 0.1


def test_a_plot_file_that_cannot_be_read_is_named_in_the_section_instead_of_stopping_the_report():
    lines = charts.plots_section({"roc.csv": (None, "fpr,wrong\n0,1\n")}, "main", PLOTS)
    assert any(line.startswith(f"_{(PLOTS / 'roc.csv').as_posix()} could not be drawn (KeyError") for line in lines)


def test_plots_come_before_the_params_table_which_can_be_long(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plots = charts.plots_section({"roc.csv": (ROC_BASE, ROC_HEAD)}, "main", PLOTS)
    markdown = report.build_markdown(metrics_diff(0.9, 0.9), "", True, "ok.", PRIMARY, "main", {}, MODEL_INFO, plots)
    assert markdown.index("### Metrics") < markdown.index("#### ROC curve") < markdown.index("### Params")


def test_a_cut_report_keeps_each_chart_whole_or_leaves_it_out_and_says_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    chart = charts.roc_chart(charts.read_rows(ROC_BASE), charts.read_rows(ROC_HEAD), "main", PLOTS / "roc.csv")
    markdown = "\n".join([comment.MARKER, "**Gate passed:** ok.", *chart, *chart])
    limit = len(markdown) - 100  # room for the first chart, not the second
    cut = comment.truncate(markdown, PATHS.report, limit=limit)
    assert len(cut) <= limit and cut.count("```mermaid") == 1 and cut.count("```") == 2
    assert "among them 1 chart, left out whole" in cut
    cut = comment.truncate(markdown, PATHS.report, limit=len(markdown) // 3)
    assert "```" not in cut and "among them 2 charts, left out whole" in cut


# --- posting to the stand-in APIs -------------------------------------------------------------


@pytest.fixture
def api():
    with CommentAPI(token=TOKEN, per_page=2) as server:
        yield server


def ci_env(platform: str, api: CommentAPI, tmp_path: Path, **changes) -> dict:
    """The variables a GitHub Actions pull_request run / a GitLab merge request pipeline has; None removes one."""
    repo, number = WHERE[platform]
    if platform == "github":
        pull = {"number": number, "head": {"repo": {"full_name": repo}}, "base": {"repo": {"full_name": repo}}}
        event = tmp_path / "event.json"
        event.write_text(json.dumps({"pull_request": pull}))
        env = {"GITHUB_ACTIONS": "true", "GITHUB_API_URL": api.url, "GITHUB_REPOSITORY": repo,
               "GITHUB_EVENT_PATH": str(event), "GITHUB_TOKEN": TOKEN}  # fmt: skip
    else:
        env = {"GITLAB_CI": "true", "CI_API_V4_URL": f"{api.url}/api/v4", "CI_PROJECT_ID": repo,
               "CI_MERGE_REQUEST_PROJECT_ID": repo, "CI_MERGE_REQUEST_SOURCE_PROJECT_ID": repo,
               "CI_MERGE_REQUEST_IID": str(number), "GITLAB_REPORT_TOKEN": TOKEN}  # fmt: skip
    env.update(changes)
    return {name: value for name, value in env.items() if value is not None}


def comments(api: CommentAPI, platform: str) -> list[dict]:
    return api.thread(platform, *WHERE[platform])


def own(api: CommentAPI, platform: str) -> list[dict]:
    return [note for note in comments(api, platform) if comment.MARKER in note["body"]]


def others_comment(api: CommentAPI, platform: str, count: int) -> None:
    for index in range(count):
        api.add(platform, *WHERE[platform], f"Looks good ({index})")


@pytest.mark.parametrize("platform", PLATFORMS)
def test_first_run_creates_one_comment_after_reading_every_page(platform, api, tmp_path):
    others_comment(api, platform, 3)  # two pages of two
    line = comment.publish(f"{comment.MARKER}\nfirst", ci_env(platform, api, tmp_path))
    assert line.startswith("report: created comment")
    assert [note["body"] for note in own(api, platform)] == [f"{comment.MARKER}\nfirst"]
    assert [method for method, _ in api.requests] == ["GET", "GET", "POST"]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_second_run_updates_its_comment_in_place(platform, api, tmp_path):
    if platform == "gitlab":
        api.add("gitlab", *WHERE["gitlab"], "added 1 commit", author="system")
    others_comment(api, platform, 3)
    comment.publish(f"{comment.MARKER}\nfirst", ci_env(platform, api, tmp_path))
    others_comment(api, platform, 2)  # the report's comment is on neither the first nor the last page
    (first,) = own(api, platform)
    line = comment.publish(f"{comment.MARKER}\nsecond", ci_env(platform, api, tmp_path))
    assert line.startswith(f"report: updated comment {first['id']} in place")
    assert [note["body"] for note in own(api, platform)] == [f"{comment.MARKER}\nsecond"]
    assert len(comments(api, platform)) == (7 if platform == "gitlab" else 6)
    methods = [method for method, _ in api.requests]
    assert methods.count("POST") == 1 and methods.count("PATCH" if platform == "github" else "PUT") == 1


@pytest.mark.parametrize("platform", PLATFORMS)
def test_without_a_token_nothing_is_posted_and_one_line_says_where_the_report_is(platform, api, tmp_path):
    token = "GITHUB_TOKEN" if platform == "github" else "GITLAB_REPORT_TOKEN"
    line = comment.publish(f"{comment.MARKER}\nx", ci_env(platform, api, tmp_path, **{token: None}))
    assert api.requests == []
    assert f"no {token}" in line
    assert ("job summary" if platform == "github" else "this job's log") in line


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_fork_gets_no_comment_even_with_a_token(platform, api, tmp_path):
    env = ci_env(platform, api, tmp_path)
    if platform == "github":
        pull = {"number": 7, "head": {"repo": {"full_name": "someone/churn"}}}
        Path(env["GITHUB_EVENT_PATH"]).write_text(json.dumps({"pull_request": pull}))
    else:  # the pipeline runs in the fork's project
        env.update(CI_PROJECT_ID="99", CI_MERGE_REQUEST_SOURCE_PROJECT_ID="99")
    line = comment.publish(f"{comment.MARKER}\nx", env)
    assert api.requests == []
    assert "comes from a fork" in line and TOKEN not in line


@pytest.mark.parametrize("platform", PLATFORMS)
def test_outside_a_pull_or_merge_request_nothing_is_posted(platform, api, tmp_path):
    env = ci_env(platform, api, tmp_path, CI_MERGE_REQUEST_IID=None)
    if platform == "github":
        Path(env["GITHUB_EVENT_PATH"]).write_text(json.dumps({"ref": "refs/heads/main"}))  # a push event
    line = comment.publish(f"{comment.MARKER}\nx", env)
    assert api.requests == []
    assert "not a pull request event" in line or "not a merge request pipeline" in line


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("status", [500, 401])
def test_an_api_error_is_reported_in_one_line_without_the_token(platform, status, api, tmp_path):
    api.fail_with = status
    line = comment.publish(f"{comment.MARKER}\nx", ci_env(platform, api, tmp_path))
    assert line.startswith("report: could not")
    assert f"answered {status}" in line
    assert TOKEN not in line
    assert comments(api, platform) == []


@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_token_goes_in_the_platforms_auth_header(platform, api, tmp_path):
    token = "GITHUB_TOKEN" if platform == "github" else "GITLAB_REPORT_TOKEN"
    line = comment.publish(f"{comment.MARKER}\nx", ci_env(platform, api, tmp_path, **{token: "wrong-token"}))
    assert "answered 401" in line and "wrong-token" not in line
    assert comments(api, platform) == []


# --- the command, in a small git + DVC repository ---------------------------------------------


def git(*args: str, cwd: Path) -> None:
    identity = ["-c", "user.name=Report Tests", "-c", "user.email=tests@example.com"]
    subprocess.run(["git", *identity, *args], cwd=cwd, check=True, capture_output=True)


def write_metrics(root: Path, value: float | None) -> None:
    values = {"other": 0.5} if value is None else {PRIMARY: value, "other": 0.5}
    (root / "metrics").mkdir(exist_ok=True)
    (root / "metrics" / "metrics.json").write_text(json.dumps(values))


def make_repo(root: Path, base_value: float | None) -> Path:
    """This project's params.yaml and a metrics file (declared in dvc.yaml) committed on main; then branch `change`."""
    root.mkdir()
    shutil.copy(PROJECT_ROOT / "params.yaml", root)
    (root / "dvc.yaml").write_text("metrics:\n  - metrics/metrics.json\n")
    git("init", "--quiet", "--initial-branch=main", cwd=root)
    subprocess.run([sys.executable, "-m", "dvc", "init", "--quiet"], cwd=root, check=True, capture_output=True)
    if base_value is not None:
        write_metrics(root, base_value)
    git("add", "--all", cwd=root)
    git("commit", "--quiet", "-m", "base", cwd=root)
    git("checkout", "--quiet", "-b", "change", cwd=root)
    return root


@pytest.fixture(scope="module")
def base_repo(tmp_path_factory) -> Path:
    return make_repo(tmp_path_factory.mktemp("report") / "repo", base_value=0.9)


@pytest.fixture
def repo(base_repo, tmp_path, monkeypatch) -> Path:
    """A fresh copy of base_repo, as the working directory."""
    root = tmp_path / "repo"
    shutil.copytree(base_repo, root, symlinks=True)
    monkeypatch.chdir(root)
    return root


def test_command_fails_the_gate_writes_the_report_and_updates_one_comment(repo, api, tmp_path, capsys):
    write_metrics(repo, 0.9 - MARGIN - 0.05)
    summary = tmp_path / "summary.md"
    env = ci_env("github", api, tmp_path, GITHUB_STEP_SUMMARY=str(summary))
    assert report.main(["main"], env) == 1
    output = capsys.readouterr().out
    assert f"report: gate FAILED: `{PRIMARY}` dropped by" in output
    assert "report: created comment" in output
    assert "**Gate FAILED:**" in (repo / "reports" / "report.md").read_text()
    assert summary.read_text().startswith(comment.MARKER)

    write_metrics(repo, 0.9)
    assert report.main(["main"], env) == 0
    assert "report: updated comment" in capsys.readouterr().out
    assert [note["body"].count("**Gate passed:**") for note in own(api, "github")] == [1]


@pytest.mark.parametrize("value, status", [(0.9, 0), (0.5, 1)])
def test_command_exit_status_is_the_gates_even_when_the_api_fails(repo, api, tmp_path, capsys, value, status):
    api.fail_with = 500
    write_metrics(repo, value)
    assert report.main(["main"], ci_env("gitlab", api, tmp_path)) == status
    output = capsys.readouterr().out
    assert "report: could not add a note to merge request !7" in output and TOKEN not in output


def test_command_passes_the_first_change_when_the_base_has_no_metrics(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(make_repo(tmp_path / "repo", base_value=None))
    write_metrics(Path.cwd(), 0.7)
    assert report.main(["main"], {}) == 0
    assert f"`main` has no `{PRIMARY}` yet" in capsys.readouterr().out


def test_command_with_an_unknown_base_ref_stops_with_a_clear_error(repo, capsys):
    assert report.main(["no-such-branch"], {}) == 2
    error = capsys.readouterr().err
    assert "unknown git ref 'no-such-branch'" in error and "fetch-depth: 0" in error


def test_command_finds_the_base_branch_as_origin_ref(repo, capsys):
    git("update-ref", "refs/remotes/origin/trunk", "main", cwd=repo)  # what a CI checkout has
    write_metrics(repo, 0.9)
    assert report.main(["trunk"], {}) == 0
    assert "this branch vs `origin/trunk`" in capsys.readouterr().out


def test_command_without_a_base_ref_prints_its_usage(capsys):
    assert report.main([], {}) == 2
    assert "Usage: python -m {{ cookiecutter.package }}.report BASE_REF" in capsys.readouterr().err


def test_command_applies_the_base_branchs_margin_so_a_change_cannot_loosen_its_own_gate(repo, capsys):
    text = (repo / "params.yaml").read_text()
    (repo / "params.yaml").write_text(text.replace(f"max_regression: {MARGIN}", "max_regression: 0.5"))
    write_metrics(repo, 0.9 - MARGIN - 0.05)
    assert report.main(["main"], {}) == 1
    assert "The margin is `main`'s; this branch's 0.5 applies once it is merged." in capsys.readouterr().out


def test_command_draws_this_branchs_plots_against_those_committed_on_the_base_branch(repo, capsys):
    git("checkout", "--quiet", "main", cwd=repo)
    (repo / "plots").mkdir()
    (repo / "plots" / "roc.csv").write_text(ROC_BASE)
    git("add", "plots", cwd=repo)
    git("commit", "--quiet", "-m", "plots", cwd=repo)
    git("checkout", "--quiet", "-B", "change", cwd=repo)
    (repo / "plots" / "roc.csv").write_text(ROC_HEAD)  # what `dvc repro` wrote on this branch
    write_metrics(repo, 0.9)
    assert report.main(["main"], {}) == 0
    (block,) = mermaid_blocks((repo / "reports" / "report.md").read_text().splitlines())
    _, base, head = series(block)
    assert base == charts.roc_at(charts.read_rows(ROC_BASE), charts.ROC_GRID)
    assert head == charts.roc_at(charts.read_rows(ROC_HEAD), charts.ROC_GRID)
