"""Reading a training run's logs in tests: the metrics a CSVLogger wrote."""

from __future__ import annotations

import csv
from pathlib import Path


def csv_metrics(path: Path) -> dict[str, list[tuple[int, float]]]:
    """(step, value) of each logged metric of a CSVLogger's metrics.csv."""
    metrics: dict[str, list[tuple[int, float]]] = {}
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            for name, value in row.items():
                if name != "step" and value not in ("", None):
                    metrics.setdefault(name, []).append((int(row["step"]), float(value)))
    return metrics
