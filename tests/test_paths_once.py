"""Every path of the pipeline is written once, in params.yaml's `paths:` section: the baked project's
code, Makefile, CI configs and Dockerfile read it from there (dvc.yaml through `${paths.<key>}`, Python
through `params.load().paths`) and never spell it again.

What counts as spelling a path: a value of the `paths:` section (`data/schema.yaml`; `plots` when it is
the whole string), or one of the directories those values sit in followed by a slash (`models/`,
`data/raw/`), inside code: a Python string that is not a docstring, or any other file's line outside its
comment. Docstrings and comments may name paths: they explain, and a stale one misleads but breaks nothing.
"""

import ast
import re
from pathlib import Path

import pytest
import yaml
from helpers import bake

pytestmark = pytest.mark.slow

TASKS = ("classification", "regression")


@pytest.fixture(scope="module", params=TASKS)
def project(request, tmp_path_factory) -> Path:
    # An S3 remote: CI configs run the whole pipeline only when CI can reach the data.
    answers = {
        "task": request.param,
        "ci": "both",
        "docker": "yes",
        "dvc_remote": "s3",
        "dvc_remote_url": "s3://example-bucket/dvc",
    }
    return bake(tmp_path_factory.mktemp(f"paths-{request.param}"), **answers)


def path_patterns(project: Path) -> list[re.Pattern]:
    paths = yaml.safe_load((project / "params.yaml").read_text())["paths"]
    patterns = []
    for value in paths.values():
        if "/" in value:
            patterns.append(re.compile(rf"(?<![\w.-]){re.escape(value)}(?![\w.-])"))
        else:  # a bare name (`plots`) is a path only as the whole string: `dvc plots show` is not one
            patterns.append(re.compile(rf"^{re.escape(value)}/?$"))
        parts = Path(value).parts
        for depth in range(1, len(parts)):
            directory = "/".join(parts[:depth]) + "/"
            patterns.append(re.compile(rf"(?<![\w.-]){re.escape(directory)}"))
        if len(parts) == 1:
            patterns.append(re.compile(rf"(?<![\w.-]){re.escape(value)}/"))
    return patterns


def python_strings(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every string in the module's code; docstrings left out."""
    tree = ast.parse(path.read_text())
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def code_lines(path: Path) -> list[tuple[int, str]]:
    """(line, text) of a Makefile, YAML or Dockerfile, each line cut at a comment (`#` after a blank)."""
    lines = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        code = re.split(r"(?:^|\s)#", line, maxsplit=1)[0]
        if code.strip():
            lines.append((number, code))
    return lines


def spelled_paths(project: Path) -> dict[str, list[str]]:
    """{file: its lines that spell a path} for the package's modules, the Makefile, Dockerfile and CI configs."""
    patterns = path_patterns(project)
    package = next(project.glob("*/params.py")).parent
    found: dict[str, list[str]] = {}

    def check(path: Path, lines: list[tuple[int, str]]) -> None:
        hits = [f"{number}: {text!r}" for number, text in lines if any(p.search(text) for p in patterns)]
        if hits:
            found[str(path.relative_to(project)).replace(package.name, "{package}")] = hits

    for path in sorted(package.rglob("*.py")):
        check(path, python_strings(path))
    for path in [project / "Makefile", project / "Dockerfile", project / ".gitlab-ci.yml"]:
        check(path, code_lines(path))
    for path in sorted((project / ".github" / "workflows").glob("*.yml")):
        check(path, code_lines(path))
    return found


def test_no_code_spells_a_path_of_params_yaml(project):
    found = spelled_paths(project)
    listing = "\n".join(f"{name}:{line}" for name, lines in found.items() for line in lines)
    assert not found, f"paths written outside params.yaml (read them from params.load().paths):\n{listing}"


def test_the_check_finds_a_path_spelled_in_code(project):
    module = next(project.glob("*/params.py")).parent / "spelled.py"
    module.write_text('"""Reads models/model.joblib."""\n\nMODEL = "models/model.joblib"\nPLOTS = "plots"\nN = "n"\n')
    try:
        assert [line.split(":")[0] for line in spelled_paths(project)["{package}/spelled.py"]] == ["3", "4"]
    finally:
        module.unlink()
