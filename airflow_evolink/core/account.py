"""The account balance from GET /v1/credits, and what a key can actually spend."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from airflow_evolink.core.errors import EvolinkResponseError

#: The gateway's display rate (kept here for earlier imports; :mod:`airflow_evolink.core.money` owns it).
CREDITS_PER_USD = 68


class EvolinkCredits(BaseModel):
    """The account's balance (``user``) and the key's own limit (``token``).

    The account balance is what every key of the account spends; a key's figure is its own spending limit
    and counts only when the key is not unlimited (evolink-cli ``tools/check-balance.js``). So the figure
    that decides whether a request can be paid is :attr:`spendable_credits`.
    """

    model_config = ConfigDict(frozen=True)

    user_remaining_credits: float | None = None
    user_used_credits: float | None = None
    token_remaining_credits: float | None = None
    token_used_credits: float | None = None
    token_unlimited: bool = False

    @property
    def spendable_credits(self) -> float | None:
        """The account balance, capped by the key's remaining limit when the key is limited."""
        figures = [self.user_remaining_credits]
        if not self.token_unlimited:
            figures.append(self.token_remaining_credits)
        known = [figure for figure in figures if figure is not None]
        return min(known) if known else None

    @property
    def remaining_credits(self) -> float | None:
        """Alias of :attr:`spendable_credits`, the figure earlier versions reported under this name."""
        return self.spendable_credits

    @property
    def used_credits(self) -> float | None:
        return self.user_used_credits if self.user_used_credits is not None else self.token_used_credits

    @property
    def unlimited(self) -> bool:
        """Whether the key has no limit of its own (the account balance still applies)."""
        return self.token_unlimited

    def describe(self) -> str:
        """Both figures for people: ``account balance 1,095.4 credits; key limit: none``."""
        account = format_credits(self.user_remaining_credits)
        key = "none" if self.token_unlimited else f"{format_credits(self.token_remaining_credits)} left"
        return f"account balance {account}; key limit: {key}"


def format_credits(value: float | None) -> str:
    """Credits for people, in credits only: ``1,095.4 credits``.

    No dollar figure: this is for figures whose unit the API does not state for certain (the balance, a
    reservation). Amounts whose unit is certain use :func:`airflow_evolink.core.money.format_known_credits`.
    """
    if value is None:
        return "unknown"
    text = f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{text} credits"


def format_reported(name: str, value: float | None) -> str:
    """A figure exactly as the API gives it, under its field name: ``credits_reserved as reported: 270,000``.

    For ``usage.credits_reserved``, whose unit the doc pages disagree on (credits or UC): it is never
    converted, nor given a dollar figure.
    """
    if value is None:
        return f"{name} as reported: none"
    text = f"{value:,.4f}".rstrip("0").rstrip(".")
    return f"{name} as reported: {text}"


def parse_credits(data: Any) -> EvolinkCredits:
    if not isinstance(data, dict) or not isinstance(data.get("data"), dict):
        raise EvolinkResponseError("Evolink credits response has no 'data' object")
    inner = data["data"]
    token = inner.get("token") if isinstance(inner.get("token"), dict) else {}
    user = inner.get("user") if isinstance(inner.get("user"), dict) else {}
    return EvolinkCredits(
        user_remaining_credits=_number(user.get("remaining_credits")),
        user_used_credits=_number(user.get("used_credits")),
        token_remaining_credits=_number(token.get("remaining_credits")),
        token_used_credits=_number(token.get("used_credits")),
        token_unlimited=token.get("unlimited_credits") is True,
    )


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None
