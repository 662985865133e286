"""Copy result videos to durable storage before Evolink's links expire (24 h after generation).

Videos stream in fixed-size chunks, so memory stays flat whatever the size. Nothing appears at the
destination until a video is complete and its size checked against ``Content-Length``: a local file is
written under a hidden part name and renamed; an S3 or GCS object is written through the store's own
upload session, completed only then and cancelled on failure (see :mod:`airflow_evolink.storage.sinks`).
Leftovers of a killed run (part files, incomplete S3 uploads) are removed by the next run. Each file's
checksum (see :mod:`airflow_evolink.storage.checksum`) is computed while it streams; on an object store
the store's own report (GCS CRC-32C, S3 ETag) is then compared with the bytes sent, and a mismatch fails
the download (see :mod:`airflow_evolink.storage.store_checks`). A destination that already holds a file
of the right size is kept as it is, so re-running is idempotent and does not need the (possibly expired)
link.
"""

from __future__ import annotations

import contextlib
import http.client
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import requests
from tenacity import Retrying

from airflow_evolink.core.errors import EvolinkConnectionError, EvolinkError, EvolinkResponseError
from airflow_evolink.core.protocol import ApiCall, error_from_response
from airflow_evolink.core.retry import RetryPolicy
from airflow_evolink.lineage.hook import report_output
from airflow_evolink.storage.checksum import CHECKSUMS, DEFAULT_CHECKSUM, check_checksum_name
from airflow_evolink.storage.sinks import PART_MARK, Sink, open_sink, remove_stale_parts
from airflow_evolink.storage.store_checks import EvolinkStoreChecksumError, verify_stored

__all__ = [
    "PART_MARK",
    "DownloadedVideo",
    "EvolinkResultExpiredError",
    "EvolinkStoreChecksumError",
    "download_videos",
    "file_name_for",
]

CHUNK_BYTES = 1024 * 1024


class EvolinkResultExpiredError(EvolinkError):
    """The result link no longer serves the video (links live 24 hours after generation)."""

    retryable = False


@dataclass(frozen=True)
class DownloadedVideo:
    """Where a video was written, from which URL, and what was written."""

    url: str
    path: str
    size: int
    checksum: str | None  # "<algorithm>:<hex>"; None when the file was kept as it was, or none was asked
    skipped: bool = False
    #: What the object store reports for the stored object, compared equal to the downloaded bytes
    #: (GCS ``crc32c:<hex>``, S3 ``etag:<md5>[-<parts>]``); None on local files or when kept as it was.
    store_checksum: str | None = None

    def to_xcom(self) -> dict[str, Any]:
        return asdict(self)


def file_name_for(url: str, task_id: str | None, index: int, count: int) -> str:
    """``<evolink task id>.mp4`` (``-<n>`` added when a task has several results), else the URL's name."""
    suffix = _extension(url)
    if task_id:
        return f"{task_id}{'' if count == 1 else f'-{index + 1}'}{suffix}"
    name = unquote(urlsplit(url).path.rsplit("/", 1)[-1]) or f"video-{index + 1}{suffix}"
    return name


def download_videos(
    urls: Sequence[str],
    destination: Any,
    *,
    task_id: str | None = None,
    session: requests.Session | None = None,
    retry_policy: RetryPolicy | None = None,
    timeout: tuple[float, float] = (10.0, 120.0),
    sleep: Callable[[float], None] | None = None,
    log: Any = None,
    checksum: str | None = DEFAULT_CHECKSUM,
) -> list[DownloadedVideo]:
    """Download each URL into the ``destination`` folder (an ``ObjectStoragePath`` or anything like it).

    ``checksum`` names the algorithm recorded for each file (``"crc32c"``, ``"sha256"``), or ``None``.
    """
    check_checksum_name(checksum)
    destination.mkdir(parents=True, exist_ok=True)
    session = session or requests.Session()
    policy = retry_policy or RetryPolicy()
    results = []
    for index, url in enumerate(urls):
        target = destination / file_name_for(url, task_id, index, len(urls))
        results.append(_download_one(session, url, target, policy, timeout, sleep, log, checksum))
    return results


def _download_one(
    session: requests.Session,
    url: str,
    target: Any,
    policy: RetryPolicy,
    timeout: tuple[float, float],
    sleep: Callable[[float], None] | None,
    log: Any,
    checksum: str | None,
) -> DownloadedVideo:
    remove_stale_parts(target)
    call = ApiCall("GET", url)
    kwargs = policy.tenacity_kwargs(call, log)
    if sleep is not None:
        kwargs["sleep"] = sleep
    try:
        return Retrying(**kwargs)(_attempt, session, url, target, timeout, log, checksum)
    except EvolinkResultExpiredError:
        if target.exists():
            size = int(target.stat()["size"])
            if log:
                log.warning("Result link %s has expired; keeping the copy already at %s", url, target)
            report_output(target)
            return DownloadedVideo(url=url, path=str(target), size=size, checksum=None, skipped=True)
        raise


def _attempt(
    session: requests.Session,
    url: str,
    target: Any,
    timeout: tuple[float, float],
    log: Any,
    checksum: str | None,
) -> DownloadedVideo:
    try:
        response = session.get(url, stream=True, timeout=timeout)
    except requests.exceptions.RequestException as exc:
        raise EvolinkConnectionError(f"could not download {url}: {exc}", sent=True) from None
    with response:
        if response.status_code in (401, 403, 404, 410):
            raise EvolinkResultExpiredError(
                f"Result link {url} answered HTTP {response.status_code}: it has expired or was never "
                "valid. Evolink result links live 24 hours; copy videos right after generation."
            )
        if response.status_code >= 300:
            raise error_from_response(response.status_code, response.headers, response.content[:4096])
        expected = _content_length(response)
        if expected is not None and target.exists() and int(target.stat()["size"]) == expected:
            if log:
                log.info("%s already holds the %d bytes of %s; not downloading again", target, expected, url)
            report_output(target)
            return DownloadedVideo(url=url, path=str(target), size=expected, checksum=None, skipped=True)
        sink = open_sink(target, expected)
        copier = _BodyCopier(checksum)
        try:
            copier.copy(response, sink)
            size = copier.size
            if expected is not None and size != expected:
                raise EvolinkResponseError(f"download of {url} ended after {size} of {expected} bytes")
            digest = copier.checksum()
        except requests.exceptions.RequestException as exc:
            _abandon(sink, copier)
            raise EvolinkConnectionError(
                f"download of {url} broke after {copier.size} bytes: {exc}", sent=True
            ) from None
        except BaseException:
            _abandon(sink, copier)
            raise
        try:
            sink.commit()
        except BaseException:
            _abandon(sink, copier)
            raise
        store_checksum = verify_stored(target, sink.store_digest, url) if sink.store_digest else None
    # The final path, not a temporary one (the sinks keep those out of hook lineage).
    report_output(target)
    if log:
        log.info(
            "Saved %s (%d bytes, %s; the store reports %s) to %s",
            url,
            size,
            digest or "no checksum",
            store_checksum or "nothing compared",
            target,
        )
    return DownloadedVideo(
        url=url, path=str(target), size=size, checksum=digest, store_checksum=store_checksum
    )


def _abandon(sink: Sink, copier: _BodyCopier) -> None:
    """Leave nothing behind after a failed copy, without hiding why it failed."""
    copier.close()
    # A failed cancel (a store that is unreachable too) must not hide the copy's own error; on S3 the
    # next run aborts what is left (remove_stale_parts).
    with contextlib.suppress(Exception):
        sink.abort()


class _BodyCopier:
    """Copy a response body to a file in 1 MiB chunks, summing its checksum on the way.

    When the body is not content-encoded, chunks are read straight from the standard library's HTTP
    response under ``requests`` (one read into a fresh ``bytes`` per chunk, no intermediate copies);
    encoded bodies go through ``iter_content``, which decodes. A cheap checksum is summed inline; a slow
    one (see :class:`~airflow_evolink.storage.checksum.ChecksumKind`) on a second thread, with at most
    :data:`BACKLOG` chunks waiting for it, so memory stays flat whatever the size.
    """

    BACKLOG = 4

    def __init__(self, checksum: str | None) -> None:
        self.size = 0
        self._algorithm = checksum
        kind = CHECKSUMS[checksum] if checksum else None
        self._sum = kind.new() if kind else None
        self._failure: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._backlog: queue.Queue[bytes | None] = queue.Queue(maxsize=self.BACKLOG)
        if kind is not None and kind.background:
            self._thread = threading.Thread(target=self._sum_backlog, name="evolink-checksum", daemon=True)
            self._thread.start()

    def copy(self, response: requests.Response, out: Sink) -> None:
        for chunk in _chunks(response):
            if self._failure is not None:
                raise self._failure
            out.write(chunk)
            self.size += len(chunk)
            if self._thread is not None:
                self._backlog.put(chunk)
            elif self._sum is not None:
                self._sum.update(chunk)

    def _sum_backlog(self) -> None:
        # After a failure, chunks are still taken off the backlog so the copying thread never waits
        # forever on a full queue; it sees the failure before its next chunk and raises it.
        assert self._sum is not None
        while (chunk := self._backlog.get()) is not None:
            if self._failure is None:
                try:
                    self._sum.update(chunk)
                except BaseException as exc:
                    self._failure = exc

    def close(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._backlog.put(None)
            self._thread.join()

    def checksum(self) -> str | None:
        """``"<algorithm>:<hex>"`` of everything copied, or ``None`` when no checksum was asked for."""
        self.close()
        if self._failure is not None:
            raise self._failure
        if self._sum is None:
            return None
        return f"{self._algorithm}:{self._sum.hexdigest()}"


def _chunks(response: requests.Response) -> Iterator[bytes]:
    source = _raw_body(response)
    if source is None:
        yield from response.iter_content(CHUNK_BYTES)
        return
    while True:
        try:
            chunk = source.read(CHUNK_BYTES)
        except (http.client.HTTPException, OSError) as exc:
            # A failure of the socket read, reported as requests reports one; errors writing the
            # destination happen outside this generator and stay what they are.
            raise requests.exceptions.ConnectionError(f"{type(exc).__name__}: {exc}") from exc
        if not chunk:
            return
        yield chunk


def _raw_body(response: requests.Response) -> Any:
    """The standard library response under ``requests``/urllib3 when the body can be read from it
    as it is (no content coding to undo, nothing buffered above it), else ``None``."""
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        return None
    source = getattr(response.raw, "_fp", None)
    if not isinstance(source, http.client.HTTPResponse) or getattr(response, "_content_consumed", False):
        return None
    buffered = getattr(response.raw, "_decoded_buffer", None)
    if buffered is not None and len(buffered):
        return None
    return source


def _content_length(response: requests.Response) -> int | None:
    value = response.headers.get("Content-Length")
    if value and value.isdigit() and "gzip" not in response.headers.get("Content-Encoding", ""):
        return int(value)
    return None


def _extension(url: str) -> str:
    name = urlsplit(url).path.rsplit("/", 1)[-1]
    if "." in name:
        ext = "." + name.rsplit(".", 1)[1].lower()
        if 1 < len(ext) <= 6 and ext[1:].isalnum():
            return ext
    return ".mp4"
