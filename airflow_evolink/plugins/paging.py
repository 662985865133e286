"""The top page's pages of generations, keyed on the position of a run, never on an offset.

Generations are listed newest run first (``dag_run.run_after``, then ``id``), and in a run in the order
its tasks started. A :class:`Boundary` sits between two generations: before the ``index``-th generation
of one run (``index`` = :data:`END` when after all of them). "Older" shows what follows a boundary,
"newer" what precedes it, so pages neither repeat nor skip a generation when runs are added meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy.orm import Session

from airflow_evolink.plugins import records
from airflow_evolink.plugins.generations import Generation, build_generations
from airflow_evolink.plugins.records import RunRef

#: ``index`` of a boundary after every generation of its run.
END = 1_000_000


@dataclass(frozen=True)
class Boundary:
    """A place between two generations: before generation ``index`` of the run at ``(run_after, run_pk)``."""

    run_after: datetime
    run_pk: int
    index: int

    def encode(self) -> str:
        micros = round(self.run_after.timestamp() * 1_000_000)
        return f"{micros}.{self.run_pk}.{self.index}"

    @classmethod
    def decode(cls, text: str) -> Boundary:
        """Parse :meth:`encode`'s form; a ``ValueError`` names what is wrong."""
        parts = text.split(".")
        if len(parts) != 3 or not all(p.isdigit() for p in parts):
            raise ValueError("expected <microseconds>.<run id>.<index>, as the page's own links give it")
        micros, run_pk, index = (int(p) for p in parts)
        if index > END:
            raise ValueError(f"index above {END}")
        try:
            when = datetime.fromtimestamp(micros / 1_000_000, tz=timezone.utc)
        except (OverflowError, OSError, ValueError) as error:
            raise ValueError("the time is out of range") from error
        return cls(when, run_pk, index)


@dataclass(frozen=True)
class Item:
    run: RunRef
    index: int  # the generation's place in its run
    generation: Generation

    def before(self) -> Boundary:
        return Boundary(self.run.run_after, self.run.id, self.index)

    def after(self) -> Boundary:
        return Boundary(self.run.run_after, self.run.id, self.index + 1)


@dataclass(frozen=True)
class Page:
    shown: list[Item]
    #: Every generation of the runs read (a card numbers its videos among its run's generations).
    context: list[Generation]
    older: Boundary | None
    newer: Boundary | None
    runs_read: int


def read_page(
    session: Session,
    dag_ids: Collection[str],
    *,
    limit: int,
    older_than: Boundary | None = None,
    newer_than: Boundary | None = None,
    dag_id: str | None = None,
    run_id: str | None = None,
    status: str | None = None,
    may_read: Callable[[str], bool] = lambda _dag_id: True,
) -> Page:
    """Up to ``limit`` generations after ``older_than`` (or the newest), or just before ``newer_than``.

    At most ``limit + 1`` Evolink runs are read (each holds at least one generation), so the cost follows
    the page, not the history.
    """
    newest_first = newer_than is None
    boundary = older_than if newest_first else newer_than
    start = (boundary.run_after, boundary.run_pk) if boundary else None
    include_start = boundary is not None and (boundary.index < END if newest_first else boundary.index > 0)
    walk = records.walk_runs(
        session,
        dag_ids,
        newest_first=newest_first,
        start=start,
        include_start=include_start,
        want=limit + 1,
        dag_id=dag_id,
        run_id=run_id,
        may_read=may_read,
    )
    runs = walk.runs if newest_first else walk.runs[::-1]
    context = build_generations(records.load_run_refs(session, runs))
    items = [item for item in _items(runs, context) if _on_this_side(item, boundary, newest_first)]
    if status:
        items = [item for item in items if item.generation.status == status]
    resume = walk.stopped_at or (walk.runs[-1] if walk.runs else None)
    if newest_first:
        shown = items[:limit]
        if len(items) > limit:
            older = shown[-1].after()
        elif walk.more and resume is not None:
            older = Boundary(resume.run_after, resume.id, END)
        else:
            older = None
        newer = shown[0].before() if shown and boundary else boundary
    else:
        shown = items[-limit:] if limit else []
        if len(items) > limit:
            newer = shown[0].before()
        elif walk.more and resume is not None:
            newer = Boundary(resume.run_after, resume.id, 0)
        else:
            newer = None
        older = shown[-1].after() if shown else boundary
    return Page(shown, context, older, newer, len(walk.runs))


def _items(runs: list[RunRef], generations: list[Generation]) -> list[Item]:
    by_run: dict[tuple[str, str], list[Generation]] = {}
    for generation in generations:
        by_run.setdefault((generation.dag_id, generation.run_id), []).append(generation)
    return [
        Item(run, index, generation)
        for run in runs
        for index, generation in enumerate(by_run.get(run.key, []))
    ]


def _on_this_side(item: Item, boundary: Boundary | None, newest_first: bool) -> bool:
    if boundary is None or item.run.id != boundary.run_pk:
        return True
    return item.index >= boundary.index if newest_first else item.index < boundary.index
