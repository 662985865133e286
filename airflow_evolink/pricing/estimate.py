"""The price of one request, as the published rules give it: the shared result type.

Shared contract (the hook produces it, operators, the planner, XCom, logs and the gallery read it):

- ``status``: ``"estimated"`` (exact for a ``request_only`` model), ``"partial"`` (smart duration ``-1``,
  a measured parameter unknown before the run, or a model Evolink's own client marks partial: the figure
  is a lower bound, not a cap) or ``"unavailable"`` (no rules could be read or evaluated; ``uc`` is None).
- ``uc``: the total, an integer number of UC; ``credits`` and ``usd`` derive from it exactly.
- ``components``: what decided the price, one line per billed component.
- ``reason``: why the estimate is partial or unavailable, for people.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from airflow_evolink.core.money import format_uc, uc_to_credits, uc_to_usd

EstimateStatus = Literal["estimated", "partial", "unavailable"]


@dataclass(frozen=True)
class CostComponent:
    """One billed component: ``5 second x 54,000 UC (tier 720p, no sound) = 270,000 UC``."""

    id: str
    quantity: str  # a decimal string, exact
    unit: str
    rate_uc: str  # per billing unit, a decimal string (rates may be fractional UC)
    subtotal_uc: int
    tier: str | None = None  # the matching tier's sku_id or condition, None without tiers
    minimum_applied: bool = False
    sku_id: str | None = None  # the SKU whose rate applied (the tier's, else the component's)
    rounding: str | None = None  # the rule's rounding, e.g. "per_component_subtotal half_up"

    def describe(self) -> str:
        tier = f" ({self.tier})" if self.tier else ""
        minimum = ", minimum charge" if self.minimum_applied else ""
        return f"{self.id}: {self.quantity} {self.unit} x {self.rate_uc} UC{tier} = {self.subtotal_uc:,} UC{minimum}"


@dataclass(frozen=True)
class CostEstimate:
    model: str
    status: EstimateStatus
    uc: int | None
    components: tuple[CostComponent, ...] = ()
    settlement_basis: str | None = None
    policy_version: str | None = None
    fresh_until: str | None = None
    reason: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)  # the pricing parameters used

    @classmethod
    def unavailable(cls, model: str, reason: str, **context: Any) -> CostEstimate:
        """No price could be read or evaluated: ``uc`` is None and ``reason`` says why."""
        return cls(model=model, status="unavailable", uc=None, reason=reason, **context)

    @property
    def credits(self) -> Decimal | None:
        return None if self.uc is None else uc_to_credits(self.uc)

    @property
    def usd(self) -> Decimal | None:
        return None if self.uc is None else uc_to_usd(self.uc)

    def describe(self) -> str:
        """One line for logs and errors: amount, status and what decided it."""
        if self.uc is None:
            return f"no estimate for {self.model}: {self.reason or 'pricing unavailable'}"
        parts = "; ".join(c.describe() for c in self.components)
        note = f" ({self.reason})" if self.status == "partial" and self.reason else ""
        return f"{format_uc(self.uc)}, {self.status}{note} for {self.model}: {parts}"

    def to_xcom(self) -> dict[str, Any]:
        """Compact JSON (no secrets): XCom ``evolink_estimate``."""
        out: dict[str, Any] = {
            "model": self.model,
            "status": self.status,
            "uc": self.uc,
            "credits": None if self.credits is None else str(self.credits.normalize()),
            "usd": None if self.usd is None else f"{self.usd:.6f}",
            "components": [c.__dict__ for c in self.components],
            "settlement_basis": self.settlement_basis,
            "policy_version": self.policy_version,
            "fresh_until": self.fresh_until,
            "reason": self.reason,
            "parameters": self.parameters,
        }
        return {k: v for k, v in out.items() if v not in (None, [], {})}

    @classmethod
    def from_xcom(cls, data: dict[str, Any]) -> CostEstimate:
        return cls(
            model=str(data.get("model", "")),
            status=data.get("status", "unavailable"),
            uc=data.get("uc"),
            components=tuple(CostComponent(**c) for c in data.get("components", ())),
            settlement_basis=data.get("settlement_basis"),
            policy_version=data.get("policy_version"),
            fresh_until=data.get("fresh_until"),
            reason=data.get("reason"),
            parameters=dict(data.get("parameters") or {}),
        )
