"""Evolink's money units, and amounts shown with theirs.

Evolink's gateway counts in UC, an integer unit: 1 credit = 10,000 UC, and 68 credits = US$1, so
UC / 680,000 = USD (../shared facts, from Evolink's own client: ``services/pricing-rules-estimate.js``,
``services/error-handler.js``). A figure is shown in dollars only where its unit is certain: an amount in
UC or credits from a price rule, ``usage.cost`` or ``billing.*_credits``. ``usage.credits_reserved`` has no
settled unit (the doc pages disagree), so it is shown as the API gives it, never converted.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

UC_PER_CREDIT = 10_000
CREDITS_PER_USD = 68
UC_PER_USD = UC_PER_CREDIT * CREDITS_PER_USD  # 680,000


def uc_to_credits(uc: int | Decimal) -> Decimal:
    return Decimal(uc) / UC_PER_CREDIT


def uc_to_usd(uc: int | Decimal) -> Decimal:
    return Decimal(uc) / UC_PER_USD


def credits_to_uc(credits: int | float | str | Decimal) -> Decimal:
    """Exact (a float goes through its shortest repr, so 5.4 is 54,000 UC, not 53,999.99...)."""
    return _decimal(credits) * UC_PER_CREDIT


def usd_to_uc(usd: int | float | str | Decimal) -> Decimal:
    """Exact, possibly fractional: a cap of $0.40 is 272,000 UC; a cap between two UC stays between."""
    return _decimal(usd) * UC_PER_USD


def format_uc(uc: int | Decimal) -> str:
    """``27 credits (270,000 UC, ~$0.40)``: an amount whose unit is certain, with its dollar figure."""
    credits = uc_to_credits(uc)
    return f"{plain_decimal(credits)} credits ({plain_decimal(Decimal(uc))} UC, {_usd(uc_to_usd(uc))})"


def format_known_credits(credits: int | float | str | Decimal | None) -> str:
    """Credits whose unit is certain (``usage.cost.credits``, ``billing.charged_credits``), with dollars."""
    if credits is None:
        return "unknown"
    value = _decimal(credits)
    return f"{plain_decimal(value)} credits ({_usd(value / CREDITS_PER_USD)})"


def _decimal(value: int | float | str | Decimal) -> Decimal:
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value)


def plain_decimal(value: Decimal, *, grouped: bool = True) -> str:
    """No exponent, no trailing zeros, thousands separators unless ``grouped`` is false.

    ``1,095.3996`` and ``270,000`` to read; ``1095.3996`` (``grouped=False``) where a program reads it.
    """
    text = f"{value:,f}" if grouped else f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _usd(value: Decimal) -> str:
    cents = value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if value and not cents:
        return "<$0.01"
    return f"~${cents:,.2f}"
