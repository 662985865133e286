"""Airflow names that moved between 3.x releases, resolved once here through common-compat."""

from __future__ import annotations

import contextlib
from typing import Any

from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowFailException,
    BaseHook,
    BaseOperator,
    BaseOperatorLink,
    BaseSensorOperator,
    ObjectStoragePath,
    PokeReturnValue,
    conf,
)
from airflow.providers.common.compat.sdk import mask_secret as _mask_secret


def mask_secret(secret: Any) -> None:
    """Register a secret with Airflow's log masker; never let masking break a task."""
    if secret:
        with contextlib.suppress(Exception):
            _mask_secret(secret)


__all__ = [
    "AirflowException",
    "AirflowFailException",
    "BaseHook",
    "BaseOperator",
    "BaseOperatorLink",
    "BaseSensorOperator",
    "ObjectStoragePath",
    "PokeReturnValue",
    "conf",
    "mask_secret",
]
