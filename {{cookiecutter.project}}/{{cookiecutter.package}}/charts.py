"""The plots of the pull/merge request report, drawn in the comment itself: Mermaid `xychart-beta` charts
(GitHub and GitLab draw Mermaid blocks in comments, so no image host is needed) and Markdown tables.

Each function takes the rows of one plot file of the evaluate stage (csv.DictReader's dicts of strings)
as the base branch has it (None when it has no such file) and as this branch has it, the base branch's
name and the file's path (params.yaml's paths.plots / its name, to name it), and returns Markdown lines.
Standard library only, like report.py.
"""

import csv
import io
from collections import Counter
from pathlib import Path

ROC_GRID = [step / 20 for step in range(21)]  # false positive rates the ROC curves are read at
DECILES = 10
RESIDUAL_BINS = 12
TOP_FEATURES = 10
# xychart-beta has no legend: the colours say which line is which.
GREY, BLUE, ORANGE = "#9e9e9e", "#1f77b4", "#ff7f0e"


def read_rows(text: str | None) -> list[dict] | None:
    return None if text is None else list(csv.DictReader(io.StringIO(text)))


def numbers(rows: list[dict], column: str) -> list[float]:
    return [float(row[column]) for row in rows]


def short(value: float) -> str:
    return f"{value:.3g}"


def labels(values: list[float]) -> str:
    return "[" + ", ".join(f'"{short(value)}"' for value in values) + "]"


def code(text: str) -> str:
    """A class or column name as a table cell: in backticks, its pipes escaped."""
    return "`" + text.replace("|", "\\|") + "`"


def line_chart(title: str, x_axis: str, y_axis: str, reference, base_line, head_line, base: str) -> list[str]:
    """A heading, what each colour means, and a fenced Mermaid chart: a grey reference line (name, values)
    unless `reference` is None, base's line in blue (None: base has no such data, which is said) and this
    branch's in orange."""
    drawn = [(GREY, reference and reference[1]), (BLUE, base_line), (ORANGE, head_line)]
    drawn = [(colour, line) for colour, line in drawn if line is not None]
    meaning = [f"grey: {reference[0]}"] if reference else []
    meaning += [f"blue: `{base}`"] if base_line is not None else []
    meaning += ["orange: this branch"]
    caption = "_Lines: " + ", ".join(meaning) + "._"
    if base_line is None:
        caption += f" _`{base}` has no data for this plot yet._"
    return [
        f"#### {title}",
        "",
        caption,
        "",
        "```mermaid",
        "---",
        "config:",
        "  themeVariables:",
        "    xyChart:",
        f'      plotColorPalette: "{", ".join(colour for colour, _ in drawn)}"',
        "---",
        "xychart-beta",
        f"    x-axis {x_axis}",
        f"    y-axis {y_axis}",
        *("    line [" + ", ".join(short(value) for value in line) + "]" for _, line in drawn),
        "```",
        "",
    ]


def roc_at(rows: list[dict], grid: list[float]) -> list[float]:
    """The ROC curve read at each false positive rate of `grid`: the best true positive rate reached by then."""
    points = list(zip(numbers(rows, "fpr"), numbers(rows, "tpr"), strict=True))
    return [max((tpr for fpr, tpr in points if fpr <= x), default=0.0) for x in grid]


def roc_chart(base_rows, head_rows, base: str, path: Path) -> list[str]:
    if not head_rows:
        return []
    base_line = roc_at(base_rows, ROC_GRID) if base_rows else None
    x_axis, y_axis = '"False positive rate" 0 --> 1', '"True positive rate" 0 --> 1'
    return line_chart("ROC curve", x_axis, y_axis, ("chance", ROC_GRID), base_line, roc_at(head_rows, ROC_GRID), base)


def confusion_table(base_rows, head_rows, base: str, path: Path) -> list[str]:
    """Counts of this branch, actual class by row and predicted class by column, with the change against base."""
    if not head_rows:
        return []
    head = Counter((row["actual"], row["predicted"]) for row in head_rows)
    old = Counter((row["actual"], row["predicted"]) for row in base_rows or [])
    classes = sorted({label for pair in head | old for label in pair})
    against = f", and in brackets the change against `{base}`" if base_rows else ""
    lines = [
        "#### Confusion matrix",
        "",
        f"Rows: the actual class; columns: the predicted class. This branch's counts{against}.",
        "",
        "| actual \\ predicted | " + " | ".join(code(label) for label in classes) + " |",
        "| --- |" + " ---: |" * len(classes),
    ]
    for actual in classes:
        cells = []
        for predicted in classes:
            count, change = head[actual, predicted], head[actual, predicted] - old[actual, predicted]
            cells.append(f"{count} ({change:+d})" if base_rows and change else str(count))
        lines.append(f"| {code(actual)} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def deciles(rows: list[dict]) -> list[tuple[float, float]]:
    """(mean actual, mean prediction) of each tenth of the rows, ordered by actual value."""
    pairs = sorted(zip(numbers(rows, "actual"), numbers(rows, "predicted"), strict=True))
    chunks = [pairs[index * len(pairs) // DECILES : (index + 1) * len(pairs) // DECILES] for index in range(DECILES)]
    return [(sum(a for a, _ in chunk) / len(chunk), sum(p for _, p in chunk) / len(chunk)) for chunk in chunks]


def predictions_chart(base_rows, head_rows, base: str, path: Path) -> list[str]:
    """Mean prediction per tenth of the rows (ordered by actual value), against the mean actual value.
    Each side is cut into tenths of its own test rows: the same rows when the split did not change."""
    if not head_rows or len(head_rows) < DECILES:
        return []
    head = deciles(head_rows)
    actual, predicted = [a for a, _ in head], [p for _, p in head]
    base_line = [p for _, p in deciles(base_rows)] if base_rows and len(base_rows) >= DECILES else None
    everything = actual + predicted + (base_line or [])
    x_axis = f'"Mean actual value of each tenth of the rows" {labels(actual)}'
    y_axis = f'"Mean prediction" {short(min(everything))} --> {short(max(everything))}'
    reference = ("actual (a perfect model)", actual)
    return line_chart("Predicted vs actual", x_axis, y_axis, reference, base_line, predicted, base)


def residuals_chart(base_rows, head_rows, base: str, path: Path) -> list[str]:
    """How the residuals (actual - predicted) spread: the share of rows in each of RESIDUAL_BINS bins."""
    if not head_rows:
        return []
    head, old = numbers(head_rows, "residual"), numbers(base_rows, "residual") if base_rows else None
    reach = max(abs(value) for value in head + (old or [])) or 1.0
    width = 2 * reach / RESIDUAL_BINS
    centres = [-reach + width * (index + 0.5) for index in range(RESIDUAL_BINS)]

    def shares(values: list[float]) -> list[float]:
        counts = Counter(min(int((value + reach) / width), RESIDUAL_BINS - 1) for value in values)
        return [100 * counts[index] / len(values) for index in range(RESIDUAL_BINS)]

    base_line, head_line = (shares(old) if old else None), shares(head)
    top = max(head_line + (base_line or []))
    x_axis, y_axis = f'"Residual (actual - predicted)" {labels(centres)}', f'"Rows (%)" 0 --> {short(top)}'
    return line_chart("Residuals", x_axis, y_axis, None, base_line, head_line, base)


def importance_table(base_rows, head_rows, base: str, path: Path) -> list[str]:
    """The TOP_FEATURES most important columns on this branch, with their importance on base."""
    if not head_rows:
        return []
    old = {row["feature"]: float(row["importance"]) for row in base_rows or []}
    ranked = sorted(head_rows, key=lambda row: (-float(row["importance"]), row["feature"]))
    lines = [
        "#### Permutation importance",
        "",
        "How much the primary metric (evaluate.primary_metric) drops when the column's values are shuffled "
        "in the test rows: the larger, the more the model relies on the column.",
        "",
        f"| Rank | Column | `{base}` | this branch | Change |",
        "| ---: | --- | ---: | ---: | ---: |",
    ]
    for rank, row in enumerate(ranked[:TOP_FEATURES], start=1):
        new, before = float(row["importance"]), old.get(row["feature"])
        shown = ("-", "-") if before is None else (f"{before:.4f}", f"{new - before:+.4f}")
        lines.append(f"| {rank} | {code(row['feature'])} | {shown[0]} | {new:.4f} | {shown[1]} |")
    if len(ranked) > TOP_FEATURES:
        lines += ["", f"_{len(ranked) - TOP_FEATURES} more columns in {path.as_posix()}._"]
    return [*lines, ""]


# Which file of paths.plots each drawing reads (the evaluate stage's names), in the order they appear in the comment.
DRAWINGS = {
    "roc.csv": roc_chart,
    "confusion.csv": confusion_table,
    "predictions.csv": predictions_chart,
    "residuals.csv": residuals_chart,
    "importance.csv": importance_table,
}


def plots_section(texts: dict[str, tuple[str | None, str | None]], base: str, plots_dir: Path) -> list[str]:
    """The comment's "Plots" section from {file name: (base's text, this branch's text)} of plots_dir."""
    lines = []
    for name, draw in DRAWINGS.items():
        if name in texts:
            base_text, head_text = texts[name]
            path = plots_dir / name
            try:
                lines += draw(read_rows(base_text), read_rows(head_text), base, path)
            except (KeyError, ValueError, ZeroDivisionError) as error:  # a hand-edited or truncated file
                lines += [f"_{path.as_posix()} could not be drawn ({type(error).__name__}: {error})._", ""]
    return ["### Plots", "", *lines] if lines else []
