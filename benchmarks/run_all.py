"""Run the provider's benchmarks, print their tables, a summary for the README, and fail on a missed target.

    python benchmarks/run_all.py            # full: 1,000 and 10,000 waits, 500 submissions (~35 min)
    python benchmarks/run_all.py --quick    # small and fast, for CI (~2.5 min on 2 cores)

Each benchmark measures against a baseline in the same run (see each script's docstring):

1. ``bench_trigger_cpu``: CPU per poll of N concurrent ``EvolinkVideoTrigger`` vs providers-http's
   ``HttpSensorTrigger`` per-poll path (baseline) and a bare shared-session loop (floor).
2. ``bench_poll_schedule``: GETs per video and detection lag, adaptive schedule vs fixed 10 s polling
   (simulated time). With (1) it gives CPU per video wait: GETs per video x CPU per poll.
3. ``bench_submit_burst``: 500 paid submissions against a rate-limited emulator, vs providers-http's
   ``HttpHook`` with tenacity backoff.
4. ``bench_batch_polling``: HTTP requests and CPU per task observation with batch reads
   (``POST /v1/tasks/batch``) vs the single-GET floor and the single-GET trigger, and with the batch
   route answering 404 (fallback).
5. ``bench_pricing``: CPU per request to price a request from cached pricing rules
   (``EvolinkHook.estimate_cost``), vs ``build_video_request`` and ``json.dumps`` of the same requests;
   target < 1 ms per request.
6. ``bench_gallery``: the gallery's pages on PostgreSQL as the history grows, vs Airflow's own DAG-run
   list (in a child process: it points Airflow at its own database).
7. ``bench_objectstore_upload``: an input frame in moto's S3 server uploaded to the file service through
   the provider, vs a plain ``s3fs`` read streamed into a ``requests`` POST (and the same with no
   read-ahead); throughput and peak memory ratios, reported, not checked (in a child process).

``--quick`` checks only what is meaningful at its size and says so in the "note" column: the trigger's
CPU ratio against the floor gets a loose guard (noise is larger over few polls), and the burst's time
ratio and the combined CPU-per-video figure are reported, not checked.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as h
import bench_batch_polling
import bench_poll_schedule
import bench_pricing
import bench_submit_burst
import bench_trigger_cpu

QUICK = {
    "trigger": ["--waits", "300", "--interval", "0.3", "--polls", "12", "--rounds", "1", "--quick"],
    "schedule": ["--quick"],
    "burst": ["--quick"],
    "batch": ["--waits", "300", "--interval", "0.3", "--polls", "12", "--rounds", "1", "--quick"],
    "pricing": ["--quick"],
    "gallery": ["--quick"],
    "objectstore_upload": ["--quick"],
}
BENCHMARKS = ("trigger", "schedule", "burst", "batch", "pricing", "gallery", "objectstore_upload")
FULL: dict[str, list[str]] = {name: [] for name in BENCHMARKS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a small configuration for CI")
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, help="run only these benchmarks")
    args = parser.parse_args(argv)
    config = QUICK if args.quick else FULL
    wanted = args.only or list(BENCHMARKS)
    started = time.monotonic()
    outcomes: list[h.Outcome] = []
    trigger_figures: dict[Any, Any] = {}
    schedule_figures: dict[str, float] = {}
    bursts: list[bench_submit_burst.Burst] = []
    batch_rows: list[tuple[str, str, str, str]] = []

    if "trigger" in wanted:
        outcome, trigger_figures = bench_trigger_cpu.run(bench_trigger_cpu.parse_args(config["trigger"]))
        outcomes.append(outcome)
    if "schedule" in wanted:
        outcome, schedule_figures = bench_poll_schedule.run(
            bench_poll_schedule.parse_args(config["schedule"])
        )
        outcomes.append(outcome)
    if "burst" in wanted:
        outcome, bursts = bench_submit_burst.run(bench_submit_burst.parse_args(config["burst"]))
        outcomes.append(outcome)
    if "batch" in wanted:
        outcome, batch_figures = bench_batch_polling.run(bench_batch_polling.parse_args(config["batch"]))
        outcomes.append(outcome)
        batch_rows = bench_batch_polling.readme_rows(batch_figures)
    if "pricing" in wanted:
        outcome, pricing_figures = bench_pricing.run(bench_pricing.parse_args(config["pricing"]))
        outcomes.append(outcome)
        batch_rows += bench_pricing.readme_rows(pricing_figures)

    if "gallery" in wanted:
        outcomes.append(gallery(config["gallery"]))
    if "objectstore_upload" in wanted:
        outcomes.append(objectstore_upload(config["objectstore_upload"]))

    combined = combined_cpu_per_video(trigger_figures, schedule_figures, args.quick)
    if combined is not None:
        outcomes.append(combined)

    print("\n" + "=" * 100)
    for outcome in outcomes:
        print(outcome.render() + "\n")
    print(readme_table(trigger_figures, schedule_figures, bursts, args.quick, batch_rows))
    missed = [t.name for o in outcomes for t in o.targets if t.met is False]
    print(f"\n{h.machine_line()}; {time.monotonic() - started:.0f} s in all; ", end="")
    print("all checked targets met." if not missed else f"MISSED: {'; '.join(missed)}")
    return 0 if not missed else 1


def gallery(argv: list[str]) -> h.Outcome:
    """``bench_gallery`` in a child process (Airflow reads its database setting once, at import)."""
    outcome = h.Outcome("Gallery pages vs Airflow's dagRuns?limit=50, PostgreSQL history growing")
    script = Path(__file__).resolve().parent / "bench_gallery.py"
    result = subprocess.run([sys.executable, str(script), *argv], capture_output=True, text=True)
    lines = [
        line for line in result.stdout.splitlines() if line.startswith(("median ms", "built", "ok ", "MISS"))
    ]
    print("\n".join(lines) or result.stderr[-2000:])
    no_database = result.returncode != 0 and "could not connect" in result.stderr.lower()
    outcome.check(
        "every page flat as the history grows, top page <= 2x Airflow's list, limit=500 < 1 s",
        "all met" if result.returncode == 0 else f"exit {result.returncode}",
        "all met",
        None if no_database else result.returncode == 0,
        "no PostgreSQL on 127.0.0.1:5432: not measured" if no_database else "",
    )
    return outcome


def objectstore_upload(argv: list[str]) -> h.Outcome:
    """``bench_objectstore_upload`` in a child process (it starts moto's server and the emulator)."""
    outcome = h.Outcome("Input frame from S3 (moto) to the file service vs plain s3fs + requests")
    script = Path(__file__).resolve().parent / "bench_objectstore_upload.py"
    result = subprocess.run([sys.executable, str(script), *argv], capture_output=True, text=True)
    print(result.stdout if result.returncode == 0 else result.stdout + result.stderr[-2000:])
    ratios = [line for line in result.stdout.splitlines() if line.startswith("provider / ")]
    outcome.check(
        "throughput and peak RSS growth, provider vs baselines",
        "; ".join(line.removeprefix("provider / ") for line in ratios) or f"exit {result.returncode}",
        "reported",
        None if result.returncode == 0 else False,
        "figures only" if result.returncode == 0 else "the benchmark failed",
    )
    return outcome


def _reference_waits(trigger_figures: dict[Any, Any]) -> Any:
    """The size the combined figure uses: 1,000 waits if measured, else the smallest measured."""
    if not trigger_figures:
        return None
    return 1000 if 1000 in trigger_figures else min(trigger_figures)


def combined_cpu_per_video(
    trigger_figures: dict[Any, Any], schedule_figures: dict[str, float], quick: bool
) -> h.Outcome | None:
    waits = _reference_waits(trigger_figures)
    if waits is None or not schedule_figures:
        return None
    ms = trigger_figures[waits]
    if "baseline" not in ms or "trigger" not in ms:
        return None
    baseline = schedule_figures["fixed_requests_per_video"] * ms["baseline"]
    ours = schedule_figures["adaptive_requests_per_video"] * ms["trigger"]
    outcome = h.Outcome("CPU per video wait (GETs per video x CPU per poll)")
    outcome.check(
        f"baseline / provider CPU per video wait ({waits} waits)",
        f"{baseline / ours:.1f}x ({baseline:.1f} vs {ours:.1f} ms)",
        ">= 10x",
        None if quick else baseline / ours >= 10,
        "quick: CPU per poll from a small run; checked in full mode" if quick else "",
    )
    return outcome


def readme_table(
    trigger_figures: dict[Any, Any],
    schedule_figures: dict[str, float],
    bursts: list[bench_submit_burst.Burst],
    quick: bool,
    extra_rows: list[tuple[str, str, str, str]] | None = None,
) -> str:
    command = "python benchmarks/run_all.py" + (" --quick" if quick else "")
    rows: list[tuple[str, str, str, str]] = []
    for waits, ms in sorted(trigger_figures.items()):
        if "trigger" not in ms:
            continue
        base = f"{ms['baseline']:.2f} ms" if "baseline" in ms else "-"
        floor = f"{ms['floor']:.2f} ms" if "floor" in ms else "-"
        ratios = []
        if "floor" in ms:
            ratios.append(f"{ms['trigger'] / ms['floor']:.2f}x floor")
        if "baseline" in ms:
            ratios.append(f"{ms['baseline'] / ms['trigger']:.1f}x less than baseline")
        rows.append(
            (
                f"CPU per poll, {waits:,} concurrent waits",
                f"{ms['trigger']:.2f} ms",
                f"baseline {base}, floor {floor}",
                ", ".join(ratios),
            )
        )
        rows.append(
            (
                f"Client RSS, {waits:,} waits",
                f"{ms.get('trigger_peak_rss_mb', 0):.0f} MB ({ms.get('trigger_rss_kb_per_wait', 0):.1f} KB/wait)",
                "-",
                "target < 500 MB at 10,000" if waits >= 10000 else "",
            )
        )
    if schedule_figures:
        fixed = schedule_figures["fixed_requests_per_video"]
        ours = schedule_figures["adaptive_requests_per_video"]
        rows.append(
            (
                "GETs per video, 30 s-40 min jobs",
                f"{ours:.1f}",
                f"fixed 10 s: {fixed:.1f}",
                f"{ours / fixed:.2f}x; lag <= max(5 s, 5 %)",
            )
        )
        waits = _reference_waits(trigger_figures)
        if waits is not None and {"baseline", "trigger"} <= set(trigger_figures[waits]):
            ms = trigger_figures[waits]
            base_cpu, our_cpu = fixed * ms["baseline"], ours * ms["trigger"]
            rows.append(
                (
                    "CPU per video wait",
                    f"{our_cpu:.1f} ms",
                    f"baseline {base_cpu:.1f} ms",
                    f"{base_cpu / our_cpu:.1f}x less",
                )
            )
    for b in bursts:
        rows.append(
            (
                f"Submit burst: {b.client}, {b.submissions} at {b.rate:g}/s, {b.concurrency} workers",
                f"{b.wall:.1f} s, {b.succeeded}/{b.submissions} ok",
                f"minimum {b.minimum:.1f} s",
                f"{b.ratio:.2f}x minimum; {b.paid_twice} paid twice",
            )
        )
    rows += extra_rows or []
    header = f"Latest figures ({platform.node() or 'this machine'}, {h.CPU_COUNT} cores): `{command}`"
    return header + "\n\n" + h.table(("figure", "provider", "reference", "ratio"), rows)


if __name__ == "__main__":
    sys.exit(main())
