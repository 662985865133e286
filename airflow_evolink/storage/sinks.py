"""Where a download's bytes go until the video is complete: a sink that is either committed or aborted.

Two designs, by kind of storage:

- **Local and other filesystems** (``file://``, fsspec's memory, ...): a hidden part file next to the
  target, renamed into place on commit. A rename is atomic there, and a killed run's part file is found
  and removed by the next run.
- **Object stores** (S3, GCS): straight to the final key through the store's own upload session (an S3
  multipart upload, a GCS resumable upload), completed only on commit and cancelled on abort. A store
  shows no object at a key until its upload is completed, so nothing half-written is ever visible; a
  "rename" there would be a full server-side copy plus a delete, and a killed run would leave a part
  object in the listing. Aborting cancels the upload (S3: s3fs's ``discard()``, an
  AbortMultipartUpload; GCS: a DELETE of the session URI) and then marks the file closed, because fsspec's buffered files commit whatever
  they hold when closed, including from ``__exit__`` after an exception and from ``__del__``.

Writes to an object store are cut at part boundaries, so each S3 part is exactly ``part_bytes`` long
(the last one shorter) and the ETag S3 will report can be computed while streaming (see
:mod:`airflow_evolink.storage.store_checks`).
"""

from __future__ import annotations

import math
import uuid
from typing import Any, Protocol

import requests

from airflow_evolink.storage.store_checks import StoreDigest, new_store_digest, store_of

PART_MARK = ".evolink-part-"
#: Upload part size on object stores: S3's smallest part is 5 MiB, GCS wants multiples of 256 KiB.
#: The file object holds about one part in memory, so this bounds the memory of a download.
PART_BYTES = 8 * 1024 * 1024
#: S3 allows 10,000 parts per upload; parts grow for videos too large for PART_BYTES x this.
MAX_PARTS = 9_000


class Sink(Protocol):
    """Receives a video's bytes; ``commit`` makes them visible at the target, ``abort`` leaves nothing."""

    store_digest: StoreDigest | None

    def write(self, chunk: bytes) -> None: ...

    def commit(self) -> None: ...

    def abort(self) -> None: ...


def open_sink(target: Any, expected_size: int | None) -> Sink:
    """The sink for ``target`` (an ``ObjectStoragePath`` or anything like it)."""
    store = store_of(target)
    if store is not None:
        return ObjectStoreSink(target, store, part_bytes_for(expected_size))
    return PartFileSink(target)


def part_bytes_for(expected_size: int | None) -> int:
    """PART_BYTES, or bigger (whole MiB) when the video would need more than MAX_PARTS parts."""
    if expected_size is None or expected_size <= PART_BYTES * MAX_PARTS:
        return PART_BYTES
    mib = 1024 * 1024
    return math.ceil(expected_size / MAX_PARTS / mib) * mib


class PartFileSink:
    """A hidden part file next to the target, renamed into place on commit."""

    store_digest: StoreDigest | None = None

    def __init__(self, target: Any) -> None:
        self.target = target
        self.part = target.parent / f"{PART_MARK}{target.name}.{uuid.uuid4().hex}"
        self._file = _open_part(self.part)

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)

    def commit(self) -> None:
        self._file.close()
        self.part.rename(self.target)

    def abort(self) -> None:
        try:
            self._file.close()
        finally:
            remove_quietly(self.part)


class ObjectStoreSink:
    """The store's own upload session at the final key: completed on commit, cancelled on abort."""

    def __init__(self, target: Any, store: str, part_bytes: int) -> None:
        self.target = target
        self.store = store
        self.part_bytes = part_bytes
        self.store_digest: StoreDigest | None = new_store_digest(store, part_bytes)
        # Not ObjectStoragePath.open: that reports hook lineage on open, before the video exists
        # (the download reports the final path once committed).
        self._file = target.fs.open(target.path, "wb", block_size=part_bytes)
        self._in_part = 0

    def write(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        while view:
            piece = view[: self.part_bytes - self._in_part]
            # fsspec uploads a part as soon as its buffer reaches block_size: cutting writes at the
            # boundary makes every part exactly part_bytes long.
            self._file.write(piece)
            if self.store_digest is not None:
                self.store_digest.update(piece)
            self._in_part = (self._in_part + len(piece)) % self.part_bytes
            view = view[len(piece) :]

    def commit(self) -> None:
        self._file.close()

    def abort(self) -> None:
        try:
            if self.store == "gcs":
                _cancel_resumable_upload(self._file)
            else:
                self._file.discard()
        finally:
            # discard() leaves a file that never started an upload session (a video smaller than one
            # part) open, and fsspec would upload its buffer on close or garbage collection.
            self._file.buffer = None
            self._file.closed = True


def _cancel_resumable_upload(file: Any) -> None:
    """Cancel a GCS resumable upload session with one DELETE of its URI, as GCS documents it (the URI
    is the session's credential). Not gcsfs's ``discard()``: that retries with backoff for half a
    minute against a server without the route (gcp-storage-emulator answers 501), and an unfinished
    session creates no object anyway: it expires after a week."""
    location = getattr(file, "location", None)
    if not location:
        return
    try:
        requests.delete(location, timeout=(5.0, 10.0))
    except requests.exceptions.RequestException:
        return


def _open_part(path: Any) -> Any:
    """Local files are written with the built-in ``open`` (fsspec's local layer costs throughput);
    every other filesystem through its fsspec filesystem. Not through ``ObjectStoragePath.open``: that
    reports each written file to hook lineage, and this one is a temporary name."""
    if getattr(path, "protocol", None) in ("file", "local") and hasattr(path, "path"):
        return open(path.path, "wb")
    if hasattr(path, "fs") and hasattr(path, "path"):
        return path.fs.open(path.path, "wb")
    return path.open("wb")


def remove_stale_parts(target: Any) -> None:
    """Remove what a killed download of this same target left behind: part files next to it, or on
    S3 incomplete multipart uploads to its key (invisible, but stored and billed until aborted)."""
    store = store_of(target)
    if store == "s3":
        _abort_stale_uploads(target)
        return
    if store is not None:  # GCS: an unfinished resumable session expires by itself and is not billed
        return
    prefix = f"{PART_MARK}{target.name}."
    try:
        siblings = list(target.parent.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return
    for sibling in siblings:
        if sibling.name.startswith(prefix):
            remove_quietly(sibling)


def _abort_stale_uploads(target: Any) -> None:
    bucket, _, key = str(target.path).partition("/")
    try:
        answer = target.fs.call_s3("list_multipart_uploads", Bucket=bucket, Prefix=key)
        for upload in answer.get("Uploads", []):
            if upload.get("Key") == key:
                target.fs.call_s3(
                    "abort_multipart_upload", Bucket=bucket, Key=key, UploadId=upload["UploadId"]
                )
    except (OSError, KeyError, ValueError):
        # Listing uploads may be denied by a narrow policy; a bucket lifecycle rule
        # (AbortIncompleteMultipartUpload) then does this job.
        return


def remove_quietly(path: Any) -> None:
    try:
        path.unlink()
    except (FileNotFoundError, OSError):
        pass
