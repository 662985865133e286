"""Read the gallery's XComs and task instance rows from Airflow's metadata database (api-server side).

Every query follows one of Airflow's own indexes, so its cost is proportional to what a page shows and
never to the size of the history:

- recent runs walk ``dag_run`` newest first by ``idx_dag_run_run_after`` (ties by ``id``), a bounded
  number of rows per page, each probed for an Evolink XCom through the ``xcom`` primary key
  ``(dag_run_id, task_id, map_index, key)``;
- a run named by ``(dag_id, run_id)`` is found through ``dag_run``'s unique ``(dag_id, run_id)``;
- XComs (the gallery's keys, then ``return_value`` of the task instances that carry one of them) are read
  by ``dag_run_id`` through the ``xcom`` primary key; ``xcom.dag_id/run_id`` have no index of their own;
- task instances and rendered fields are joined to those runs through ``(dag_id, run_id, ...)`` indexes.

Other tasks' (possibly large) return values are never loaded.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from airflow.models.dagrun import DagRun
from airflow.models.renderedtifields import RenderedTaskInstanceFields
from airflow.models.taskinstance import TaskInstance
from airflow.models.xcom import XComModel
from sqlalchemy import and_, literal, select, tuple_
from sqlalchemy.orm import Session

from airflow_evolink.core.models import DESCRIBING_REQUEST_FIELDS
from airflow_evolink.plugins.generations import (
    EVOLINK_REQUEST,
    GALLERY_KEYS,
    RETURN_VALUE,
    TASK_ID_KEY,
    TaskInstanceInfo,
    TaskInstanceXComs,
)
from airflow_evolink.utils import xcom_keys

RunKey = tuple[str, str]  # (dag_id, run_id)
#: The keys that mark a run as an Evolink run (a task submitted or watched an Evolink task).
RUN_MARKER_KEYS: tuple[str, ...] = (xcom_keys.EVOLINK_TASK, TASK_ID_KEY)


@dataclass(frozen=True)
class RunRef:
    """One DAG run as the gallery places it: ``(run_after, id)`` is its position, newest first."""

    id: int
    dag_id: str
    run_id: str
    run_after: datetime

    @property
    def key(self) -> RunKey:
        return self.dag_id, self.run_id

    @property
    def position(self) -> tuple[datetime, int]:
        return self.run_after, self.id


@dataclass(frozen=True)
class Walk:
    """Evolink runs found by one walk, and where the walk stopped when it did not reach the end."""

    runs: list[RunRef]
    #: The last run scanned when the scan budget ran out first (more runs may lie beyond it), else None.
    stopped_at: RunRef | None
    #: Whether rows remain beyond what was returned (the walk filled ``want`` or ran out of budget).
    more: bool


def walk_runs(
    session: Session,
    dag_ids: Collection[str],
    *,
    newest_first: bool = True,
    start: tuple[datetime, int] | None = None,
    include_start: bool = False,
    want: int,
    dag_id: str | None = None,
    run_id: str | None = None,
    may_read: Callable[[str], bool] = lambda _dag_id: True,
    budget: int | None = None,
) -> Walk:
    """Evolink runs of ``dag_ids`` from ``start`` (exclusive unless ``include_start``), up to ``want``.

    ``dag_run`` is read in chunks in ``(run_after, id)`` order through ``idx_dag_run_run_after``; each row
    carries an EXISTS probe on the xcom primary key, so a chunk costs its size whatever the history. At
    most ``budget`` rows are scanned (default 25 per run wanted): a page is bounded even where Evolink
    runs are rare, and says where it stopped so the next page resumes there.
    """
    dags = sorted(set(dag_ids) if dag_id is None else set(dag_ids) & {dag_id})
    if not dags or want <= 0:
        return Walk([], None, False)
    budget = budget if budget is not None else max(25 * want, 500)
    chunk = min(max(2 * want, 50), budget)
    marker = is_evolink_run()
    order = (DagRun.run_after.desc(), DagRun.id.desc()) if newest_first else (DagRun.run_after, DagRun.id)
    found: list[RunRef] = []
    scanned = 0
    position = start
    inclusive = include_start
    while True:
        query = select(DagRun.id, DagRun.dag_id, DagRun.run_id, DagRun.run_after, marker.label("evolink"))
        query = query.where(DagRun.dag_id.in_(dags))
        if run_id is not None:
            query = query.where(DagRun.run_id == run_id)
        if position is not None:
            here = tuple_(DagRun.run_after, DagRun.id)
            bound = at(position)
            if newest_first:
                query = query.where(here <= bound if inclusive else here < bound)
            else:
                query = query.where(here >= bound if inclusive else here > bound)
        size = min(chunk, budget - scanned)
        rows = session.execute(query.order_by(*order).limit(size)).all()
        scanned += len(rows)
        last: RunRef | None = None
        for row in rows:
            last = RunRef(row.id, row.dag_id, row.run_id, row.run_after)
            if row.evolink and may_read(row.dag_id):
                found.append(last)
                if len(found) >= want:
                    return Walk(found, None, True)
        if len(rows) < size or last is None:
            return Walk(found, None, False)
        if scanned >= budget:
            return Walk(found, last, True)
        position, inclusive = last.position, False


def at(position: tuple[datetime, int]) -> Any:
    """A ``(run_after, id)`` position as SQL, typed like the columns (SQLite compares the stored text)."""
    return tuple_(
        literal(position[0], DagRun.__table__.c.run_after.type),
        literal(position[1], DagRun.__table__.c.id.type),
    )


def is_evolink_run() -> Any:
    """Whether the ``dag_run`` row of the outer query has an Evolink marker XCom: one primary-key probe.

    A scalar subquery with ``LIMIT 1``, not ``EXISTS``: PostgreSQL may turn an ``EXISTS`` into a hashed
    subplan that reads every marker row of the whole table first (1.6 s at 100,000 runs); a ``LIMIT``
    keeps it a probe per row actually read.
    """
    probe = (
        select(literal(1))
        .where(XComModel.dag_run_id == DagRun.id, XComModel.key.in_(RUN_MARKER_KEYS))
        .correlate(DagRun)
        .limit(1)
        .scalar_subquery()
    )
    return probe.is_not(None)


def find_runs(session: Session, runs: Iterable[RunKey]) -> list[RunRef]:
    """The ``dag_run`` rows of ``(dag_id, run_id)`` pairs, through its unique ``(dag_id, run_id)``, in the
    order asked; unknown pairs are left out."""
    wanted = list(dict.fromkeys(runs))
    if not wanted:
        return []
    rows = session.execute(
        select(DagRun.id, DagRun.dag_id, DagRun.run_id, DagRun.run_after).where(
            DagRun.dag_id.in_({dag for dag, _ in wanted}), DagRun.run_id.in_({run for _, run in wanted})
        )
    ).all()
    found = {(row.dag_id, row.run_id): RunRef(row.id, row.dag_id, row.run_id, row.run_after) for row in rows}
    return [found[key] for key in wanted if key in found]


def load_runs(session: Session, runs: Iterable[RunKey]) -> list[TaskInstanceXComs]:
    """Every task instance of these runs that wrote a gallery key, with those values, in run order."""
    return load_run_refs(session, find_runs(session, runs))


def load_run_refs(
    session: Session,
    runs: Sequence[RunRef],
    *,
    with_task_instances: bool = True,
    keys: Sequence[str] = GALLERY_KEYS,
) -> list[TaskInstanceXComs]:
    """Like :func:`load_runs`, for runs already found (the top page's walk), by their ``dag_run.id``;
    without task instance rows and rendered fields when ``with_task_instances`` is false, and only
    ``keys`` (the credit sums read only what they add up)."""
    by_id = {run.id: run for run in runs}
    if not by_id:
        return []
    rows = session.execute(
        select(
            XComModel.dag_run_id,
            XComModel.task_id,
            XComModel.map_index,
            XComModel.key,
            XComModel.value,
            XComModel.timestamp,
        ).where(XComModel.dag_run_id.in_(list(by_id)), _key_in_run(list(keys)))
    ).all()
    records: dict[tuple[int, str, int], TaskInstanceXComs] = {}
    for row in rows:
        key = (row.dag_run_id, row.task_id, row.map_index)
        record = records.get(key)
        if record is None:
            run = by_id[row.dag_run_id]
            record = records[key] = TaskInstanceXComs(
                run.dag_id, run.run_id, TaskInstanceInfo(row.task_id, row.map_index)
            )
        record.values[row.key] = (_value(row), row.timestamp)
    if not records:
        return []
    _add_return_values(session, records)
    if with_task_instances:
        _add_task_instances(session, records)
        _add_rendered_requests(session, records)
    # Runs in the order asked; in a run, tasks in the order they started, a mapped task's indices in order.
    order = {run_pk: position for position, run_pk in enumerate(by_id)}
    task_started: dict[tuple[int, str], float] = {}
    for (run_pk, task_id, _), r in records.items():
        started = r.ti.start_date.timestamp() if r.ti.start_date else float("inf")
        task_started[(run_pk, task_id)] = min(started, task_started.get((run_pk, task_id), float("inf")))
    ordered = sorted(
        records.items(),
        key=lambda item: (
            order[item[0][0]],
            task_started[(item[0][0], item[0][1])],
            item[0][1],
            item[0][2],
        ),
    )
    return [record for _, record in ordered]


def _add_return_values(session: Session, records: dict[tuple[int, str, int], TaskInstanceXComs]) -> None:
    """``return_value`` of exactly these task instances: one primary-key range per run, never a tuple
    list (PostgreSQL spends seconds planning thousands of row tuples)."""
    query = select(
        XComModel.dag_run_id,
        XComModel.task_id,
        XComModel.map_index,
        XComModel.value,
        XComModel.timestamp,
    ).where(
        XComModel.dag_run_id.in_({run_pk for run_pk, _, _ in records}),
        XComModel.task_id.in_({task_id for _, task_id, _ in records}),
        XComModel.map_index.in_({map_index for _, _, map_index in records}),
        _key_in_run([RETURN_VALUE]),
    )
    for row in session.execute(query):
        record = records.get((row.dag_run_id, row.task_id, row.map_index))
        if record is not None:
            record.values[RETURN_VALUE] = (_value(row), row.timestamp)


def _key_in_run(keys: list[str]) -> Any:
    """``key IN (...)`` checked on the rows of the runs' primary-key range, never through ``idx_xcom_key``.

    With a few hundred runs PostgreSQL's estimates tip it into ANDing a bitmap of ``idx_xcom_key``, which
    holds every row of those keys ever written (945,878 at 100,000 runs, 30 ms and growing with the
    history). As an expression the key matches no index, so the plan stays on ``xcom_pkey``.
    """
    return XComModel.key.concat("").in_(keys)


def _run_join(model: Any) -> Any:
    return and_(model.dag_id == DagRun.dag_id, model.run_id == DagRun.run_id)


def _add_task_instances(session: Session, records: dict[tuple[int, str, int], TaskInstanceXComs]) -> None:
    query = (
        select(
            DagRun.id.label("run_pk"),
            TaskInstance.task_id,
            TaskInstance.map_index,
            TaskInstance.state,
            TaskInstance.start_date,
            TaskInstance.end_date,
            TaskInstance.rendered_map_index,  # type: ignore[call-overload]  # a hybrid property
        )
        .join(DagRun, _run_join(TaskInstance))
        .where(
            DagRun.id.in_({run_pk for run_pk, _, _ in records}),
            TaskInstance.task_id.in_({task_id for _, task_id, _ in records}),
        )
    )
    for row in session.execute(query):
        record = records.get((row.run_pk, row.task_id, row.map_index))
        if record is None:
            continue
        record.ti = TaskInstanceInfo(
            task_id=row.task_id,
            map_index=row.map_index,
            state=str(row.state) if row.state is not None else None,
            start_date=row.start_date,
            end_date=row.end_date,
            rendered_map_index=row.rendered_map_index,
        )


def _add_rendered_requests(session: Session, records: dict[tuple[int, str, int], TaskInstanceXComs]) -> None:
    """For submit tasks that pushed no ``evolink_request`` (older provider versions), the request fields
    Airflow kept among the task's rendered template fields (kept for the most recent runs only)."""
    wanted = {
        key
        for key, record in records.items()
        if EVOLINK_REQUEST not in record.values and TASK_ID_KEY in record.values
    }
    if not wanted:
        return
    rtif = RenderedTaskInstanceFields
    query = (
        select(DagRun.id.label("run_pk"), rtif.task_id, rtif.map_index, rtif.rendered_fields)
        .join(DagRun, _run_join(rtif))
        .where(
            DagRun.id.in_({run_pk for run_pk, _, _ in wanted}),
            rtif.task_id.in_({task_id for _, task_id, _ in wanted}),
        )
    )
    for row in session.execute(query):
        key = (row.run_pk, row.task_id, row.map_index)
        if key not in wanted:
            continue
        fields = row.rendered_fields if isinstance(row.rendered_fields, dict) else {}
        request = {k: fields[k] for k in DESCRIBING_REQUEST_FIELDS if fields.get(k) not in (None, "")}
        if request:
            records[key].values[EVOLINK_REQUEST] = (request, None)


def _value(row: Any) -> Any:
    """The stored value, decoded the way Airflow's own XCom endpoint decodes it."""
    return XComModel.deserialize_value(row)


def rendered_fields(
    session: Session, dag_id: str, run_id: str, task_instances: Collection[tuple[str, int]]
) -> dict[tuple[str, int], dict[str, Any]]:
    """The rendered template fields Airflow kept for these ``(task_id, map_index)`` of one run.

    Only the worker that ran a task instance writes these (the public REST API cannot), so the gallery
    trusts them where it cannot trust XComs. Airflow keeps them for recent runs only
    (``[core] max_num_rendered_ti_fields_per_task``).
    """
    if not task_instances:
        return {}
    rtif = RenderedTaskInstanceFields
    query = select(rtif.task_id, rtif.map_index, rtif.rendered_fields).where(
        rtif.dag_id == dag_id,
        rtif.run_id == run_id,
        tuple_(rtif.task_id, rtif.map_index).in_(list(task_instances)),
    )
    return {
        (row.task_id, row.map_index): row.rendered_fields
        for row in session.execute(query)
        if isinstance(row.rendered_fields, dict)
    }
