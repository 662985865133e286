"""The account's credit balance, as GET /v1/credits reports it."""

from __future__ import annotations

from typing import Any


class InsufficientCredits(Exception):
    """Raised before a task is created, so a refused request costs nothing."""


class Ledger:
    """Credits are reserved in full when a task is created and never refunded (keeps tests simple)."""

    def __init__(self, credits: int) -> None:
        self._start = credits
        self.remaining = credits
        self.used = 0

    def charge(self, amount: int) -> None:
        if amount > self.remaining:
            raise InsufficientCredits(
                f"Insufficient credits: this task needs {amount}, the account has {self.remaining}"
            )
        self.remaining -= amount
        self.used += amount

    def set_remaining(self, credits: int) -> None:
        self.remaining = credits

    def reset(self) -> None:
        self.remaining = self._start
        self.used = 0

    def view(self) -> dict[str, Any]:
        """The GET /v1/credits body."""
        return {
            "success": True,
            "message": "ok",
            "data": {
                "token": {
                    "remaining_credits": self.remaining,
                    "used_credits": self.used,
                    "unlimited_credits": False,
                },
                "user": {"remaining_credits": self.remaining, "used_credits": self.used},
            },
        }
