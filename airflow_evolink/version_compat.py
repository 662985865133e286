"""Everything that differs between Airflow 3.x releases, in one place.

Version gates (``AIRFLOW_V_3_1_PLUS``...) let features that need a newer Airflow degrade instead of failing to
import. Names that moved between releases (``BaseOperator``, ``conf``, the exceptions...) are resolved
through ``apache-airflow-providers-common-compat`` on first use, not at import: the provider info and the
plugin entry point read the gates while Airflow itself is still starting, where importing the Task SDK would
cost time (and could import Airflow from inside its own start-up).
"""

from __future__ import annotations

import contextlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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


def _airflow_version_tuple() -> tuple[int, int, int]:
    try:
        raw = version("apache-airflow-core")
    except PackageNotFoundError:
        raw = version("apache-airflow")
    parts = []
    for piece in raw.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    while len(parts) < 3:
        parts.append(0)
    return parts[0], parts[1], parts[2]


AIRFLOW_VERSION = _airflow_version_tuple()
AIRFLOW_V_3_1_PLUS = AIRFLOW_VERSION >= (3, 1, 0)
AIRFLOW_V_3_3_PLUS = AIRFLOW_VERSION >= (3, 3, 0)

#: Names taken from common-compat's ``sdk`` module (the Task SDK where it has them, older paths otherwise).
_SDK_NAMES = frozenset(
    {
        "AirflowException",
        "AirflowFailException",
        "BaseHook",
        "BaseOperator",
        "BaseOperatorLink",
        "BaseSensorOperator",
        "ObjectStoragePath",
        "PokeReturnValue",
        "conf",
    }
)


def mask_secret(secret: Any) -> None:
    """Register a secret with Airflow's log masker; never let masking break a task."""
    if not secret:
        return
    from airflow.providers.common.compat.sdk import mask_secret as _mask_secret

    with contextlib.suppress(Exception):
        _mask_secret(secret)


def __getattr__(name: str) -> Any:
    if name in _SDK_NAMES:
        from airflow.providers.common.compat import sdk

        value = getattr(sdk, name)
        globals()[name] = value  # resolved once
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AIRFLOW_VERSION",
    "AIRFLOW_V_3_1_PLUS",
    "AIRFLOW_V_3_3_PLUS",
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
