"""Per-request notes that handlers leave for the request log, and the keys that find them and the state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from airflow_evolink.emulator.state import EmulatorState

STATE_KEY: web.AppKey[EmulatorState] = web.AppKey("evolink_emulator_state", EmulatorState)


@dataclass
class RequestContext:
    request_id: str
    api_key: str = ""
    idempotency_key: str | None = None
    task_id: str | None = None
    task_created: bool = False
    credits_charged: int | float = 0
    uc_charged: int = 0
    replay: bool = False
    #: The decoded JSON body of a create-task POST, kept so tests can see exactly what a client sent.
    body: Any = None
    #: Set by the `truncated` fault on downloads: send half the bytes, then drop the connection.
    cut_download: bool = False
    #: Set by the `reset` fault on uploads: read half the body, then drop the connection.
    cut_upload: bool = False


#: aiohttp >= 3.12 wants typed request keys (it warns on strings); older versions only take strings.
CONTEXT_KEY: Any = (
    web.RequestKey("evolink_emulator_context", RequestContext)
    if hasattr(web, "RequestKey")
    else "evolink_emulator_context"
)


def state_of(request: web.Request) -> EmulatorState:
    return request.app[STATE_KEY]


def context_of(request: web.Request) -> RequestContext:
    context: RequestContext = request[CONTEXT_KEY]
    return context


def base_url(request: web.Request) -> str:
    """Where the client reached us, so result links work behind any host name or port."""
    return f"{request.scheme}://{request.host}"
