"""Small helpers that paper over Airflow 3.x differences in the tests themselves."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def dag_bag(folder: Path) -> Any:
    """A DagBag of ``folder`` with no import errors (DagBag moved in Airflow 3.1)."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.0
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

    import inspect

    kwargs = {"include_examples": False} if "include_examples" in inspect.signature(DagBag).parameters else {}
    bag = DagBag(dag_folder=str(folder), **kwargs)
    assert bag.import_errors == {}, bag.import_errors
    return bag
