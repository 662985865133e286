"""The checksum recorded for each downloaded video, by name.

``crc32c`` is the default: Google Cloud Storage records it for every object and Amazon S3 offers it as
an object checksum, so a copy can be checked against the store's own value; with the CPU's CRC
instruction it costs a few percent of a local copy. ``sha256`` is the one to choose when the value must
be cryptographic (dedup against untrusted sources, signatures); it runs at about 1.7 GB/s per core,
slower than a local disk.
Values are recorded as ``"<algorithm>:<lowercase hex>"`` so a record says how it was made.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import google_crc32c

DEFAULT_CHECKSUM = "crc32c"


class Checksum(Protocol):
    def update(self, data: bytes | memoryview, /) -> None: ...

    def hexdigest(self) -> str: ...


class Crc32c:
    """CRC-32C (Castagnoli), hardware accelerated through ``google-crc32c``."""

    def __init__(self) -> None:
        self._value = 0

    def update(self, data: bytes | memoryview, /) -> None:
        # The C extension takes only bytes; the download hands it bytes, so this copies nothing there.
        self._value = google_crc32c.extend(self._value, data if isinstance(data, bytes) else bytes(data))

    def hexdigest(self) -> str:
        return f"{self._value:08x}"


@dataclass(frozen=True)
class ChecksumKind:
    """How to make one, and whether it is slow enough per byte to be worth a second thread."""

    new: Callable[[], Checksum]
    background: bool


CHECKSUMS: dict[str, ChecksumKind] = {
    # About 16 GB/s: summed inline, a thread handoff per chunk would cost more than the sum.
    "crc32c": ChecksumKind(Crc32c, background=False),
    # About 1.7 GB/s per core: summed on a second thread (hashlib releases the GIL) while bytes flow.
    "sha256": ChecksumKind(hashlib.sha256, background=True),
}


def check_checksum_name(name: str | None, field: str = "checksum") -> str | None:
    """Return ``name`` if it is a known algorithm or ``None`` (record no checksum), else raise ValueError."""
    if name is None or name in CHECKSUMS:
        return name
    choices = ", ".join(repr(known) for known in CHECKSUMS)
    raise ValueError(f"{field} must be one of {choices} or None (got {name!r})")


def new_checksum(name: str) -> Checksum:
    return CHECKSUMS[name].new()
