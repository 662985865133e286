"""Turn the storage paths of a request into URLs Evolink can fetch, before the paid POST.

Two passes. First every storage path is checked (it exists, its type suits the field, it fits the file
service or its store can presign), so a bad input fails the task before any byte is uploaded or any
credit spent. Then each is uploaded or presigned.

Uploads are remembered in the task-instance state store (Airflow 3.3+) under the file's checksum, with
the file service's ``expires_at``: a retry, or a second field with the same file, reuses an upload that
still has :data:`REUSE_MARGIN_SECONDS` to live instead of sending it again. Reuse also keeps the request
body, and so the Idempotency-Key derived from it, the same across tries. Presigned URLs are kept there
too, for the same reason; they never go to a log or XCom (only the URL without its query string does).

Each upload is named (``X-Evo-Upload-Id``) after the task instance and the SHA-256 of the file, so every
try of one task instance names the same upload: a later try reads the receipt of an earlier try's upload
whose answer was lost before it sends the file again (see :mod:`airflow_evolink.hooks.files`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from fsspec import AbstractFileSystem

from airflow_evolink.core.errors import EvolinkValidationError
from airflow_evolink.hooks.files import MAX_UPLOAD_BYTES, FileServiceClient, upload_id_for
from airflow_evolink.inputs.paths import InputRef, StorageFile, open_storage, sniff_content_type
from airflow_evolink.inputs.shared import SharedUploads
from airflow_evolink.storage.checksum import new_checksum

INPUT_MODES = ("upload", "presign")
#: XCom key of the list of :class:`ResolvedInput` records.
XCOM_KEY = "evolink_inputs"
#: The task state key under which uploads and presigned URLs are remembered.
STATE_KEY = "evolink_inputs"
#: An upload or presigned URL is reused only while it has at least this long to live: Evolink fetches
#: inputs after the POST, and a queued job may start later.
REUSE_MARGIN_SECONDS = 3600.0
#: How long a presigned URL is valid.
PRESIGN_SECONDS = 6 * 3600
CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class ResolvedInput:
    """What became of one storage path (XCom ``evolink_inputs``). ``url`` never has a query string."""

    field: str
    source: str
    url: str
    file_id: str | None
    expires_at: str
    reused: bool

    def to_xcom(self) -> dict[str, Any]:
        return asdict(self)


class InputLedger:
    """Uploads (by checksum) and presigned URLs (by source) of this task instance, in its state store.

    Without a store (Airflow < 3.3) it remembers only within this try.
    """

    def __init__(self, store: Any = None) -> None:
        self._store = store
        data = store.get(STATE_KEY) if store is not None else None
        data = data if isinstance(data, dict) else {}
        self.uploads: dict[str, dict[str, Any]] = dict(data.get("uploads") or {})
        self.presigned: dict[str, dict[str, Any]] = dict(data.get("presigned") or {})

    def save(self) -> None:
        if self._store is not None:
            self._store.set(STATE_KEY, {"uploads": self.uploads, "presigned": self.presigned})

    def live(self, record: Mapping[str, Any] | None, now: float) -> bool:
        return record is not None and float(record.get("expires_at", 0)) - now >= REUSE_MARGIN_SECONDS


def strip_query(url: str) -> str:
    """The URL without its query string and fragment (where a presigned URL keeps its signature)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


@dataclass(frozen=True)
class _Checked:
    ref: InputRef
    file: StorageFile
    size: int
    content_type: str
    info: dict[str, Any]


def check_inputs(refs: list[InputRef], mode: str) -> list[_Checked]:
    """The first pass: refuse, naming the field and the rule, anything the chosen mode cannot send."""
    if mode not in INPUT_MODES:
        raise EvolinkValidationError("input_mode", f"must be one of {', '.join(INPUT_MODES)}", mode)
    checked = []
    for ref in refs:
        file = open_storage(ref)
        try:
            info = file.info()
        except FileNotFoundError:
            raise EvolinkValidationError(ref.field, "names a file that does not exist", file.source) from None
        if info.get("type") == "directory":
            raise EvolinkValidationError(ref.field, "names a directory, not a file", file.source)
        size = int(info.get("size") or 0)
        if mode == "upload" and size > MAX_UPLOAD_BYTES:
            raise EvolinkValidationError(
                ref.field,
                f"is {size} bytes; Evolink's file service takes files of at most 100 MB "
                f"({MAX_UPLOAD_BYTES} bytes). Make it smaller, or serve it by URL "
                "(input_mode='presign' on a store that can presign)",
                file.source,
            )
        if mode == "presign" and type(file.fs).sign is AbstractFileSystem.sign:
            raise EvolinkValidationError(
                ref.field,
                f"cannot be presigned: the '{file.protocol}://' filesystem ({type(file.fs).__name__}) has "
                "no presigned URLs. input_mode='presign' needs an object store that signs (s3://, gs://); "
                "use input_mode='upload' for this path",
                file.source,
            )
        content_type = sniff_content_type(file.head(), file.name)
        _check_content_type(ref, content_type, file.source)
        assert content_type is not None
        checked.append(_Checked(ref, file, size, content_type, info))
    return checked


def _check_content_type(ref: InputRef, content_type: str | None, source: str) -> None:
    major = (content_type or "").split("/", 1)[0]
    wanted = ref.media
    if major not in ("image", "video", "audio") or (wanted is not None and major != wanted):
        kind = wanted or "an image, video or audio"
        raise EvolinkValidationError(
            ref.field,
            f"must be {_article(kind)} file, but its content is {content_type or 'of an unknown type'} "
            "(judged by its first bytes, then its name)",
            source,
        )


def _article(kind: str) -> str:
    return kind if kind.startswith("an ") else f"{'an' if kind in ('image', 'audio') else 'a'} {kind}"


def fingerprint(file: StorageFile, size: int, info: Mapping[str, Any]) -> str:
    """The file's identity for reuse: the store's own checksum when it records one (GCS ``crc32c``,
    S3 ``ETag``), else a CRC-32C of the content; with the size either way."""
    for key in ("crc32c", "ETag", "etag", "md5Hash"):
        value = info.get(key)
        if value:
            return f"{key.lower()}:{str(value).strip(chr(34))}:{size}"
    checksum = new_checksum("crc32c")
    with file.open() as handle:
        while chunk := handle.read(CHUNK_BYTES):
            checksum.update(chunk)
    return f"crc32c:{checksum.hexdigest()}:{size}"


def resolve_inputs(
    refs: list[InputRef],
    *,
    mode: str,
    client: Callable[[], FileServiceClient],
    ledger: InputLedger,
    log: Any,
    now: Callable[[], float] = time.time,
) -> dict[InputRef, tuple[str, ResolvedInput]]:
    """Check every storage path, then upload or presign each; returns the URL to send and its record."""
    checked = check_inputs(refs, mode)
    out: dict[InputRef, tuple[str, ResolvedInput]] = {}
    for item in checked:
        if mode == "upload":
            url, record = _upload(item, client, ledger, log, now())
        else:
            url, record = _presign(item, ledger, now())
        log.info(
            "Input %s: %s -> %s (%s%s)",
            record.field,
            record.source,
            record.url,
            "reused from an earlier upload" if record.reused and mode == "upload" else mode,
            f", file id {record.file_id}" if record.file_id else "",
        )
        out[item.ref] = (url, record)
    return out


def _upload(
    item: _Checked, client: Callable[[], FileServiceClient], ledger: InputLedger, log: Any, now: float
) -> tuple[str, ResolvedInput]:
    key = fingerprint(item.file, item.size, item.info)
    record = ledger.uploads.get(key)
    reused = ledger.live(record, now)
    shared: SharedUploads | None = None
    if not reused:
        # Uploaded by another task instance or run within its 72 h, and still served: use it.
        shared = SharedUploads(client().base_url, log)
        earlier = shared.get(key)
        if ledger.live(earlier, now) and earlier and SharedUploads.still_served(str(earlier["file_url"])):
            record, reused = earlier, True
            ledger.uploads[key] = record
            ledger.save()
    if not reused:
        # The id names these exact bytes before any of them is sent: by the fingerprint, which is the
        # store's own checksum where it keeps one (no extra read of an S3 or GCS object), else the
        # content's CRC-32C read above.
        instance, try_number = current_task_instance()
        upload_id = upload_id_for(hashlib.sha256(key.encode()).hexdigest(), instance)
        uploaded = client().upload_stream(
            item.file.open,
            size=item.size,
            filename=item.file.name,
            content_type=item.content_type,
            upload_id=upload_id,
            earlier_try=try_number > 1,
        )
        record = {
            "file_id": uploaded.file_id,
            "file_url": uploaded.file_url,
            "expires_at": uploaded.expires_at,
            "source": item.file.source,
        }
        ledger.uploads[key] = record
        ledger.save()  # at once: a crash before the POST must not lose the upload
        if shared is not None:
            shared.put(key, record, now)
    assert record is not None
    url = str(record["file_url"])
    return url, ResolvedInput(
        field=item.ref.field,
        source=item.file.source,
        url=strip_query(url),
        file_id=str(record["file_id"]),
        expires_at=_iso(float(record["expires_at"])),
        reused=reused,
    )


def current_task_instance() -> tuple[tuple[str, str, str, int] | None, int]:
    """(dag_id, task_id, run_id, map_index) of the running task instance and its try number, or
    ``(None, 1)`` outside one (then each upload gets an id of its own)."""
    try:
        from airflow.sdk import get_current_context

        ti = get_current_context()["ti"]
        identity = (str(ti.dag_id), str(ti.task_id), str(ti.run_id), int(getattr(ti, "map_index", -1)))
        return identity, int(getattr(ti, "try_number", 1) or 1)
    except Exception:  # no task instance running here
        return None, 1


def _presign(item: _Checked, ledger: InputLedger, now: float) -> tuple[str, ResolvedInput]:
    record = ledger.presigned.get(item.file.source)
    reused = ledger.live(record, now)
    if not reused:
        url = sign(item)
        record = {"url": url, "expires_at": now + PRESIGN_SECONDS}
        ledger.presigned[item.file.source] = record
        ledger.save()
    assert record is not None
    url = str(record["url"])
    return url, ResolvedInput(
        field=item.ref.field,
        source=item.file.source,
        url=strip_query(url),
        file_id=None,
        expires_at=_iso(float(record["expires_at"])),
        reused=reused,
    )


def sign(item: _Checked) -> str:
    """A presigned URL for the file, or a refusal naming the field when its store's credentials cannot
    sign (e.g. anonymous GCS credentials: no private key). Signing is local, so nothing was sent yet."""
    try:
        return str(item.file.fs.sign(item.file.path, expiration=PRESIGN_SECONDS))
    except (
        Exception
    ) as exc:  # each store's library raises its own kind (AttributeError, NotImplementedError ...)
        raise EvolinkValidationError(
            item.ref.field,
            f"cannot be presigned: the '{item.file.protocol}://' store's credentials cannot sign URLs "
            f"({type(exc).__name__}: {str(exc)[:160]}). Give its Airflow connection credentials that sign (an access "
            "key, a service-account key), or use input_mode='upload'",
            item.file.source,
        ) from None


def cleanup_uploads(ledger: InputLedger, client: FileServiceClient, log: Any) -> int:
    """Delete every upload this task instance made (all tries); returns how many the service deleted."""
    deleted = 0
    SharedUploads(client.base_url, log).forget({str(r["file_id"]) for r in ledger.uploads.values()})
    for key, record in list(ledger.uploads.items()):
        if client.delete(str(record["file_id"])):
            deleted += 1
            log.info("Deleted upload %s (%s) from the file service", record["file_id"], record.get("source"))
        del ledger.uploads[key]
        ledger.save()
    return deleted


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat().replace("+00:00", "Z")
