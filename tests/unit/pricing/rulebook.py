"""Small builders for pricing-rules documents in the published schema (test data, no I/O)."""

from __future__ import annotations

import copy
from typing import Any

from airflow_evolink.emulator.pricing import money
from airflow_evolink.pricing.rules import RulesDocument, parse_rules

MODEL = "test-video-model"
META = {
    "schema_version": "2",
    "catalog_version": "test-catalog",
    "pricing_version": "test-pricing",
    "price_scope": "public_default",
    "currency": "USD",
    "exchange_rate_version": "pricing-fx/v1:USD-CNY=6.8",
    "updated_at": "2026-12-01T00:00:00Z",
    "fresh_until": "2099-01-01T00:00:00Z",
}
SECONDS = {"name": "duration_seconds", "type": "integer", "default": 5, "minimum": "1", "maximum": "30"}


def var(name: str) -> dict[str, Any]:
    return {"op": "variable", "name": name}


def const(value: str) -> dict[str, Any]:
    return {"op": "constant", "value": value}


def op(name: str, *args: dict[str, Any]) -> dict[str, Any]:
    return {"op": name, "args": list(args)}


def tier(
    sku: str, rate: str, when: dict[str, Any], multiplier: str = "1", minimum: str = "0"
) -> dict[str, Any]:
    return {
        "sku_id": sku,
        "rate": money(rate),
        "minimum_charge": money(minimum),
        "multiplier": multiplier,
        "pricing_status": "available",
        "when": when,
    }


def component(
    rate: str,
    quantity: dict[str, Any] | None = None,
    *,
    id: str = "output_seconds",
    point: str = "per_component_subtotal",
    mode: str = "half_up",
    minimum: str = "0",
    unit: str = "second",
    condition: dict[str, Any] | None = None,
    tiers: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": id,
        "role": "output",
        "dimension": "output_seconds",
        "unit": unit,
        "billing_unit_size": 1,
        "quantity_rule": quantity or var("duration_seconds"),
        "rounding": {"point": point, "mode": mode},
        "sku_id": f"{id}-sku",
        "rate": money(rate),
        "minimum_charge": money(minimum),
        "pricing_status": "available",
        "tiers": tiers or [],
    }
    if condition is not None:
        data["condition"] = condition
    return data


def body(
    *components: dict[str, Any],
    parameters: list[dict[str, Any]] | None = None,
    model: str = MODEL,
    **fields: Any,
) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "model_id": model,
        "product_id": model,
        "operation": "video_generation",
        "modality": "video",
        "lifecycle": "active",
        "pricing_status": "available",
        "settlement_basis": "request_only",
        "policy_version": 3,
        "policy_checksum": "a" * 64,
        "policy_source": "published",
        "parameters": [SECONDS] if parameters is None else parameters,
        "components": list(components) or [component("1000")],
    }
    rule.update(fields)
    return {"meta": copy.deepcopy(META), "model": rule}


def document(*components: dict[str, Any], **kwargs: Any) -> RulesDocument:
    data = body(*components, **kwargs)
    return parse_rules(data, data["model"]["model_id"])
