"""Read the gallery's XComs and task instance rows from Airflow's metadata database (api-server side).

Only the keys the provider writes are read, and ``return_value`` only for task instances that carry one
of them, so other tasks' (possibly large) return values are never loaded.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from airflow.models.renderedtifields import RenderedTaskInstanceFields
from airflow.models.taskinstance import TaskInstance
from airflow.models.xcom import XComModel
from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

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


def recent_runs(
    session: Session,
    dag_ids: Collection[str],
    *,
    dag_id: str | None = None,
    run_id: str | None = None,
    limit: int = 100,
) -> list[RunKey]:
    """The DAG runs that submitted or watched an Evolink task, newest first, among ``dag_ids``."""
    if not dag_ids:
        return []
    newest = func.max(XComModel.timestamp)
    query = (
        select(XComModel.dag_id, XComModel.run_id)
        .where(XComModel.key.in_((xcom_keys.EVOLINK_TASK, TASK_ID_KEY)))
        .where(XComModel.dag_id.in_(list(dag_ids)))
        .group_by(XComModel.dag_id, XComModel.run_id)
        .order_by(newest.desc())
        .limit(limit)
    )
    if dag_id:
        query = query.where(XComModel.dag_id == dag_id)
    if run_id:
        query = query.where(XComModel.run_id == run_id)
    return [(row[0], row[1]) for row in session.execute(query)]


def load_runs(session: Session, runs: Iterable[RunKey]) -> list[TaskInstanceXComs]:
    """Every task instance of these runs that wrote a gallery key, with those values, in run order."""
    runs = list(dict.fromkeys(runs))
    if not runs:
        return []
    run_filter = tuple_(XComModel.dag_id, XComModel.run_id).in_(runs)
    rows = session.execute(
        select(
            XComModel.dag_id,
            XComModel.run_id,
            XComModel.task_id,
            XComModel.map_index,
            XComModel.key,
            XComModel.value,
            XComModel.timestamp,
        )
        .where(run_filter)
        .where(XComModel.key.in_(GALLERY_KEYS))
    ).all()
    records: dict[tuple[str, str, str, int], TaskInstanceXComs] = {}
    for row in rows:
        key = (row.dag_id, row.run_id, row.task_id, row.map_index)
        record = records.get(key)
        if record is None:
            record = records[key] = TaskInstanceXComs(
                row.dag_id, row.run_id, TaskInstanceInfo(row.task_id, row.map_index)
            )
        record.values[row.key] = (_value(row), row.timestamp)
    if not records:
        return []
    _add_return_values(session, records)
    _add_task_instances(session, records)
    _add_rendered_requests(session, records)
    # Runs in the order asked; in a run, tasks in the order they started, a mapped task's indices in order.
    order = {run: position for position, run in enumerate(runs)}
    task_started: dict[tuple[str, str, str], float] = {}
    for r in records.values():
        started = r.ti.start_date.timestamp() if r.ti.start_date else float("inf")
        key3 = (r.dag_id, r.run_id, r.ti.task_id)
        task_started[key3] = min(started, task_started.get(key3, float("inf")))
    return sorted(
        records.values(),
        key=lambda r: (
            order[(r.dag_id, r.run_id)],
            task_started[(r.dag_id, r.run_id, r.ti.task_id)],
            r.ti.task_id,
            r.ti.map_index,
        ),
    )


def _add_return_values(session: Session, records: dict[tuple[str, str, str, int], Any]) -> None:
    keys = list(records)
    query = select(
        XComModel.dag_id,
        XComModel.run_id,
        XComModel.task_id,
        XComModel.map_index,
        XComModel.value,
        XComModel.timestamp,
    ).where(
        tuple_(XComModel.dag_id, XComModel.run_id, XComModel.task_id, XComModel.map_index).in_(keys),
        XComModel.key == RETURN_VALUE,
    )
    for row in session.execute(query):
        records[(row.dag_id, row.run_id, row.task_id, row.map_index)].values[RETURN_VALUE] = (
            _value(row),
            row.timestamp,
        )


def _add_task_instances(session: Session, records: dict[tuple[str, str, str, int], Any]) -> None:
    query = select(
        TaskInstance.dag_id,
        TaskInstance.run_id,
        TaskInstance.task_id,
        TaskInstance.map_index,
        TaskInstance.state,
        TaskInstance.start_date,
        TaskInstance.end_date,
        TaskInstance.rendered_map_index,  # type: ignore[call-overload]  # a hybrid property
    ).where(
        tuple_(TaskInstance.dag_id, TaskInstance.run_id, TaskInstance.task_id, TaskInstance.map_index).in_(
            list(records)
        )
    )
    for row in session.execute(query):
        record = records[(row.dag_id, row.run_id, row.task_id, row.map_index)]
        record.ti = TaskInstanceInfo(
            task_id=row.task_id,
            map_index=row.map_index,
            state=str(row.state) if row.state is not None else None,
            start_date=row.start_date,
            end_date=row.end_date,
            rendered_map_index=row.rendered_map_index,
        )


#: Request fields shown from a submit task's rendered template fields (never its connection or extras).
_RENDERED_REQUEST_FIELDS = (
    "model",
    "prompt",
    "negative_prompt",
    "image_start",
    "image_end",
    "image_urls",
    "duration",
    "aspect_ratio",
    "quality",
)


def _add_rendered_requests(session: Session, records: dict[tuple[str, str, str, int], Any]) -> None:
    """For submit tasks that pushed no ``evolink_request`` (older provider versions), the request fields
    Airflow kept among the task's rendered template fields (kept for the most recent runs only)."""
    wanted = [
        key
        for key, record in records.items()
        if EVOLINK_REQUEST not in record.values and TASK_ID_KEY in record.values
    ]
    if not wanted:
        return
    rtif = RenderedTaskInstanceFields
    query = select(rtif.dag_id, rtif.run_id, rtif.task_id, rtif.map_index, rtif.rendered_fields).where(
        tuple_(rtif.dag_id, rtif.run_id, rtif.task_id, rtif.map_index).in_(wanted)
    )
    for row in session.execute(query):
        fields = row.rendered_fields if isinstance(row.rendered_fields, dict) else {}
        request = {k: fields[k] for k in _RENDERED_REQUEST_FIELDS if fields.get(k) not in (None, "")}
        if request:
            records[(row.dag_id, row.run_id, row.task_id, row.map_index)].values[EVOLINK_REQUEST] = (
                request,
                None,
            )


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
