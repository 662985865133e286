"""Command line: `python -m airflow_evolink.emulator --port 8099` runs the emulator until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence

from aiohttp import web

from airflow_evolink.emulator.app import create_app
from airflow_evolink.emulator.config import EmulatorConfig
from airflow_evolink.emulator.server import BACKLOG, SHUTDOWN_TIMEOUT, raise_open_file_limit
from airflow_evolink.emulator.state import EmulatorState


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m airflow_evolink.emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8099, help="0 picks a free port")
    parser.add_argument("--job-seconds", type=float, default=5.0, help="time from create to final status")
    parser.add_argument("--api-key", default=None, help="accept only this key (default: any non-empty key)")
    parser.add_argument("--credits", type=int, default=EmulatorConfig.credits, help="starting balance")
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
    parser.add_argument("--seed", type=int, default=None, help="seed for task ids and --fail-rate")
    return parser.parse_args(argv)


def config_from(args: argparse.Namespace) -> EmulatorConfig:
    return EmulatorConfig(
        api_key=args.api_key,
        job_seconds=args.job_seconds,
        credits=args.credits,
        rate_limit=args.rate_limit,
        result_bytes=args.result_bytes,
        result_ttl_seconds=args.result_ttl,
        fail_rate=args.fail_rate,
        seed=args.seed,
    )


async def serve(config: EmulatorConfig, host: str, port: int) -> None:
    runner = web.AppRunner(
        create_app(EmulatorState(config)),
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
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    raise_open_file_limit()
    try:
        asyncio.run(serve(config, args.host, args.port))
    except OSError as error:
        print(f"error: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
