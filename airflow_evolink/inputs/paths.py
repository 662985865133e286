"""Which request fields hold a storage path, and how to read one.

An input field is ``image_start``, ``image_end`` or any ``*_url`` / ``*_urls`` field (``callback_url`` is a
destination, not an input). A value is a storage path when it is an ``ObjectStoragePath`` or a URL whose
scheme is not http(s) (``s3://``, ``gs://``, ``file://``, ``memory://`` ...); http(s) URLs pass through.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

from airflow_evolink.core.errors import EvolinkValidationError
from airflow_evolink.version_compat import ObjectStoragePath

#: Fields that name an input even without the ``_url`` suffix (Kling's first and last frame).
FRAME_FIELDS = ("image_start", "image_end")
#: ``*_url`` fields that are not inputs.
NOT_INPUTS = frozenset({"callback_url"})
#: Stand-in URL used while the request is validated, before a storage path has its real URL.
STAND_IN = "https://files-api.evolink.ai/pending-input/{field}"

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (4, b"ftyp", "video/mp4"),
    (0, b"\x1aE\xdf\xa3", "video/webm"),
    (0, b"ID3", "audio/mpeg"),
    (0, b"\xff\xfb", "audio/mpeg"),
    (0, b"\xff\xf3", "audio/mpeg"),
    (0, b"OggS", "audio/ogg"),
    (0, b"fLaC", "audio/flac"),
)


#: Reads from object stores: one ranged GET per block, so memory holds about one block.
READ_BLOCK_BYTES = 8 * 1024 * 1024
#: Reading a frame's first bytes (its type) fetches no more than this.
HEAD_BLOCK_BYTES = 64 * 1024


@dataclass(frozen=True)
class InputRef:
    """One storage path in the request: ``key`` is the request field, ``index`` its place in a list."""

    key: str
    index: int | None
    value: Any

    @property
    def field(self) -> str:
        """The field as a user names it: ``image_start`` or ``image_urls[1]``."""
        return self.key if self.index is None else f"{self.key}[{self.index}]"

    @property
    def media(self) -> str | None:
        """The kind of file the field takes (``image``, ``video``, ``audio``), when its name says."""
        return next((kind for kind in ("image", "video", "audio") if kind in self.key), None)


def is_input_field(name: str) -> bool:
    return name in FRAME_FIELDS or (name.endswith(("_url", "_urls")) and name not in NOT_INPUTS)


def storage_scheme(value: Any) -> str | None:
    """The scheme of a storage path (``file`` for an ``ObjectStoragePath`` without one), else ``None``."""
    if isinstance(value, ObjectStoragePath):
        return str(value.protocol or "file")
    if isinstance(value, str):
        match = _SCHEME.match(value.strip())
        if match and match.group(1).lower() not in ("http", "https"):
            return match.group(1).lower()
    return None


def find_storage_inputs(fields: Mapping[str, Any]) -> list[InputRef]:
    """Every storage path in the input fields, in field order."""
    refs: list[InputRef] = []
    for key, value in fields.items():
        if not is_input_field(key):
            continue
        if isinstance(value, (list, tuple)):
            refs.extend(InputRef(key, i, item) for i, item in enumerate(value) if storage_scheme(item))
        elif storage_scheme(value):
            refs.append(InputRef(key, None, value))
    return refs


def replace_inputs(fields: Mapping[str, Any], urls: Mapping[InputRef, str]) -> dict[str, Any]:
    """A copy of ``fields`` with each storage path replaced by its URL (lists are copied, not changed)."""
    out = dict(fields)
    for ref, url in urls.items():
        if ref.index is None:
            out[ref.key] = url
        else:
            items = list(out[ref.key])
            items[ref.index] = url
            out[ref.key] = items
    return out


def with_stand_ins(fields: Mapping[str, Any]) -> dict[str, Any]:
    """``fields`` with each storage path replaced by an https stand-in, so the request can be validated
    (URL rules, counts, model rules) before anything is read, uploaded or signed."""
    refs = find_storage_inputs(fields)
    return replace_inputs(fields, {ref: STAND_IN.format(field=ref.field) for ref in refs})


@dataclass(frozen=True)
class StorageFile:
    """A storage path opened through its filesystem: ``source`` is the path as written (no secrets)."""

    source: str
    protocol: str
    fs: Any
    path: str

    @property
    def name(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1] or "input"

    @property
    def is_local(self) -> bool:
        return self.protocol in ("file", "local")

    def info(self) -> dict[str, Any]:
        return dict(self.fs.info(self.path))

    def open(self, block_size: int = READ_BLOCK_BYTES) -> BinaryIO:
        """Local files through the built-in ``open`` (fsspec's local layer costs throughput), others
        through their filesystem in ``block_size`` reads: s3fs and gcsfs would otherwise fetch 50 MiB
        blocks ahead, so reading a frame's first bytes fetched the whole frame and an upload held it."""
        if self.is_local:
            return open(self.path, "rb")  # the caller closes it
        try:
            handle: BinaryIO = self.fs.open(self.path, "rb", block_size=block_size, cache_type="readahead")
        except TypeError:  # a filesystem whose files take no block size or cache options
            handle = self.fs.open(self.path, "rb")
        return handle

    def head(self, size: int = 64) -> bytes:
        with self.open(block_size=max(size, HEAD_BLOCK_BYTES)) as handle:
            return handle.read(size)


def _store_cache() -> dict[str, Any] | None:
    """Airflow's cache of attached object stores, by alias (where this Airflow version keeps it)."""
    try:
        from airflow.sdk.io.store import _STORE_CACHE
    except ImportError:
        try:
            from airflow.io.store import _STORE_CACHE  # type: ignore[no-redef]
        except ImportError:
            return None
    return _STORE_CACHE


def open_storage(ref: InputRef) -> StorageFile:
    """The filesystem and path behind ``ref``; raises naming the field when no filesystem serves it.

    Strings go through Airflow's ``ObjectStoragePath`` first (its providers' schemes, attached stores,
    Airflow connections), then through fsspec's own registry (``memory://`` and any installed scheme).
    """
    value = ref.value
    scheme = storage_scheme(value) or "file"
    if isinstance(value, ObjectStoragePath):
        return StorageFile(str(value), scheme, value.fs, str(value.path))
    text = str(value).strip()
    cache = _store_cache()
    known = cache is not None and scheme in cache
    try:
        path = ObjectStoragePath(text)
        return StorageFile(text, scheme, path.fs, str(path.path))
    except ValueError:
        # No filesystem registered with Airflow for this scheme. Airflow has cached a store without one
        # under the scheme's name: drop it, or a later attach(protocol=scheme, fs=...) gets the dud back.
        if cache is not None and not known:
            cache.pop(scheme, None)
    import fsspec

    if scheme not in fsspec.available_protocols() and scheme not in fsspec.registry:
        raise EvolinkValidationError(
            ref.field,
            f"has storage scheme '{scheme}://', which neither Airflow's ObjectStoragePath nor fsspec knows; "
            "use an https URL or a path on a store Airflow can read",
            text,
        )
    try:
        fs, fs_path = fsspec.url_to_fs(text)
    except ImportError as exc:
        raise EvolinkValidationError(
            ref.field, f"needs the filesystem package for '{scheme}://' ({exc})", text
        ) from None
    return StorageFile(text, scheme, fs, str(fs_path))


def sniff_content_type(head: bytes, name: str) -> str | None:
    """The media type from the file's first bytes, else from its name; ``None`` when neither tells."""
    for offset, magic, kind in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    guessed, _ = mimetypes.guess_type(name)
    return guessed
