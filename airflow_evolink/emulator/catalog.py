"""The public pricing-rules routes (no key): one model's rules, or the catalog of video models.

``GET /v1/catalog/models/{model}/pricing-rules?view=full`` answers ``{meta, model}`` and
``GET /v1/catalog/pricing-rules?modality=video&view=full`` answers ``{meta, models}``, each with an
``ETag``; a request whose ``If-None-Match`` names the current ETag gets ``304`` and no body. A model the
emulator publishes no rules for answers 404. The control API (``POST /_emulator/pricing``) or
``EmulatorServer.state.set_pricing_routes(404)`` makes both routes answer 404, or 500, until set back to 200.
The figures and their sources are in :mod:`airflow_evolink.emulator.pricing`.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from airflow_evolink.emulator.context import state_of
from airflow_evolink.emulator.errors import json_error
from airflow_evolink.emulator.pricing import CATALOG_ROUTE, PRICING_ROUTE, meta

PREFIX = "/v1/catalog/"


def add_catalog_routes(app: web.Application) -> None:
    app.router.add_get(PRICING_ROUTE, model_rules)
    app.router.add_get(CATALOG_ROUTE, catalog_rules)


async def model_rules(request: web.Request) -> web.Response:
    state = state_of(request)
    refusal = _forced(request)
    if refusal is not None:
        return refusal
    model = request.match_info["model"]
    with state.lock:
        found = state.pricing.model_rules(model)
        wall = state.clock.wall()
        revision = state.pricing.revision
    if found is None:
        return json_error(404, f"No published pricing rules for model {model}")
    rule, etag = found
    return _answer(request, {"meta": meta(revision, wall), "model": rule}, etag)


async def catalog_rules(request: web.Request) -> web.Response:
    state = state_of(request)
    refusal = _forced(request)
    if refusal is not None:
        return refusal
    modality = request.query.get("modality")
    with state.lock:
        models, etag = state.pricing.catalog()
        wall = state.clock.wall()
        revision = state.pricing.revision
    if modality not in (None, "", "video"):
        models, etag = [], f'"empty-{modality}"'
    return _answer(request, {"meta": meta(revision, wall), "models": models}, etag)


def _forced(request: web.Request) -> web.Response | None:
    status = state_of(request).pricing.status
    if status == 404:
        return json_error(404, "Pricing rules are not published here (emulator switch)")
    if status >= 500:
        return json_error(status, "Pricing rules service error (emulator switch)", code="service_error")
    view = request.query.get("view", "full")
    if view not in ("full", "summary"):
        return json_error(400, "view must be full or summary", "view", code="invalid_request")
    return None


def _answer(request: web.Request, body: dict[str, Any], etag: str) -> web.Response:
    headers = {"ETag": etag, "Cache-Control": "public, max-age=60"}
    if etag in _etags(request.headers.get("If-None-Match", "")):
        return web.Response(status=304, headers=headers)
    return web.Response(text=json.dumps(body), content_type="application/json", headers=headers)


def _etags(header: str) -> set[str]:
    return {part.strip().removeprefix("W/") for part in header.split(",") if part.strip()}
