"""Version gates, so features that need a newer Airflow degrade instead of failing to import."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


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
