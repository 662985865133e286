"""Small helpers that paper over Airflow 3.x differences in the tests themselves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: Example DAGs that fail to load on Airflow 3.0 on purpose, with a message naming the version they need.
NEEDS_AIRFLOW_3_1 = {"example_evolink_review_and_publish.py": "needs Airflow 3.1 or newer"}


def expected_import_errors(import_errors: dict[str, str]) -> dict[str, str]:
    """The import errors that are expected here: on Airflow 3.0, those of ``NEEDS_AIRFLOW_3_1``."""
    from airflow_evolink.version_compat import AIRFLOW_V_3_1_PLUS

    if AIRFLOW_V_3_1_PLUS:
        return {}
    return {
        path: error
        for path, error in import_errors.items()
        if any(Path(path).name == name and message in error for name, message in NEEDS_AIRFLOW_3_1.items())
    }


def dag_bag(folder: Path) -> Any:
    """A DagBag of ``folder`` with no import errors but the expected ones (DagBag moved in Airflow 3.1)."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.0
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

    import inspect

    kwargs = {"include_examples": False} if "include_examples" in inspect.signature(DagBag).parameters else {}
    bag = DagBag(dag_folder=str(folder), **kwargs)
    unexpected = {
        path: error
        for path, error in bag.import_errors.items()
        if path not in expected_import_errors(bag.import_errors)
    }
    assert unexpected == {}, unexpected
    return bag


def xcom_values(dag_run: Any, task_id: str, key: str = "return_value") -> list[Any]:
    """XCom values of ``task_id`` in this run, one per map index, read from the metadata DB."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(XComModel.map_index, XComModel.value)
            .where(XComModel.dag_id == dag_run.dag_id, XComModel.run_id == dag_run.run_id)
            .where(XComModel.task_id == task_id, XComModel.key == key)
            .order_by(XComModel.map_index)
        ).all()
    return [value for _, value in rows]


def xcom_keys_of(dag_run: Any, task_id: str) -> set[str]:
    """Every XCom key ``task_id`` pushed in this run."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        keys = session.scalars(
            select(XComModel.key)
            .where(XComModel.dag_id == dag_run.dag_id, XComModel.run_id == dag_run.run_id)
            .where(XComModel.task_id == task_id)
        ).all()
    return set(keys)


def rendered_map_indexes(dag_run: Any, task_id: str) -> list[str | None]:
    """The names the UI shows for each mapped instance of ``task_id``, by map index."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return list(
            session.scalars(
                select(TaskInstance.rendered_map_index)
                .where(TaskInstance.dag_id == dag_run.dag_id, TaskInstance.run_id == dag_run.run_id)
                .where(TaskInstance.task_id == task_id)
                .order_by(TaskInstance.map_index)
            ).all()
        )
