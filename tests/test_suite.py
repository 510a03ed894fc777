"""The template's test suite itself: `make test-fast` leaves out every file that runs a slow real component."""

import re

from helpers import TEMPLATE

# What makes a test file slow (seconds to minutes a test), as it reads in the file's source.
SLOW_SIGNS = {
    "runs dvc repro": re.compile(r'"repro"'),
    "starts a server": re.compile(r"def \w+\([^)]*\b(s3_endpoint|mlflow_server|mlflow_auth_server)\b"),
    "runs make setup": re.compile(r'"make", "setup"'),
    "drives a browser": re.compile(r"\.chromium\(\)"),
}
MARKED_SLOW = "pytestmark = pytest.mark.slow"
MARK_LINE = re.compile(rf"^{re.escape(MARKED_SLOW)}$", re.MULTILINE)


def test_every_file_that_runs_a_slow_component_is_marked_slow():
    unmarked = {}
    for path in sorted((TEMPLATE / "tests").glob("test_*.py")):
        if path.name == "test_suite.py":
            continue  # its signs are patterns, not calls
        source = path.read_text()
        signs = [sign for sign, pattern in SLOW_SIGNS.items() if pattern.search(source)]
        if signs and not MARK_LINE.search(source):
            unmarked[path.name] = signs
    assert unmarked == {}, f"add `{MARKED_SLOW}` to these files (make test-fast must stay quick): {unmarked}"


def test_the_fast_selection_keeps_the_template_checks():
    """Each fast file bakes or checks the template in seconds; losing one to the slow mark is a mistake."""
    fast = {path.name for path in (TEMPLATE / "tests").glob("test_*.py") if not MARK_LINE.search(path.read_text())}
    assert {"test_options.py", "test_hooks.py", "test_template.py", "test_ci_configs.py", "test_suite.py"} <= fast
