"""What the gallery may read or redirect to, decided without touching any store or sending any request.

XComs are writable through Airflow's REST API by anyone with XCom edit rights, so a ``downloads`` or
``result_urls`` XCom alone is never the record of what to serve:

* A stored copy is read only when its path lies under the destination folder that Airflow's rendered
  template fields (``RenderedTaskInstanceFields``, written by the worker that ran the task, never by the
  public API) hold for the same task instance that recorded the copy. Scheme, extension and ``..`` are
  judged on the parsed path, never on the raw string; http(s) paths are refused outright.
* A live result link is redirected to only when its origin is one the Airflow admin allowed in
  ``[evolink] gallery_media_hosts`` (Airflow config, which XCom editors cannot change).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from airflow_evolink.core.videos import is_video_name

#: Rendered template fields that name the folder a task stores its videos in (the download operator's
#: ``destination``, the submit operator's and the sensor's ``download_to``).
DESTINATION_FIELDS = ("destination", "download_to")
#: A stored copy is never read over these: fetching them would make the api-server send requests.
REFUSED_STORE_SCHEMES = frozenset({"http", "https", "ftp", "ftps", "data", "javascript", "blob"})
_LOCAL_SCHEMES = frozenset({"", "file", "local"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f\\]")

#: Evolink serves result files from its own domain; admins add other hosts (or the emulator's origin).
DEFAULT_MEDIA_HOSTS = "*.evolink.ai"
MEDIA_HOSTS_OPTION = ("evolink", "gallery_media_hosts")
_HOST_ENTRY = re.compile(
    r"^(?:(?P<scheme>https?)://)?(?P<host>(?:\*\.)?[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?|\[[0-9a-f:.]+\])"
    r"(?::(?P<port>\d{1,5}))?/?$"
)


@dataclass(frozen=True)
class StoreLocation:
    """A parsed storage path: its store (scheme and bucket or host) and its decoded path segments."""

    scheme: str
    netloc: str
    segments: tuple[str, ...]

    def is_under(self, folder: StoreLocation) -> bool:
        """Strictly below ``folder`` in the same store."""
        return (
            (self.scheme, self.netloc) == (folder.scheme, folder.netloc)
            and len(self.segments) > len(folder.segments)
            and self.segments[: len(folder.segments)] == folder.segments
        )


def parse_location(text: object) -> StoreLocation | None:
    """The location a recorded path or destination names, or ``None`` when it is not a plain store path.

    Refused: anything not a string, control characters or backslashes, a query or fragment, http(s) and
    other fetchable schemes, a relative local path, a ``file://`` URL naming another host, and any ``.``
    or ``..`` segment (raw or percent-encoded), so no normalisation can lead outside the folder.
    """
    if not isinstance(text, str) or not text or len(text) > 4096 or _CONTROL.search(text):
        return None
    if "?" in text or "#" in text:
        return None
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme in REFUSED_STORE_SCHEMES or (len(scheme) == 1 and scheme.isalpha()):
        return None  # a one-letter "scheme" is a Windows drive, not a store
    if scheme in _LOCAL_SCHEMES:
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            return None
        scheme, netloc = "file", ""
    else:
        # The bucket or host, with the Airflow connection id ObjectStoragePath puts before it
        # (``s3://aws_default@bucket``): a path must name the same store and connection as its folder.
        # Connection ids are case-sensitive (``OTHER`` is not ``other``); only the bucket or host is not.
        connection, at, host = parts.netloc.rpartition("@")
        netloc = f"{connection}{at}{host.lower()}"
        if not host:
            return None
    segments = []
    for raw in parts.path.split("/"):
        decoded = unquote(raw)
        if raw in (".", "..") or decoded in (".", "..") or "/" in decoded or _CONTROL.search(decoded):
            return None
        if raw:
            segments.append(raw)
    return StoreLocation(scheme, netloc, tuple(segments))


def trusted_store_path(path: object, destinations: Iterable[object]) -> str | None:
    """The destination (as rendered) the stored copy lies under, when it is a video strictly below one."""
    location = parse_location(path)
    if location is None or not location.segments:
        return None
    name = location.segments[-1]  # a video's name as written and as decoded, whichever the store reads
    if not (is_video_name(name) and is_video_name(unquote(name))):
        return None
    for destination in destinations:
        folder = parse_location(destination)
        if folder is not None and location.is_under(folder):
            return str(destination)
    return None


def destinations_of(rendered_fields: object) -> list[str]:
    """The destination folders a task instance's rendered template fields name (strings only)."""
    if not isinstance(rendered_fields, dict):
        return []
    return [
        value
        for value in (rendered_fields.get(name) for name in DESTINATION_FIELDS)
        if isinstance(value, str)
    ]


def local_file_is_inside(file_path: str, folder_path: str) -> bool:
    """For a local store: the file is still inside the folder once symlinks are resolved (this reads the
    filesystem, so it runs only after the checks above passed)."""
    real_file = posixpath.realpath(file_path)
    real_folder = posixpath.realpath(folder_path).rstrip("/") + "/"
    return real_file.startswith(real_folder)


# ---- live result links ----------------------------------------------------------------------------
@dataclass(frozen=True)
class MediaHost:
    """One allowed origin: ``https://host`` (default port) unless a scheme or port was given."""

    scheme: str
    host: str
    port: int | None
    wildcard: bool

    def allows(self, scheme: str, host: str, port: int | None) -> bool:
        if scheme != self.scheme or (port or _default_port(scheme)) != (self.port or _default_port(scheme)):
            return False
        if self.wildcard:
            return host.endswith(f".{self.host}")
        return host == self.host

    @property
    def source(self) -> str:
        """The origin as a Content-Security-Policy source expression."""
        host = f"*.{self.host}" if self.wildcard else f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}" + (f":{self.port}" if self.port else "")


def parse_media_hosts(value: str) -> list[MediaHost]:
    """The entries of ``[evolink] gallery_media_hosts`` (comma or space separated); others are skipped.

    ``files.example.com`` and ``*.example.com`` mean https on its default port; ``http://127.0.0.1:8099``
    names one exact origin (the emulator's, in tests and the demo).
    """
    hosts = []
    for entry in re.split(r"[,\s]+", value.strip().lower()):
        match = _HOST_ENTRY.match(entry) if entry else None
        if match is None:
            continue
        port = int(match["port"]) if match["port"] else None
        if port is not None and not 0 < port < 65536:
            continue
        host = match["host"].strip("[]")
        wildcard = host.startswith("*.")
        hosts.append(MediaHost(match["scheme"] or "https", host[2:] if wildcard else host, port, wildcard))
    return hosts


def configured_media_hosts() -> list[MediaHost]:
    """The admin's allowed media hosts, read from Airflow's config on each call (cheap)."""
    from airflow.configuration import conf

    section, option = MEDIA_HOSTS_OPTION
    return parse_media_hosts(conf.get(section, option, fallback=DEFAULT_MEDIA_HOSTS) or "")


def allowed_redirect(url: object, hosts: Iterable[MediaHost]) -> str | None:
    """The URL to redirect to when it is an http(s) link to an allowed media host, else ``None``."""
    if not isinstance(url, str) or len(url) > 8192 or _CONTROL.search(url) or " " in url:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or "@" in parts.netloc or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if any(allowed.allows(scheme, host, port) for allowed in hosts):
        return url
    return None


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80
