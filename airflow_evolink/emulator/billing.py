"""The account balance and the API key's own limit, as GET /v1/credits reports them.

The real account has two figures (Evolink's client, tools/check-balance.js):
  * `user`: the account balance, shared by every key. Charging always needs it.
  * `token`: this key's own spending limit. It counts only when `unlimited_credits` is false; an unlimited
    key still shows a figure (the get-credits example: token 99416.4429 unlimited, user 1095.3996), which
    is not a limit.
A task reserves its price when it is created (both figures go down, both `used_credits` go up). When
it ends `failed` or `cancelled` the reservation comes back (`refund`), so `used_credits` counts only
completed tasks. The emulator models one account and one key limit, whatever bearer token is sent. The
price is what the emulator's published pricing rules say (pricing.py), counted here in UC.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from airflow_evolink.emulator.errors import INSUFFICIENT_QUOTA, KEY_QUOTA_EXHAUSTED
from airflow_evolink.emulator.pricing import UC_PER_CREDIT, credits_figure

Credits = int | float


class CreditShortfall(Exception):
    """A 402 raised before a task is created, so a refused request costs nothing.

    `code` is the gateway's string code and `details` the figures it attaches flat to `error`.
    """

    def __init__(self, code: str, message: str, details: dict[str, Any]) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


#: Kept for callers that caught the old name.
InsufficientCredits = CreditShortfall


class Ledger:
    """The account in UC (integers, so fractional credit prices add up exactly); shown in credits.

    Figures given in credits (the config, the control API) are converted to UC on the way in. Callers
    hold the state lock.
    """

    def __init__(self, user: Credits, token: Credits | None = None, unlimited: bool = True) -> None:
        self._start = (to_uc(user), to_uc(user if token is None else token), unlimited)
        self.reset()

    def reset(self) -> None:
        self.user_remaining_uc, self.token_remaining_uc, self.unlimited = self._start
        self.user_used_uc = 0
        self.token_used_uc = 0

    # Credit figures, as GET /v1/credits shows them.
    @property
    def remaining(self) -> Credits:
        return credits_figure(self.user_remaining_uc)

    @property
    def used(self) -> Credits:
        return credits_figure(self.user_used_uc)

    def charge(self, uc: int) -> None:
        """Reserve ``uc``, or raise CreditShortfall naming which figure is short (figures in credits)."""
        needed = credits_figure(uc)
        if uc > self.user_remaining_uc:
            balance = credits_figure(self.user_remaining_uc)
            raise CreditShortfall(
                INSUFFICIENT_QUOTA,
                f"Insufficient account balance: this task needs {needed} credits, the account has {balance}",
                {"estimated_credits": needed, "account_balance_credits": balance},
            )
        if not self.unlimited and uc > self.token_remaining_uc:
            left = credits_figure(self.token_remaining_uc)
            raise CreditShortfall(
                KEY_QUOTA_EXHAUSTED,
                f"This API key's spending limit is used up: this task needs {needed} credits, "
                f"the key has {left} left",
                {
                    "estimated_credits": needed,
                    "account_balance_credits": credits_figure(self.user_remaining_uc),
                    "total_limit_credits": credits_figure(self.token_remaining_uc + self.token_used_uc),
                    "used_credits": credits_figure(self.token_used_uc),
                    "remaining_credits": left,
                },
            )
        self.user_remaining_uc -= uc
        self.user_used_uc += uc
        self.token_remaining_uc -= uc
        self.token_used_uc += uc

    def refund(self, uc: int) -> None:
        """Give a reservation back (a failed or cancelled task)."""
        self.user_remaining_uc += uc
        self.user_used_uc -= uc
        self.token_remaining_uc += uc
        self.token_used_uc -= uc

    def set(
        self, *, user: Credits | None = None, token: Credits | None = None, unlimited: bool | None = None
    ) -> None:
        """Change the remaining figures (in credits) or the key's kind; what was used so far stays."""
        if user is not None:
            self.user_remaining_uc = to_uc(user)
        if token is not None:
            self.token_remaining_uc = to_uc(token)
        if unlimited is not None:
            self.unlimited = unlimited

    def set_remaining(self, credits: Credits) -> None:
        """Both figures at once (the old single-balance switch)."""
        self.set(user=credits, token=credits)

    def view(self) -> dict[str, Any]:
        """The GET /v1/credits body."""
        return {
            "success": True,
            "message": "ok",
            "data": {
                "token": {
                    "remaining_credits": credits_figure(self.token_remaining_uc),
                    "used_credits": credits_figure(self.token_used_uc),
                    "unlimited_credits": self.unlimited,
                },
                "user": {
                    "remaining_credits": credits_figure(self.user_remaining_uc),
                    "used_credits": credits_figure(self.user_used_uc),
                },
            },
        }


def to_uc(credits: Credits) -> int:
    """Credits (as configured) in UC, to the nearest UC (the API shows at most 4 decimals)."""
    return int((Decimal(repr(credits)) * UC_PER_CREDIT).to_integral_value(rounding=ROUND_HALF_UP))
