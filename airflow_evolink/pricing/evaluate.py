"""The price of one request from a model's published rules: exact, in integer UC, no I/O.

For each component whose ``condition`` holds (Evolink's own client, evolink-cli
``services/pricing-rules-estimate.js``):

1. quantity ``q`` = ``quantity_rule``, never negative;
2. the one tier whose ``when`` holds gives the rate (its ``rate`` already includes its ``multiplier``), else
   the component's own rate; two matching tiers, or an unavailable one, mean no published price;
3. the subtotal is rounded where ``rounding.point`` says, the way ``rounding.mode`` says:
   ``per_quantity`` rounds the billed quantity ``q x multiplier`` and charges it at ``rate / multiplier``;
   ``per_tier`` rounds the rate, then multiplies by ``q``; ``per_component_subtotal`` rounds ``q x rate``;
4. at least ``minimum_charge`` (of the tier when one matched);
5. the charge must be a whole number of UC. The total is the sum.

``billing_unit_size`` is read but does not divide the quantity: Evolink's client does not apply it either
(``quantity_rule`` yields billed units), and the estimate must match what that client approves.

The result is ``partial`` (a lower bound, not a cap) when a parameter is unknown before the run, for a
smart duration (``-1``), for the models Evolink's client marks partial (wan2.5, wan2.6, wan3.0 and the
veo-3.1 previews: their published prices do not describe every factor), for a per-second model given
an input video (its seconds are measured by the run), and for a model not settled ``request_only`` (the
final charge is settled on actual usage). When nothing can be priced before the run (every component
needs measured usage) the result is ``unavailable``. Anything that stops the rules pricing the request
gives ``unavailable`` with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from airflow_evolink.pricing.estimate import CostComponent, CostEstimate
from airflow_evolink.pricing.expressions import (
    PricingRuleError,
    UsageRequired,
    as_any,
    describe,
    evaluate,
    exact_text,
    number,
    round_to_integer,
    truth,
)
from airflow_evolink.pricing.parameters import PricingParameters, prepare_parameters
from airflow_evolink.pricing.rules import Component, ModelRules, RulesDocument, Tier

#: Models whose published unit prices Evolink's own client calls incomplete (evolink-cli
#: services/pricing-client.js: "do not fully describe this model's resolution, audio, count or duration
#: billing rules").
PARTIAL_MODELS = re.compile(r"^(?:wan(?:2\.[56]|3\.0)-.*|veo-3\.1-(?:fast-)?generate-preview)$")
#: The largest charge the gateway's integer UC can carry (JavaScript's safe integer).
MAX_UC = 2**53 - 1


def estimate_from_rules(
    document: RulesDocument,
    body: Mapping[str, Any],
    *,
    usage: Mapping[str, Any] | None = None,
    spec_defaults: Mapping[str, Any] | None = None,
) -> CostEstimate:
    """Price ``body`` (a generation request's JSON fields) with ``document``; never raises for a rule."""
    rules = document.model
    model = str(body.get("model") or rules.model_id)
    context: dict[str, Any] = {
        "settlement_basis": rules.settlement_basis,
        "policy_version": str(rules.policy_version),
        "fresh_until": document.meta.fresh_until,
    }
    refusal = _refusal(rules)
    if refusal is not None:
        return CostEstimate.unavailable(model, refusal, **context)
    try:
        parameters = prepare_parameters(rules, body, usage=usage, spec_defaults=spec_defaults)
        components, missing = _components(rules, parameters)
    except PricingRuleError as error:
        return CostEstimate.unavailable(model, str(error), **context)
    total = sum(component.subtotal_uc for component in components)
    if total > MAX_UC:
        return CostEstimate.unavailable(model, "the charge exceeds the UC range", **context)
    if not components and missing:
        # Nothing could be priced before the run: a total of 0 would pass any cap as a "lower bound".
        reason = f"needs measured usage: every component is billed on {', '.join(sorted(missing))}"
        if parameters.smart_duration:
            reason = (
                f"smart duration (-1): the model picks the length, so the seconds are not known; {reason}"
            )
        return CostEstimate.unavailable(model, reason, **context)
    reasons = _partial_reasons(rules, model, parameters, missing)
    return CostEstimate(
        model=model,
        status="partial" if reasons else "estimated",
        uc=total,
        components=tuple(components),
        reason="; ".join(reasons) or None,
        parameters={name: as_any(value) for name, value in parameters.values.items()},
        **context,
    )


def _refusal(rules: ModelRules) -> str | None:
    if rules.pricing_status != "available":
        return f"Evolink publishes no available price for {rules.model_id} (pricing_status unavailable)"
    if rules.policy_source != "published":
        return f"the pricing policy of {rules.model_id} is not a published one ({rules.policy_source})"
    if rules.modality != "video":
        return f"{rules.model_id} is priced as a {rules.modality} model, not a video model"
    return None


def _components(rules: ModelRules, parameters: PricingParameters) -> tuple[list[CostComponent], set[str]]:
    values = parameters.values
    missing = set(parameters.missing)
    priced: list[CostComponent] = []
    for component in rules.components:
        try:
            if component.condition is not None and not truth(evaluate(component.condition, values)):
                continue
            priced.append(_price(component, values))
        except UsageRequired as needed:
            missing.add(needed.name)
    return priced, missing


def _price(component: Component, values: Mapping[str, Any]) -> CostComponent:
    matches = [
        tier for tier in component.tiers if tier.when is not None and truth(evaluate(tier.when, values))
    ]
    if len(matches) > 1:
        raise PricingRuleError(f"component {component.id}: more than one pricing tier matches the request")
    tier: Tier | None = matches[0] if matches else None
    selected: Tier | Component = tier if tier is not None else component
    if selected.pricing_status != "available":
        raise PricingRuleError(
            f"component {component.id}: the matching price ({selected.sku_id}) is unavailable"
        )
    assert component.quantity_rule is not None and component.rounding is not None  # checked on reading
    quantity = number(evaluate(component.quantity_rule, values))
    if quantity < 0:
        raise PricingRuleError(f"component {component.id}: the rule gives a negative quantity")
    multiplier = Fraction(tier.multiplier) if tier is not None else Fraction(1)
    rate = selected.rate.uc_value
    point, mode = component.rounding.point, component.rounding.mode
    billed = quantity * multiplier
    if point == "per_quantity":
        subtotal = round_to_integer(billed, mode) * (rate / multiplier)
    elif point == "per_tier":
        subtotal = quantity * round_to_integer(rate, mode)
    else:
        subtotal = round_to_integer(quantity * rate, mode)
    minimum = selected.minimum_charge.uc_value
    charge = max(subtotal, minimum)
    if charge.denominator != 1:
        raise PricingRuleError(
            f"component {component.id}: the rule gives {exact_text(charge)} UC, not a whole number of UC"
        )
    return CostComponent(
        id=component.id,
        quantity=exact_text(quantity),
        unit=component.unit,
        rate_uc=selected.rate.uc,
        subtotal_uc=int(charge),
        tier=_tier_text(tier),
        minimum_applied=subtotal < minimum,
        sku_id=selected.sku_id,
        rounding=f"{point} {mode}",
    )


def _tier_text(tier: Tier | None) -> str | None:
    if tier is None or tier.when is None:
        return None
    return f"{describe(tier.when)} [{tier.sku_id}]"


def _partial_reasons(
    rules: ModelRules, model: str, parameters: PricingParameters, missing: set[str]
) -> list[str]:
    reasons: list[str] = []
    if parameters.smart_duration:
        reasons.append("smart duration (-1): the model picks the length, so the seconds are not known")
    measured = sorted(
        missing - {"duration_seconds", "output_seconds"} if parameters.smart_duration else missing
    )
    if measured:
        reasons.append(f"measured usage not known before the run: {', '.join(measured)}")
    if PARTIAL_MODELS.match(model.lower()):
        reasons.append(
            "Evolink's own client marks this model partial: its published prices do not describe every "
            "factor (resolution, audio, count or duration)"
        )
    if rules.settlement_basis != "request_only":
        reasons.append(
            f"settled on actual usage ({rules.settlement_basis}): the final charge is settled on actual "
            "usage, so this figure is not the charge"
        )
    per_second = any("second" in component.unit.lower() for component in rules.components)
    if parameters.has_input_video and per_second:
        reasons.append("an input video: its seconds and video-dependent factors are billed as measured")
    return reasons
