"""The template's own sources: declared variables only, and clean Python."""

import re

from helpers import BIN, DEFAULTS, TEMPLATE, run

TEMPLATE_SOURCES = [TEMPLATE / "hooks", TEMPLATE / "{{cookiecutter.project}}"]


def test_every_cookiecutter_variable_used_is_declared():
    used = {}
    for root in TEMPLATE_SOURCES:
        for path in [root, *root.rglob("*")]:
            text = path.name + (path.read_text() if path.is_file() else "")
            for name in re.findall(r"cookiecutter\.(\w+)", text):
                used.setdefault(name, str(path.relative_to(TEMPLATE)))
    undeclared = {name: where for name, where in used.items() if name not in DEFAULTS}
    assert undeclared == {}


def test_every_declared_option_is_used():
    sources = "".join(
        path.name + (path.read_text() if path.is_file() else "")
        for root in TEMPLATE_SOURCES
        for path in root.rglob("*")
    )
    unused = [name for name in DEFAULTS if not name.startswith("_") and f"cookiecutter.{name}" not in sources]
    assert unused == []


def test_hooks_and_tests_pass_ruff():
    run(BIN / "ruff", "check", "hooks", "tests", cwd=TEMPLATE)
    run(BIN / "ruff", "format", "--check", "hooks", "tests", cwd=TEMPLATE)


def test_changelog_latest_version_is_the_template_version():
    """CHANGELOG.md's newest release is the version cookiecutter.json declares (and bakes into the README)."""
    changelog = (TEMPLATE / "CHANGELOG.md").read_text()
    releases = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$", changelog, re.MULTILINE)
    assert releases, "CHANGELOG.md has no '## [x.y.z] - YYYY-MM-DD' heading"
    assert releases[0] == DEFAULTS["__template_version"]
    assert "{{ cookiecutter.__template_version }}" in (TEMPLATE / "{{cookiecutter.project}}" / "README.md").read_text()
