"""Credits spent, summed per DAG or per day for the gallery page.

Evolink reports what a task used once it ends; until then (or if it never says) only the reservation
is known. The sums use the figure used where there is one, and say how many generations only had a
reservation, so an estimate is never shown as a bill.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from airflow_evolink.plugins.generations import Generation


@dataclass(frozen=True)
class CreditsLine:
    """Credits of one group (a DAG or a day): used where known, reserved where not."""

    label: str
    total: float
    generations: int
    reserved_only: int  # generations whose figure is the reservation, as no usage was reported
    unknown: int  # generations with neither figure


def credits_by(generations: Iterable[Generation], group: str) -> list[CreditsLine]:
    """Sum credits per DAG (``group="dag"``) or per day (``group="day"``, newest first)."""
    totals: dict[str, list[float]] = {}
    for generation in generations:
        label = generation.dag_id if group == "dag" else (generation.day or "unknown day")
        line = totals.setdefault(label, [0.0, 0, 0, 0])
        amount, reserved = generation.credits
        line[1] += 1
        if amount is None:
            line[3] += 1
            continue
        line[0] += amount
        if reserved:
            line[2] += 1
    lines = [CreditsLine(k, v[0], int(v[1]), int(v[2]), int(v[3])) for k, v in totals.items()]
    if group == "day":
        return sorted(lines, key=lambda line: line.label, reverse=True)
    return sorted(lines, key=lambda line: line.label)
