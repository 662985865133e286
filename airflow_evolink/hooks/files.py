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

Every upload is named by an ``X-Evo-Upload-Id`` (sent as ``Idempotency-Key`` / ``X-Evo-Run-Id`` too, as
Evolink's own client does; evolink-cli ``services/file-client.js``). When an upload's answer is lost after
its body went out (a dropped connection, a truncated or non-JSON 2xx body, a 5xx or a timeout), the file
may be stored already, so before sending it again the client reads ``GET
/api/v1/files/upload-receipts/{id}``: ``done`` gives the stored file and nothing is sent again;
``outcome_unknown``, no receipt route (404/405 from older file services) or a failed read sends the file
again, as before receipts existed. An answer with HTTP 200 and ``success: false`` is an error whose status
is its ``code``.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO

import requests
from tenacity import Retrying

from airflow_evolink.core.errors import (
    EvolinkAPIError,
    EvolinkConnectionError,
    EvolinkError,
    EvolinkResponseError,
    EvolinkValidationError,
)
from airflow_evolink.core.protocol import (
    IDEMPOTENCY_KEY_PATTERN,
    TIMEOUT_STATUSES,
    USER_AGENT,
    ApiCall,
    error_from_response,
)
from airflow_evolink.core.retry import NOT_PROCESSED_STATUSES, RetryPolicy
from airflow_evolink.hooks.connection import DEFAULT_FILES_BASE_URL

__all__ = [
    "DEFAULT_FILES_BASE_URL",
    "EvolinkFileQuotaError",
    "FileServiceClient",
    "UploadedFile",
    "file_sha256",
    "upload_id_for",
]

FILES_PREFIX = "/api/v1/files"
UPLOAD_STREAM_PATH = f"{FILES_PREFIX}/upload/stream"
QUOTA_PATH = f"{FILES_PREFIX}/quota"
RECEIPTS_PATH = f"{FILES_PREFIX}/upload-receipts"
UPLOAD_ID_HEADER = "X-Evo-Upload-Id"
#: What the file service takes as an upload id (section 10 of the API facts).
UPLOAD_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{15,127}")
#: Statuses of a receipts route the file service does not have (older file services).
NO_RECEIPT_STATUSES = frozenset({404, 405})
#: A receipt read is one quick GET; it is not retried (a failed read just sends the file again).
RECEIPT_READ_TIMEOUT = 30.0
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
    encoding; iterating opens the file anew, so a retry sends it from the start. A ``boundary`` derived
    from the upload id makes every send of one upload byte-identical (it goes with an Idempotency-Key).
    """

    def __init__(
        self,
        opener: Callable[[], BinaryIO],
        size: int,
        filename: str,
        content_type: str,
        field: str = "file",
        boundary: str | None = None,
    ) -> None:
        self._opener = opener
        self._size = size
        self.boundary = boundary or f"evolink-{secrets.token_hex(16)}"
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
        self,
        opener: Callable[[], BinaryIO],
        *,
        size: int,
        filename: str,
        content_type: str,
        upload_id: str | None = None,
        earlier_try: bool = False,
    ) -> UploadedFile:
        """Stream one file to ``POST /api/v1/files/upload/stream`` and return what the service stored.

        ``upload_id`` names the upload (:func:`upload_id_for`; by default one from the file's SHA-256 and
        a random part). ``earlier_try``: an earlier try of the same task instance may have stored it under
        this id with its answer lost, so the receipt is read before the first send too.
        """
        if upload_id is None:
            upload_id = upload_id_for(file_sha256(opener))
        check_upload_id(upload_id)
        headers = {UPLOAD_ID_HEADER: upload_id, "X-Evo-Run-Id": upload_id}
        if IDEMPOTENCY_KEY_PATTERN.fullmatch(upload_id):
            headers["Idempotency-Key"] = upload_id
        boundary = f"evolink-{hashlib.sha256(upload_id.encode()).hexdigest()[:32]}"
        what = f"Upload of {filename!r} ({size} bytes, upload id {upload_id})"
        if earlier_try:
            found = self.read_receipt(upload_id, size, "an earlier try of this task may have stored it", what)
            if found is not None:
                return found
        lost: list[EvolinkError] = []

        def attempt() -> UploadedFile:
            if lost:
                why = f"the answer to the last send was lost ({lost.pop()})"
                found = self.read_receipt(upload_id, size, why, what)
                if found is not None:
                    return found
            body = MultipartStream(opener, size, filename, content_type, boundary=boundary)
            try:
                data = self._send(
                    "POST",
                    UPLOAD_STREAM_PATH,
                    body,
                    {**headers, "Content-Type": body.content_type},
                    what=what,
                )
                return parse_uploaded(data)
            except EvolinkError as exc:
                if answer_lost(exc):
                    lost.append(exc)
                raise

        return self._retrying("POST", UPLOAD_STREAM_PATH)(attempt)

    def read_receipt(self, upload_id: str, size: int, why: str, what: str = "Upload") -> UploadedFile | None:
        """The file an upload stored, from its receipt when that says ``done``; else ``None`` (send again).

        Never raises: a receipt that cannot be read only means the file is sent again, as without
        receipts. Each outcome is logged (the key never is: it lives only in the request's header).
        """
        path = f"{RECEIPTS_PATH}/{upload_id}"
        try:
            data = self._send(
                "GET", path, what=f"Receipt read for upload id {upload_id}", read_timeout=RECEIPT_READ_TIMEOUT
            )
        except EvolinkError as exc:
            status = getattr(exc, "http_status", None)
            if status in NO_RECEIPT_STATUSES:
                self._note(
                    "%s: %s; the file service has no receipt for it (HTTP %s): uploading again",
                    what,
                    why,
                    status,
                )
            else:
                self._note("%s: %s; reading its receipt failed (%s): uploading again", what, why, exc)
            return None
        inner = data.get("data")
        receipt: dict[str, Any] = inner if isinstance(inner, dict) and "state" not in data else data
        state = receipt.get("state")
        file = receipt.get("file")
        if receipt.get("upload_id") not in (None, upload_id):
            self._note("%s: %s; the receipt names another upload id: uploading again", what, why)
            return None
        if (
            state != "done"
            or not isinstance(file, dict)
            or not file.get("file_id")
            or not file.get("file_url")
        ):
            self._note("%s: %s; its receipt says %s: uploading again", what, why, state or "nothing")
            return None
        stored_size = file.get("file_size")
        if isinstance(stored_size, int) and not isinstance(stored_size, bool) and stored_size != size:
            self._note(
                "%s: %s; its receipt says done, but with %s bytes instead of %s: uploading again",
                what,
                why,
                stored_size,
                size,
            )
            return None
        self._note(
            "%s: %s; its receipt says done (result_verified=%s): using file %s, not uploading again",
            what,
            why,
            receipt.get("result_verified"),
            file["file_id"],
        )
        return UploadedFile(
            file_id=str(file["file_id"]),
            file_url=str(file["file_url"]),
            download_url=str(file["download_url"]) if file.get("download_url") else None,
            expires_at=parse_expires_at(file.get("expires_at")),
        )

    def _note(self, message: str, *args: Any) -> None:
        """One line per receipt read, saying which path was taken (the failed send was warned of)."""
        if self.log is not None:
            self.log.info(message, *args)

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
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        *,
        what: str | None = None,
        read_timeout: float | None = None,
    ) -> dict[str, Any]:
        url = self.base_url + path
        timeout = (
            self.timeout if read_timeout is None else (self.timeout[0], min(self.timeout[1], read_timeout))
        )
        all_headers = {
            "Authorization": f"Bearer {self._api_key}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
            **(headers or {}),
        }
        try:
            response = self.session.request(
                method, url, data=body, headers=all_headers, timeout=timeout, allow_redirects=False
            )
        except requests.exceptions.ConnectTimeout as exc:
            raise EvolinkConnectionError(f"could not connect to {self.base_url}: {exc}", sent=False) from None
        except requests.exceptions.RequestException as exc:
            sent = f" after {body.sent} bytes of the file" if isinstance(body, MultipartStream) else ""
            raise EvolinkConnectionError(
                f"{method} {path} to {self.base_url} failed{sent}: {type(exc).__name__}: {exc}", sent=True
            ) from None
        return interpret_file_response(
            response.status_code, response.headers, response.content, what=what or f"{method} {path}"
        )


def answer_lost(exc: BaseException) -> bool:
    """Whether a failed upload may have been stored with its answer lost: the body went out and no clear
    answer came back (a dropped connection, a broken 2xx body, a 5xx or a timeout status). A 429 or 503
    comes before the upload is processed, and a 4xx refuses it: neither stores anything."""
    if isinstance(exc, EvolinkConnectionError):
        return exc.sent
    if isinstance(exc, EvolinkResponseError):
        return True
    if isinstance(exc, EvolinkAPIError):
        status = exc.http_status
        if status in NOT_PROCESSED_STATUSES:
            return False
        return status >= 500 or status in TIMEOUT_STATUSES
    return False


def check_upload_id(upload_id: Any) -> str:
    """Refuse, before anything is sent, an upload id the file service would refuse."""
    if not isinstance(upload_id, str) or not UPLOAD_ID_PATTERN.fullmatch(upload_id):
        raise EvolinkValidationError(
            "upload_id",
            f"must be 16 to 128 characters, a letter or digit and then letters, digits, _ or - (the "
            f"{UPLOAD_ID_HEADER} the file service accepts)",
            upload_id,
        )
    return upload_id


def upload_id_for(checksum: str, task_instance: tuple[str, str, str, int] | None = None) -> str:
    """The ``X-Evo-Upload-Id`` of one file's upload.

    In a task instance it is derived from (dag_id, task_id, run_id, map_index) and a hex digest naming
    the file's content (the inputs pass the digest of their fingerprint: the store's checksum and size),
    not the try number: a later try names the same upload, so it finds an earlier try's receipt. Outside
    one, from the checksum and a random part (two uploads there are never the same upload).
    """
    if task_instance is None:
        return f"evo-{checksum[:40]}-{secrets.token_hex(8)}"
    dag_id, task_id, run_id, map_index = task_instance
    parts = (dag_id, task_id, run_id, str(map_index), checksum)
    return f"airflow-{hashlib.sha256(chr(31).join(parts).encode()).hexdigest()[:48]}"


def file_sha256(opener: Callable[[], BinaryIO]) -> str:
    """SHA-256 (hex) of the bytes an upload will send, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with opener() as source:
        while chunk := source.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _status_code(code: Any) -> int | None:
    """A ``code`` that is an HTTP status (an integer or a string of digits), else ``None``."""
    if isinstance(code, bool):
        return None
    if isinstance(code, str) and code.strip().isdigit():
        code = int(code.strip())
    return code if isinstance(code, int) and 100 <= code <= 599 else None


def interpret_file_response(
    status: int, headers: Any, body: bytes, what: str = "The request"
) -> dict[str, Any]:
    """The decoded answer, or the error it stands for (the quota gets its own class and advice).

    A 2xx with ``success: false`` is an error whose status is its ``code`` (so a 429 or 5xx code is
    retried as those statuses are, a 4xx is final); a code that is no status counts as a 502.
    """
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
    if isinstance(error, dict) and status >= 400:
        raise error_from_response(status, headers, body)
    effective = status
    text = f"{what} failed: {message or f'HTTP {status}'}"
    if status < 400:
        numeric = _status_code(code)
        effective = numeric if numeric is not None and numeric >= 400 else 502
        text += f" (the file service answered HTTP {status} with success: false, code {code!r})"
    shaped = json.dumps({"error": {"code": code, "message": text}}).encode()
    raise error_from_response(effective, headers, shaped)


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
