"""Price a generation request without a DAG: ``python -m airflow_evolink.estimate``.

Examples::

    python -m airflow_evolink.estimate --model kling-v3-image-to-video --duration 5 --quality 720p
    python -m airflow_evolink.estimate --conn-id evolink_default --json '{"model": "sora-2-preview", "duration": 8}'
    python -m airflow_evolink.estimate --base-url http://127.0.0.1:8099 --model kling-v3-text-to-video \\
        --duration 10 --quality 1080p --sound on --format json

The rules come from ``GET {base}/v1/catalog/models/{model}/pricing-rules?view=full``: public, so no API key
is needed or sent. ``--base-url`` names the API (default https://api.evolink.ai); ``--conn-id`` reads it
from an Airflow connection instead (the connection's key is not used). Prices are Evolink's public default
prices; account discounts are not included. Exit status: 0 estimated, 3 partial, 4 unavailable, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from airflow_evolink.core.errors import EvolinkValidationError
from airflow_evolink.core.models import build_video_request
from airflow_evolink.core.money import format_uc
from airflow_evolink.core.protocol import DEFAULT_BASE_URL, normalize_base_url
from airflow_evolink.pricing.client import PricingClient
from airflow_evolink.pricing.defaults import spec_defaults_for
from airflow_evolink.pricing.estimate import CostEstimate

EXIT_STATUS = {"estimated": 0, "partial": 3, "unavailable": 4}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_evolink.estimate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--base-url", help=f"the Evolink API base URL (default {DEFAULT_BASE_URL})")
    where.add_argument("--conn-id", help="read the base URL from this Airflow connection (needs Airflow)")
    parser.add_argument("--model", help="the model id, e.g. kling-v3-image-to-video")
    parser.add_argument("--duration", type=int, help="seconds (-1: the model picks the length)")
    parser.add_argument("--quality", help="e.g. 720p, 1080p")
    parser.add_argument("--sound", choices=("on", "off"), help="Kling: with sound")
    parser.add_argument("--json", dest="body", help="the request body as JSON (the flags above override it)")
    parser.add_argument(
        "--usage",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a measured parameter the rules ask for, e.g. input_seconds=12 (repeatable)",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    return parser.parse_args(argv)


def request_body(args: argparse.Namespace) -> dict[str, Any]:
    """The request from ``--json`` and the flags; raises EvolinkValidationError naming the field."""
    body: dict[str, Any] = {}
    if args.body:
        try:
            body = json.loads(args.body)
        except ValueError as error:
            raise EvolinkValidationError("--json", f"must be a JSON object ({error})") from None
        if not isinstance(body, dict):
            raise EvolinkValidationError("--json", "must be a JSON object")
    for name in ("model", "duration", "quality", "sound"):
        if getattr(args, name) is not None:
            body[name] = getattr(args, name)
    # Only the universal checks: a request is priced by the published rules, which refuse a value they
    # do not price; the full request rules apply when it is submitted.
    return build_video_request(body, check_rules=False).payload()


def usage_values(pairs: Sequence[str]) -> dict[str, Any]:
    usage: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise EvolinkValidationError("--usage", "must be NAME=VALUE", pair)
        usage[name.strip()] = value.strip()
    return usage


def base_url_of(args: argparse.Namespace) -> str:
    if args.conn_id:
        from airflow_evolink.hooks.evolink import EvolinkHook

        return EvolinkHook(args.conn_id).pricing_base_url
    return normalize_base_url(args.base_url or DEFAULT_BASE_URL)


def render(estimate: CostEstimate, base_url: str) -> str:
    """The estimate for people: amount in UC, credits and USD, status, and what decided the price."""
    lines = [f"Estimate for {estimate.model} from {base_url} (nothing was submitted or charged)"]
    if estimate.uc is None:
        lines.append(f"status: unavailable: {estimate.reason}")
        return "\n".join(lines)
    assert estimate.credits is not None and estimate.usd is not None
    lines.append(f"amount: {format_uc(estimate.uc)}")
    lines.append(
        f"        {estimate.uc} UC = {estimate.credits.normalize():f} credits = ${estimate.usd:.6f} "
        "(1 credit = 10,000 UC; 68 credits = $1)"
    )
    status = estimate.status + (f": {estimate.reason}" if estimate.reason else "")
    if estimate.status == "partial":
        status += " (a lower bound, not a total or a cap)"
    lines.append(f"status: {status}")
    lines.append(
        f"settlement: {estimate.settlement_basis}; policy version {estimate.policy_version}; "
        f"rules fresh until {estimate.fresh_until}"
    )
    lines.append("components:")
    lines.extend(f"  {component.describe()}" for component in estimate.components)
    if estimate.parameters:
        shown = ", ".join(f"{name}={value}" for name, value in estimate.parameters.items())
        lines.append(f"parameters: {shown}")
    lines.append("Public default prices; account discounts are not included.")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        body = request_body(args)
        usage = usage_values(args.usage)
        base_url = base_url_of(args)
    except EvolinkValidationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    client = PricingClient()
    estimate = client.estimate(base_url, body, usage=usage, spec_defaults=spec_defaults_for(body["model"]))
    if args.format == "json":
        print(json.dumps({**estimate.to_xcom(), "base_url": base_url}, indent=2))
    else:
        print(render(estimate, base_url))
    return EXIT_STATUS[estimate.status]


if __name__ == "__main__":
    sys.exit(main())
