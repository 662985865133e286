"""The Evolink hook: one connection, sync calls on ``requests`` and async calls on aiohttp.

Both paths build their requests with the I/O-free core and retry with the same :class:`RetryPolicy`, so
the rule that a paid POST is only ever sent again with its own Idempotency-Key holds for both.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from functools import cached_property
from typing import Any, TypeVar, cast

import aiohttp
import requests
from airflow.providers.http.hooks.http import HttpHook
from tenacity import AsyncRetrying, Retrying

from airflow_evolink.core.account import EvolinkCredits, parse_credits
from airflow_evolink.core.errors import (
    EvolinkError,
    EvolinkOutcomeUnknownError,
    EvolinkTimeoutError,
)
from airflow_evolink.core.models import VideoRequest, build_video_request
from airflow_evolink.core.polling import PollSchedule, elapsed_since_submit
from airflow_evolink.core.protocol import (
    DEFAULT_BASE_URL,
    ApiCall,
    credits_call,
    get_task_call,
    normalize_base_url,
    submit_call,
)
from airflow_evolink.core.retry import RetryPolicy, outcome_unknown
from airflow_evolink.core.task import EvolinkTask, UnlistedStatusWarning, parse_task
from airflow_evolink.get_provider_info import UI_FIELD_BEHAVIOUR
from airflow_evolink.hooks.async_transport import send_async, shared_session
from airflow_evolink.hooks.connection import (
    PROVIDER_EXTRA_KEYS,
    EvolinkConnectionConfig,
    retry_policy_from_connection,
)
from airflow_evolink.hooks.files import FileServiceClient
from airflow_evolink.hooks.sync_transport import send_sync
from airflow_evolink.pricing.client import PricingClient
from airflow_evolink.pricing.defaults import spec_defaults_for
from airflow_evolink.pricing.estimate import CostEstimate
from airflow_evolink.version_compat import mask_secret

_T = TypeVar("_T")

#: The Test button's single attempt: seconds to connect, and to wait for the answer.
TEST_CONNECT_TIMEOUT = 5.0
TEST_READ_TIMEOUT = 10.0


def _as_is(data: Any) -> Any:
    return data


def new_idempotency_key() -> str:
    """A fresh key for a submission made outside a task instance (53 characters of the key alphabet)."""
    return f"airflow-evolink-{uuid.uuid4()}"


class EvolinkHook(HttpHook):
    """Talk to the Evolink API through an Airflow connection of type ``evolink``.

    The API key lives in the connection's password. The host is the API base URL (default
    ``https://api.evolink.ai``), given as a bare host or a full URL such as ``http://127.0.0.1:8099``.

    :param evolink_conn_id: the Airflow connection to use.
    :param timeout: seconds to wait for an answer (or a ``(connect, read)`` pair); the connection extra
        ``timeout`` is used when this is not given.
    :param retry_policy: how transient failures are retried (a :class:`RetryPolicy` or its dict); the
        connection extra ``retry`` is used when this is not given.
    """

    conn_name_attr = "evolink_conn_id"
    default_conn_name = "evolink_default"
    conn_type = "evolink"
    hook_name = "Evolink"
    default_host = DEFAULT_BASE_URL

    def __init__(
        self,
        evolink_conn_id: str = default_conn_name,
        *,
        timeout: float | tuple[float, float] | None = None,
        retry_policy: RetryPolicy | Mapping[str, Any] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(method="GET", http_conn_id=evolink_conn_id)
        self.evolink_conn_id = evolink_conn_id
        self.timeout = timeout
        if retry_policy is not None:
            # Wins over the connection extra: set where the cached property would store its value.
            self.__dict__["retry_policy"] = (
                retry_policy
                if isinstance(retry_policy, RetryPolicy)
                else RetryPolicy.from_dict(dict(retry_policy))
            )
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"{type(self).__name__}(evolink_conn_id={self.evolink_conn_id!r})"

    # ---- the connection form in the Airflow UI -------------------------------------------------------
    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Show only what an Evolink connection uses: the base URL and the API key (Airflow 3.0, 3.1).

        Airflow 3.2+ reads the same declaration from the provider info and does not call this.
        """
        return {
            "hidden_fields": list(UI_FIELD_BEHAVIOUR["hidden-fields"]),
            "relabeling": dict(UI_FIELD_BEHAVIOUR["relabeling"]),
            "placeholders": {**UI_FIELD_BEHAVIOUR["placeholders"], "extra": '{"timeout": 60}'},
        }

    def test_connection(self) -> tuple[bool, str]:
        """Check the key with GET /v1/credits, which starts no task and spends nothing.

        The UI's Test button waits on this call, so it is one attempt with a short timeout: a wrong host
        or scheme fails in seconds instead of after a minute of retries. Airflow tests a copy of the
        connection under a random id, so messages say "this connection" rather than that id.
        """
        try:
            config = self.connection_config
        except EvolinkError:
            return False, (
                "This connection has no API key: put the Evolink key (sk-...) in the API Key field"
            )
        except Exception as exc:
            return False, f"This connection cannot be read: {type(exc).__name__}: {exc}"
        config = config.with_timeouts(TEST_CONNECT_TIMEOUT, TEST_READ_TIMEOUT)
        try:
            credits = parse_credits(send_sync(self.session, config, credits_call()))
        except EvolinkError as exc:
            return False, f"Evolink at {config.base_url} did not accept the test: {exc}"
        except Exception as exc:
            return False, f"Evolink at {config.base_url} could not be reached: {type(exc).__name__}: {exc}"
        return True, f"Connected to Evolink at {config.base_url}: {credits.describe()}"

    # ---- connection resolution ------------------------------------------------------------------------
    @cached_property
    def _airflow_connection(self) -> Any:
        """The Airflow connection, looked up once per hook (sync: never from the triggerer's loop)."""
        return self.get_connection(self.evolink_conn_id)

    @cached_property
    def connection_config(self) -> EvolinkConnectionConfig:
        """The connection, looked up once per hook. The key is registered with the log masker."""
        conn = self._airflow_connection
        mask_secret(conn.password)
        return EvolinkConnectionConfig.from_connection(conn, timeout=self.timeout)

    @cached_property
    def retry_policy(self) -> RetryPolicy:
        """The ``retry_policy`` argument, else the connection extra ``retry``, else the defaults.

        Needs no API key (the public pricing route is retried under it too). The async calls resolve
        the connection without blocking first (:meth:`aconnection_config`), so this never looks it up
        from the triggerer's event loop.
        """
        cached = self.__dict__.get("connection_config")
        if cached is not None:
            return cast(RetryPolicy, cached.retry_policy)
        return retry_policy_from_connection(self._airflow_connection)

    async def aconnection_config(self) -> EvolinkConnectionConfig:
        """The same as :attr:`connection_config`, without blocking the event loop."""
        cached = self.__dict__.get("connection_config")
        if cached is not None:
            return cached
        conn = await _aget_connection(self, self.evolink_conn_id)
        mask_secret(conn.password)
        config = EvolinkConnectionConfig.from_connection(conn, timeout=self.timeout)
        self.__dict__["connection_config"] = config
        return config

    def _set_base_url(self, connection: Any) -> None:
        # HttpHook's own rule defaults to http://; Evolink's base URL is https unless the host says otherwise.
        self.base_url = normalize_base_url(
            connection.host, scheme=connection.schema or None, port=connection.port
        )
        self._base_url_initialized = True

    def _configure_session_from_extra(
        self, session: requests.Session, connection: Any, extra_options: dict[str, Any]
    ) -> requests.Session:
        # HttpHook turns unknown extra keys into request headers; the provider's own keys are not headers.
        session = super()._configure_session_from_extra(session, connection, extra_options)
        for key in PROVIDER_EXTRA_KEYS:
            session.headers.pop(key, None)
        return session

    def _extract_auth(self, connection: Any) -> Any | None:
        # Auth is a Bearer header added per request; basic auth from a login would overwrite it.
        return None

    @cached_property
    def session(self) -> requests.Session:
        """One keep-alive ``requests`` session per hook, built by HttpHook from the connection."""
        return self.get_conn()

    def file_service(self) -> FileServiceClient:
        """A client for Evolink's file service (input uploads): same key, session and retry policy."""
        config = self.connection_config
        return FileServiceClient(
            self.session,
            config.files_base_url,
            config.api_key,
            retry_policy=self.retry_policy,
            timeout=(config.connect_timeout, max(config.read_timeout, 300.0)),
            log=self.log,
            sleep=self._sleep,
        )

    # ---- pricing (public, no key) ---------------------------------------------------------------------
    @cached_property
    def pricing_client(self) -> PricingClient:
        """Reads the published pricing rules (cached per base URL and model, shared by every hook)."""
        return PricingClient(retry_policy=self.retry_policy, sleep=self._sleep, log=self.log)

    @cached_property
    def pricing_base_url(self) -> str:
        """The connection's API base URL, read without needing its key (the pricing route is public)."""
        cached = self.__dict__.get("connection_config")
        if cached is not None:
            return str(cached.base_url)
        conn = self._airflow_connection
        return normalize_base_url(conn.host, scheme=conn.schema or None, port=conn.port)

    def estimate_cost(
        self, request: VideoRequest | Mapping[str, Any], *, usage: Mapping[str, Any] | None = None
    ) -> CostEstimate:
        """What ``request`` costs by Evolink's published rules, before anything is paid.

        ``request`` is a :class:`VideoRequest` or the body's fields (not validated again here: validate
        first). ``usage`` gives measured parameters the rules ask for (e.g. ``input_seconds``). The result
        is ``estimated``, ``partial`` (a lower bound) or ``unavailable`` with its reason: this never raises
        because no price could be read (404, 5xx after retries, a malformed rule); the caller decides.
        Needs no API key: the pricing route is public and no key is sent to it.
        """
        body = request.payload() if isinstance(request, VideoRequest) else _plain_body(request)
        model = str(body.get("model") or "")
        return self.pricing_client.estimate(
            self.pricing_base_url, body, usage=usage, spec_defaults=spec_defaults_for(model)
        )

    def task_url(self, task_id: str) -> str:
        """The task's API resource URL, shown as an extra link (no key in it)."""
        return self.connection_config.base_url + get_task_call(task_id).path

    # ---- sync API -------------------------------------------------------------------------------------
    def submit_video(
        self, request: VideoRequest | Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> EvolinkTask:
        """Start one paid video generation and return the new task.

        ``request`` is validated first (a mapping of fields is accepted), and so is ``idempotency_key``
        (16-96 characters of letters, digits and ``. _ -``), so bad input raises
        :class:`EvolinkValidationError` before anything is sent. A send whose answer is lost (a timeout,
        a dropped connection, a 5xx, a body without a task id) is repeated with the same key, which
        Evolink answers with the job it created, if any; ``task.idempotency_replayed`` then says so. If
        the outcome is still unknown after that, :class:`EvolinkOutcomeUnknownError` (retryable) names
        the key.
        """
        video_request = request if isinstance(request, VideoRequest) else build_video_request(request)
        call = submit_call(video_request, idempotency_key or new_idempotency_key())
        task = self._call(call, parse_task)
        self._log_submission(task, call)
        return task

    def get_task(self, task_id: str) -> EvolinkTask:
        """Fetch a task's current state. Transient failures are retried."""
        return self._call(get_task_call(task_id), parse_task)

    def get_credits(self) -> EvolinkCredits:
        """The account's remaining and used credits (free: starts no task)."""
        return self._call(credits_call(), parse_credits)

    def wait_for_task(
        self,
        task_id: str,
        *,
        timeout: float = 3600.0,
        schedule: PollSchedule | None = None,
        on_poll: Callable[[EvolinkTask], None] | None = None,
    ) -> EvolinkTask:
        """Poll until the task reaches a terminal state and return it (whether it succeeded or not).

        Only ``completed``, ``failed`` and ``cancelled`` end the wait; a status the API does not document
        is logged once as a warning and polled on. Raises :class:`EvolinkTimeoutError` when ``timeout``
        seconds pass first.
        """
        schedule = schedule or PollSchedule()
        started = time.monotonic()
        started_wall = time.time()
        unlisted = UnlistedStatusWarning(self.log)
        while True:
            task = self.get_task(task_id)
            unlisted.check(task)
            if on_poll is not None:
                on_poll(task)
            if task.is_terminal:
                return task
            waited = time.monotonic() - started
            if waited >= timeout:
                raise EvolinkTimeoutError(task_id, waited, task.raw_status)
            delay = schedule.next_delay(task, elapsed_since_submit(task, time.time(), started_wall))
            self._sleep(min(delay, max(0.0, timeout - waited)))

    def _call(self, call: ApiCall, parse: Callable[[Any], _T] = _as_is) -> _T:
        """Send ``call`` with retries; ``parse`` runs inside them, so an unusable answer is retried too."""
        config = self.connection_config
        retrying = Retrying(sleep=self._sleep, **self.retry_policy.tenacity_kwargs(call, self.log))
        try:
            return retrying(lambda: parse(send_sync(self.session, config, call)))
        except EvolinkError as exc:
            unknown = _outcome_unknown_error(call, exc, retrying.statistics)
            if unknown is None:
                raise
            raise unknown from exc

    def _log_submission(self, task: EvolinkTask, call: ApiCall) -> None:
        if task.idempotency_replayed:
            self.log.info(
                "Evolink answered from its Idempotency-Key ledger: task %s was created by an earlier send "
                "with key %s; nothing new was created or paid",
                task.id,
                call.idempotency_key,
            )

    # ---- async API (used by the trigger) --------------------------------------------------------------
    @asynccontextmanager
    async def async_session(self) -> AsyncIterator[aiohttp.ClientSession]:
        """Borrow the event loop's shared aiohttp session for a series of async calls."""
        async with shared_session() as session:
            yield session

    async def async_get_task(self, task_id: str, session: aiohttp.ClientSession | None = None) -> EvolinkTask:
        return await self._acall(get_task_call(task_id), session, parse_task)

    async def async_submit_video(
        self,
        request: VideoRequest | Mapping[str, Any],
        *,
        idempotency_key: str | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> EvolinkTask:
        video_request = request if isinstance(request, VideoRequest) else build_video_request(request)
        call = submit_call(video_request, idempotency_key or new_idempotency_key())
        task = await self._acall(call, session, parse_task)
        self._log_submission(task, call)
        return task

    async def async_get_credits(self, session: aiohttp.ClientSession | None = None) -> EvolinkCredits:
        return await self._acall(credits_call(), session, parse_credits)

    async def _acall(
        self, call: ApiCall, session: aiohttp.ClientSession | None, parse: Callable[[Any], _T] = _as_is
    ) -> _T:
        config = await self.aconnection_config()
        if session is None:
            async with self.async_session() as borrowed:
                return await self._acall_with(call, borrowed, config, parse)
        return await self._acall_with(call, session, config, parse)

    async def _acall_with(
        self,
        call: ApiCall,
        session: aiohttp.ClientSession,
        config: EvolinkConnectionConfig,
        parse: Callable[[Any], _T],
    ) -> _T:
        retrying = AsyncRetrying(**self.retry_policy.tenacity_kwargs(call, self.log))

        async def attempt() -> _T:
            return parse(await send_async(session, config, call))

        try:
            return await retrying(attempt)
        except EvolinkError as exc:
            unknown = _outcome_unknown_error(call, exc, retrying.statistics)
            if unknown is None:
                raise
            raise unknown from exc


def _outcome_unknown_error(
    call: ApiCall, exc: EvolinkError, statistics: Mapping[str, Any]
) -> EvolinkOutcomeUnknownError | None:
    """For a paid POST whose job may or may not exist after its sends: the retryable error naming its key."""
    if not outcome_unknown(call, exc):
        return None
    return EvolinkOutcomeUnknownError(
        exc, idempotency_key=call.idempotency_key, attempts=statistics.get("attempt_number")
    )


def _plain_body(request: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in request.items() if value is not None}


async def _aget_connection(hook: EvolinkHook, conn_id: str) -> Any:
    aget = getattr(type(hook), "aget_connection", None)
    if aget is not None:
        return await aget(conn_id)
    from asgiref.sync import sync_to_async

    return await sync_to_async(hook.get_connection)(conn_id)
