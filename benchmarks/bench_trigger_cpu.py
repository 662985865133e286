"""CPU per poll of N concurrent EvolinkVideoTriggers in one asyncio loop, as in a triggerer.

Three pollers run in turn against the emulator (a separate process on 127.0.0.1), each on a fresh batch
of N jobs that last about ``--polls`` poll intervals, with the same fixed interval and the same random
start offsets (triggers reach a triggerer at different moments):

* ``baseline``: the per-poll code path of providers-http's ``HttpSensorTrigger``: a new
  ``aiohttp.ClientSession`` and an ``HttpAsyncHook.run`` per poll (then the JSON body is read, since an
  Evolink task answers 200 while it runs).
* ``floor``: a bare loop over one shared keep-alive session (the provider's, so the same connector
  limits): GET, read, ``json.loads``, look at ``status``, sleep. Nothing else.
* ``trigger``: ``EvolinkVideoTrigger(poll_interval=...).run()``, exactly as a triggerer runs it, with
  batch reads off (one GET per poll; ``bench_batch_polling.py`` measures batch reads).

Every measurement runs in a fresh child process (imports, log set-up and job creation happen before its
timed section), so heap size, garbage-collector state and peak RSS of one poller do not leak into the
next. CPU is ``time.process_time()`` of the child around the polling phase, divided by the GET requests
the emulator answered. The emulator's own CPU is reported to show when the server is the bottleneck.
Floor and trigger alternate (ABBA...) for ``--rounds`` rounds and are pooled, so a busy spell on a shared
machine hits both alike: single runs of the same poller differ by up to ±8 % on these machines.

Run: ``python benchmarks/bench_trigger_cpu.py`` (1,000 and 10,000 waits; see ``--help``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as h

VARIANTS = ("baseline", "floor", "trigger")


@dataclass
class Run(h.Measured):
    gc_cpu: float
    gc_collections: list[int]  # per generation, during the timed section
    polls: int
    ideal_polls: int
    events_ok: int
    sockets: int

    def summary(self) -> str:
        return (
            f"{self.ms_per_poll:.3f} ms/poll, {self.polls} polls, load {self.load:.1f}, "
            f"GC runs per generation {self.gc_collections}"
        )

    @property
    def ms_per_poll(self) -> float:
        return 1000.0 * self.cpu / max(1, self.polls)

    @property
    def polls_per_s(self) -> float:
        return self.polls / self.wall

    @property
    def kept_schedule(self) -> bool:
        """Polled (nearly) as often as planned, and the event loop was never late by a quarter interval."""
        return self.polls >= 0.95 * self.ideal_polls and self.loop_lag_p99 < 0.25 * self.interval

    @property
    def rss_per_wait_kb(self) -> float:
        return (self.peak_rss - self.start_rss) / self.waits / 1024


# ---- the three pollers -----------------------------------------------------------------------------------
# ``floor`` is ``h.poll_floor``, shared with bench_batch_polling.py.


async def poll_baseline(endpoint: str, headers: dict[str, str], interval: float) -> bool:
    import aiohttp
    from airflow.providers.http.hooks.http import HttpAsyncHook

    hook = HttpAsyncHook(method="GET", http_conn_id="http_bench")  # as HttpSensorTrigger._get_async_hook
    while True:
        async with aiohttp.ClientSession() as session:  # as HttpSensorTrigger.run, once per poll
            response = await hook.run(session=session, endpoint=endpoint, headers=headers)
            data = await response.json()
        if data["status"] in h.TERMINAL:
            return True
        await asyncio.sleep(interval)


async def poll_trigger(task_id: str, interval: float) -> bool:
    from airflow_evolink.triggers.evolink import EvolinkVideoTrigger

    events = [event async for event in EvolinkVideoTrigger(task_id, poll_interval=interval).run()]
    return len(events) == 1 and events[0].payload.get("status") == "success"


# ---- one measurement (in a child process) ----------------------------------------------------------------


async def measure(emulator: h.Emulator, spec: h.Spec) -> Run:
    variant, interval, headers = spec.variant, spec.interval, h.poll_headers()

    def poller(session: Any, task_id: str) -> Callable[[], Awaitable[bool]]:
        if variant == "floor":
            url = f"{emulator.base_url}/v1/tasks/{task_id}"
            return lambda: h.poll_floor(session, url, headers, interval)
        if variant == "baseline":
            return lambda: poll_baseline(f"/v1/tasks/{task_id}", headers, interval)
        return lambda: poll_trigger(task_id, interval)

    gc_timer = h.GcTimer()
    polled = await h.poll_jobs(
        emulator, spec, poller, lambda: (h.gets(emulator.stats()),), gc_timer=gc_timer, sockets=True
    )
    return Run(
        **polled.measured(),
        gc_cpu=gc_timer.seconds,
        gc_collections=gc_timer.collections,
        polls=polled.counts[0],
        ideal_polls=polled.ideal,
        events_ok=sum(1 for r in polled.results if r is True),
        sockets=polled.sockets,
    )


async def warm_up(emulator: h.Emulator, variant: str) -> None:
    """Poll one finished job the variant's way, in its own event loop, before the timed section.

    The first connection look-up, log line or event lazily imports and compiles code (Airflow's secrets
    backends, structlog processors...): a one-off cost per process, not per poll. Its own loop keeps any
    per-loop cache (the trigger's connection cache, the shared session) out of the measured run.
    """
    from airflow_evolink.hooks.async_transport import shared_session

    task_id = await h.finished_task(emulator)
    headers = h.poll_headers()
    if variant == "baseline":
        await poll_baseline(f"/v1/tasks/{task_id}", headers, 0.1)
    elif variant == "floor":
        async with shared_session() as session:
            await h.poll_floor(session, f"{emulator.base_url}/v1/tasks/{task_id}", headers, 0.1)
    else:
        await poll_trigger(task_id, 0.1)


def child(args: argparse.Namespace) -> int:
    """One measurement in this (fresh) process; prints its Run as JSON on the last line."""
    port = int(args.base_url.rsplit(":", 1)[1])
    home, emulator = h.start_child(
        args.base_url,
        args.emulator_pid,
        args.waits[0],
        {"http_bench": {"conn_type": "http", "host": "127.0.0.1", "port": port, "schema": "http"}},
    )
    # Imports before timing: Airflow, the providers-http hook, the trigger and its hook.
    import aiohttp  # noqa: F401
    from airflow.providers.http.hooks.http import HttpAsyncHook  # noqa: F401

    from airflow_evolink.triggers import batch
    from airflow_evolink.triggers.evolink import EvolinkVideoTrigger  # noqa: F401

    # This benchmark measures the single-GET path (also a gateway without the batch route, and the
    # fallback's figures); bench_batch_polling.py measures batch reads.
    batch.BATCH_POLLING = False
    h.logs_to_file(home)
    emulator.reset()
    asyncio.run(warm_up(emulator, args.child))
    spec = h.Spec(args.child, args.waits[0], args.interval[0], args.polls, args.seed)
    run = asyncio.run(measure(emulator, spec))
    h.print_result(run)
    return 0


def run_child(
    emulator: h.Emulator, variant: str, waits: int, interval: float, args: argparse.Namespace
) -> Run:
    spec = h.Spec(variant, waits, interval, args.polls, args.seed)
    return Run(**h.run_child(__file__, emulator, spec, echo_stderr=True))


# ---- the benchmark ---------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--waits", type=int, nargs="+", default=[1000, 10000], help="concurrent waits")
    parser.add_argument(
        "--interval",
        type=float,
        nargs="+",
        default=None,
        help="poll interval per --waits value (default: waits/1000 s, about 1,000 polls/s)",
    )
    parser.add_argument("--polls", type=int, default=20, help="polls per job (default 20)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating floor/trigger rounds per size (default 3)"
    )
    parser.add_argument(
        "--large-rounds", type=int, default=2, help="rounds for 5,000 waits or more (default 2; ~4 min each)"
    )
    return h.parse_run_args(parser, argv, VARIANTS, "--interval", lambda args: 0.25)


def run(args: argparse.Namespace) -> tuple[h.Outcome, dict[str, Any]]:
    runs: list[Run] = []
    with h.parent_emulator() as emulator:
        for waits, interval in zip(args.waits, args.interval, strict=True):
            order = [v for v in args.variants if v == "baseline"]  # the slow reference runs once
            pair = [v for v in args.variants if v != "baseline"]
            order += h.alternate(pair, args.rounds if waits < 5000 else args.large_rounds)
            for variant in order:
                runs.append(run_child(emulator, variant, waits, interval, args))
                runs[-1].progress()
    return report(runs, args), figures(runs)


def figures(runs: list[Run]) -> dict[str, Any]:
    """Pooled figures per number of waits, for run_all's summary."""
    out: dict[str, Any] = {}
    for waits in sorted({r.waits for r in runs}):
        group = [r for r in runs if r.waits == waits]
        out[waits] = {
            variant: pooled_ms_per_poll([r for r in group if r.variant == variant])
            for variant in VARIANTS
            if any(r.variant == variant for r in group)
        }
        trig = [r for r in group if r.variant == "trigger"]
        if trig:
            out[waits]["trigger_peak_rss_mb"] = max(r.peak_rss for r in trig) / h.MB
            out[waits]["trigger_rss_kb_per_wait"] = max(r.rss_per_wait_kb for r in trig)
        out[waits]["kept_schedule"] = {
            v: all(r.kept_schedule for r in group if r.variant == v) for v in VARIANTS
        }
    return out


def pooled_ms_per_poll(runs: list[Run]) -> float:
    return 1000.0 * sum(r.cpu for r in runs) / max(1, sum(r.polls for r in runs))


def report(runs: list[Run], args: argparse.Namespace) -> h.Outcome:
    print(f"\n== CPU per poll: N concurrent waits in one asyncio loop ({h.machine_line()})")
    print(
        h.table(
            (
                "poller",
                "waits",
                "interval s",
                "polls",
                "polls/s",
                "kept schedule (polls/ideal, loop lag p99)",
                "CPU ms/poll",
                "of it GC",
                *h.USAGE_COLUMNS,
                "RSS KB/wait",
                "sockets",
                "ok",
            ),
            [
                (
                    r.variant,
                    r.waits,
                    r.interval,
                    r.polls,
                    r.polls_per_s,
                    f"{'yes' if r.kept_schedule else 'NO'} ({r.polls / max(1, r.ideal_polls):.0%}, "
                    f"{1000 * r.loop_lag_p99:.0f} ms)",
                    f"{r.ms_per_poll:.3f}",
                    f"{1000 * r.gc_cpu / max(1, r.polls):.3f}",
                    *r.usage(),
                    r.rss_per_wait_kb,
                    r.sockets,
                    f"{r.events_ok}/{r.waits}",
                )
                for r in runs
            ],
        )
    )
    summary = []
    outcome = h.Outcome("trigger CPU per poll")
    quick = args.quick
    for waits in args.waits:
        by: dict[str, list[Run]] = {}
        for r in runs:
            if r.waits == waits:
                by.setdefault(r.variant, []).append(r)
        ms = {variant: pooled_ms_per_poll(group) for variant, group in by.items()}
        trig_runs = by.get("trigger", [])
        if not trig_runs:
            continue
        peak = max(r.peak_rss for r in trig_runs)
        summary.append(
            (
                waits,
                *(f"{ms[v]:.3f}" if v in ms else "-" for v in VARIANTS),
                f"{ms['trigger'] / ms['floor']:.2f}x" if "floor" in ms else "-",
                f"{ms['baseline'] / ms['trigger']:.2f}x" if "baseline" in ms else "-",
                f"{peak / h.MB:.0f}",
                f"{max(r.rss_per_wait_kb for r in trig_runs):.1f}",
            )
        )
        ok = sum(r.events_ok for r in trig_runs)
        total = sum(r.waits for r in trig_runs)
        outcome.check(f"N={waits}: every trigger ends with success", f"{ok}/{total}", "all", ok == total)
        if "floor" in ms:
            outcome.check_ratio(
                f"N={waits}: trigger / floor CPU per poll",
                ms["trigger"] / ms["floor"],
                # Quick runs of unchanged code read 0.99x-1.30x over six CI runs on 2 cores (300 waits
                # is too few polls for a steadier figure); the 1.1x target is checked in full mode.
                (1.5, 1.1),
                quick,
                guard="a loose guard against regressions",
            )
        if "baseline" in ms:
            outcome.check_ratio(
                f"N={waits}: baseline / trigger CPU per poll",
                ms["baseline"] / ms["trigger"],
                (2.0, 3.0),  # the baseline is lighter at quick size
                quick,
                at_least=True,
            )
        if waits >= 10000:
            outcome.check(
                f"N={waits}: peak RSS of the client process",
                f"{peak / h.MB:.0f} MB",
                "< 500 MB",
                peak < 500 * h.MB,
            )
        for r in trig_runs:
            if not r.kept_schedule:
                outcome.notes.append(
                    f"note: N={waits}: a trigger run made {r.polls}/{r.ideal_polls} of its ideal polls "
                    f"(loop lag p99 {1000 * r.loop_lag_p99:.0f} ms, load average {r.load:.1f}): the client "
                    "fell behind its schedule."
                )
                break
        for group in by.values():
            for r in group:
                if not r.kept_schedule and r.variant == "baseline":
                    outcome.notes.append(
                        f"note: N={waits}: the baseline fell behind its schedule: it made {r.polls} of "
                        f"{r.ideal_polls} polls at {100 * r.cpu / r.wall:.0f} % of a core."
                    )
        busiest = max(
            (r for group in by.values() for r in group), key=lambda r: (r.cpu + r.server_cpu) / r.wall
        )
        if (busiest.cpu + busiest.server_cpu) / busiest.wall > 0.85 * h.CPU_COUNT:
            outcome.notes.append(
                f"note: N={waits}: client and emulator together used "
                f"{(busiest.cpu + busiest.server_cpu) / busiest.wall:.1f} of {h.CPU_COUNT} cores "
                f"({busiest.variant}): the machine was saturated during that run."
            )
        if any(r.server_cpu / r.wall > 0.9 for group in by.values() for r in group):
            outcome.notes.append(
                f"note: N={waits}: the emulator used > 90 % of a core (it is single-threaded): it was the "
                "bottleneck, so polls/s is the server's ceiling, not the client's."
            )
    print(f"\n== Summary: CPU ms per poll, pooled over rounds ({h.machine_line()})")
    print(
        h.table(
            (
                "waits",
                "baseline",
                "floor",
                "trigger",
                "trigger/floor",
                "baseline/trigger",
                "trigger peak RSS MB",
                "RSS KB/wait",
            ),
            summary,
        )
    )
    return outcome


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child(args)
    outcome, _ = run(args)
    print(outcome.render())
    return 0 if outcome.ok else 1


if __name__ == "__main__":
    sys.exit(main())
