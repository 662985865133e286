"""The gallery's guards that apply to every route: identifier checks and the security headers.

Identifiers are checked against Airflow's own rules (``KEY_REGEX`` for DAG and task ids, the run id
patterns ``DagRun`` validates against), so a request that names something Airflow could never have
stored gets a clear 422 before any database query (PostgreSQL refuses a NUL byte with an error, not an
empty result). The headers are set in one place, a middleware on the gallery app, so every page (the
review page too) shares one policy: scripts and styles from the api-server's own origin only, videos from
the gallery's routes or an admin-allowed media host, and framing by the Airflow UI only.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from functools import cache

from fastapi import HTTPException, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from airflow_evolink.plugins.trust import MediaHost, configured_media_hosts

#: Airflow's column length for DAG, task and run ids.
ID_LENGTH = 250
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@cache
def _key_pattern() -> re.Pattern[str]:
    try:
        from airflow.utils.helpers import KEY_REGEX
    except ImportError:  # pragma: no cover - moved in a later Airflow
        return re.compile(r"^[\w.-]+$")
    return re.compile(KEY_REGEX) if isinstance(KEY_REGEX, str) else KEY_REGEX


@cache
def _run_id_patterns() -> tuple[re.Pattern[str], ...]:
    from airflow.configuration import conf

    patterns = []
    try:
        from airflow.models.dagrun import RUN_ID_REGEX

        patterns.append(re.compile(RUN_ID_REGEX))
    except ImportError:  # pragma: no cover - moved in a later Airflow
        pass
    allowed = (conf.get("scheduler", "allowed_run_id_pattern", fallback="") or "").strip()
    if allowed:
        patterns.append(re.compile(allowed))
    return tuple(patterns)


def key_problem(value: str) -> str | None:
    """Why ``value`` cannot be a DAG or task id, or ``None`` when it can."""
    if len(value) > ID_LENGTH:
        return f"is longer than {ID_LENGTH} characters"
    if _CONTROL.search(value) or _key_pattern().fullmatch(value) is None:
        return "may hold only letters, digits, '_', '.' and '-'"
    return None


def run_id_problem(value: str) -> str | None:
    """Why ``value`` cannot be a run id, by the rules ``DagRun.validate_run_id`` applies."""
    if len(value) > ID_LENGTH:
        return f"is longer than {ID_LENGTH} characters"
    if _CONTROL.search(value):
        return "holds a control character"
    if any(pattern.match(value) for pattern in _run_id_patterns()):
        return None
    return "does not match Airflow's run id pattern ([scheduler] allowed_run_id_pattern)"


_CHECKS = {"dag_id": key_problem, "task_id": key_problem, "run_id": run_id_problem}


def check_identifiers(request: Request) -> None:
    """An app-wide dependency: DAG, run and task ids in the path or the query follow Airflow's rules.

    An empty query value means "no filter" on the top page and is let through.
    """
    for name, check in _CHECKS.items():
        for where, value in (
            ("path", request.path_params.get(name)),
            ("query", request.query_params.get(name)),
        ):
            if not value:
                continue
            problem = check(value)
            if problem:
                raise HTTPException(422, f"{name} ({where}) {problem}")


# ---- headers -------------------------------------------------------------------------------------
def content_security_policy(media_hosts: Iterable[MediaHost]) -> str:
    """The policy of every gallery page.

    Input images are the user's own request URLs (any https host); an image cannot run script, so
    they stay visible. Videos come from the gallery's routes, which may redirect to an allowed media host
    (a redirect is checked against ``media-src`` too).
    """
    media = " ".join(["'self'", *(host.source for host in media_hosts)])
    return "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' https: data:",
            f"media-src {media}",
            "connect-src 'self'",
            "form-action 'self'",
            "base-uri 'none'",
            "frame-ancestors 'self'",
        )
    )


_log = logging.getLogger(__name__)


class SecurityHeadersMiddleware:
    """Adds the policy, ``nosniff`` and a same-origin referrer policy to every response of the app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = content_security_policy(configured_media_hosts()).encode("latin-1")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                extra = [
                    (b"content-security-policy", policy),
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"SAMEORIGIN"),
                    (b"referrer-policy", b"same-origin"),
                ]
                message["headers"] = [
                    *message.get("headers", []),
                    *((name, value) for name, value in extra if name not in names),
                ]
            await send(message)

        started = False

        async def send_tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send_with_headers(message)

        try:
            await self.app(scope, receive, send_tracked)
        except Exception:
            # Starlette's error handler sits outside this middleware: answer the 500 here, so it
            # carries the same headers, with no detail of the error.
            if started:
                raise
            _log.exception("Unhandled error in the Evolink gallery")
            await send_tracked(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", b"text/plain; charset=utf-8"),
                        (b"cache-control", b"no-store"),
                    ],
                }
            )
            await send_tracked({"type": "http.response.body", "body": b"Internal Server Error"})
