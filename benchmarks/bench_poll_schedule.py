"""GET requests per video and detection lag: the adaptive PollSchedule against fixed 10 s polling.

Time is simulated (a 40 min job takes microseconds), the schedule is the provider's own
``PollSchedule.next_delay``, fed the task the way the trigger feeds it (a ``TaskState`` parsed from each
answer) for jobs of about 30 s to 40 min (each run's length is drawn within ±10 % of the nominal one, so
job ends do not line up with the 10 s grid). The first poll happens 0-3 s after submission (a triggerer
picking the trigger up), at the same moment for both schedules. Each job is run with many seeds (jitter,
start offset, length, uneven progress profile); lag is the worst over them, requests the mean.

Jobs report, as the real API does, a rising ``progress`` and an ``estimated_time``:

* progress ``linear`` from submission; ``pending`` (0 for the first 10 % of the job, as the emulator
  does, then linear); ``uneven`` (five phases whose pace is drawn within ±50 % of the mean, reported in
  steps of 5 %).
* estimate accurate, 50 % too low or 50 % too high, either as a total (``E=``) or as a countdown of the
  time left (``countdown``, as the emulator reports it). ``no estimate`` is shown for information only:
  the target is for jobs that report one.

Targets (checked for every scenario with an estimate): detection lag <= max(5 s, 5 % of the job) for
every length and seed, and at most 1/3 of the GETs of fixed 10 s polling over the length set.

Run: ``python benchmarks/bench_poll_schedule.py`` (``--quick`` uses fewer seeds).
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as h

from airflow_evolink.core.polling import PollSchedule
from airflow_evolink.core.status import TaskStatus
from airflow_evolink.core.task import TaskState

LENGTHS = (30, 45, 60, 90, 120, 180, 300, 450, 600, 900, 1200, 1800, 2400)
FIXED_INTERVAL = 10.0
#: The trigger's first poll comes this long after submission, at most (a triggerer picking it up).
MAX_START_DELAY = 3.0

Progress = Callable[[float], int]
Estimate = Callable[[float], "float | None"]


def lag_bound(length: float) -> float:
    return max(5.0, 0.05 * length)


# ---- job models --------------------------------------------------------------------------------------


def linear(length: float, rng: random.Random) -> Progress:
    return lambda t: min(99, int(100 * t / length))


def pending_then_linear(length: float, rng: random.Random) -> Progress:
    """The emulator's timeline: pending (0 %) for 10 % of the job, then 1..99 % linearly."""
    pending = 0.1 * length

    def progress(t: float) -> int:
        if t < pending:
            return 0
        return min(99, 1 + int(98 * (t - pending) / (length - pending)))

    return progress


def uneven(length: float, rng: random.Random) -> Progress:
    """Five phases of random length whose pace is within ±50 % of the mean, reported in 5 % steps."""
    shares = [rng.uniform(0.5, 1.5) for _ in range(5)]
    total = sum(shares)
    shares = [s / total for s in shares]
    gains = [rng.uniform(0.5, 1.5) * s for s in shares]
    total = sum(gains)
    gains = [g / total for g in gains]

    def progress(t: float) -> int:
        x, start, done = t / length, 0.0, 0.0
        for share, gain in zip(shares, gains, strict=True):
            if x <= start + share:
                done += gain * (x - start) / share
                break
            start += share
            done += gain
        return min(99, 5 * int(20 * done))

    return progress


PROGRESS: dict[str, Callable[[float, random.Random], Progress]] = {
    "linear": linear,
    "pending": pending_then_linear,
    "uneven": uneven,
}


def total_estimate(factor: float) -> Callable[[float], Estimate]:
    return lambda length: lambda t: factor * length


def countdown_estimate(factor: float) -> Callable[[float], Estimate]:
    return lambda length: lambda t: max(1.0, factor * length - t)


ESTIMATES: dict[str, Callable[[float], Estimate] | None] = {
    "E=L": total_estimate(1.0),
    "E=0.5L": total_estimate(0.5),
    "E=1.5L": total_estimate(1.5),
    "countdown": countdown_estimate(1.0),
    "countdown x0.5": countdown_estimate(0.5),
    "countdown x1.5": countdown_estimate(1.5),
    "no estimate": None,
}


@dataclass
class Result:
    lag: float
    requests: int
    bound: float


def simulate(
    length: float,
    schedule: PollSchedule,
    seed: int,
    progress_model: str = "linear",
    estimate: Callable[[float], Estimate] | None = None,
) -> Result:
    """Poll one job as the trigger does; return the detection lag and the number of GETs."""
    rng = random.Random(seed)
    start = rng.uniform(0, MAX_START_DELAY)
    length *= rng.uniform(0.9, 1.1)
    progress = PROGRESS[progress_model](length, random.Random(seed * 7919 + int(length)))
    estimated = estimate(length) if estimate is not None else (lambda t: None)
    t, requests = start, 0
    while True:
        requests += 1
        if t >= length:
            return Result(t - length, requests, lag_bound(length))
        seen = TaskState("task-sim", "processing", TaskStatus.PROCESSING, progress(t), None, estimated(t))
        t += schedule.next_delay(seen, t, rng)


# ---- the benchmark -------------------------------------------------------------------------------------


@dataclass
class Row:
    scenario: str
    length: int
    fixed_requests: float
    fixed_lag: float
    requests: float
    worst_requests: int
    worst_lag: float
    worst_share: float  # the worst lag of a run as a share of that run's bound

    @property
    def within_bound(self) -> bool:
        return self.worst_share <= 1.0 + 1e-9


def run_scenario(progress_model: str, estimate_name: str, seeds: range) -> list[Row]:
    fixed, adaptive = PollSchedule(poll_interval=FIXED_INTERVAL), PollSchedule()
    estimate = ESTIMATES[estimate_name]
    rows = []
    for length in LENGTHS:
        base = [simulate(length, fixed, seed, progress_model, estimate) for seed in seeds]
        ours = [simulate(length, adaptive, seed, progress_model, estimate) for seed in seeds]
        rows.append(
            Row(
                scenario=f"{progress_model} / {estimate_name}",
                length=length,
                fixed_requests=sum(r.requests for r in base) / len(base),
                fixed_lag=max(r.lag for r in base),
                requests=sum(r.requests for r in ours) / len(ours),
                worst_requests=max(r.requests for r in ours),
                worst_lag=max(r.lag for r in ours),
                worst_share=max(r.lag / r.bound for r in ours),
            )
        )
    return rows


def requests_per_video(rows: list[Row]) -> tuple[float, float]:
    """Mean GETs per video over the length set (each length equally common): (fixed 10 s, adaptive)."""
    return (sum(r.fixed_requests for r in rows) / len(rows), sum(r.requests for r in rows) / len(rows))


def run(args: argparse.Namespace) -> tuple[h.Outcome, dict[str, float]]:
    seeds = range(args.seeds)
    scenarios = {(p, e): run_scenario(p, e, seeds) for p in PROGRESS for e in ESTIMATES}
    targeted = {key: rows for key, rows in scenarios.items() if ESTIMATES[key[1]] is not None}

    print(f"\n== Poll schedule: per job length, over all {len(targeted)} scenarios with an estimate")
    print(f"   ({len(seeds)} seeds each; requests = mean GETs per video; lag = worst case)")
    per_length = []
    for i, length in enumerate(LENGTHS):
        at = [rows[i] for rows in targeted.values()]
        fixed = sum(r.fixed_requests for r in at) / len(at)
        ours = sum(r.requests for r in at) / len(at)
        worst_lag = max(r.worst_lag for r in at)
        worst_share = max(r.worst_share for r in at)
        per_length.append(
            (
                f"~{length} s" if length < 120 else f"~{length // 60} min",
                f"{fixed:.1f}",
                f"{max(r.fixed_lag for r in at):.1f}",
                f"{ours:.1f}",
                f"{max(r.worst_requests for r in at)}",
                f"{ours / fixed:.2f}",
                f"{worst_lag:.1f}",
                f"{worst_share:.0%}",
                "ok" if worst_share <= 1.0 + 1e-9 else "OVER",
            )
        )
    print(
        h.table(
            (
                "job",
                "fixed 10 s: GETs",
                "fixed: worst lag s",
                "adaptive: GETs",
                "adaptive: most GETs",
                "ratio",
                "adaptive: worst lag s",
                "of its bound",
                "lag",
            ),
            per_length,
        )
    )

    print("\n== Poll schedule: per scenario, over the length set")
    summary = []
    outcome = h.Outcome("poll schedule (simulated time)")
    total_fixed = total_ours = 0.0
    for (progress_model, estimate_name), rows in scenarios.items():
        fixed, ours = requests_per_video(rows)
        worst = max(rows, key=lambda r: r.worst_share)
        over = [r.length for r in rows if not r.within_bound]
        in_target = ESTIMATES[estimate_name] is not None
        if in_target:
            total_fixed += fixed
            total_ours += ours
        summary.append(
            (
                progress_model,
                estimate_name + ("" if in_target else " (info only)"),
                f"{fixed:.1f}",
                f"{ours:.1f}",
                f"{ours / fixed:.3f}",
                f"{worst.worst_share:.0%} (at about {worst.length} s)",
                ", ".join(f"{n} s" for n in over) or "none",
            )
        )
    for progress_model in PROGRESS:
        kinds = [
            scenarios[(progress_model, estimate_name)]
            for estimate_name, estimate in ESTIMATES.items()
            if estimate is not None
        ]
        worst_share = max(r.worst_share for group in kinds for r in group)
        outcome.check(
            f"{progress_model} progress, {len(kinds)} estimate kinds: worst lag",
            f"{worst_share:.0%} of max(5 s, 5 %)",
            "<= 100 %",
            worst_share <= 1.0 + 1e-9,
        )
        ratios = [requests_per_video(group) for group in kinds]
        worst_ratio = max(ours / fixed for fixed, ours in ratios)
        outcome.check(
            f"{progress_model} progress, {len(kinds)} estimate kinds: GETs vs fixed 10 s",
            f"{worst_ratio:.3f} (worst kind)",
            "<= 0.333",
            worst_ratio * 3 <= 1.0,
        )
    print(
        h.table(
            (
                "progress",
                "estimate",
                "fixed 10 s GETs/video",
                "adaptive GETs/video",
                "ratio",
                "worst lag, share of bound",
                "lengths over the bound",
            ),
            summary,
        )
    )
    figures = {
        "fixed_requests_per_video": total_fixed / len(targeted),
        "adaptive_requests_per_video": total_ours / len(targeted),
    }
    print(
        f"\nOver all scenarios with an estimate: {figures['fixed_requests_per_video']:.1f} GETs per video "
        f"with fixed 10 s polling, {figures['adaptive_requests_per_video']:.1f} adaptive "
        f"({figures['adaptive_requests_per_video'] / figures['fixed_requests_per_video']:.3f}x)."
    )
    return outcome, figures


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=200, help="seeds per job and scenario (default 200)")
    parser.add_argument("--quick", action="store_true", help="40 seeds (for CI)")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds = min(args.seeds, 40)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    outcome, _ = run(args)
    print(outcome.render())
    return 0 if outcome.ok else 1


if __name__ == "__main__":
    sys.exit(main())
