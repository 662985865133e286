"""Shared pieces of the benchmarks: the emulator as a separate process, Airflow's environment, the
open-file limit, a measurement in a fresh child process, N concurrent waits polled in one event loop
(with the bare shared-session floor), RSS sampling, and how results and targets are printed.

Nothing here is timed. The benchmarks measure CPU with ``time.process_time()`` around their timed
sections, so only the client process counts; the emulator runs in its own process and its CPU is
reported separately (it is the server, and on a 2-core machine it can be the bottleneck).
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import gc
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

API_KEY = "sk-bench"
CPU_COUNT = os.cpu_count() or 1
#: A valid create-task body for the emulator (a text-to-video model needs only a prompt).
VIDEO_REQUEST: dict[str, Any] = {"model": "kling-v3-text-to-video", "prompt": "benchmark", "duration": 5}


# ---- environment ---------------------------------------------------------------------------------------


def prepare_airflow_env() -> Path:
    """A throwaway AIRFLOW_HOME. Call before anything imports airflow."""
    home = Path(tempfile.mkdtemp(prefix="evolink-bench-home-"))
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
    return home


def set_connections(connections: dict[str, dict[str, Any]]) -> None:
    """Airflow connections as ``AIRFLOW_CONN_*`` env vars (read at look-up time)."""
    for conn_id, data in connections.items():
        os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(data)


def raise_open_file_limit(wanted: int) -> int:
    """Raise the soft RLIMIT_NOFILE towards ``wanted`` (capped by the hard limit); returns the new soft."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def logs_to_file(home: Path) -> Path:
    """Write Airflow's (structlog) logs as JSON lines to a file at INFO, as a triggerer does per trigger.

    Logging stays on: its cost is part of what a trigger pays in a triggerer. Thousands of lines on
    the terminal would measure the terminal instead.
    """
    path = home / "bench-logs.jsonl"
    stream = path.open("wb")
    try:
        from airflow._shared.logging.structlog import configure_logging

        configure_logging(json_output=True, log_level="INFO", output=stream, colors=False)
    except ImportError:  # another Airflow layout: fall back to plain logging into the same file
        import logging

        logging.basicConfig(stream=stream, level=logging.INFO, force=True)  # type: ignore[arg-type]
    return path


# ---- the emulator process -------------------------------------------------------------------------------


class Emulator:
    """``python -m airflow_evolink.emulator`` in a child process, on 127.0.0.1 and a free port."""

    def __init__(self, *args: str) -> None:
        self.args = list(args)
        self.proc: subprocess.Popen[str] | None = None
        self.base_url = ""
        self.pid = 0
        self._ps: Any = None

    @classmethod
    def attach(cls, base_url: str, pid: int) -> Emulator:
        """The emulator another process started (a benchmark child measuring in a clean process)."""
        import psutil

        emulator = cls()
        emulator.base_url, emulator.pid, emulator._ps = base_url, pid, psutil.Process(pid)
        return emulator

    def __enter__(self) -> Emulator:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        cmd = [sys.executable, "-m", "airflow_evolink.emulator", "--host", "127.0.0.1", "--port", "0"]
        self.proc = subprocess.Popen(
            [*cmd, *self.args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            match = re.search(r"listening on (http://\S+)", line)
            if match:
                self.base_url = match.group(1)
                break
        if not self.base_url:
            self.__exit__(None, None, None)
            raise RuntimeError("the emulator did not start")
        # Keep draining its output so a chatty emulator never blocks on a full pipe.
        threading.Thread(target=self._drain, daemon=True).start()
        import psutil

        self.pid = self.proc.pid
        self._ps = psutil.Process(self.proc.pid)
        return self

    def _drain(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for _ in self.proc.stdout:
            pass

    def __exit__(self, *exc: object) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=15)
        self.proc = None

    def control(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base_url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    def stats(self) -> dict[str, Any]:
        return self.control("GET", "/_emulator/stats")

    def reset(self) -> None:
        self.control("POST", "/_emulator/reset")

    def cpu_seconds(self) -> float:
        times = self._ps.cpu_times()
        return float(times.user + times.system)

    def connections(self) -> int:
        """Established TCP connections the emulator holds (sockets a client keeps open to it)."""
        return sum(1 for c in self._ps.net_connections(kind="tcp") if c.status == "ESTABLISHED")


def gets(stats: dict[str, Any]) -> int:
    return int(stats["by_route"].get("GET /v1/tasks/{task_id}", 0))


# ---- a measurement in a fresh child process --------------------------------------------------------------
#
# The parent starts the emulator and runs the benchmark script again with ``--child VARIANT``; the child
# attaches to that emulator, measures once and prints its result as JSON on a ``RESULT`` line.

RESULT = "RESULT "


@contextlib.contextmanager
def parent_emulator() -> Iterator[Emulator]:
    """The parent's side: Airflow's environment, the file limit, and the emulator its children measure."""
    prepare_airflow_env()
    raise_open_file_limit(4096)
    with Emulator("--job-seconds", "60", "--api-key", API_KEY) as emulator:
        yield emulator


def alternate(variants: Sequence[str], rounds: int) -> list[str]:
    """``rounds`` rounds of ``variants``, every other one reversed (ABBA...), so drift hits all alike."""
    order: list[str] = []
    for n in range(rounds):
        order += variants if n % 2 == 0 else variants[::-1]
    return order


@dataclass(frozen=True)
class Spec:
    """One measurement: the poller (variant), N waits, the poll interval, polls per job, the offsets' seed."""

    variant: str
    waits: int
    interval: float
    polls: int
    seed: int


def parse_run_args(
    parser: argparse.ArgumentParser,
    argv: list[str] | None,
    variants: Sequence[str],
    intervals: str,
    minimum: Callable[[argparse.Namespace], float],
) -> argparse.Namespace:
    """Adds ``--seed``, ``--quick`` and the hidden options ``run_child`` passes to the child, then parses.

    ``intervals`` names the option (``--interval``...) that takes one poll interval per ``--waits``
    value; by default waits/1000 s (about 1,000 polls/s), at least ``minimum(args)``.
    """
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="small and fast: loose checks only (for CI)")
    parser.add_argument("--child", choices=variants, help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--emulator-pid", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    dest = intervals.lstrip("-").replace("-", "_")
    if getattr(args, dest) is None:
        setattr(args, dest, [max(minimum(args), w / 1000.0) for w in args.waits])
    if len(getattr(args, dest)) != len(args.waits):
        parser.error(f"give one {intervals} per --waits value")
    return args


def run_child(
    script: str | Path, emulator: Emulator, spec: Spec, *, echo_stderr: bool = False
) -> dict[str, Any]:
    """Run ``script --child VARIANT ...`` for ``spec`` against ``emulator``; returns its last RESULT line.

    A failed child's output is shown and raises; ``echo_stderr`` also shows what a successful child wrote
    to stderr.
    """
    cmd = [
        sys.executable,
        str(Path(script).resolve()),
        "--child",
        spec.variant,
        "--waits",
        str(spec.waits),
        "--interval",
        str(spec.interval),
        "--polls",
        str(spec.polls),
        "--seed",
        str(spec.seed),
        "--base-url",
        emulator.base_url,
        "--emulator-pid",
        str(emulator.pid),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT)]
    if done.returncode != 0 or not lines:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise RuntimeError(f"the {spec.variant} measurement with {spec.waits} waits failed")
    if echo_stderr and done.stderr.strip():
        sys.stderr.write(done.stderr[-2000:])
    result: dict[str, Any] = json.loads(lines[-1][len(RESULT) :])
    return result


def start_child(
    base_url: str, emulator_pid: int, waits: int, connections: dict[str, dict[str, Any]] | None = None
) -> tuple[Path, Emulator]:
    """The child's set-up before its imports: AIRFLOW_HOME, file limit, the parent's emulator, connections.

    ``evolink_default`` points at the emulator; ``connections`` adds others. Returns (AIRFLOW_HOME, emulator).
    """
    home = prepare_airflow_env()
    raise_open_file_limit(max(4096, 2 * waits + 1024))
    emulator = Emulator.attach(base_url, emulator_pid)
    set_connections(
        {
            "evolink_default": {"conn_type": "evolink", "host": base_url, "password": API_KEY},
            **(connections or {}),
        }
    )
    return home, emulator


def print_result(result: Any) -> None:
    """The child's answer to ``run_child``: a dataclass as JSON on a RESULT line."""
    print(RESULT + json.dumps(asdict(result)), flush=True)


# ---- measuring --------------------------------------------------------------------------------------------


class RssSampler:
    """Samples this process's RSS on a thread (cheap: one /proc read per interval); keeps the peak."""

    def __init__(self, interval: float = 0.25) -> None:
        import psutil

        self._proc = psutil.Process()
        self.interval = interval
        self.start_rss = self._proc.memory_info().rss
        self.peak = self.start_rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self._proc.memory_info().rss)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)


class GcTimer:
    """CPU seconds this process spends in the cyclic garbage collector (a diagnostic, not a target)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = [0, 0, 0]
        self._start = 0.0

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._start = time.process_time()
        else:
            self.seconds += time.process_time() - self._start
            self.collections[info["generation"]] += 1

    def __enter__(self) -> GcTimer:
        import gc

        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        import gc

        gc.callbacks.remove(self._callback)


MB = 1024 * 1024


# ---- N waits in one event loop (in a child process) -------------------------------------------------------

TERMINAL = frozenset({"completed", "failed", "cancelled"})
#: Creates per second the emulator manages, to size job lengths (a guess; only the poll count moves).
CREATE_RATE = 1500.0


def poll_headers() -> dict[str, str]:
    """What the floor and the baseline send on every poll (the trigger builds its own)."""
    return {"Authorization": f"Bearer {API_KEY}", "Accept": "application/json"}


async def poll_floor(session: Any, url: str, headers: dict[str, str], interval: float) -> bool:
    """The floor: a bare loop over one shared keep-alive session: GET, read, ``json.loads``, sleep."""
    while True:
        if await _floor_status(session, url, headers) in TERMINAL:
            return True
        await asyncio.sleep(interval)


async def _floor_status(session: Any, url: str, headers: dict[str, str]) -> str:
    # A helper, so that nothing of a poll (response, body) stays referenced while the poller sleeps:
    # thousands of sleeping pollers holding responses would make the garbage collector work harder.
    async with session.get(url, headers=headers) as response:
        body = await response.read()
    status: str = json.loads(body)["status"]
    return status


async def create_tasks(base_url: str, n: int) -> list[tuple[str, float]]:
    """N new tasks, 64 requests in flight; returns (task id, local monotonic creation time)."""
    import aiohttp

    headers = {"Authorization": f"Bearer {API_KEY}"}
    out: list[tuple[str, float]] = []
    semaphore = asyncio.Semaphore(64)
    async with aiohttp.ClientSession() as session:

        async def one() -> None:
            async with semaphore:
                async with session.post(
                    base_url + "/v1/videos/generations", json=VIDEO_REQUEST, headers=headers
                ) as response:
                    data = await response.json()
                    out.append((data["id"], time.monotonic()))

        await asyncio.gather(*(one() for _ in range(n)))
    return out


async def finished_task(emulator: Emulator) -> str:
    """The id of one new task that has already ended (for a warm-up)."""
    emulator.control("POST", "/_emulator/jobs", {"job_seconds": 0, "count": 1})
    (task_id, _), *_ = await create_tasks(emulator.base_url, 1)
    return task_id


async def loop_lag_monitor(samples: list[float], stop: asyncio.Event, tick: float = 0.05) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        before = loop.time()
        await asyncio.sleep(tick)
        samples.append(max(0.0, loop.time() - before - tick))


#: Given the shared session and a task id, a poller: a coroutine function that waits for that task.
Poller = Callable[[Any, str], Callable[[], Awaitable[Any]]]


@dataclass
class Measured:
    """The figures every polling measurement has; a benchmark's Run adds its own."""

    variant: str
    waits: int
    interval: float
    wall: float
    cpu: float  # the client's (this process's) CPU seconds over the polling phase
    server_cpu: float  # the emulator's
    start_rss: int
    peak_rss: int
    loop_lag_p99: float
    load: float  # load average, before and after

    def summary(self) -> str:
        """The figures ``progress`` shows: each benchmark's Run says which."""
        raise NotImplementedError

    def progress(self) -> None:
        """A line on stderr as each measurement ends."""
        print(f"  ... {self.variant:8} N={self.waits}: {self.summary()}", file=sys.stderr)

    def usage(self) -> tuple[float, float, float, float]:
        """The cells under ``USAGE_COLUMNS``."""
        return (100 * self.cpu / self.wall, 100 * self.server_cpu / self.wall, self.load, self.peak_rss / MB)


USAGE_COLUMNS = ("client core %", "emulator core %", "load avg", "peak RSS MB")


@dataclass
class Polled(Measured):
    """What one timed polling phase of ``poll_jobs`` found."""

    results: list[Any]  # per job: what its poller returned, or the exception it raised
    job_ends: list[float]  # per job: when it ends (local monotonic time)
    counts: tuple[int, ...]  # the emulator's counters over the phase (after - before)
    ideal: int  # polls at the fixed interval from each poller's start to its job's end
    sockets: int  # established connections the emulator held after the phase (0 unless asked)

    def measured(self) -> dict[str, Any]:
        """Keyword arguments for the ``Measured`` fields of a Run."""
        return {f.name: getattr(self, f.name) for f in fields(Measured)}


async def poll_jobs(
    emulator: Emulator,
    spec: Spec,
    poller: Poller,
    counts: Callable[[], tuple[int, ...]],
    *,
    gc_timer: GcTimer | None = None,
    sockets: bool = False,
) -> Polled:
    """N new jobs of about ``spec.polls`` intervals, each waited for by ``poller``, all in this event loop.

    Pollers start at random offsets within an interval (the same ones for the same seed), over one
    shared session. Timed: this process's CPU and wall time from the first start to the last end;
    ``counts`` (the emulator's counters) and the emulator's CPU are read before and after.
    """
    from airflow_evolink.hooks.async_transport import shared_session

    interval, waits = spec.interval, spec.waits
    # Each job lasts about `polls` intervals from the moment its poller starts (creation takes a while).
    job_seconds = interval * spec.polls + waits / CREATE_RATE + interval
    emulator.control("POST", "/_emulator/jobs", {"job_seconds": job_seconds, "count": waits})
    tasks = await create_tasks(emulator.base_url, waits)
    rng = random.Random(spec.seed)
    offsets = [rng.uniform(0, interval) for _ in tasks]
    load = os.getloadavg()[0]

    async def delayed(offset: float, run: Callable[[], Awaitable[Any]]) -> Any:
        await asyncio.sleep(offset)
        return await run()

    async with shared_session() as session:
        gc.collect()
        before = counts()
        server_cpu_before = emulator.cpu_seconds()
        lag: list[float] = []
        stop = asyncio.Event()
        with RssSampler() as rss, gc_timer or contextlib.nullcontext():
            cpu0, t0 = time.process_time(), time.monotonic()
            monitor = asyncio.create_task(loop_lag_monitor(lag, stop))
            results = await asyncio.gather(
                *(delayed(off, poller(session, tid)) for (tid, _), off in zip(tasks, offsets, strict=True)),
                return_exceptions=True,
            )
            stop.set()
            await monitor
            cpu, wall = time.process_time() - cpu0, time.monotonic() - t0
        held = emulator.connections() if sockets else 0
    server_cpu = emulator.cpu_seconds() - server_cpu_before
    after = counts()
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        print(f"  {spec.variant}: {len(errors)} pollers raised, e.g. {errors[0]!r}", file=sys.stderr)

    ideal = 0
    for (_, created), off in zip(tasks, offsets, strict=True):
        live = created + job_seconds - (t0 + off)  # job time left when its poller starts
        ideal += int(max(0.0, live) // interval) + 1
    lag.sort()
    return Polled(
        variant=spec.variant,
        waits=waits,
        interval=interval,
        wall=wall,
        cpu=cpu,
        server_cpu=server_cpu,
        start_rss=rss.start_rss,
        peak_rss=rss.peak,
        loop_lag_p99=lag[int(0.99 * (len(lag) - 1))] if lag else 0.0,
        load=(load + os.getloadavg()[0]) / 2,
        results=list(results),
        job_ends=[created + job_seconds for _, created in tasks],
        counts=tuple(a - b for a, b in zip(after, before, strict=True)),
        ideal=ideal,
        sockets=held,
    )


# ---- reporting --------------------------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A Markdown table (pastes into the README as is)."""
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        padded = (
            c.ljust(w) if n == 0 or i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        lines.append("| " + " | ".join(padded) + " |")
        if n == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


@dataclass
class Target:
    name: str
    measured: str
    goal: str
    met: bool | None  # None: not checked in this configuration
    note: str = ""


@dataclass
class Outcome:
    """What one benchmark found: printed tables plus targets; ``ok`` is False when a checked target failed."""

    title: str
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def check(self, name: str, measured: str, goal: str, met: bool | None, note: str = "") -> None:
        self.targets.append(Target(name, measured, goal, met, note))

    def check_ratio(
        self,
        name: str,
        ratio: float,
        goals: tuple[float, float],
        quick: bool,
        *,
        at_least: bool = False,
        detail: str = "",
        guard: str = "a loose guard",
    ) -> None:
        """``ratio`` against ``goals`` (quick, full): at most the goal, or ``at_least``.

        Quick mode checks the looser goal and says so; ``detail`` follows the measured ratio.
        """
        quick_goal, full = goals
        goal = quick_goal if quick else full
        self.check(
            name,
            f"{ratio:.2f}x{detail}",
            f"{'>=' if at_least else '<='} {goal:g}x",
            ratio >= goal if at_least else ratio <= goal,
            f"quick: {guard}; {full:g}x is checked in full mode" if quick else "",
        )

    @property
    def ok(self) -> bool:
        return all(t.met is not False for t in self.targets)

    def render(self) -> str:
        rows = [
            (t.name, t.measured, t.goal, "n/a" if t.met is None else "MET" if t.met else "MISSED", t.note)
            for t in self.targets
        ]
        text = table(("target", "measured", "goal", "result", "note"), rows)
        return "\n".join([f"Targets: {self.title}", text, *self.notes])


def machine_line() -> str:
    import platform

    return f"machine: {CPU_COUNT} cores, {platform.python_implementation()} {platform.python_version()}"
