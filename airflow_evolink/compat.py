"""Imports that moved between Airflow 3 releases, resolved once here."""

from __future__ import annotations

import contextlib
from typing import Any

from airflow.sdk import BaseHook, BaseOperator, BaseOperatorLink, BaseSensorOperator, ObjectStoragePath

try:
    from airflow.sdk.exceptions import AirflowException, AirflowFailException
except ImportError:  # Airflow < 3.1 keeps them in airflow.exceptions
    from airflow.exceptions import AirflowException, AirflowFailException  # type: ignore[no-redef]

try:
    from airflow.sdk.log import mask_secret as _mask_secret
except ImportError:  # pragma: no cover - older task SDK
    try:
        from airflow.sdk.execution_time.secrets_masker import mask_secret as _mask_secret  # type: ignore
    except ImportError:
        from airflow.utils.log.secrets_masker import mask_secret as _mask_secret  # type: ignore

try:
    from airflow.sdk.configuration import conf
except ImportError:  # pragma: no cover
    from airflow.configuration import conf  # type: ignore[no-redef]


def mask_secret(secret: Any) -> None:
    """Register a secret with Airflow's log masker; a no-op outside a configured Airflow process."""
    if secret:
        with contextlib.suppress(Exception):  # masking must never break a task
            _mask_secret(secret)


__all__ = [
    "AirflowException",
    "AirflowFailException",
    "BaseHook",
    "BaseOperator",
    "BaseOperatorLink",
    "BaseSensorOperator",
    "ObjectStoragePath",
    "conf",
    "mask_secret",
]
