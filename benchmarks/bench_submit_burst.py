"""A burst of mapped submissions against a rate-limited API: all succeed, none paid twice, how fast.

The emulator (a separate process on 127.0.0.1) allows ``--rate`` requests per second on /v1 (a token
bucket holding one second's worth) and answers 429 with ``Retry-After`` beyond that. ``--submissions``
paid POSTs are sent by ``--concurrency`` workers at once, as the mapped task instances of one task run
on Airflow's workers (32 is Airflow's default ``[core] parallelism``); each worker has its own hook and
HTTP session, as a worker process would. Two clients, one after the other:

* ``provider``: ``EvolinkHook.submit_video`` with its default ``RetryPolicy``, exactly what
  ``EvolinkSubmitVideoOperator`` runs per mapped index, with a per-index Idempotency-Key.
* ``baseline``: providers-http ``HttpHook.run_with_advanced_retry`` POSTing the same body, retrying any
  failure with tenacity's exponential backoff and full jitter (6 attempts), as a DAG author would write.

The lower bound of the burst's duration is the rate limit's: ``(submissions - bucket) / rate`` seconds.
The emulator's request log tells how many tasks were created (paid) per Idempotency-Key.

Run: ``python benchmarks/bench_submit_burst.py`` (500 submissions at 50/s; see ``--help``).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as h

CLIENTS = ("baseline", "provider")


@dataclass
class Burst:
    client: str
    submissions: int
    concurrency: int
    rate: float
    wall: float
    succeeded: int
    failed: int
    paid: int
    paid_twice: int
    rate_limited: int
    first_error: str

    @property
    def minimum(self) -> float:
        bucket = max(1, int(self.rate))
        return max(0.0, self.submissions - bucket) / self.rate

    @property
    def ratio(self) -> float:
        return self.wall / self.minimum if self.minimum else float("nan")


def _provider_submitter() -> Any:
    from airflow_evolink.hooks.evolink import EvolinkHook

    local = threading.local()

    def submit(index: int, run_id: str) -> str:
        if not hasattr(local, "hook"):
            local.hook = EvolinkHook("evolink_default")
        task = local.hook.submit_video(h.VIDEO_REQUEST, idempotency_key=f"bench-{run_id}-{index}")
        return str(task.id)

    return submit


def _baseline_submitter() -> Any:
    from airflow.providers.http.hooks.http import HttpHook
    from tenacity import retry_if_exception_type, stop_after_attempt, wait_random_exponential

    local = threading.local()
    retry_args = {
        "wait": wait_random_exponential(multiplier=0.5, max=30),
        "stop": stop_after_attempt(6),
        "retry": retry_if_exception_type(Exception),
        "reraise": True,
    }

    def submit(index: int, run_id: str) -> str:
        if not hasattr(local, "hook"):
            local.hook = HttpHook(method="POST", http_conn_id="http_bench")
        response = local.hook.run_with_advanced_retry(
            retry_args,
            endpoint="/v1/videos/generations",
            json=h.VIDEO_REQUEST,
            headers={"Authorization": f"Bearer {h.API_KEY}", "Idempotency-Key": f"bench-{run_id}-{index}"},
        )
        return str(response.json()["id"])

    return submit


def burst(emulator: h.Emulator, client: str, submissions: int, concurrency: int, rate: float) -> Burst:
    emulator.reset()  # also refills the token bucket
    if client == "baseline":
        submit = _baseline_submitter()
    else:
        submit = _provider_submitter()
    run_id = f"{client}-{time.time_ns()}"
    errors: list[BaseException] = []

    def one(index: int) -> bool:
        try:
            submit(index, run_id)
            return True
        except Exception as exc:  # a failed mapped task instance: counted, and the burst goes on
            errors.append(exc)
            return False

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        results = list(pool.map(one, range(submissions)))
    wall = time.monotonic() - started

    stats = emulator.stats()
    records = emulator.control("GET", "/_emulator/requests")["requests"]
    paid_per_key = Counter(r["idempotency_key"] for r in records if r.get("task_created"))
    return Burst(
        client=client,
        submissions=submissions,
        concurrency=concurrency,
        rate=rate,
        wall=wall,
        succeeded=sum(results),
        failed=submissions - sum(results),
        paid=int(stats["tasks_created"]),
        paid_twice=sum(1 for n in paid_per_key.values() if n > 1),
        rate_limited=int(stats["by_status"].get("429", 0)),
        first_error=f"{type(errors[0]).__name__}: {str(errors[0])[:80]}" if errors else "",
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--submissions", type=int, default=500)
    parser.add_argument("--rate", type=float, default=50.0, help="the emulator's requests per second")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[32], help="workers submitting at once")
    parser.add_argument("--clients", nargs="+", default=list(CLIENTS), choices=CLIENTS)
    parser.add_argument("--quick", action="store_true", help="150 submissions; no time check (for CI)")
    args = parser.parse_args(argv)
    if args.quick:
        args.submissions = min(args.submissions, 150)
    return args


def run(args: argparse.Namespace) -> tuple[h.Outcome, list[Burst]]:
    home = h.prepare_airflow_env()
    with h.Emulator(
        "--job-seconds", "60", "--api-key", h.API_KEY, "--rate-limit", str(args.rate)
    ) as emulator:
        port = int(emulator.base_url.rsplit(":", 1)[1])
        h.set_connections(
            {
                "evolink_default": {"conn_type": "evolink", "host": emulator.base_url, "password": h.API_KEY},
                "http_bench": {"conn_type": "http", "host": "127.0.0.1", "port": port, "schema": "http"},
            }
        )
        from airflow.providers.http.hooks.http import HttpHook  # noqa: F401

        from airflow_evolink.hooks.evolink import EvolinkHook  # noqa: F401

        h.logs_to_file(home)
        bursts = [
            burst(emulator, client, args.submissions, concurrency, args.rate)
            for concurrency in args.concurrency
            for client in args.clients
        ]
    return report(bursts, args.quick), bursts


def report(bursts: list[Burst], quick: bool = False) -> h.Outcome:
    print(f"\n== Submit burst against a rate limit with 429s ({h.machine_line()})")
    print(
        h.table(
            (
                "client",
                "submissions",
                "workers",
                "limit /s",
                "succeeded",
                "failed",
                "tasks paid",
                "keys paid twice",
                "429s",
                "time s",
                "minimum s",
                "time / minimum",
                "first error",
            ),
            [
                (
                    b.client,
                    b.submissions,
                    b.concurrency,
                    b.rate,
                    b.succeeded,
                    b.failed,
                    b.paid,
                    b.paid_twice,
                    b.rate_limited,
                    f"{b.wall:.2f}",
                    f"{b.minimum:.2f}",
                    f"{b.ratio:.2f}",
                    b.first_error or "-",
                )
                for b in bursts
            ],
        )
    )
    outcome = h.Outcome("submit burst")
    for b in bursts:
        if b.client != "provider":
            continue
        name = f"{b.submissions} submissions, {b.concurrency} workers, {b.rate:g}/s"
        outcome.check(f"{name}: all succeed", f"{b.succeeded}/{b.submissions}", "all", b.failed == 0)
        outcome.check(
            f"{name}: none paid twice",
            f"{b.paid} paid, {b.paid_twice} keys twice",
            f"{b.submissions} paid, 0 twice",
            b.paid_twice == 0 and b.paid == b.succeeded,
        )
        outcome.check(
            f"{name}: time vs minimum",
            f"{b.ratio:.2f}x",
            "<= 1.2x",
            None if quick else b.ratio <= 1.2,
            "quick: too few waves for the ratio to mean much; checked in full mode" if quick else "",
        )
        for other in bursts:
            if other.client != "provider" and other.concurrency == b.concurrency:
                outcome.notes.append(
                    f"{other.client} ({b.concurrency} workers): {other.succeeded}/{other.submissions} "
                    f"succeeded in {other.wall:.1f} s ({other.ratio:.2f}x the minimum); provider: "
                    f"{b.succeeded}/{b.submissions} in {b.wall:.1f} s ({b.ratio:.2f}x)."
                )
    return outcome


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    outcome, _ = run(args)
    print(outcome.render())
    return 0 if outcome.ok else 1


if __name__ == "__main__":
    sys.exit(main())
