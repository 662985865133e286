"""Shared pieces of the benchmarks: the emulator as a separate process, Airflow's environment, the
open-file limit, a measurement in a fresh child process, RSS sampling, and how results and targets are
printed.

Nothing here is timed. The benchmarks measure CPU with ``time.process_time()`` around their timed
sections, so only the client process counts; the emulator runs in its own process and its CPU is
reported separately (it is the server, and on a 2-core machine it can be the bottleneck).
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
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


def add_child_arguments(parser: argparse.ArgumentParser, variants: Sequence[str]) -> None:
    """The hidden options ``run_child`` passes to the child (``--child``, ``--base-url``, ``--emulator-pid``)."""
    parser.add_argument("--child", choices=variants, help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--emulator-pid", type=int, help=argparse.SUPPRESS)


def run_child(
    script: str | Path,
    emulator: Emulator,
    variant: str,
    waits: int,
    interval: float,
    polls: int,
    seed: int,
    *,
    echo_stderr: bool = False,
) -> dict[str, Any]:
    """Run ``script --child variant`` against ``emulator``; returns what its last RESULT line holds.

    A failed child's output is shown and raises; ``echo_stderr`` also shows what a successful child wrote
    to stderr.
    """
    cmd = [
        sys.executable,
        str(Path(script).resolve()),
        "--child",
        variant,
        "--waits",
        str(waits),
        "--interval",
        str(interval),
        "--polls",
        str(polls),
        "--seed",
        str(seed),
        "--base-url",
        emulator.base_url,
        "--emulator-pid",
        str(emulator.pid),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT)]
    if done.returncode != 0 or not lines:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise RuntimeError(f"the {variant} measurement with {waits} waits failed")
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
