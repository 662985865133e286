"""OpenLineage dataset names for URLs and storage paths (https://openlineage.io/docs/spec/naming).

Pure functions, no optional imports. A name never carries a query string, a fragment or user info:
presigned URLs put their signature in the query, and user info can hold a password.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple
from urllib.parse import urlsplit

#: Object stores whose namespace is the bucket (or container) and whose name is the key, without "/".
OBJECT_STORE_SCHEMES = {
    "s3": "s3",
    "s3a": "s3",
    "s3n": "s3",
    "gs": "gs",
    "gcs": "gs",
    "abfs": "abfs",
    "abfss": "abfss",
    "wasb": "wasb",
    "wasbs": "wasbs",
    "az": "az",
    "adl": "adl",
    "hdfs": "hdfs",
}

#: Request fields that hold input media by name; any other ``*_url``/``*_urls`` field counts too.
INPUT_FIELDS = ("image_start", "image_end")
#: ``*_url`` fields that are not inputs: where Evolink reports back, not what it reads.
NOT_INPUT_FIELDS = frozenset({"callback_url"})


class DatasetName(NamedTuple):
    namespace: str
    name: str


def dataset_name(uri: str) -> DatasetName | None:
    """The OpenLineage ``(namespace, name)`` of a URL or storage path, or ``None`` when it is not one.

    - ``file:///data/a.mp4`` gives ``("file", "/data/a.mp4")`` (``file://host`` when a host is named);
    - ``s3://bucket/key`` gives ``("s3://bucket", "key")``, likewise ``gs://``, ``abfss://``...;
    - ``https://host:8443/a/b.png?X-Amz-Signature=...`` gives ``("https://host:8443", "/a/b.png")``;
    - anything else with a scheme and a host gives ``("<scheme>://<host>", "<path>")``.

    Inline data (``data:`` URLs) and strings without a scheme are not datasets.
    """
    if not isinstance(uri, str) or not uri.strip():
        return None
    try:
        parts = urlsplit(uri.strip())
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if not scheme or scheme == "data":
        return None
    # No user info: rebuild the authority from host and port only.
    authority = host + (f":{port}" if port is not None else "")
    if scheme in ("file", "local"):
        if authority in ("", "localhost"):
            return DatasetName("file", parts.path or "/")
        return DatasetName(f"file://{authority}", parts.path or "/")
    if not authority:
        return None
    if scheme in OBJECT_STORE_SCHEMES:
        return DatasetName(f"{OBJECT_STORE_SCHEMES[scheme]}://{authority}", parts.path.lstrip("/") or "/")
    return DatasetName(f"{scheme}://{authority}", parts.path or "/")


def input_urls(request: Mapping[str, Any]) -> list[str]:
    """The input media URLs of a request body: first and last frames, ``image_urls`` and every other
    ``*_url``/``*_urls`` field (``video_urls``, ``audio_url``...), except ``callback_url``. In order,
    without duplicates."""
    urls: list[str] = []

    def add(value: Any) -> None:
        values: Iterable[Any] = value if isinstance(value, (list, tuple)) else [value]
        for item in values:
            if isinstance(item, str) and item and item not in urls:
                urls.append(item)

    for field in INPUT_FIELDS:
        add(request.get(field))
    for field, value in request.items():
        if field in NOT_INPUT_FIELDS or field in INPUT_FIELDS:
            continue
        if field.endswith(("_url", "_urls")):
            add(value)
    return urls
