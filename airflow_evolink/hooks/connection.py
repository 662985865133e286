"""What the hook needs from an Airflow connection, resolved once and kept away from reprs and logs."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from airflow_evolink.core.errors import EvolinkAuthError
from airflow_evolink.core.protocol import normalize_base_url
from airflow_evolink.core.retry import RetryPolicy

#: Evolink's file service, a host of its own (EvoLinkAI/evolink-media-mcp ``services/file-client.ts``).
DEFAULT_FILES_BASE_URL = "https://files-api.evolink.ai"
#: Connection extra keys the provider reads itself; HttpHook would send any other key as a header.
PROVIDER_EXTRA_KEYS = ("files_base_url", "retry")
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 60.0


@dataclass(frozen=True)
class EvolinkConnectionConfig:
    """Base URL, timeouts and the API key. ``repr`` never shows the key."""

    conn_id: str
    base_url: str
    api_key: str = field(repr=False)
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    #: Evolink's file service (input uploads); the connection extra ``files_base_url`` overrides it.
    files_base_url: str = DEFAULT_FILES_BASE_URL
    #: How transient failures are retried; the connection extra ``retry`` sets its fields.
    retry_policy: RetryPolicy = field(default_factory=RetryPolicy)

    @classmethod
    def from_connection(
        cls, conn: Any, *, timeout: float | tuple[float, float] | None = None
    ) -> EvolinkConnectionConfig:
        """Build from an Airflow ``Connection``: host (bare or full URL), schema as scheme, password as key.

        Timeouts come from the hook argument, else the connection extra ``timeout`` (seconds, or a
        ``[connect, read]`` pair), else 10 s to connect and 60 s to read.
        """
        conn_id = getattr(conn, "conn_id", None) or "evolink_default"
        api_key = (conn.password or "").strip()
        if not api_key:
            raise EvolinkAuthError(
                f"Airflow connection '{conn_id}' has no API key: put the Evolink key in its password field",
                http_status=401,
                error_type="authentication_error",
            )
        extra = _extra(conn)
        connect, read = _timeouts(timeout if timeout is not None else extra.get("timeout"))
        base_url = normalize_base_url(conn.host, scheme=conn.schema or None, port=conn.port)
        files_base_url = normalize_base_url(extra.get("files_base_url") or DEFAULT_FILES_BASE_URL)
        return cls(
            conn_id=conn_id,
            base_url=base_url,
            api_key=api_key,
            connect_timeout=connect,
            read_timeout=read,
            files_base_url=files_base_url,
            retry_policy=retry_policy_from_connection(conn),
        )

    def with_timeouts(self, connect: float, read: float) -> EvolinkConnectionConfig:
        """The same connection with shorter timeouts (never longer than configured)."""
        return replace(
            self,
            connect_timeout=min(connect, self.connect_timeout),
            read_timeout=min(read, self.read_timeout),
        )


def retry_policy_from_connection(conn: Any) -> RetryPolicy:
    """The connection extra ``retry`` (fields of :class:`RetryPolicy`), else the defaults.

    Reads no key: the public pricing route is retried under the same policy without one.
    """
    conn_id = getattr(conn, "conn_id", None) or "evolink_default"
    return RetryPolicy.from_settings(
        _extra(conn).get("retry"), source=f"Connection {conn_id!r} extra 'retry'"
    )


def _extra(conn: Any) -> dict[str, Any]:
    extra = conn.extra_dejson if hasattr(conn, "extra_dejson") else {}
    return extra if isinstance(extra, dict) else {}


def _timeouts(value: Any) -> tuple[float, float]:
    if value is None or value == "":
        return DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return float(value[0]), float(value[1])
    seconds = float(value)
    return min(seconds, DEFAULT_CONNECT_TIMEOUT), seconds
