"""Command line: `python -m airflow_evolink.emulator --port 8099` runs the emulator until SIGINT/SIGTERM.

Examples:
  --credits 1095.3996 --token-credits 99416.4429     the get-credits page's example (key unlimited)
  --credits 5000 --token-credits 300 --token-limited  a key limit that runs out before the balance
  --interim-share 0.3 --interim-status in_queue       jobs report an unlisted status for 30% of their time
  --result-shape mixed --cost-shape mixed --extra-fields 0.5
  --fault post-502-after-create --fault '{"kind": "status", "status": 503, "method": "GET", "count": 3}'
  --pricing-status 404                                the public pricing-rules routes answer 404

Prices: the emulator bills what its published rules say (GET /v1/catalog/models/{model}/pricing-rules);
the figures and their sources are in airflow_evolink/emulator/pricing.py.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Sequence

from aiohttp import web

from airflow_evolink.emulator.app import create_app
from airflow_evolink.emulator.config import COST_SHAPES, MIXED, RESULT_SHAPES, EmulatorConfig
from airflow_evolink.emulator.faults import PRESETS, FaultRule
from airflow_evolink.emulator.server import BACKLOG, SHUTDOWN_TIMEOUT, raise_open_file_limit
from airflow_evolink.emulator.state import EmulatorState


def _credits(text: str) -> int | float:
    """An integer stays an integer (as the API shows it); otherwise a decimal number."""
    try:
        return int(text)
    except ValueError:
        return float(text)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_evolink.emulator",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8099, help="0 picks a free port")
    parser.add_argument("--job-seconds", type=float, default=5.0, help="time from create to final status")
    parser.add_argument("--api-key", default=None, help="accept only this key (default: any non-empty key)")
    parser.add_argument(
        "--credits",
        type=_credits,
        default=EmulatorConfig.credits,
        help="account balance (user.remaining_credits)",
    )
    parser.add_argument(
        "--token-credits",
        type=_credits,
        default=None,
        help="the API key's own figure (token.remaining_credits); default: same as --credits",
    )
    parser.add_argument(
        "--token-limited",
        action="store_true",
        help="the key's figure is a spending limit (unlimited_credits false); short of it: 402 key_quota_exhausted",
    )
    parser.add_argument("--rate-limit", type=float, default=None, help="requests per second on /v1")
    parser.add_argument(
        "--result-bytes", type=int, default=EmulatorConfig.result_bytes, help="size of each result video"
    )
    parser.add_argument(
        "--result-ttl",
        type=float,
        default=EmulatorConfig.result_ttl_seconds,
        help="seconds a result link stays valid after completion (default 86400)",
    )
    parser.add_argument("--fail-rate", type=float, default=0.0, help="share of jobs that fail (0..1)")
    parser.add_argument("--seed", type=int, default=None, help="seed for task ids and random choices")
    parser.add_argument(
        "--interim-status",
        default=EmulatorConfig.interim_status,
        help="the unlisted status reported between pending and processing (default in_queue)",
    )
    parser.add_argument(
        "--interim-share",
        type=float,
        default=EmulatorConfig.interim_share,
        help="share of each job's time spent in --interim-status (0..0.8; default 0: off)",
    )
    parser.add_argument(
        "--result-shape",
        choices=sorted(RESULT_SHAPES | {MIXED}),
        default=EmulatorConfig.result_shape,
        help="how completed tasks report result links (default results)",
    )
    parser.add_argument(
        "--cost-shape",
        choices=sorted(COST_SHAPES | {MIXED}),
        default=EmulatorConfig.cost_shape,
        help="usage.credits_used or usage.cost{credits, usd} (default credits_used)",
    )
    parser.add_argument(
        "--extra-fields",
        type=float,
        default=EmulatorConfig.extra_fields,
        help="share of jobs (0..1) carrying undocumented fields such as draft_expires_at",
    )
    parser.add_argument(
        "--pricing-status",
        type=int,
        default=EmulatorConfig.pricing_status,
        help="how the public pricing-rules routes answer: 200 (default), 404, or a 5xx status",
    )
    parser.add_argument(
        "--no-fetch-inputs",
        dest="fetch_inputs",
        action="store_false",
        help="take every input URL as readable (by default inputs on loopback hosts are fetched when a "
        "task is created, and one that cannot be read fails the task)",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="PRESET|JSON",
        help=f"install a fault rule at start (repeatable): a preset ({', '.join(sorted(PRESETS))}) "
        'or a FaultRule as JSON, e.g. \'{"preset": "post-502-after-create", "count": 3}\'',
    )
    return parser.parse_args(argv)


def faults_from(args: argparse.Namespace) -> list[FaultRule]:
    """The --fault rules; raises ValueError for an unknown preset or bad JSON."""
    rules = []
    for text in args.fault:
        if text.lstrip().startswith("{"):
            try:
                data = json.loads(text)
            except ValueError as error:
                raise ValueError(f"--fault {text!r}: {error}") from error
            if not isinstance(data, dict):
                raise ValueError(f"--fault {text!r}: expected a JSON object")
        else:
            data = {"preset": text}
        try:
            rules.append(FaultRule.from_dict(data))
        except (ValueError, TypeError) as error:
            raise ValueError(f"--fault {text!r}: {error}") from error
    return rules


def config_from(args: argparse.Namespace) -> EmulatorConfig:
    return EmulatorConfig(
        api_key=args.api_key,
        job_seconds=args.job_seconds,
        credits=args.credits,
        token_credits=args.token_credits,
        token_unlimited=not args.token_limited,
        rate_limit=args.rate_limit,
        result_bytes=args.result_bytes,
        result_ttl_seconds=args.result_ttl,
        fail_rate=args.fail_rate,
        seed=args.seed,
        interim_status=args.interim_status,
        interim_share=args.interim_share,
        result_shape=args.result_shape,
        cost_shape=args.cost_shape,
        extra_fields=args.extra_fields,
        pricing_status=args.pricing_status,
        fetch_inputs=args.fetch_inputs,
    )


async def serve(config: EmulatorConfig, host: str, port: int, faults: Sequence[FaultRule] = ()) -> None:
    state = EmulatorState(config)
    for rule in faults:
        state.faults.add(rule)
    runner = web.AppRunner(
        create_app(state),
        access_log=None,
        handle_signals=False,
        shutdown_timeout=SHUTDOWN_TIMEOUT,
    )
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # Windows has no loop signal handlers
            loop.add_signal_handler(signum, stop.set)
    try:
        site = web.TCPSite(runner, host, port, backlog=BACKLOG, reuse_address=True)
        await site.start()
        bound = next((a[1] for a in runner.addresses if isinstance(a, tuple)), port)
        shown = f"[{host}]" if ":" in host else host
        print(f"Evolink emulator listening on http://{shown}:{bound}", flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = config_from(args)
        faults = faults_from(args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    raise_open_file_limit()
    try:
        asyncio.run(serve(config, args.host, args.port, faults))
    except OSError as error:
        print(f"error: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
