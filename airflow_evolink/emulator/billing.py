"""The account balance and the API key's own limit, as GET /v1/credits reports them.

The real account has two figures (Evolink's client, tools/check-balance.js):
  * `user`: the account balance, shared by every key. Charging always needs it.
  * `token`: this key's own spending limit. It counts only when `unlimited_credits` is false; an unlimited
    key still shows a figure (the get-credits example: token 99416.4429 unlimited, user 1095.3996), which
    is not a limit.
A task reserves its credits when it is created (both figures go down, both `used_credits` go up). When
it ends `failed` or `cancelled` the reservation comes back (`refund`), so `used_credits` counts only
completed tasks. The emulator models one account and one key limit, whatever bearer token is sent.
"""

from __future__ import annotations

from typing import Any

from airflow_evolink.emulator.errors import INSUFFICIENT_QUOTA, KEY_QUOTA_EXHAUSTED

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
    """Callers hold the state lock."""

    def __init__(self, user: Credits, token: Credits | None = None, unlimited: bool = True) -> None:
        self._start = (user, user if token is None else token, unlimited)
        self.reset()

    def reset(self) -> None:
        self.user_remaining, self.token_remaining, self.unlimited = self._start
        self.user_used: Credits = 0
        self.token_used: Credits = 0

    # Backwards-compatible names: the spendable balance and what was spent.
    @property
    def remaining(self) -> Credits:
        return self.user_remaining

    @property
    def used(self) -> Credits:
        return self.user_used

    def charge(self, amount: Credits) -> None:
        """Reserve `amount`, or raise CreditShortfall naming which figure is short."""
        if amount > self.user_remaining:
            raise CreditShortfall(
                INSUFFICIENT_QUOTA,
                f"Insufficient account balance: this task needs {amount} credits, "
                f"the account has {self.user_remaining}",
                {"estimated_credits": amount, "account_balance_credits": self.user_remaining},
            )
        if not self.unlimited and amount > self.token_remaining:
            raise CreditShortfall(
                KEY_QUOTA_EXHAUSTED,
                f"This API key's spending limit is used up: this task needs {amount} credits, "
                f"the key has {self.token_remaining} left",
                {
                    "estimated_credits": amount,
                    "account_balance_credits": self.user_remaining,
                    "total_limit_credits": self.token_remaining + self.token_used,
                    "used_credits": self.token_used,
                    "remaining_credits": self.token_remaining,
                },
            )
        self.user_remaining -= amount
        self.user_used += amount
        self.token_remaining -= amount
        self.token_used += amount

    def refund(self, amount: Credits) -> None:
        """Give a reservation back (a failed or cancelled task)."""
        self.user_remaining += amount
        self.user_used -= amount
        self.token_remaining += amount
        self.token_used -= amount

    def set(
        self, *, user: Credits | None = None, token: Credits | None = None, unlimited: bool | None = None
    ) -> None:
        """Change the remaining figures or the key's kind; what was used so far stays."""
        if user is not None:
            self.user_remaining = user
        if token is not None:
            self.token_remaining = token
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
                    "remaining_credits": _figure(self.token_remaining),
                    "used_credits": _figure(self.token_used),
                    "unlimited_credits": self.unlimited,
                },
                "user": {
                    "remaining_credits": _figure(self.user_remaining),
                    "used_credits": _figure(self.user_used),
                },
            },
        }


def _figure(value: Credits) -> Credits:
    """Integers stay integers; fractions show at most 4 decimals, as the real API does."""
    return value if isinstance(value, int) else round(value, 4)
