"""Check a stored video against what the object store itself reports about it.

The provider's own checksum (:mod:`airflow_evolink.storage.checksum`) says what was downloaded; this
module says whether the store holds those bytes, from the store's answer after the upload:

- **GCS** reports a CRC-32C of every object (base64 of 4 big-endian bytes); it is compared with the
  CRC-32C of the streamed bytes. Recorded as ``crc32c:<hex>``.
- **S3** reports an ETag: the MD5 of the object for a single PUT, or for a multipart upload the MD5 of
  the concatenated binary MD5s of its parts, with ``-<number of parts>`` appended. The download cuts
  its parts at known boundaries (:mod:`airflow_evolink.storage.sinks`), so the expected ETag is computed
  while streaming. Recorded as ``etag:<hex>[-<parts>]``. With SSE-KMS or SSE-C encryption the ETag is
  not an MD5, so nothing is compared (and ``None`` recorded).
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any, Protocol

from airflow_evolink.core.errors import EvolinkError
from airflow_evolink.storage.checksum import Crc32c

S3_PROTOCOLS = frozenset({"s3", "s3a"})
GCS_PROTOCOLS = frozenset({"gs", "gcs"})


class EvolinkStoreChecksumError(EvolinkError):
    """The object store reports a checksum that differs from that of the bytes downloaded.

    The object is removed before this is raised; another try downloads it again.
    """

    retryable = True


class StoreDigest(Protocol):
    """Summed over the bytes as they stream; compared with the store's answer once they are stored."""

    def update(self, data: bytes | memoryview, /) -> None: ...

    def expected(self) -> str: ...

    def reported(self, target: Any) -> str | None: ...


def store_of(path: Any) -> str | None:
    """``"s3"`` or ``"gcs"`` when ``path`` lives on one of those object stores, else ``None``."""
    fs = getattr(path, "fs", None)
    if fs is None or not hasattr(path, "path"):
        return None
    protocols = fs.protocol if isinstance(fs.protocol, (tuple, list)) else (fs.protocol,)
    names = {str(name) for name in protocols}
    if names & S3_PROTOCOLS:
        return "s3"
    if names & GCS_PROTOCOLS:
        return "gcs"
    return None


def new_store_digest(store: str, part_bytes: int) -> StoreDigest:
    return S3ETag(part_bytes) if store == "s3" else GcsCrc32c()


def verify_stored(target: Any, digest: StoreDigest, url: str) -> str | None:
    """Compare what the store reports for ``target`` with ``digest``; return the value recorded.

    On a mismatch the object is removed and :class:`EvolinkStoreChecksumError` raised.
    """
    reported = digest.reported(target)
    if reported is None:
        return None
    expected = digest.expected()
    if reported != expected:
        try:
            target.unlink()
        except (FileNotFoundError, OSError):
            pass
        raise EvolinkStoreChecksumError(
            f"{target} does not hold the bytes downloaded from {url}: the store reports {reported}, "
            f"the downloaded bytes give {expected}. The object was removed."
        )
    return reported


class GcsCrc32c:
    """The CRC-32C GCS reports for each object (summed by the provider's own CRC-32C)."""

    def __init__(self) -> None:
        self._sum = Crc32c()

    def update(self, data: bytes | memoryview, /) -> None:
        self._sum.update(data)

    def expected(self) -> str:
        return f"crc32c:{self._sum.hexdigest()}"

    def reported(self, target: Any) -> str | None:
        info = target.fs.info(target.path)
        return gcs_crc32c(info)


def gcs_crc32c(info: dict[str, Any]) -> str:
    """``crc32c:<hex>`` from a GCS object resource (its ``crc32c`` is base64 of 4 big-endian bytes)."""
    value = info.get("crc32c")
    if not value:
        raise EvolinkStoreChecksumError(f"the store did not report a crc32c for {info.get('name')}")
    return f"crc32c:{base64.b64decode(value).hex()}"


class S3ETag:
    """The ETag S3 gives an object uploaded in parts of ``part_bytes`` (one PUT when smaller)."""

    def __init__(self, part_bytes: int) -> None:
        self.part_bytes = part_bytes
        self._part = hashlib.md5(usedforsecurity=False)
        self._in_part = 0
        self._part_digests: list[bytes] = []

    def update(self, data: bytes | memoryview, /) -> None:
        view = memoryview(data)
        while view:
            piece = view[: self.part_bytes - self._in_part]
            self._part.update(piece)
            self._in_part += len(piece)
            view = view[len(piece) :]
            if self._in_part == self.part_bytes:
                self._part_digests.append(self._part.digest())
                self._part = hashlib.md5(usedforsecurity=False)
                self._in_part = 0

    def expected(self) -> str:
        if not self._part_digests:  # smaller than one part: a single PUT, the MD5 of the object
            return f"etag:{self._part.hexdigest()}"
        digests = self._part_digests + ([self._part.digest()] if self._in_part else [])
        combined = hashlib.md5(b"".join(digests), usedforsecurity=False).hexdigest()
        return f"etag:{combined}-{len(digests)}"

    def reported(self, target: Any) -> str | None:
        bucket, _, key = str(target.path).partition("/")
        head = target.fs.call_s3("head_object", Bucket=bucket, Key=key)
        return s3_etag(head)


def s3_etag(head: dict[str, Any]) -> str | None:
    """``etag:<value>`` from a HeadObject answer, or ``None`` when the ETag is not an MD5 (SSE-KMS,
    SSE-C)."""
    if str(head.get("ServerSideEncryption", "")).startswith("aws:kms") or head.get("SSECustomerAlgorithm"):
        return None
    return f"etag:{str(head['ETag']).strip(chr(34)).lower()}"
