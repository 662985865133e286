"""Kept so existing imports work: Airflow's version differences live in :mod:`airflow_evolink.version_compat`."""

from __future__ import annotations

from airflow_evolink.version_compat import (
    AirflowException,
    AirflowFailException,
    BaseHook,
    BaseOperator,
    BaseOperatorLink,
    BaseSensorOperator,
    ObjectStoragePath,
    PokeReturnValue,
    conf,
    mask_secret,
)

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
