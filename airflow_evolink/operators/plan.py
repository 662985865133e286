"""Plan a batch within its budget before anything is paid for.

A mapped batch whose tasks each check only themselves can overspend. :class:`EvolinkPlanBudgetOperator`
prices every request of the batch first (Evolink's published rules, through the hook) and returns the
approved requests, each carrying its ``planned_cost_uc``; the mapped submit expands over that list and
refuses any request whose price is no longer the planned one. So the run's planned charges never exceed
the budget for models settled ``request_only``.

Policies:

- ``"fail"``: the whole plan fails (nothing is submitted) when the total is above the budget.
- ``"fit"``: the requests are kept in the order given while the running total fits. The first request
  that does not fit ends the plan: a later, cheaper one is not approved in its place. The order is the
  author's priority, and the approved list is always the first N requests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import Any

from airflow_evolink.core.errors import EvolinkValidationError
from airflow_evolink.core.models import build_video_request
from airflow_evolink.core.money import format_uc, plain_decimal, uc_to_credits, uc_to_usd
from airflow_evolink.hooks.evolink import EvolinkHook
from airflow_evolink.inputs.paths import with_stand_ins
from airflow_evolink.operators.preflight import (
    Cap,
    CostRefused,
    estimate_safely,
    is_lower_bound,
    request_fields_of,
)
from airflow_evolink.pricing.estimate import CostEstimate
from airflow_evolink.utils import xcom_keys
from airflow_evolink.version_compat import AirflowFailException, BaseOperator

POLICIES = ("fail", "fit")
PLANNED_FIELD = "planned_cost_uc"


@dataclass
class Plan:
    """The outcome: the approved requests (with ``planned_cost_uc``) and a table of every request."""

    approved: list[dict[str, Any]] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    total_uc: int = 0
    budget: Cap | None = None
    policy: str = "fail"

    def per_model(self) -> dict[str, dict[str, Any]]:
        models: dict[str, dict[str, Any]] = {}
        for row in self.rows:
            if not row["approved"]:
                continue
            entry = models.setdefault(row["model"], {"requests": 0, "uc": 0})
            entry["requests"] += 1
            entry["uc"] += row["uc"]
        return models

    def to_xcom(self) -> dict[str, Any]:
        """The table for XCom ``evolink_plan``: per request, per model and the total, in UC with credits
        and USD (a price-rule figure, whose unit is certain)."""
        return {
            "policy": self.policy,
            "budget_uc": None if self.budget is None else str(plain_decimal(self.budget.uc, grouped=False)),
            "budget": None if self.budget is None else self.budget.label,
            "requests": self.rows,
            "per_model": {
                model: {**entry, "credits": _credits(entry["uc"]), "usd": _usd(entry["uc"])}
                for model, entry in self.per_model().items()
            },
            "approved": len(self.approved),
            "total_uc": self.total_uc,
            "total_credits": _credits(self.total_uc),
            "total_usd": _usd(self.total_uc),
        }

    def lines(self) -> list[str]:
        """The table for the log, one line each."""
        out = [f"Plan within {self.budget.label if self.budget else '?'} (policy {self.policy}):"]
        for row in self.rows:
            mark = "approved" if row["approved"] else "left out"
            out.append(f"  #{row['index']} {row['model']}: {format_uc(row['uc'])} [{row['status']}] {mark}")
        for model, entry in self.per_model().items():
            out.append(f"  {model}: {entry['requests']} request(s), {format_uc(entry['uc'])}")
        out.append(f"  total approved: {len(self.approved)} of {len(self.rows)}, {format_uc(self.total_uc)}")
        return out


def plan_budget(
    requests: Sequence[Mapping[str, Any]],
    estimates: Sequence[CostEstimate],
    budget: Cap,
    *,
    policy: str = "fail",
    allow_partial: bool = False,
) -> Plan:
    """Approve the requests within ``budget`` (exact, in UC) under ``policy``; raises :class:`CostRefused`.

    Every request needs a price: an unavailable estimate fails the plan, a partial one too unless
    ``allow_partial`` (its figure is a lower bound, so the budget would not hold).
    """
    if policy not in POLICIES:
        raise EvolinkValidationError("policy", f"must be one of {', '.join(POLICIES)}", policy)
    unpriced = [f"#{i} {e.describe()}" for i, e in enumerate(estimates) if e.uc is None]
    if unpriced:
        raise CostRefused(
            "Not planning: no price could be read for " + "; ".join(unpriced) + ", so the budget cannot hold."
        )
    partial = [f"#{i} {e.describe()}" for i, e in enumerate(estimates) if is_lower_bound(e)]
    if partial and not allow_partial:
        raise CostRefused(
            "Not planning: partial estimates are lower bounds, not prices, so the budget cannot be shown to "
            "hold: " + "; ".join(partial) + ". Pass allow_partial_estimate=True to plan with them."
        )
    plan = Plan(budget=budget, policy=policy)
    running = 0
    stopped = False
    for index, (request, estimate) in enumerate(zip(requests, estimates, strict=True)):
        uc = int(estimate.uc or 0)
        fits = not stopped and Decimal(running + uc) <= budget.uc
        stopped = stopped or not fits
        if fits:
            running += uc
            plan.approved.append({**request, PLANNED_FIELD: uc})
        plan.rows.append(
            {
                "index": index,
                "model": estimate.model,
                "status": estimate.status,
                "uc": uc,
                "credits": _credits(uc),
                "usd": _usd(uc),
                "approved": fits,
                "decided_by": "; ".join(c.describe() for c in estimate.components),
            }
        )
    plan.total_uc = running
    if policy == "fail" and len(plan.approved) < len(requests):
        asked = sum(row["uc"] for row in plan.rows)
        raise CostRefused(
            f"Not submitting any of the {len(requests)} requests: together they cost {format_uc(asked)}, "
            f"above the budget {budget.label} (policy 'fail'). Raise the budget, drop requests, or use "
            "policy='fit' to keep those that fit, in order."
        )
    return plan


class EvolinkPlanBudgetOperator(BaseOperator):
    """Price a batch of requests and approve those within the budget, before anything is paid for.

    Returns the approved requests (XCom ``return_value``), each with ``planned_cost_uc``: expand the
    submit over it, ``EvolinkSubmitVideoOperator.partial(...).expand_kwargs(plan.output)``. Each submit
    re-prices its request and refuses it (nothing sent) if the price changed since planning. The table
    (per request, per model, total) is logged and pushed to XCom ``evolink_plan``.

    :param requests: the request dicts the mapped submit will expand over (templated): the submit
        operator's arguments (``model``, ``prompt``, ``duration``, ``extra`` ...).
    :param budget_usd: the budget in US dollars (templated, e.g. ``"{{ params.budget_usd }}"``).
    :param budget_credits: the budget in credits; with both, the tighter one holds.
    :param policy: ``"fail"`` (the whole plan fails when the total is above the budget) or ``"fit"``
        (keep the requests in order while they fit; the first that does not fit ends the plan).
    :param defaults: arguments every request shares (``model``, ``duration`` ...), under each request's own;
        they are part of each approved item.
    :param allow_partial_estimate: plan with partial estimates (lower bounds) instead of failing.
    :param evolink_conn_id: the Airflow connection of type ``evolink``; its base URL serves the rules.
    """

    template_fields: Sequence[str] = ("requests", "budget_usd", "budget_credits", "defaults")
    template_fields_renderers = {"requests": "json", "defaults": "json"}
    ui_color = "#e6dcf5"

    def __init__(
        self,
        *,
        requests: Any,
        budget_usd: float | str | None = None,
        budget_credits: float | str | None = None,
        policy: str = "fail",
        defaults: dict[str, Any] | None = None,
        allow_partial_estimate: bool = False,
        evolink_conn_id: str = EvolinkHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        if policy not in POLICIES:
            raise ValueError(f"policy must be one of {', '.join(POLICIES)} (got {policy!r})")
        if budget_usd is None and budget_credits is None:
            raise ValueError("give budget_usd or budget_credits: the plan needs a budget")
        super().__init__(**kwargs)
        self.requests = requests
        self.budget_usd = budget_usd
        self.budget_credits = budget_credits
        self.policy = policy
        self.defaults = defaults
        self.allow_partial_estimate = allow_partial_estimate
        self.evolink_conn_id = evolink_conn_id

    @cached_property
    def hook(self) -> EvolinkHook:
        return EvolinkHook(self.evolink_conn_id)

    def execute(self, context: Any) -> list[dict[str, Any]]:
        try:
            budget = Cap.of("budget_usd", self.budget_usd, "budget_credits", self.budget_credits)
            if budget is None:
                raise EvolinkValidationError(
                    "budget_usd", "is required (or budget_credits): the plan needs a budget"
                )
            items = self._items()
            estimates = [self._price(index, item) for index, item in enumerate(items)]
            plan = plan_budget(
                items, estimates, budget, policy=self.policy, allow_partial=self.allow_partial_estimate
            )
        except (EvolinkValidationError, CostRefused) as exc:
            raise AirflowFailException(str(exc)) from exc
        for line in plan.lines():
            self.log.info("%s", line)
        context["ti"].xcom_push(key=xcom_keys.EVOLINK_PLAN, value=plan.to_xcom())
        return plan.approved

    def _items(self) -> list[dict[str, Any]]:
        defaults = self.defaults or {}
        if not isinstance(defaults, Mapping):
            raise EvolinkValidationError(
                "defaults", "must be a dict of arguments every request shares", defaults
            )
        requests = self.requests
        if isinstance(requests, Mapping) or not isinstance(requests, Sequence) or isinstance(requests, str):
            raise EvolinkValidationError("requests", "must be a list of request dicts", requests)
        items = []
        for index, item in enumerate(requests):
            if not isinstance(item, Mapping):
                raise EvolinkValidationError(f"requests[{index}]", "must be a dict of request fields", item)
            items.append({**defaults, **item})
        return items

    def _price(self, index: int, item: Mapping[str, Any]) -> CostEstimate:
        try:
            fields = request_fields_of(item)
            request = build_video_request(with_stand_ins(fields), check_rules=item.get("check_request", True))
        except EvolinkValidationError as exc:
            raise EvolinkValidationError(f"requests[{index}].{exc.field}", exc.rule, exc.value) from exc
        return estimate_safely(self.hook.estimate_cost, request, str(item.get("model")))


def _credits(uc: int) -> str:
    return plain_decimal(uc_to_credits(uc), grouped=False)


def _usd(uc: int) -> str:
    return f"{uc_to_usd(uc):.6f}"
