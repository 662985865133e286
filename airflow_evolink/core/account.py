"""The account balance from GET /v1/credits."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from airflow_evolink.core.errors import EvolinkResponseError


class EvolinkCredits(BaseModel):
    """Remaining and used credits of the API key (``token``), falling back to the user's totals."""

    model_config = ConfigDict(frozen=True)

    remaining_credits: float | None
    used_credits: float | None
    unlimited: bool = False


def parse_credits(data: Any) -> EvolinkCredits:
    if not isinstance(data, dict) or not isinstance(data.get("data"), dict):
        raise EvolinkResponseError("Evolink credits response has no 'data' object")
    inner = data["data"]
    token = inner.get("token") if isinstance(inner.get("token"), dict) else {}
    user = inner.get("user") if isinstance(inner.get("user"), dict) else {}
    source = token if token.get("remaining_credits") is not None else user
    return EvolinkCredits(
        remaining_credits=_number(source.get("remaining_credits")),
        used_credits=_number(source.get("used_credits")),
        unlimited=bool(token.get("unlimited_credits", False)),
    )


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
