"""The gateway's idempotency ledger for paid POSTs, keyed by (API key, Idempotency-Key).

What the real gateway does (Evolink's own client, services/api-client.js and http-policy.js):
  * A key is 16-96 characters of `[A-Za-z0-9._-]`; anything else is refused with 400.
  * The same key and the same body replay the first answer, with header `idempotency-replayed: true`,
    and create (and charge) nothing.
  * The same key with another body answers 409 `idempotency_conflict`.
  * The same key while the first request is still being processed answers 409 `paid_outcome_unknown`:
    wait, then retry with the same key.
The key is claimed when the POST arrives (before any injected delay) and kept once a task exists, even
if a fault then replaced the answer (a 502, a reset, a delay past the client's timeout): that is the
case the ledger exists for.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

#: The gateway accepts Idempotency-Key values of this shape only.
KEY_PATTERN = re.compile(r"[A-Za-z0-9._-]{16,96}")
#: Response header that marks a replayed answer.
REPLAYED_HEADER = "idempotency-replayed"

Owner = tuple[str, str]  # (API key, Idempotency-Key)


def valid_key(key: str) -> bool:
    return KEY_PATTERN.fullmatch(key) is not None


def fingerprint(body: dict[str, Any]) -> str:
    """The same JSON object gives the same print whatever its key order."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class Entry:
    """One key: in flight until `response` is set by the request that created the task."""

    fingerprint: str = ""
    task_id: str | None = None
    response: str | None = None

    @property
    def in_flight(self) -> bool:
        return self.response is None


class IdempotencyLedger:
    """Entries per (API key, Idempotency-Key). Not locked itself; callers hold the state lock."""

    def __init__(self) -> None:
        self._entries: dict[Owner, Entry] = {}

    def claim(self, owner: Owner) -> bool:
        """Mark `owner` in flight when its POST arrives; False if another request holds it in flight.

        A key whose task already exists stays as it is (the handler replays it).
        """
        entry = self._entries.get(owner)
        if entry is None:
            self._entries[owner] = Entry()
            return True
        return not entry.in_flight

    def get(self, owner: Owner) -> Entry | None:
        return self._entries.get(owner)

    def record(self, owner: Owner, print_: str, task_id: str, response: str) -> None:
        """The task exists: from now on the key replays `response`, whatever the wire saw."""
        self._entries[owner] = Entry(print_, task_id, response)

    def release(self, owner: Owner) -> None:
        """The claiming request ended without creating a task: forget the key, so a retry runs anew."""
        entry = self._entries.get(owner)
        if entry is not None and entry.in_flight:
            del self._entries[owner]

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()
