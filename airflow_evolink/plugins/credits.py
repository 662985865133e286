"""Credits per DAG and per day over a stated window (the last 30 days), for the gallery's top page.

Three kinds of figure are kept apart, never added together:

- **charged**: ``credits_used``, what Evolink reported it charged; credits are a certain unit, so the
  sum is shown with its dollar figure;
- **estimated**: where nothing was charged yet, the price from Evolink's published rules
  (``evolink_estimate``, credits derived exactly from UC), also with dollars, marked as an estimate;
- **reserved**: where there is neither, ``credits_reserved`` as Evolink reports it. Its unit is not
  settled (the API's doc pages disagree), so it is summed on its own, "as reported", never in dollars.

The sums are not taken over the whole history at each page view. Each UTC day of the window is summed
once from the runs whose ``run_after`` falls on it (``idx_dag_run_run_after``, then the xcom primary key)
and kept in this process: settled days for :data:`SETTLED_TTL`, the last two days for
:data:`RECENT_TTL`, as their runs may still report what they used.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation

from airflow.models.dagrun import DagRun
from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from airflow_evolink.core.money import format_known_credits
from airflow_evolink.plugins import records
from airflow_evolink.plugins.generations import TASK_ID_KEY, Generation, build_generations
from airflow_evolink.utils import xcom_keys

WINDOW_DAYS = 30
#: How long a day that ended more than two days ago is reused before it is summed again (clears, reruns).
SETTLED_TTL = 3600.0
#: How long today's and yesterday's sums are reused.
RECENT_TTL = 60.0
#: What the sums read: the generation's identity and its figures (not requests, links or downloads).
CREDIT_KEYS = (
    xcom_keys.EVOLINK_TASK,
    TASK_ID_KEY,
    xcom_keys.CREDITS_USED,
    xcom_keys.CREDITS_RESERVED,
    xcom_keys.EVOLINK_ESTIMATE,
)
#: Runs read per query while a day is summed.
_CHUNK = 500


@dataclass
class CreditsLine:
    """Credits of one group (a DAG or a day), by kind of figure."""

    label: str
    generations: int = 0
    charged: Decimal = Decimal(0)
    charged_count: int = 0
    estimated: Decimal = Decimal(0)
    estimated_count: int = 0
    partial_count: int = 0  # estimates that are lower bounds: the estimated sum is "at least"
    reserved: Decimal = Decimal(0)  # as reported, unit unsettled
    reserved_count: int = 0
    unknown: int = 0  # generations with no figure at all

    def add(self, generation: Generation) -> None:
        self.generations += 1
        if generation.credits_used is not None:
            self.charged += _decimal(generation.credits_used)
            self.charged_count += 1
            return
        estimated = _decimal_or_none(generation.estimated_credits)
        if estimated is not None:
            self.estimated += estimated
            self.estimated_count += 1
            self.partial_count += generation.estimate.get("status") == "partial"
        elif generation.credits_reserved is not None:
            self.reserved += _decimal(generation.credits_reserved)
            self.reserved_count += 1
        else:
            self.unknown += 1

    def merge(self, other: CreditsLine) -> None:
        self.generations += other.generations
        self.charged += other.charged
        self.charged_count += other.charged_count
        self.estimated += other.estimated
        self.estimated_count += other.estimated_count
        self.partial_count += other.partial_count
        self.reserved += other.reserved
        self.reserved_count += other.reserved_count
        self.unknown += other.unknown

    @property
    def charged_text(self) -> str:
        return format_known_credits(self.charged)

    @property
    def estimated_text(self) -> str:
        return ("at least " if self.partial_count else "") + format_known_credits(self.estimated)

    @property
    def reserved_text(self) -> str:
        text = f"{self.reserved:,f}"
        return (text.rstrip("0").rstrip(".") if "." in text else text) + " reserved (as reported)"


def credits_by(generations: Iterable[Generation], group: str) -> list[CreditsLine]:
    """Sum credits per DAG (``group="dag"``) or per day of the generation (``group="day"``, newest first)."""
    lines: dict[str, CreditsLine] = {}
    for generation in generations:
        label = generation.dag_id if group == "dag" else (generation.day or "unknown day")
        lines.setdefault(label, CreditsLine(label)).add(generation)
    return _sorted(lines, group)


@dataclass(frozen=True)
class WindowTotals:
    """The window's lines for one viewer, and when the oldest figure in them was summed."""

    start: date
    end: date
    per_dag: list[CreditsLine]
    per_day: list[CreditsLine]
    as_of: datetime | None


@dataclass
class _Day:
    summed_at: float
    per_dag: dict[str, CreditsLine] = field(default_factory=dict)


class DailyCredits:
    """Per-day, per-DAG sums kept in this process, one UTC day at a time (see the module docstring)."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._days: dict[date, _Day] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def clear(self) -> None:
        with self._lock:
            self._days.clear()

    def window(
        self,
        session: Session,
        may_read: Callable[[str], bool],
        *,
        dag_id: str | None = None,
        days: int = WINDOW_DAYS,
        today: date | None = None,
    ) -> WindowTotals:
        """The sums of the last ``days`` UTC days (today included) over the DAGs ``may_read`` allows."""
        now = self._clock()
        today = today or datetime.fromtimestamp(now, tz=timezone.utc).date()
        start = today - timedelta(days=days - 1)
        per_dag: dict[str, CreditsLine] = {}
        per_day: dict[str, CreditsLine] = {}
        oldest: float | None = None
        for offset in range(days):
            day = start + timedelta(days=offset)
            entry = self._day(session, day, now, recent=(today - day).days < 2)
            oldest = entry.summed_at if oldest is None else min(oldest, entry.summed_at)
            for dag, line in entry.per_dag.items():
                if (dag_id is not None and dag != dag_id) or not may_read(dag):
                    continue
                per_dag.setdefault(dag, CreditsLine(dag)).merge(line)
                label = day.isoformat()
                per_day.setdefault(label, CreditsLine(label)).merge(line)
        as_of = datetime.fromtimestamp(oldest, tz=timezone.utc) if oldest is not None else None
        return WindowTotals(start, today, _sorted(per_dag, "dag"), _sorted(per_day, "day"), as_of)

    def _day(self, session: Session, day: date, now: float, *, recent: bool) -> _Day:
        ttl = RECENT_TTL if recent else SETTLED_TTL
        with self._lock:
            entry = self._days.get(day)
        if entry is not None and now - entry.summed_at < ttl:
            return entry
        entry = _Day(summed_at=now, per_dag=_sum_day(session, day))
        with self._lock:
            self._days[day] = entry
            for old in [d for d in self._days if d < day - timedelta(days=WINDOW_DAYS * 2)]:
                del self._days[old]
        return entry


def _sum_day(session: Session, day: date) -> dict[str, CreditsLine]:
    """Every Evolink run whose ``run_after`` falls on ``day`` (UTC), read through the run_after index."""
    begin = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    end = begin + timedelta(days=1)
    lines: dict[str, CreditsLine] = {}
    position: tuple[datetime, int] | None = None
    while True:
        query = select(DagRun.id, DagRun.dag_id, DagRun.run_id, DagRun.run_after).where(
            DagRun.run_after >= begin, DagRun.run_after < end
        )
        query = query.where(records.is_evolink_run())
        if position is not None:
            query = query.where(tuple_(DagRun.run_after, DagRun.id) > records.at(position))
        rows = session.execute(query.order_by(DagRun.run_after, DagRun.id).limit(_CHUNK)).all()
        if not rows:
            return lines
        runs = [records.RunRef(row.id, row.dag_id, row.run_id, row.run_after) for row in rows]
        loaded = records.load_run_refs(session, runs, with_task_instances=False, keys=CREDIT_KEYS)
        for generation in build_generations(loaded):
            lines.setdefault(generation.dag_id, CreditsLine(generation.dag_id)).add(generation)
        if len(rows) < _CHUNK:
            return lines
        position = runs[-1].position


def _sorted(lines: dict[str, CreditsLine], group: str) -> list[CreditsLine]:
    return sorted(lines.values(), key=lambda line: line.label, reverse=group == "day")


def _decimal(value: float | int | str) -> Decimal:
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def _decimal_or_none(value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        result = Decimal(value)
    except (InvalidOperation, ValueError):
        return None
    return result if result.is_finite() else None


#: The api-server process's sums (each worker process keeps its own).
DAILY = DailyCredits()
