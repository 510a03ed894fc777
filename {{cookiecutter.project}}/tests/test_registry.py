"""The promotion rule and the tables `make promote` and `make models` print (no MLflow needed)."""

import pytest

from {{ cookiecutter.package }} import registry


@pytest.mark.parametrize(
    ("candidate", "champion", "margin", "promoted"),
    [
        (0.95, 0.90, 0.0, True),
        (0.90, 0.90, 0.0, True),  # a tie passes a zero margin
        (0.89, 0.90, 0.0, False),
        (0.91, 0.90, 0.01, True),  # exactly the margin, despite 0.91 - 0.90 != 0.01 in floating point
        (0.905, 0.90, 0.01, False),
    ],
)
def test_candidate_must_beat_the_champion_by_the_margin(candidate, champion, margin, promoted):
    assert registry.beats(candidate, champion, margin) is promoted


def test_table_lines_up_every_column():
    rows = [["champion", "version 12", "0.91"], ["candidate", "version 3", "0.9"]]
    printed = registry.table(["", "model", "roc_auc"], rows)
    lines = printed.splitlines()
    assert lines[0].split() == ["model", "roc_auc"]
    assert lines[2].split() == ["champion", "version", "12", "0.91"]
    assert len({line.index("0.9") for line in lines[2:]}) == 1
