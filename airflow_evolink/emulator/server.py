"""EmulatorServer: the emulator on a background thread, for tests and demos in the same process."""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType

from aiohttp import web

from airflow_evolink.emulator.app import create_app
from airflow_evolink.emulator.clock import Clock
from airflow_evolink.emulator.config import EmulatorConfig
from airflow_evolink.emulator.faults import Faults
from airflow_evolink.emulator.state import EmulatorState, StateView

#: Pending connections the listening socket queues; thousands of pollers connect at once in benchmarks.
BACKLOG = 1024
#: How long stop() lets in-flight requests (e.g. an injected delay) finish.
SHUTDOWN_TIMEOUT = 1.0


class EmulatorServer:
    """A real HTTP server on `host:port` (port 0 picks a free one) running its own event loop.

    Use as a context manager or call start()/stop(). The test thread talks to it through `faults`,
    `clock` and `state`, which are thread-safe.
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock | None = None,
    ) -> None:
        self.config = config or EmulatorConfig()
        self.host = host
        #: The port asked for; `port` becomes the bound one once started (port 0 picks a free one).
        self.requested_port = port
        self.port = port
        self._state = EmulatorState(self.config, clock)
        self.state = StateView(self._state)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._stopping: asyncio.Event | None = None
        self._error: BaseException | None = None

    @property
    def faults(self) -> Faults:
        return self._state.faults

    @property
    def clock(self) -> Clock:
        return self._state.clock

    @property
    def base_url(self) -> str:
        if self._runner is None:
            raise RuntimeError("the emulator is not running; call start() first")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def reset(self) -> None:
        """Forget tasks, faults, the request log and idempotency keys; restore credits and the clock."""
        self._state.reset()

    def start(self) -> EmulatorServer:
        """Start listening; returns once the socket accepts connections."""
        if self._thread is not None:
            raise RuntimeError("the emulator is already running")
        raise_open_file_limit()
        self._ready.clear()
        self._error = None
        self._stopping = asyncio.Event()
        self._thread = threading.Thread(target=self._run, name="evolink-emulator", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            self._thread = None
            raise RuntimeError(f"the emulator could not start: {self._error}") from self._error
        return self

    def stop(self) -> None:
        """Close the listener and every connection, then end the thread. Safe to call twice."""
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None or loop is None or stopping is None:
            return
        loop.call_soon_threadsafe(stopping.set)
        thread.join(timeout=SHUTDOWN_TIMEOUT + 10)
        self._thread = None
        self._runner = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        finally:
            loop.close()
            self._loop = None

    async def _serve(self) -> None:
        assert self._stopping is not None
        runner = web.AppRunner(
            create_app(self._state), access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT
        )
        try:
            await runner.setup()
            site = web.TCPSite(runner, self.host, self.requested_port, backlog=BACKLOG, reuse_address=True)
            await site.start()
        except BaseException as error:
            self._error = error
            await runner.cleanup()
            self._ready.set()
            return
        self.port = _bound_port(runner, self.requested_port)
        self._runner = runner
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            await runner.cleanup()


def _bound_port(runner: web.AppRunner, fallback: int) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return fallback


def raise_open_file_limit(wanted: int = 65_536) -> None:
    """Lift the soft open-file limit towards the hard one, best effort.

    Each keep-alive client holds a descriptor on both ends; with the common soft limit of 1024 a benchmark
    with thousands of pollers would fail inside accept() rather than measure anything.
    """
    try:
        import resource  # Unix only
    except ImportError:
        return
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        if soft != resource.RLIM_INFINITY and soft < target:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (OSError, ValueError):
        pass
