"""The files the emulated file service holds, and its upload receipts (see uploads.py for the routes)."""

from __future__ import annotations

import contextlib
import itertools
import secrets
import tempfile
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from airflow_evolink.emulator.config import check_receipts_status

#: Where a held file is served: its ``file_url`` is ``{base}/uploads/{file_id}/{name}``.
SERVE_PREFIX = "/uploads"


@dataclass
class StoredFile:
    file_id: str
    name: str
    size: int
    mime_type: str
    path: Path
    created: float  # clock.now()
    created_wall: float
    expires_wall: float
    #: The ``X-Evo-Upload-Id`` the upload carried, if any.
    upload_id: str | None = None

    def view(self, base: str, ttl: float) -> dict[str, Any]:
        url = f"{base}{SERVE_PREFIX}/{self.file_id}/{self.name}"
        return {
            "file_id": self.file_id,
            "file_name": self.name,
            "file_size": self.size,
            "mime_type": self.mime_type,
            "file_url": url,
            "download_url": url + "?download=1",
            "created_at": _iso(self.created_wall),
            "expires_at": _iso(self.expires_wall),
        }


@dataclass
class Receipt:
    """What the service knows of one named upload: ``done`` (stored, ``file_id``) or ``outcome_unknown``
    (the body stopped arriving, nothing stored)."""

    upload_id: str
    state: str
    file_id: str | None = None
    result_verified: bool = False


class UploadStore:
    """Files held by the emulated service, on disk in a private temporary folder, and the receipts of
    named uploads, by (API key, upload id). Callers hold the lock for the dicts; bytes are written outside
    it."""

    def __init__(self, receipts_status: int = 200) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="evolink-emulator-uploads-")
        self.files: dict[str, StoredFile] = {}
        #: Uploads the service accepted (every route), since the last reset: tests count them.
        self.uploads = 0
        self.deleted = 0
        #: The ``X-Evo-Upload-Id`` of every upload request that reached a route, in order (None: none sent).
        self.upload_ids: list[str | None] = []
        self.receipts: dict[tuple[str, str], Receipt] = {}
        self._default_receipts_status = check_receipts_status(receipts_status)
        #: 200 serves receipts; 404 or 405 answers the route as an older file service does.
        self.receipts_status = self._default_receipts_status
        self._ids = itertools.count(1)
        self._id_lock = threading.Lock()

    def new_part(self) -> tuple[str, Path]:
        with self._id_lock:
            file_id = f"file-{next(self._ids):06d}-{secrets.token_hex(4)}"
        return file_id, Path(self._dir.name) / file_id

    def expire(self, now: float, ttl: float) -> None:
        for file_id, stored in list(self.files.items()):
            if now - stored.created >= ttl:
                self._drop(file_id)

    def remove(self, file_id: str) -> bool:
        if file_id not in self.files:
            return False
        self._drop(file_id)
        self.deleted += 1
        return True

    def _drop(self, file_id: str) -> None:
        stored = self.files.pop(file_id)
        with contextlib.suppress(OSError):
            stored.path.unlink()

    def clear(self) -> None:
        for file_id in list(self.files):
            self._drop(file_id)
        self.uploads = self.deleted = 0
        self.upload_ids.clear()
        self.receipts.clear()
        self.receipts_status = self._default_receipts_status


def _iso(seconds: float) -> str:
    return (
        datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    )
