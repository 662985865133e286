"""What the emulator charges, and the pricing rules it publishes for it, in Evolink's schema.

Each model has a price plan below. A plan does two things from the same figures: it *bills* an accepted
request directly (plain arithmetic here, deliberately not the provider's rule evaluator, so a bug in that
evaluator cannot hide behind its own output), and it *publishes* the equivalent rules at
``GET /v1/catalog/models/{model}/pricing-rules?view=full`` and ``GET /v1/catalog/pricing-rules?modality=video
&view=full`` (schema version 2, as Evolink's own client reads the route: evolink-cli
`services/pricing-rules-client.js`; public, no key). The provider's estimate of a request must therefore
equal what the emulator bills for it.

Amounts are integer UC (1 credit = 10,000 UC; $1 = 68 credits = 680,000 UC). Sources: the kling-v3 rates
are Evolink's published prices (evolink.ai model page, quoted in section 10); every other figure is
**illustrative**, chosen so each rule feature can be tested, and says so beside it.

Which model shows which feature, with its exact price for a named request (part of the contract with the
operator tests, which cap requests half a UC above and below these prices):

=============================  ==========================================  ===========  ==============
model                          feature (request)                           price (UC)   credits
=============================  ==========================================  ===========  ==============
kling-v3-image-to-video        tier 720p, sound off (5 s)                      270,000  27
kling-v3-image-to-video        tier 720p, sound on (5 s)                       405,000  40.5
kling-v3-image-to-video        tier 1080p, sound off (5 s)                     359,910  35.991
kling-v3-image-to-video        tier 1080p, sound on (5 s)                      540,000  54
sora-2-preview                 lookup by duration (8 s)                        140,000  14
seedance-2.0-text-to-video     fractional rate 7,350.5 UC/s, half_up (5 s)      36,753  3.6753
seedance-2.0-image-to-video    half_up (5 s) + condition: 2 input images        40,753  4.0753
happyhorse-1.0-text-to-video   ceil per_quantity, 4 s blocks (5 s -> 2)         80,000  8
happyhorse-1.1-text-to-video   floor per_tier, rate 3,333.7 -> 3,333 (5 s)      16,665  1.6665
grok-imagine-video-1.0-t2v     minimum charge 50,000 (3 s; 30,000 below it)     50,000  5
=============================  ==========================================  ===========  ==============

(kling-v3-text-to-video has the same tiers; 4k tiers are illustrative.) The other models of the
emulator's table publish an illustrative 54,000 UC per second (kling-v3's 720p rate); wan2.5/2.6/3.0 and
the veo-3.1 previews are among them, and the provider marks their estimates partial as Evolink's client
does. A model the table does not know has no published rules (404) and is billed 54,000 UC per second.

A smart duration (``-1``) is billed for the model's default length (the emulator's generated clip).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from airflow_evolink.emulator.models import AUTO, MODEL_RULES, ModelRule

UC_PER_CREDIT = 10_000
UC_PER_CNY = 100_000
UC_PER_USD = 680_000
#: Seconds the published rules stay fresh after they are served.
FRESH_SECONDS = 600
#: Illustrative per-second rate for every model without a plan of its own (kling-v3's 720p rate).
GENERIC_UC_PER_SECOND = 54_000
CATALOG_VERSION = "emulator-catalog-2026-12"
UPDATED_AT = "2026-12-01T00:00:00Z"
PRICING_ROUTE = "/v1/catalog/models/{model}/pricing-rules"
CATALOG_ROUTE = "/v1/catalog/pricing-rules"


# ---- published money and expressions ------------------------------------------------------------------
def _plain(value: Fraction | Decimal) -> str:
    """A decimal string without exponent or trailing zeros (``7350.5``, ``0.73505``, ``54000``)."""
    if isinstance(value, Fraction):
        value = Decimal(value.numerator) / Decimal(value.denominator)
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def credits_figure(uc: int) -> int | float:
    """UC as the API's credit numbers show them: an integer when whole, else at most 4 decimals."""
    whole, rest = divmod(uc, UC_PER_CREDIT)
    return whole if rest == 0 else float(Decimal(uc) / UC_PER_CREDIT)


def usd_figure(uc: int) -> float:
    """UC in dollars for ``usage.cost.usd`` (68 credits = $1), to 6 places."""
    return float((Decimal(uc) / UC_PER_USD).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP))


def money(uc: Fraction | int | str) -> dict[str, str]:
    """``{uc, credits, cny, usd}`` as decimal strings; USD rounded to 8 places as the gateway shows it."""
    amount = Fraction(uc)
    usd = (Decimal(amount.numerator) / Decimal(amount.denominator) / UC_PER_USD).quantize(
        Decimal("0.00000001"), rounding=ROUND_HALF_UP
    )
    return {
        "uc": _plain(amount),
        "credits": _plain(amount / UC_PER_CREDIT),
        "cny": _plain(amount / UC_PER_CNY),
        "usd": _plain(usd),
    }


def var(name: str) -> dict[str, Any]:
    return {"op": "variable", "name": name}


def const(value: str) -> dict[str, Any]:
    return {"op": "constant", "value": value}


def eq(name: str, value: str) -> dict[str, Any]:
    return {"op": "eq", "args": [var(name), const(value)]}


def _round(value: Fraction, mode: str) -> int:
    """Round a non-negative amount to whole UC the way the rule says."""
    if mode == "ceil":
        return math.ceil(value)
    if mode == "floor":
        return math.floor(value)
    return math.floor(value + Fraction(1, 2))  # half_up


# ---- price plans ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    """One model's price: what it bills (:meth:`bill`) and the rule it publishes (:meth:`components`)."""

    rule: ModelRule

    def bill(self, body: Mapping[str, Any], seconds: int) -> int:
        raise NotImplementedError

    def components(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def parameters(self) -> list[dict[str, Any]]:
        return [_duration_parameter(self.rule)]


def _duration_parameter(rule: ModelRule) -> dict[str, Any]:
    parameter: dict[str, Any] = {
        "name": "duration_seconds",
        "type": "integer",
        "required": False,
        "default": rule.default_duration,
        "minimum": "1",
    }
    if rule.durations:
        seconds = sorted(rule.durations - {AUTO})
        parameter["minimum"], parameter["maximum"] = str(seconds[0]), str(seconds[-1])
    return parameter


def _component(
    component_id: str,
    sku: str,
    rate: Fraction | int,
    quantity_rule: dict[str, Any],
    rounding: tuple[str, str],
    *,
    unit: str = "second",
    dimension: str = "output_seconds",
    minimum: int = 0,
    condition: dict[str, Any] | None = None,
    tiers: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    component: dict[str, Any] = {
        "id": component_id,
        "role": "output" if dimension.startswith("output") else "input",
        "dimension": dimension,
        "unit": unit,
        "billing_unit_size": 1,
        "display_unit_size": 1,
        "quantity_rule": quantity_rule,
        "rounding": {"point": rounding[0], "mode": rounding[1]},
        "sku_id": sku,
        "billing_rule": "per_second" if unit == "second" else f"per_{unit}",
        "rate": money(rate),
        "minimum_charge": money(minimum),
        "pricing_status": "available",
        "effective_at": UPDATED_AT,
        "tiers": tiers or [],
    }
    if condition is not None:
        component["condition"] = condition
    return component


@dataclass(frozen=True)
class PerSecond(Plan):
    """``rate`` UC per second, rounded per component subtotal (``mode``), at least ``minimum``."""

    rate: Fraction = Fraction(GENERIC_UC_PER_SECOND)
    mode: str = "half_up"
    minimum: int = 0
    sku: str = "emulator-video-second"

    def bill(self, body: Mapping[str, Any], seconds: int) -> int:
        return max(_round(self.rate * seconds, self.mode), self.minimum)

    def components(self) -> list[dict[str, Any]]:
        return [
            _component(
                "output_seconds",
                self.sku,
                self.rate,
                var("duration_seconds"),
                ("per_component_subtotal", self.mode),
                minimum=self.minimum,
            )
        ]

    def parameters(self) -> list[dict[str, Any]]:
        parameters = [_duration_parameter(self.rule)]
        if self.rule.durations and AUTO in self.rule.durations:
            # The request's own duration, which may be -1 (smart duration): the seconds follow it.
            values = sorted(self.rule.durations)
            parameters.append({"name": "duration", "type": "integer", "required": False, "values": values})
        return parameters


#: kling-v3: (quality, sound) -> (UC per second, multiplier over 720p without sound, source).
KLING_V3_RATES: dict[tuple[str, str], tuple[int, str]] = {
    ("720p", "off"): (54_000, "1"),  # evolink.ai model page: 5.4 credits/s ($0.075/s)
    ("720p", "on"): (81_000, "1.5"),  # evolink.ai model page: 8.1 credits/s with sound
    ("1080p", "off"): (71_982, "1.333"),  # evolink.ai model page: 7.1982 credits/s ($0.100/s)
    ("1080p", "on"): (108_000, "2"),  # evolink.ai model page: 10.8 credits/s ($0.150/s)
    ("4k", "off"): (108_000, "2"),  # illustrative: no published 4k price in section 10
    ("4k", "on"): (135_000, "2.5"),  # illustrative
}


@dataclass(frozen=True)
class KlingTiers(Plan):
    """Per second, the rate chosen by one tier per (quality, sound) (published kling-v3 prices)."""

    def bill(self, body: Mapping[str, Any], seconds: int) -> int:
        quality = body.get("quality", "720p")
        sound = body.get("sound", "off")
        rate, _ = KLING_V3_RATES[(quality, sound)]
        return rate * seconds

    def _qualities(self) -> list[str]:
        return sorted(self.rule.qualities or {"720p"}, key=lambda q: (len(q), q))

    def parameters(self) -> list[dict[str, Any]]:
        return [
            _duration_parameter(self.rule),
            {"name": "quality", "type": "string", "default": "720p", "enum": self._qualities()},
            {"name": "sound", "type": "string", "default": "off", "enum": ["off", "on"]},
        ]

    def components(self) -> list[dict[str, Any]]:
        tiers = []
        for (quality, sound), (rate, multiplier) in KLING_V3_RATES.items():
            if quality not in self._qualities():
                continue
            tiers.append(
                {
                    "sku_id": f"kling-v3-{quality}-sound-{sound}",
                    "rate": money(rate),
                    "minimum_charge": money(0),
                    "multiplier": multiplier,
                    "billing_rule": "per_second",
                    "pricing_status": "available",
                    "effective_at": UPDATED_AT,
                    "when": {"op": "and", "args": [eq("quality", quality), eq("sound", sound)]},
                }
            )
        return [
            _component(
                "output_seconds",
                "kling-v3-video-second",
                54_000,
                var("duration_seconds"),
                ("per_component_subtotal", "half_up"),
                tiers=tiers,
            )
        ]


#: sora-2-preview: billed seconds per clip length. Illustrative: a price table where longer clips cost
#: less per second (4 s -> 4, 8 s -> 7, 12 s -> 10 billed seconds at 20,000 UC).
SORA_BILLED_SECONDS = {4: 4, 8: 7, 12: 10}
SORA_RATE = 20_000


@dataclass(frozen=True)
class DurationLookup(Plan):
    def bill(self, body: Mapping[str, Any], seconds: int) -> int:
        return SORA_BILLED_SECONDS[seconds] * SORA_RATE

    def components(self) -> list[dict[str, Any]]:
        lookup = {
            "op": "lookup",
            "key": var("duration_seconds"),
            "values": {str(k): str(v) for k, v in SORA_BILLED_SECONDS.items()},
        }
        return [
            _component(
                "output_seconds",
                "sora-2-preview-billed-second",
                SORA_RATE,
                lookup,
                ("per_component_subtotal", "half_up"),
                unit="billed_second",
            )
        ]

    def parameters(self) -> list[dict[str, Any]]:
        parameter = _duration_parameter(self.rule)
        parameter["values"] = sorted(SORA_BILLED_SECONDS)
        return [parameter]


#: Illustrative: a fractional UC rate (live rates may be fractional, e.g. 1102.5: Evolink's client).
SEEDANCE_RATE = Fraction("7350.5")
#: Illustrative: each input image costs 2,000 UC.
IMAGE_RATE = 2_000


@dataclass(frozen=True)
class FractionalWithImages(Plan):
    """Per second at a fractional rate, half_up per subtotal; plus input images when there are any."""

    images: bool = False

    def bill(self, body: Mapping[str, Any], seconds: int) -> int:
        total = _round(SEEDANCE_RATE * seconds, "half_up")
        if self.images:
            total += IMAGE_RATE * len(body.get("image_urls") or [])
        return total

    def parameters(self) -> list[dict[str, Any]]:
        parameters = [_duration_parameter(self.rule)]
        if self.images:
            parameters.append({"name": "input_images", "type": "integer", "default": 0, "minimum": "0"})
        return parameters

    def components(self) -> list[dict[str, Any]]:
        components = [
            _component(
                "output_seconds",
                "seedance-2.0-video-second",
                SEEDANCE_RATE,
                var("duration_seconds"),
                ("per_component_subtotal", "half_up"),
            )
        ]
        if self.images:
            components.append(
                _component(
                    "input_images",
                    "seedance-2.0-input-image",
                    IMAGE_RATE,
                    var("input_images"),
                    ("per_quantity", "ceil"),
                    unit="image",
                    dimension="input_images",
                    condition={"op": "gt", "args": [var("input_images"), const("0")]},
                )
            )
        return components


#: Illustrative: 40,000 UC per started block of 4 seconds (quantity = seconds / 4, rounded up).
BLOCK_SECONDS = 4
BLOCK_RATE = 40_000


@dataclass(frozen=True)
class CeilBlocks(Plan):
    def bill(self, body: Mapping[str, Any], seconds: int) -> int:
        return -(-seconds // BLOCK_SECONDS) * BLOCK_RATE

    def components(self) -> list[dict[str, Any]]:
        blocks = {"op": "divide", "args": [var("duration_seconds"), const(str(BLOCK_SECONDS))]}
        return [
            _component(
                "output_blocks",
                "happyhorse-1.0-block",
                BLOCK_RATE,
                blocks,
                ("per_quantity", "ceil"),
                unit="block_4s",
            )
        ]


#: Illustrative: a fractional rate rounded down per tier (3,333.7 -> 3,333 UC per second).
FLOOR_RATE = Fraction("3333.7")


@dataclass(frozen=True)
class FloorPerTier(Plan):
    def bill(self, body: Mapping[str, Any], seconds: int) -> int:
        return _round(FLOOR_RATE, "floor") * seconds

    def components(self) -> list[dict[str, Any]]:
        return [
            _component(
                "output_seconds",
                "happyhorse-1.1-video-second",
                FLOOR_RATE,
                var("duration_seconds"),
                ("per_tier", "floor"),
            )
        ]


def _plans() -> dict[str, Plan]:
    plans: dict[str, Plan] = {model: PerSecond(rule) for model, rule in MODEL_RULES.items()}
    for model in ("kling-v3-image-to-video", "kling-v3-text-to-video"):
        plans[model] = KlingTiers(MODEL_RULES[model])
    plans["sora-2-preview"] = DurationLookup(MODEL_RULES["sora-2-preview"])
    plans["seedance-2.0-text-to-video"] = FractionalWithImages(MODEL_RULES["seedance-2.0-text-to-video"])
    plans["seedance-2.0-image-to-video"] = FractionalWithImages(
        MODEL_RULES["seedance-2.0-image-to-video"], images=True
    )
    plans["happyhorse-1.0-text-to-video"] = CeilBlocks(MODEL_RULES["happyhorse-1.0-text-to-video"])
    plans["happyhorse-1.1-text-to-video"] = FloorPerTier(MODEL_RULES["happyhorse-1.1-text-to-video"])
    # Illustrative: 1 credit per second, at least 5 credits per clip.
    plans["grok-imagine-video-1.0-t2v"] = PerSecond(
        MODEL_RULES["grok-imagine-video-1.0-t2v"], rate=Fraction(10_000), minimum=50_000, sku="grok-second"
    )
    return plans


PLANS: Mapping[str, Plan] = _plans()


def bill_uc(model: str, body: Mapping[str, Any], seconds: int) -> int:
    """What the emulator charges for an accepted request, in UC (``seconds``: the clip's length)."""
    plan = PLANS.get(model)
    if plan is None:
        return GENERIC_UC_PER_SECOND * seconds  # a model without published rules (illustrative)
    return plan.bill(body, seconds)


# ---- the published documents ---------------------------------------------------------------------------
@dataclass
class PricingRoutes:
    """How the pricing routes answer: normally (200/304), or with a forced status (404 or 500)."""

    status: int = 200
    #: Bumped to publish a new version (a new ETag) with the same figures.
    revision: int = 1
    _cache: dict[tuple[str, int], tuple[dict[str, Any], str]] = field(default_factory=dict)

    def model_rules(self, model: str) -> tuple[dict[str, Any], str] | None:
        """(the model's rule object, its ETag), or None when the emulator publishes none for it."""
        key = (model.lower(), self.revision)
        if key not in self._cache:
            name = _published_name(model)
            if name is None:
                return None
            rule = _model_rule(name, PLANS[name], self.revision)
            self._cache[key] = (rule, _etag([rule], self.revision))
        return self._cache[key]

    def catalog(self) -> tuple[list[dict[str, Any]], str]:
        rules = [self.model_rules(name) for name in sorted(PLANS, key=str.lower)]
        models = [rule for rule, _ in filter(None, rules)]
        return models, _etag(models, self.revision)


def meta(revision: int, wall: float) -> dict[str, Any]:
    return {
        "schema_version": "2",
        "catalog_version": CATALOG_VERSION,
        "pricing_version": f"emulator-pricing-{revision}",
        "price_scope": "public_default",
        "currency": "USD",
        "exchange_rate_version": "pricing-fx/v1:USD-CNY=6.8",
        "updated_at": UPDATED_AT,
        "fresh_until": _iso(wall + FRESH_SECONDS),
    }


def _published_name(model: str) -> str | None:
    lowered = model.lower()
    for name in PLANS:
        if name.lower() == lowered:
            return name
    return None


def _model_rule(name: str, plan: Plan, revision: int) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "model_id": name.lower(),
        "product_id": name.lower(),
        "operation": "video_generation",
        "modality": "video",
        "lifecycle": "preview" if "preview" in name.lower() else "active",
        "pricing_status": "available",
        "settlement_basis": "request_only",
        "policy_version": revision,
        "policy_source": "published",
        "parameters": plan.parameters(),
        "components": plan.components(),
    }
    rule["policy_checksum"] = hashlib.sha256(_canonical(rule).encode()).hexdigest()
    return rule


def _etag(models: list[dict[str, Any]], revision: int) -> str:
    digest = hashlib.sha256(f"{revision}:{_canonical(models)}".encode()).hexdigest()[:32]
    return f'"{digest}"'


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _iso(wall: float) -> str:
    return datetime.fromtimestamp(wall, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
