"""Pricing a request from cached rules: time per request, against baselines measured in the same run.

A batch planner prices every request before anything is paid, so pricing must cost next to nothing once
a model's rules are cached. This benchmark reads the rules of every model it prices from the emulator
(one GET per model, outside the timed sections), then times, for the same N requests (kling-v3 tiers, a
duration lookup, fractional and ceil/floor rates, a minimum charge, input-image components):

* ``json.dumps`` of each request body (baseline: the cheapest thing a client does with a request);
* ``build_video_request`` of each body (baseline: the validation every submit already pays);
* ``PricingClient.estimate`` of each body (the pricing core with its cache look-up);
* ``EvolinkHook.estimate_cost`` of each validated ``VideoRequest`` (what the operator and planner call).

CPU time (``time.process_time``), best of ``--rounds``; the timed sections make no HTTP request (checked
with the emulator's request log). Target: under 1 ms per request, from cached rules.

Run: ``python benchmarks/bench_pricing.py`` (``--quick``: 1,000 requests, 3 rounds).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as h

TARGET_MS = 1.0
IMG = "https://example.com/frame.png"
#: Requests across the emulator's price plans (emulator/pricing.py), cycled to the wanted count.
SHAPES: tuple[dict[str, Any], ...] = (
    {"model": "kling-v3-image-to-video", "image_start": IMG, "duration": 5, "quality": "720p"},
    {
        "model": "kling-v3-image-to-video",
        "image_start": IMG,
        "duration": 10,
        "quality": "1080p",
        "sound": "on",
    },
    {"model": "kling-v3-text-to-video", "duration": 15, "quality": "4k"},
    {"model": "sora-2-preview", "duration": 8},
    {"model": "seedance-2.0-text-to-video", "duration": 5},
    {"model": "seedance-2.0-image-to-video", "duration": 7, "image_urls": [IMG, IMG]},
    {"model": "happyhorse-1.0-text-to-video", "duration": 9},
    {"model": "happyhorse-1.1-text-to-video", "duration": 5},
    {"model": "grok-imagine-video-1.0-t2v", "duration": 3},
    {"model": "MiniMax-Hailuo-02", "duration": 10, "quality": "768p"},
)


def requests_for(count: int) -> list[dict[str, Any]]:
    return [dict(SHAPES[i % len(SHAPES)], prompt=f"clip {i}") for i in range(count)]


def best_cpu(rounds: int, work: Callable[[], object]) -> float:
    """The least CPU seconds ``work`` took over ``rounds`` runs."""
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        work()
        best = min(best, time.process_time() - started)
    return best


def run(args: argparse.Namespace) -> tuple[h.Outcome, dict[str, float]]:
    h.prepare_airflow_env()
    from airflow_evolink.core.models import build_video_request
    from airflow_evolink.emulator import EmulatorServer
    from airflow_evolink.hooks.evolink import EvolinkHook
    from airflow_evolink.pricing.cache import RulesCache, clear_pricing_cache
    from airflow_evolink.pricing.client import PricingClient

    bodies = requests_for(args.requests)
    with EmulatorServer() as server:
        h.set_connections({"evolink_bench_pricing": {"conn_type": "evolink", "host": server.base_url}})
        client = PricingClient(cache=RulesCache())
        clear_pricing_cache()
        hook = EvolinkHook("evolink_bench_pricing")
        validated = [build_video_request(body) for body in bodies]
        for body in bodies[: len(SHAPES)]:  # read each model's rules once, outside the timed sections
            assert client.estimate(server.base_url, body).uc is not None, body
            assert hook.estimate_cost(body).uc is not None, body
        reads_before = len(server.state.requests())

        timings = {
            "json.dumps (baseline)": best_cpu(args.rounds, lambda: [json.dumps(b) for b in bodies]),
            "build_video_request (baseline)": best_cpu(
                args.rounds, lambda: [build_video_request(b) for b in bodies]
            ),
            "PricingClient.estimate": best_cpu(
                args.rounds, lambda: [client.estimate(server.base_url, b) for b in bodies]
            ),
            "EvolinkHook.estimate_cost(VideoRequest)": best_cpu(
                args.rounds, lambda: [hook.estimate_cost(r) for r in validated]
            ),
        }
        reads_during = len(server.state.requests()) - reads_before
        clear_pricing_cache()

    per_request = {name: seconds * 1000 / len(bodies) for name, seconds in timings.items()}
    validation = per_request["build_video_request (baseline)"]
    dumps = per_request["json.dumps (baseline)"]
    rows = [
        (name, f"{ms * 1000:.1f} us", f"{ms / validation:.2f}x", f"{ms / dumps:.1f}x")
        for name, ms in per_request.items()
    ]
    print(f"\n== Pricing {len(bodies):,} requests from cached rules (CPU, best of {args.rounds} rounds)")
    print(h.table(("step", "per request", "vs build_video_request", "vs json.dumps"), rows))

    outcome = h.Outcome("pricing from cached rules")
    hook_ms = per_request["EvolinkHook.estimate_cost(VideoRequest)"]
    core_ms = per_request["PricingClient.estimate"]
    outcome.check(
        f"EvolinkHook.estimate_cost per request ({len(bodies):,} requests)",
        f"{hook_ms * 1000:.1f} us ({hook_ms / validation:.2f}x build_video_request)",
        f"< {TARGET_MS:g} ms",
        hook_ms < TARGET_MS,
    )
    outcome.check(
        "HTTP requests while pricing from cached rules",
        str(reads_during),
        "0",
        reads_during == 0,
    )
    figures = {
        "requests": float(len(bodies)),
        "hook_ms": hook_ms,
        "core_ms": core_ms,
        "validation_ms": validation,
        "dumps_ms": dumps,
    }
    return outcome, figures


def readme_rows(figures: dict[str, float]) -> list[tuple[str, str, str, str]]:
    if not figures:
        return []
    return [
        (
            f"Pricing a request from cached rules ({int(figures['requests']):,} requests)",
            f"{figures['hook_ms'] * 1000:.0f} us",
            f"build_video_request {figures['validation_ms'] * 1000:.0f} us",
            f"{figures['hook_ms'] / figures['validation_ms']:.2f}x validation; target < 1 ms",
        )
    ]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=10_000, help="requests priced per round")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per step (the best counts)")
    parser.add_argument("--quick", action="store_true", help="1,000 requests, 3 rounds")
    args = parser.parse_args(argv)
    if args.quick:
        args.requests, args.rounds = 1_000, 3
    return args


def main(argv: Sequence[str] | None = None) -> int:
    outcome, _ = run(parse_args(argv))
    print("\n" + outcome.render())
    return 0 if outcome.ok else 1


if __name__ == "__main__":
    sys.exit(main())
