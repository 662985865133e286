"""Batch reads: HTTP requests and CPU per task observation of N concurrent EvolinkVideoTriggers.

An *observation* is one task's state read, alone (a GET) or inside a batch (``POST /v1/tasks/batch``, up
to 50 tasks a request). N waits run in one asyncio loop, as in a triggerer, each on a fresh set of jobs
that last about ``--polls`` intervals, with the same random start offsets (triggers reach a triggerer at
different moments). Four pollers, each in a fresh child process (as in ``bench_trigger_cpu.py``; the
shared helpers are in ``_harness.py``):

* ``floor``: a bare loop over one shared keep-alive session: GET, read, ``json.loads``, sleep. The
  single-GET floor.
* ``single``: ``EvolinkVideoTrigger`` with batching off (``batch.BATCH_POLLING = False``): the trigger as it
  was before batch reads, one GET per poll.
* ``fallback``: the trigger with batching on against an emulator whose batch route answers 404: it probes
  once, then polls with GETs (the figures must stay within 1.1x of ``single``).
* ``batch``: the trigger with batch reads.

The GET pollers poll every ``--get-interval`` seconds (default: N/1000 s, at least 1 s: about 1,000 GETs
per second, what the emulator, a single-threaded process on the same cores, can serve); ``batch`` polls
every ``--interval`` seconds (default 1 s). CPU is ``time.process_time()`` of the child around the polling
phase, divided by the observations the emulator served; detection lag is the time from a job's end to its
trigger's event (a fixed interval ``i`` gives about ``i / 2`` on average). Below 5,000 waits the four
alternate (ABCD DCBA ...) over ``--rounds`` rounds and are pooled: single runs of one poller differ by up
to 15 % on a shared 2-core machine.

Run: ``python benchmarks/bench_batch_polling.py`` (1,000 and 10,000 waits; see ``--help``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as h

VARIANTS = ("floor", "single", "fallback", "batch")
GET_VARIANTS = ("floor", "single", "fallback")


@dataclass
class Run(h.Measured):
    gets: int
    batches: int
    batch_ids: int
    ideal: int
    events_ok: int
    lag_mean: float
    lag_p95: float

    def summary(self) -> str:
        return (
            f"{self.us_per_observation:.1f} us/observation, "
            f"{self.observations_per_request:.1f} observations/request, "
            f"lag {self.lag_mean:.2f} s, load {self.load:.1f}"
        )

    @property
    def observations(self) -> int:
        return self.gets + self.batch_ids

    @property
    def requests(self) -> int:
        return self.gets + self.batches

    @property
    def us_per_observation(self) -> float:
        return 1e6 * self.cpu / max(1, self.observations)

    @property
    def observations_per_request(self) -> float:
        return self.observations / max(1, self.requests)


# ---- one measurement (in a child process) ----------------------------------------------------------------


async def wait_floor(session: Any, url: str, headers: dict[str, str], interval: float) -> float | None:
    await h.poll_floor(session, url, headers, interval)
    return time.monotonic()


async def wait_trigger(task_id: str, interval: float) -> float | None:
    from airflow_evolink.triggers.evolink import EvolinkVideoTrigger

    events = [event async for event in EvolinkVideoTrigger(task_id, poll_interval=interval).run()]
    ok = len(events) == 1 and events[0].payload.get("status") == "success"
    return time.monotonic() if ok else None


def batch_counts(emulator: h.Emulator) -> tuple[int, int, int]:
    """(GETs, batch requests, task ids asked for in batches) served so far."""
    stats = emulator.stats()
    route = emulator.control("GET", "/_emulator/batch")
    return h.gets(stats), int(stats["by_route"].get("POST /v1/tasks/batch", 0)), int(route["task_ids"])


async def measure(emulator: h.Emulator, spec: h.Spec) -> Run:
    variant, interval, headers = spec.variant, spec.interval, h.poll_headers()

    def poller(session: Any, task_id: str) -> Callable[[], Awaitable[float | None]]:
        if variant == "floor":
            url = f"{emulator.base_url}/v1/tasks/{task_id}"
            return lambda: wait_floor(session, url, headers, interval)
        return lambda: wait_trigger(task_id, interval)

    polled = await h.poll_jobs(emulator, spec, poller, lambda: batch_counts(emulator))
    detection = sorted(
        max(0.0, end - job_end)
        for end, job_end in zip(polled.results, polled.job_ends, strict=True)
        if isinstance(end, float)
    )
    gets, batches, batch_ids = polled.counts
    return Run(
        **polled.measured(),
        gets=gets,
        batches=batches,
        batch_ids=batch_ids,
        ideal=polled.ideal,
        events_ok=len(detection),
        lag_mean=sum(detection) / max(1, len(detection)),
        lag_p95=detection[int(0.95 * (len(detection) - 1))] if detection else 0.0,
    )


async def warm_up(emulator: h.Emulator, variant: str) -> None:
    """One finished job polled the variant's way in its own loop: lazy imports and compiles, not timed."""
    task_id = await h.finished_task(emulator)
    if variant == "floor":
        from airflow_evolink.hooks.async_transport import shared_session

        async with shared_session() as session:
            await h.poll_floor(session, f"{emulator.base_url}/v1/tasks/{task_id}", h.poll_headers(), 0.1)
    else:
        await wait_trigger(task_id, 0.1)


def child(args: argparse.Namespace) -> int:
    home, emulator = h.start_child(args.base_url, args.emulator_pid, args.waits[0])
    import aiohttp  # noqa: F401

    from airflow_evolink.triggers import batch
    from airflow_evolink.triggers.evolink import EvolinkVideoTrigger  # noqa: F401

    batch.BATCH_POLLING = args.child != "single"
    h.logs_to_file(home)
    emulator.reset()
    emulator.control("POST", "/_emulator/batch", {"enabled": args.child != "fallback", "results": True})
    try:
        asyncio.run(warm_up(emulator, args.child))
        spec = h.Spec(args.child, args.waits[0], args.interval, args.polls, args.seed)
        run = asyncio.run(measure(emulator, spec))
    finally:
        emulator.control("POST", "/_emulator/batch", {"enabled": True})
    h.print_result(run)
    return 0


def run_child(
    emulator: h.Emulator, variant: str, waits: int, interval: float, polls: int, args: argparse.Namespace
) -> Run:
    return Run(**h.run_child(__file__, emulator, h.Spec(variant, waits, interval, polls, args.seed)))


# ---- the benchmark ---------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--waits", type=int, nargs="+", default=[1000, 10000], help="concurrent waits")
    parser.add_argument("--interval", type=float, default=1.0, help="batch poll interval (default 1 s)")
    parser.add_argument(
        "--get-interval",
        type=float,
        nargs="+",
        default=None,
        help="GET pollers' interval per --waits value (default max(1, waits/1000) s)",
    )
    parser.add_argument(
        "--polls", type=int, default=20, help="polls per job for batch (default 20: 20 s jobs)"
    )
    parser.add_argument(
        "--get-polls",
        type=int,
        default=None,
        help="polls per job for the GET pollers (default: --polls, "
        "10 where the GET interval is longer than the batch interval)",
    )
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument(
        "--rounds", type=int, default=2, help="alternating floor/batch rounds below 5,000 waits"
    )
    return h.parse_run_args(parser, argv, VARIANTS, "--get-interval", lambda args: args.interval)


def run(args: argparse.Namespace) -> tuple[h.Outcome, dict[str, Any]]:
    runs: list[Run] = []
    with h.parent_emulator() as emulator:
        for waits, get_interval in zip(args.waits, args.get_interval, strict=True):
            get_polls = args.get_polls or (args.polls if get_interval <= args.interval else 10)
            wanted = [v for v in VARIANTS if v in args.variants]
            for variant in h.alternate(wanted, args.rounds if waits < 5000 else 1):
                batch = variant == "batch"
                interval = args.interval if batch else get_interval
                polls = args.polls if batch else get_polls
                runs.append(run_child(emulator, variant, waits, interval, polls, args))
                runs[-1].progress()
    return report(runs, args), figures(runs)


def pooled(runs: list[Run]) -> dict[str, float]:
    observations = sum(r.observations for r in runs)
    return {
        "us_per_observation": 1e6 * sum(r.cpu for r in runs) / max(1, observations),
        "observations_per_request": observations / max(1, sum(r.requests for r in runs)),
        "lag_mean": sum(r.lag_mean * r.events_ok for r in runs) / max(1, sum(r.events_ok for r in runs)),
        "lag_p95": max(r.lag_p95 for r in runs),
        "interval": runs[0].interval,
        "peak_rss_mb": max(r.peak_rss for r in runs) / h.MB,
        "ok": sum(r.events_ok for r in runs),
        "waits": sum(r.waits for r in runs),
    }


def figures(runs: list[Run]) -> dict[int, dict[str, dict[str, float]]]:
    out: dict[int, dict[str, dict[str, float]]] = {}
    for waits in sorted({r.waits for r in runs}):
        out[waits] = {
            v: pooled([r for r in runs if r.waits == waits and r.variant == v])
            for v in VARIANTS
            if any(r.waits == waits and r.variant == v for r in runs)
        }
    return out


def report(runs: list[Run], args: argparse.Namespace) -> h.Outcome:
    print(f"\n== Batch reads: N concurrent waits in one asyncio loop ({h.machine_line()})")
    print(
        h.table(
            (
                "poller",
                "waits",
                "interval s",
                "observations",
                "of ideal",
                "requests",
                "obs/request",
                "CPU us/obs",
                "lag mean s",
                "lag p95 s",
                "loop lag p99 ms",
                *h.USAGE_COLUMNS,
                "ok",
            ),
            [
                (
                    r.variant,
                    r.waits,
                    r.interval,
                    r.observations,
                    f"{r.observations / max(1, r.ideal):.0%}",
                    r.requests,
                    f"{r.observations_per_request:.1f}",
                    f"{r.us_per_observation:.1f}",
                    f"{r.lag_mean:.2f}",
                    f"{r.lag_p95:.2f}",
                    f"{1000 * r.loop_lag_p99:.0f}",
                    *r.usage(),
                    f"{r.events_ok}/{r.waits}",
                )
                for r in runs
            ],
        )
    )
    quick = args.quick
    outcome = h.Outcome("batch reads")
    summary = []
    for waits, by in figures(runs).items():
        b, f, s, fb = by.get("batch"), by.get("floor"), by.get("single"), by.get("fallback")
        for name, fig in by.items():
            outcome.check(
                f"N={waits}: every {name} wait ends with success",
                f"{fig['ok']:.0f}/{fig['waits']:.0f}",
                "all",
                fig["ok"] == fig["waits"],
            )
        if b:
            goal = 10.0
            outcome.check(
                f"N={waits}: observations per request (batch)",
                f"{b['observations_per_request']:.1f}",
                f">= {goal:g} (50 ideal)",
                b["observations_per_request"] >= goal,
            )
        cpu_ratios = (  # (numerator, denominator, their names, goals (quick, full), show the figures)
            (b, f, "batch / floor", (0.5, 0.3), True),
            (fb, s, "fallback (route 404) / single-GET trigger", (1.25, 1.1), False),
        )
        for num, den, names, goals, figures_too in cpu_ratios:
            if num and den:
                us, ref = num["us_per_observation"], den["us_per_observation"]
                outcome.check_ratio(
                    f"N={waits}: {names} CPU per observation",
                    us / ref,
                    goals,
                    quick,
                    detail=f" ({us:.1f} vs {ref:.1f} us)" if figures_too else "",
                )
        if b and s and b["interval"] == s["interval"]:
            # Same fixed interval: completion must be seen as soon as with single GETs.
            slack = 0.1 * b["interval"]
            outcome.check(
                f"N={waits}: detection lag, batch vs single GETs (same {b['interval']:g} s polls)",
                f"{b['lag_mean']:.2f} s vs {s['lag_mean']:.2f} s (p95 {b['lag_p95']:.2f} vs {s['lag_p95']:.2f})",
                f"mean <= single + {slack:.2g} s",
                None if quick else b["lag_mean"] <= s["lag_mean"] + slack,
                "quick: too few jobs for a stable mean; checked in full mode" if quick else "",
            )
        elif b:
            outcome.check(
                f"N={waits}: detection lag, batch ({b['interval']:g} s polls)",
                f"{b['lag_mean']:.2f} s (p95 {b['lag_p95']:.2f})",
                f"mean <= 0.6 x interval = {0.6 * b['interval']:.2f} s",
                b["lag_mean"] <= 0.6 * b["interval"],
            )
        if b and waits >= 10000:
            outcome.check(
                f"N={waits}: peak RSS of the client (batch)",
                f"{b['peak_rss_mb']:.0f} MB",
                "< 500 MB",
                b["peak_rss_mb"] < 500,
            )
        summary.append(
            (
                waits,
                *(f"{by[v]['us_per_observation']:.1f}" if v in by else "-" for v in VARIANTS),
                f"{b['observations_per_request']:.1f}" if b else "-",
                f"{b['us_per_observation'] / f['us_per_observation']:.2f}x" if b and f else "-",
                f"{fb['us_per_observation'] / s['us_per_observation']:.2f}x" if fb and s else "-",
                f"{b['peak_rss_mb']:.0f}" if b else "-",
            )
        )
    for r in runs:
        if (r.cpu + r.server_cpu) / r.wall > 0.85 * h.CPU_COUNT:
            outcome.notes.append(
                f"note: N={r.waits} {r.variant}: client and emulator used {(r.cpu + r.server_cpu) / r.wall:.1f}"
                f" of {h.CPU_COUNT} cores: the machine was saturated during that run."
            )
    print(f"\n== Summary: CPU us per observation, pooled over rounds ({h.machine_line()})")
    print(
        h.table(
            ("waits", *VARIANTS, "batch obs/request", "batch/floor", "fallback/single", "batch peak RSS MB"),
            summary,
        )
    )
    return outcome


def readme_rows(figs: dict[int, dict[str, dict[str, float]]]) -> list[tuple[str, str, str, str]]:
    """Rows for run_all's README table."""
    rows = []
    for waits, by in sorted(figs.items()):
        b, f, s, fb = by.get("batch"), by.get("floor"), by.get("single"), by.get("fallback")
        if not b:
            continue
        rows.append(
            (
                f"Batch reads, {waits:,} waits ({b['interval']:g} s polls)",
                f"{b['observations_per_request']:.1f} observations/request",
                "single GETs: 1",
                f"{1 / b['observations_per_request']:.3f} requests per observation",
            )
        )
        if f:
            rows.append(
                (
                    f"CPU per observation, batch reads, {waits:,} waits",
                    f"{b['us_per_observation']:.1f} us",
                    f"single-GET floor {f['us_per_observation']:.1f} us ({f['interval']:g} s polls)",
                    f"{b['us_per_observation'] / f['us_per_observation']:.2f}x floor",
                )
            )
        if fb and s:
            rows.append(
                (
                    f"CPU per observation, batch route 404, {waits:,} waits",
                    f"{fb['us_per_observation']:.1f} us",
                    f"single-GET trigger {s['us_per_observation']:.1f} us",
                    f"{fb['us_per_observation'] / s['us_per_observation']:.2f}x",
                )
            )
        lag = f"{b['lag_mean']:.2f} s mean, {b['lag_p95']:.2f} s p95"
        ref = f"single GETs {s['lag_mean']:.2f} s mean ({s['interval']:g} s polls)" if s else "-"
        rows.append((f"Detection lag, batch reads, {waits:,} waits", lag, ref, ""))
        rows.append(
            (
                f"Client RSS, batch reads, {waits:,} waits",
                f"{b['peak_rss_mb']:.0f} MB",
                "-",
                "target < 500 MB" if waits >= 10000 else "",
            )
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child(args)
    outcome, figs = run(args)
    print(outcome.render())
    print()
    print(h.table(("figure", "provider", "reference", "ratio"), readme_rows(figs)))
    return 0 if outcome.ok else 1


if __name__ == "__main__":
    sys.exit(main())
