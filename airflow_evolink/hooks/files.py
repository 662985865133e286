"""A client for Evolink's file service: stream a file up, read the quota, delete a file.

The service lives on its own host (``https://files-api.evolink.ai``, the connection extra ``files_base_url``
overrides it) and takes the same Bearer key as the API. What Evolink's own clients on GitHub document
(EvoLinkAI/evolink-media-mcp ``services/file-client.ts`` and ``oc-skill-video/references/file-api.md``;
deeplearning-goethe/evolink-cli ``services/file-client.js``): ``POST /api/v1/files/upload/stream`` with a
multipart field ``file``; the answer ``{success, code, msg, data{file_id, file_url, download_url,
expires_at}}``; files live 72 hours, at most 100 MB each, and an account holds at most 100 files (500 for
VIP). How the service answers a full quota is not documented: this client treats the code
``file_quota_exceeded``, or a message about the quota, as that.

Uploads are not paid, so a failed one is sent again under the hook's :class:`RetryPolicy`; each send
re-opens the file and streams it in 1 MiB chunks with a ``Content-Length``, so memory stays flat and no
temporary copy is made.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO

import requests
from tenacity import Retrying

from airflow_evolink.core.errors import EvolinkAPIError, EvolinkConnectionError, EvolinkResponseError
from airflow_evolink.core.protocol import USER_AGENT, ApiCall, error_from_response
from airflow_evolink.core.retry import RetryPolicy
from airflow_evolink.hooks.connection import DEFAULT_FILES_BASE_URL

__all__ = ["DEFAULT_FILES_BASE_URL", "EvolinkFileQuotaError", "FileServiceClient", "UploadedFile"]

FILES_PREFIX = "/api/v1/files"
UPLOAD_STREAM_PATH = f"{FILES_PREFIX}/upload/stream"
QUOTA_PATH = f"{FILES_PREFIX}/quota"
#: Largest file the service takes. "100 MB" is read as 100 MiB, the larger reading: never refuse what
#: the service may accept (a file between the two readings is refused by the service, for free).
MAX_UPLOAD_BYTES = 100 * 1024 * 1024
#: Files the service keeps per account (500 for VIP accounts).
FILE_QUOTA = 100
#: Hours an uploaded file lives.
FILE_TTL_SECONDS = 72 * 3600
QUOTA_CODES = frozenset({"file_quota_exceeded", "quota_exceeded", "file_limit_exceeded"})
CHUNK_BYTES = 1024 * 1024


class EvolinkFileQuotaError(EvolinkAPIError):
    """The file service holds as many files as the account may keep: nothing more can be uploaded."""


@dataclass(frozen=True)
class UploadedFile:
    """What the file service answered for one upload. ``expires_at`` is Unix seconds."""

    file_id: str
    file_url: str
    download_url: str | None
    expires_at: float


class MultipartStream:
    """A ``multipart/form-data`` body with one file part, produced chunk by chunk.

    ``len()`` is the exact body size, so ``requests`` sends a ``Content-Length`` instead of chunked
    encoding; iterating opens the file anew, so a retry sends it from the start.
    """

    def __init__(
        self, opener: Callable[[], BinaryIO], size: int, filename: str, content_type: str, field: str = "file"
    ) -> None:
        self._opener = opener
        self._size = size
        self.boundary = f"evolink-{uuid.uuid4().hex}"
        safe_name = filename.replace("\\", "_").replace('"', "_").replace("\r", "").replace("\n", "")
        self._head = (
            f"--{self.boundary}\r\n"
            f'Content-Disposition: form-data; name="{field}"; filename="{safe_name}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        self._tail = f"\r\n--{self.boundary}--\r\n".encode()
        #: Bytes of the file handed to the connection so far (for messages after a failure).
        self.sent = 0

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __len__(self) -> int:
        return len(self._head) + self._size + len(self._tail)

    def __iter__(self) -> Iterator[bytes]:
        yield self._head
        with self._opener() as source:
            while chunk := source.read(CHUNK_BYTES):
                self.sent += len(chunk)
                if self.sent > self._size:
                    raise OSError(f"the file grew while it was being uploaded (past {self._size} bytes)")
                yield chunk
        if self.sent != self._size:
            raise OSError(f"the file shrank while it was being uploaded ({self.sent} of {self._size} bytes)")
        yield self._tail


class FileServiceClient:
    """Upload, quota and delete calls, each retried under ``retry_policy`` (all are free to repeat)."""

    def __init__(
        self,
        session: requests.Session,
        base_url: str,
        api_key: str,
        *,
        retry_policy: RetryPolicy | None = None,
        timeout: tuple[float, float] = (10.0, 300.0),
        log: Any = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.retry_policy = retry_policy or RetryPolicy()
        self.timeout = timeout
        self.log = log
        self._sleep = sleep

    def upload_stream(
        self, opener: Callable[[], BinaryIO], *, size: int, filename: str, content_type: str
    ) -> UploadedFile:
        """Stream one file to ``POST /api/v1/files/upload/stream`` and return what the service stored."""

        def attempt() -> UploadedFile:
            body = MultipartStream(opener, size, filename, content_type)
            data = self._send("POST", UPLOAD_STREAM_PATH, body, {"Content-Type": body.content_type})
            return parse_uploaded(data)

        return self._retrying("POST", UPLOAD_STREAM_PATH)(attempt)

    def delete(self, file_id: str) -> bool:
        """Delete one file; ``False`` when the service no longer has it (expired or already deleted)."""
        path = f"{FILES_PREFIX}/{file_id}"
        try:
            self._retrying("DELETE", path)(lambda: self._send("DELETE", path))
        except EvolinkAPIError as exc:
            if exc.http_status == 404:
                return False
            raise
        return True

    def quota(self) -> Any:
        """``GET /api/v1/files/quota``: the service's own figures, as it sends them."""
        return self._retrying("GET", QUOTA_PATH)(lambda: self._send("GET", QUOTA_PATH)).get("data")

    def _retrying(self, method: str, path: str) -> Retrying:
        kwargs = self.retry_policy.tenacity_kwargs(ApiCall(method, path), self.log)
        if self._sleep is not None:
            kwargs["sleep"] = self._sleep
        return Retrying(**kwargs)

    def _send(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        url = self.base_url + path
        all_headers = {
            "Authorization": f"Bearer {self._api_key}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
            **(headers or {}),
        }
        try:
            response = self.session.request(
                method, url, data=body, headers=all_headers, timeout=self.timeout, allow_redirects=False
            )
        except requests.exceptions.ConnectTimeout as exc:
            raise EvolinkConnectionError(f"could not connect to {self.base_url}: {exc}", sent=False) from None
        except requests.exceptions.RequestException as exc:
            sent = f" after {body.sent} bytes of the file" if isinstance(body, MultipartStream) else ""
            raise EvolinkConnectionError(
                f"{method} {path} to {self.base_url} failed{sent}: {type(exc).__name__}: {exc}", sent=True
            ) from None
        return interpret_file_response(response.status_code, response.headers, response.content)


def interpret_file_response(status: int, headers: Any, body: bytes) -> dict[str, Any]:
    """The decoded answer, or the error it stands for (the quota gets its own class and advice)."""
    try:
        data = json.loads(body) if body else {}
    except (ValueError, UnicodeDecodeError):
        if 200 <= status < 300:
            raise EvolinkResponseError(
                f"the file service answered HTTP {status} with a body that is not JSON", http_status=status
            ) from None
        raise error_from_response(status, headers, body) from None
    if not isinstance(data, dict):
        raise EvolinkResponseError("the file service answered with JSON that is not an object")
    failed = data.get("success") is False or not 200 <= status < 300
    if not failed:
        return data
    code = data.get("code")
    message = str(data.get("msg") or data.get("message") or "")
    error = data.get("error")
    if isinstance(error, dict):
        code = error.get("code", code)
        message = str(error.get("message") or message)
    if (isinstance(code, str) and code.lower() in QUOTA_CODES) or "quota" in message.lower():
        raise EvolinkFileQuotaError(
            message or "the file quota is used up",
            http_status=status,
            code=code,
            hint=(
                f"The file service keeps at most {FILE_QUOTA} files per account (each for 72 h). Delete "
                "files you no longer need (DELETE /api/v1/files/{file_id}; GET /api/v1/files/list shows "
                "them), or set cleanup_uploads=True so each task deletes its uploads when it is done."
            ),
        )
    if isinstance(error, dict):
        raise error_from_response(status, headers, body)
    shaped = json.dumps({"error": {"code": code, "message": message or f"HTTP {status}"}}).encode()
    raise error_from_response(status if status >= 400 else 502, headers, shaped)


def parse_uploaded(data: dict[str, Any]) -> UploadedFile:
    inner = data.get("data")
    if not isinstance(inner, dict) or not inner.get("file_id") or not inner.get("file_url"):
        raise EvolinkResponseError("the file service's answer has no data.file_id / data.file_url")
    return UploadedFile(
        file_id=str(inner["file_id"]),
        file_url=str(inner["file_url"]),
        download_url=str(inner["download_url"]) if inner.get("download_url") else None,
        expires_at=parse_expires_at(inner.get("expires_at")),
    )


def parse_expires_at(value: Any, now: float | None = None) -> float:
    """Unix seconds from an ISO 8601 string, Unix seconds or milliseconds; 72 h from now when absent."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) / (1000.0 if value > 1e11 else 1.0)
    if isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            return float(text) / (1000.0 if float(text) > 1e11 else 1.0)
        except ValueError:
            pass
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    return (time.time() if now is None else now) + FILE_TTL_SECONDS
