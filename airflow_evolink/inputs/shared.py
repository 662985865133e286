"""Uploads other task instances made, so a file already uploaded within its 72 h is not uploaded again.

Kept in one Airflow Variable (``evolink_uploads``): ``{"<file service>|<fingerprint>": {file_id, file_url,
expires_at, source}}``, pruned of expired entries on each write. Two tasks writing at once may lose an
entry; the cost is one upload more, never a wrong file, since an entry is used only after the file service
still serves its URL. Where Variables cannot be read or written (no metadata access, Airflow 3.0 without
``Variable.set``), nothing is shared and each task instance uploads for itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import requests

VARIABLE = "evolink_uploads"


class SharedUploads:
    """The uploads of one file service, by file fingerprint, across task instances and runs."""

    def __init__(self, files_base_url: str, log: Any = None) -> None:
        self._prefix = f"{files_base_url.rstrip('/')}|"
        self._log = log

    def get(self, fingerprint: str) -> dict[str, Any] | None:
        record = self._read().get(self._prefix + fingerprint)
        return dict(record) if isinstance(record, Mapping) else None

    def put(self, fingerprint: str, record: Mapping[str, Any], now: float) -> None:
        entries = {key: value for key, value in self._read().items() if _live(value, now)}
        entries[self._prefix + fingerprint] = dict(record)
        self._write(entries)

    def forget(self, file_ids: set[str]) -> None:
        entries = self._read()
        kept = {
            k: v for k, v in entries.items() if not (isinstance(v, Mapping) and v.get("file_id") in file_ids)
        }
        if len(kept) != len(entries):
            self._write(kept)

    @staticmethod
    def still_served(file_url: str, session: requests.Session | None = None) -> bool:
        """Whether the file service still serves the file (it may have been deleted from another place)."""
        try:
            response = (session or requests).head(file_url, timeout=(5, 10), allow_redirects=True)
        except requests.RequestException:
            return False
        return response.status_code < 400

    def _read(self) -> dict[str, Any]:
        try:
            from airflow.sdk import Variable

            value = Variable.get(VARIABLE, default=None)
        except Exception as exc:  # no Variable access here: share nothing
            self._note("cannot read", exc)
            return {}
        if not value:
            return {}
        try:
            data = json.loads(value) if isinstance(value, str) else value
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def _write(self, entries: Mapping[str, Any]) -> None:
        try:
            from airflow.sdk import Variable

            Variable.set(VARIABLE, json.dumps(entries, sort_keys=True))
        except Exception as exc:
            self._note("cannot write", exc)

    def _note(self, what: str, exc: Exception) -> None:
        if self._log is not None:
            self._log.info("Shared uploads (Variable %s) %s: %s; uploads are not shared", VARIABLE, what, exc)


def _live(record: Any, now: float) -> bool:
    return isinstance(record, Mapping) and float(record.get("expires_at") or 0) > now
