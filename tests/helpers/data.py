"""Data a user brings."""

from pathlib import Path

import pandas as pd


def write_messy_csv(path: Path, rows: int = 240) -> Path:
    """A user's CSV as it arrives: mixed types, gaps everywhere, text labels, an ID column."""
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{index:05d}" for index in range(rows)],
            "age": [18 + (index * 7) % 60 for index in range(rows)],
            "monthly_spend": [round(20 + (index * 13) % 150 + (index % 3) * 0.5, 2) for index in range(rows)],
            "plan": [["basic", "plus", "premium"][index % 3] for index in range(rows)],
            "region": [["north", "south", "east", "west", None][index % 5] for index in range(rows)],
        }
    )
    frame.loc[frame.index % 9 == 0, "monthly_spend"] = None
    score = frame["age"] / 60 + frame["plan"].map({"basic": 0, "plus": 0.4, "premium": 0.9}) + (frame.index % 4) / 5
    frame["churned"] = ["yes" if value > 1.1 else "no" for value in score]
    frame.to_csv(path, index=False)
    return path
