"""The template's docs site: it builds with `mkdocs build --strict` and its link validation catches every
kind of broken link; its "In a baked project" pages are the baked project's own docs/ (one file per page),
template-owned, and their links work in every bake; the options table is what cookiecutter.json says, in
the docs and in the README; every image the docs show exists; troubleshooting (the bake's page for the
project's messages, the site's for the hook's) lists every error message printed on purpose; and the
workflow that publishes the site passes the linters the generated CI passes."""

import ast
import json
import re
import shutil
import tomllib
from pathlib import Path

import pytest
import yaml
from cookiecutter.main import cookiecutter
from helpers import BIN, TEMPLATE, run, tool_env

DOCS = TEMPLATE / "docs"
PROJECT_DOCS = TEMPLATE / "{{cookiecutter.project}}" / "docs"
PAGES_WORKFLOW = TEMPLATE / ".github" / "workflows" / "docs.yml"
MKDOCS_ENV = tool_env(NO_MKDOCS_2_WARNING="1")  # Material's end-of-life banner; it never fails the build
# The messages are found in the source: sys.exit(...), raise ...Error(...), print(..., file=sys.stderr),
# what validate's checks return, and what the pre-generation hook yields. A message's longest literal
# part must be on the troubleshooting page; parts shorter than this are too generic to look for.
SHORTEST_FRAGMENT = 10
# Modules whose returned (or yielded) text is a message: bad answers (the hook's checks), contract problems
# (validate, and contract.py's sentences that both engines' validate say).
SENTENCES = ("pre_gen_project.py", "validate.py", "contract.py")


def mkdocs_build(config, site_dir):
    return run(BIN / "mkdocs", "build", "--strict", "--config-file", config, "--site-dir", site_dir,
               cwd=config.parent, check=False, env=MKDOCS_ENV)  # fmt: skip


def test_site_builds_with_strict_link_validation(tmp_path):
    result = mkdocs_build(TEMPLATE / "mkdocs.yml", tmp_path / "site")
    assert result.returncode == 0, result.stdout + result.stderr
    pages = list((tmp_path / "site").rglob("index.html"))
    assert len(pages) >= 10  # every page of the nav, and the 404 page's folder-less index
    html = "".join(page.read_text() for page in pages)
    assert "fonts.googleapis.com" not in html  # theme.font: false, so the site reads offline
    project_pages = "".join(page.read_text() for page in (tmp_path / "site" / "project").rglob("index.html"))
    # rendered as baked: no Jinja left (the pages may name the project's `.cookiecutter.json`)
    assert "my_ml_project.stages" in project_pages and re.search(r"\{[{%].*cookiecutter\.", project_pages) is None


def test_strict_build_fails_on_a_missing_page_a_missing_anchor_an_absolute_link_and_a_page_not_in_nav(tmp_path):
    """The validation block of mkdocs.yml at work: each of these passes a default strict build."""
    shutil.copytree(DOCS, tmp_path / "docs")  # docs/project, a symlink, becomes a copy of the project's pages
    shutil.copytree(PROJECT_DOCS, tmp_path / "{{cookiecutter.project}}" / "docs")  # mkdocs.yml watches it
    for path in ("mkdocs.yml", "cookiecutter.json", "scripts/project_docs.py"):  # the hook renders from the answers
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(TEMPLATE / path, tmp_path / path)
    with open(tmp_path / "docs" / "index.md", "a") as page:
        page.write("\n[a](no-such-page.md) [b](design.md#no-such-anchor) [c](/docs/design.md)\n")
    (tmp_path / "docs" / "orphan.md").write_text("# Not in the nav\n")
    result = mkdocs_build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert result.returncode == 1
    for problem in ("no-such-page.md", "no-such-anchor", "/docs/design.md", "orphan.md"):
        assert problem in result.stderr, problem


def test_the_site_shows_the_baked_projects_own_pages_which_updates_refresh(rendered):
    """One file per page: docs/project is the project's docs/, every page of it is in the nav, and no page
    is in the cruft skip list (so `cruft update` brings their fixes)."""
    assert (DOCS / "project").is_symlink() and (DOCS / "project").resolve() == PROJECT_DOCS.resolve()
    # a page only some bakes have renders its name empty in the others: {% if ... %}spark.md{% endif %}
    pages = sorted(re.sub(r"\{%.*?%\}", "", path.name) for path in PROJECT_DOCS.iterdir())
    assert len(pages) >= 8 and not [page for page in pages if not page.endswith(".md")]
    nav = re.findall(r"^\s+- [^:]+: project/(\S+)$", (TEMPLATE / "mkdocs.yml").read_text(), flags=re.MULTILINE)
    assert sorted(nav) == pages
    pyproject = tomllib.loads((rendered[0] / "pyproject.toml").read_text())
    skipped = pyproject["tool"]["cruft"]["skip"]
    assert "README.md" in skipped  # the team's
    assert not [entry for entry in skipped if entry.split("/")[0] == "docs" or "*" in entry], skipped


def slug(heading: str) -> str:
    """The anchor mkdocs (and GitHub, for these headings) gives a heading."""
    text = re.sub(r"[^\w\s-]", "", heading.replace("`", "")).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def anchors(page: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.MULTILINE | re.DOTALL)  # no comments of code
    return {slug(heading) for heading in re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE)}


def test_baked_readme_and_pages_link_only_to_pages_and_headings_the_bake_has(rendered):
    """GitHub and GitLab show the bake's docs/ as they are: every link between them must resolve in each
    bake, whatever its options left out; the README links to every page."""
    for project in rendered:
        sources = [project / "README.md", *sorted((project / "docs").glob("*.md"))]
        for source in sources:
            for target in re.findall(r"\]\(([^)\s]+)\)", source.read_text()):
                if re.match(r"[a-z]+:", target):
                    continue  # a web address
                path, _, anchor = target.partition("#")
                page = (source.parent / path).resolve() if path else source
                assert page.is_file(), f"{project.name}/{source.name} links to {target}: no such file"
                assert not anchor or anchor in anchors(page), f"{project.name}/{source.name}: no heading for {target}"
        linked = set(re.findall(r"\]\(docs/([\w-]+\.md)", (project / "README.md").read_text()))
        assert linked | {"serving.md"} == {path.name for path in (project / "docs").glob("*.md")}


def test_options_table_in_docs_and_readme_is_generated_from_cookiecutter_json():
    result = run(BIN / "python", TEMPLATE / "scripts" / "options_table.py", "--check", cwd=TEMPLATE, check=False)
    assert result.returncode == 0, result.stderr
    declared = json.loads((TEMPLATE / "cookiecutter.json").read_text())
    for page in (DOCS / "options.md", TEMPLATE / "README.md"):
        rows = re.findall(r"^\| `(\w+)` \|", page.read_text(), flags=re.MULTILINE)
        assert rows == [key for key in declared if not key.startswith("_")], page


def test_options_table_check_fails_when_a_file_disagrees_with_cookiecutter_json(tmp_path):
    for path in ("scripts/options_table.py", "cookiecutter.json", "README.md", "docs/options.md"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(TEMPLATE / path, tmp_path / path)
    declared = json.loads((tmp_path / "cookiecutter.json").read_text())
    declared["_help"]["task"] = "Something else now."
    (tmp_path / "cookiecutter.json").write_text(json.dumps(declared))
    result = run(BIN / "python", tmp_path / "scripts" / "options_table.py", "--check", cwd=tmp_path, check=False)
    assert result.returncode == 1
    assert "docs/options.md: options table is not up to date" in result.stderr
    assert "README.md: options table is not up to date" in result.stderr


def referenced_images() -> list[tuple[str, str]]:
    """(page, image path) of every Markdown image and <img> in the docs."""
    found = []
    for page in DOCS.rglob("*.md"):
        text = page.read_text()
        for target in re.findall(r"!\[[^\]]*\]\(([^)\s]+)", text) + re.findall(r'<img [^>]*src="([^"]+)"', text):
            found.append((str(page.relative_to(DOCS)), target))
    return found


def test_every_image_the_docs_show_exists_and_is_a_real_screenshot():
    images = referenced_images()
    assert {target.rsplit("/", 1)[-1] for _, target in images} >= {"plots.png", "report-comment.png", "mlflow-run.png"}
    for page, target in images:
        image = (DOCS / page).parent / target
        assert image.is_file(), f"{page} shows {target}, which does not exist (make screenshots)"
        assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and image.stat().st_size > 20_000, target


def messages(path) -> list[tuple[int, str]]:
    """(line, longest literal part) of each message the module prints on purpose when something is wrong."""
    tree = ast.parse(path.read_text())
    texts = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args:
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            to_stderr = name == "print" and any(
                keyword.arg == "file" and ast.unparse(keyword.value) == "sys.stderr" for keyword in node.keywords
            )
            if name == "exit" or name.endswith("Error") or to_stderr:
                texts.append(node.args[0])
        if isinstance(node, ast.Yield | ast.Return) and path.name in SENTENCES:
            value = node.value
            texts += (
                value.elts if isinstance(value, ast.List) else [value.elt if isinstance(value, ast.ListComp) else value]
            )
    found = []
    for text in texts:
        parts = [text] if isinstance(text, ast.Constant) else getattr(text, "values", [])
        literal = [" ".join(part.value.split()) for part in parts if isinstance(getattr(part, "value", None), str)]
        best = max(literal, key=len, default="").strip(" :;,.()'\"`-")
        if len(best) >= SHORTEST_FRAGMENT:
            found.append((text.lineno, best))
    return sorted(found)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> list[Path]:
    """Three bakes (hooks off: only the files matter here): the default; regression + your own CSV + no
    serving app + no CI + no remote; and engine=spark: their modules print other messages and their pages
    render otherwise."""
    out = tmp_path_factory.mktemp("rendered")
    other = {"task": "regression", "data_path": "x.csv", "target": "y", "project": "other"}
    answers = [{}, {**other, "docker": "no", "ci": "none", "dvc_remote": "none"}]
    answers.append({"engine": "spark", "docker": "no", "project": "on-spark"})
    projects = [cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(out), extra_context=extra,
                             accept_hooks=False) for extra in answers]  # fmt: skip
    return [Path(project) for project in projects]


def baked_messages(project: Path) -> list[tuple[Path, int, str]]:
    modules = [path for path in sorted(project.rglob("*.py")) if "tests" not in path.relative_to(project).parts]
    return [(path, line, fragment) for path in modules for line, fragment in messages(path)]


def missing_from(page: Path, found: list[tuple[Path, int, str]]) -> list[str]:
    text = " ".join(page.read_text().replace("`", "").split())
    missing = {f"{path.parent.name}/{path.name}:{line}: {fragment!r}" for path, line, fragment in found
               if fragment.replace("`", "") not in text}  # fmt: skip
    return sorted(missing)


def test_troubleshooting_lists_every_error_message_the_project_prints_on_purpose(rendered):
    """A bake's docs/troubleshooting.md lists what its own modules print; the site's page what the hook prints."""
    for project in rendered:
        missing = missing_from(project / "docs" / "troubleshooting.md", baked_messages(project))
        assert missing == [], f"{project.name}: add these messages (and their fix) to its docs/troubleshooting.md"
    hook = TEMPLATE / "hooks" / "pre_gen_project.py"
    missing = missing_from(DOCS / "troubleshooting.md", [(hook, line, text) for line, text in messages(hook)])
    assert missing == [], "add these messages (and their fix) to docs/troubleshooting.md"


def test_message_finder_sees_exits_raises_stderr_prints_and_hook_answers(tmp_path):
    """The check above can fail: each kind of message in a module is found."""
    module = tmp_path / "validate.py"
    module.write_text(
        "import sys\n"
        "sys.exit(f'stage: {x} went wrong in a way')\n"
        "raise ValueError('a value that is not allowed')\n"
        "print(f'{y}: printed to standard error', file=sys.stderr)\n"
        "print('printed to standard output, not an error')\n"
        "def check():\n    return f'column {z}: a contract problem'\n"
        "def checks():\n    return [f'{t}: one problem in a list']\n"
    )
    assert [text for _, text in messages(module)] == [
        "went wrong in a way", "a value that is not allowed", "printed to standard error", "a contract problem",
        "one problem in a list",
    ]  # fmt: skip


def test_pages_workflow_builds_strictly_and_passes_the_ci_linters():
    workflow = yaml.safe_load(PAGES_WORKFLOW.read_text())
    steps = [step for job in workflow["jobs"].values() for step in job["steps"]]
    assert any("mkdocs build --strict" in step.get("run", "") for step in steps)
    assert any(step.get("uses", "").startswith("actions/deploy-pages@") for step in steps)
    for step in steps:
        if "uses" in step:
            assert re.fullmatch(r"actions/[\w-]+@[0-9a-f]{40}", step["uses"]), step["uses"]
    checks = [
        [BIN / "check-jsonschema", "--builtin-schema", "vendor.github-workflows", PAGES_WORKFLOW],
        [BIN / "zizmor", "--offline", PAGES_WORKFLOW],
        [BIN / "actionlint", "-shellcheck", BIN / "shellcheck", PAGES_WORKFLOW],
    ]
    for command in checks:
        result = run(*command, cwd=TEMPLATE, check=False)
        assert result.returncode == 0, f"{command[0].name}:\n{result.stdout[-4000:]}{result.stderr[-2000:]}"


def test_docs_scripts_pass_ruff():
    run(BIN / "ruff", "check", "scripts", cwd=TEMPLATE)
    run(BIN / "ruff", "format", "--check", "scripts", cwd=TEMPLATE)
