"""The checks before a paid POST and the batch plan, exactly in UC, with estimates built here.

The estimates are CostEstimate values as the hook returns them; the real-Airflow tests (tests/operators,
tests/system) price the same way against the emulator's published rules.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from airflow_evolink.core.errors import EvolinkValidationError
from airflow_evolink.operators.plan import plan_budget
from airflow_evolink.operators.preflight import (
    BeforePayment,
    Cap,
    CostRefused,
    check_cap,
    check_plan,
    estimate_safely,
    parse_limit,
    parse_planned,
    request_fields_of,
)
from airflow_evolink.pricing.estimate import CostComponent, CostEstimate

CLIP = CostEstimate(
    model="kling-v3-image-to-video",
    status="estimated",
    uc=270_000,
    components=(CostComponent("video", "5", "second", "54000", 270_000, tier="720p, no sound"),),
    settlement_basis="request_only",
)


def priced(uc: int | None, status: str = "estimated", model: str = "kling-v3-image-to-video") -> CostEstimate:
    return CostEstimate(model=model, status=status, uc=uc, reason=None if status == "estimated" else "why")  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [0, -1, "0", "-0.5", "abc", "nan", "inf", True, [], {}])
def test_a_limit_must_be_a_positive_number_and_the_error_names_the_field(value):
    with pytest.raises(EvolinkValidationError, match=r"max_cost_usd.*positive number"):
        parse_limit("max_cost_usd", value)


@pytest.mark.parametrize(("value", "expected"), [(0.4, "0.4"), ("0.4", "0.4"), (" 2 ", "2"), (5, "5")])
def test_a_limit_is_exact(value, expected):
    assert parse_limit("max_cost_usd", value) == Decimal(expected)


def test_a_cap_is_exact_in_uc_and_the_tighter_limit_holds():
    assert Cap.of("max_cost_usd", 0.4, "max_credits", None).uc == Decimal(272_000)  # type: ignore[union-attr]
    cap = Cap.of("max_cost_usd", 1, "max_credits", 27)
    assert cap is not None and cap.uc == Decimal(270_000) and cap.label.startswith("max_credits=27")
    assert Cap.of("max_cost_usd", None, "max_credits", None) is None
    # An empty value (a template that rendered to nothing) is an error naming the field, never "no cap".
    with pytest.raises(EvolinkValidationError, match=r"max_credits.*is empty"):
        Cap.of("max_cost_usd", None, "max_credits", "")
    with pytest.raises(EvolinkValidationError, match=r"planned_cost_uc.*is empty"):
        parse_planned(" ")


@pytest.mark.parametrize(("cap_uc", "sent"), [("270000.5", True), ("270000", True), ("269999.5", False)])
def test_refused_only_above_the_cap(cap_uc, sent):
    cap = Cap(Decimal(cap_uc), f"cap {cap_uc}")
    if sent:
        check_cap(CLIP, cap, allow_partial=False)
    else:
        with pytest.raises(CostRefused) as refused:
            check_cap(CLIP, cap, allow_partial=False)
        message = str(refused.value)
        # The estimate, the cap and what decided the price.
        assert "27 credits (270,000 UC, ~$0.40)" in message and f"cap {cap_uc}" in message
        assert "5 second x 54000 UC (720p, no sound)" in message


def test_a_partial_estimate_is_a_lower_bound_and_refused_unless_allowed():
    cap = Cap(Decimal(1_000_000), "max_credits=100")
    with pytest.raises(CostRefused, match=r"lower bound.*allow_partial_estimate=True"):
        check_cap(priced(100, "partial"), cap, allow_partial=False)
    check_cap(priced(100, "partial"), cap, allow_partial=True)
    with pytest.raises(CostRefused, match="above the cap"):
        check_cap(priced(2_000_000, "partial"), cap, allow_partial=True)


def test_no_price_with_a_cap_is_refused_and_without_one_it_is_no_concern():
    with pytest.raises(CostRefused, match="no cap can be established"):
        check_cap(priced(None, "unavailable"), Cap(Decimal(1), "max_credits=1"), allow_partial=True)
    check_cap(priced(None, "unavailable"), None, allow_partial=False)


def test_pricing_that_raises_becomes_an_unavailable_estimate():
    def broken(request):
        raise ConnectionError("refused")

    estimate = estimate_safely(broken, object(), "m")  # type: ignore[arg-type]
    assert estimate.status == "unavailable" and "ConnectionError" in str(estimate.reason)
    assert estimate_safely(None, object(), "m").status == "unavailable"  # type: ignore[arg-type]


def test_a_price_changed_since_planning_is_refused():
    check_plan(CLIP, 270_000)
    check_plan(CLIP, None)
    for planned in (269_999, 270_001):
        with pytest.raises(CostRefused, match="price changed since planning"):
            check_plan(CLIP, planned)
    with pytest.raises(CostRefused, match="no price can be read"):
        check_plan(priced(None, "unavailable"), 270_000)


@pytest.mark.parametrize("value", ["-1", 1.5, "x", True])
def test_planned_cost_must_be_whole_uc(value):
    with pytest.raises(EvolinkValidationError, match="planned_cost_uc"):
        parse_planned(value)


def test_request_fields_merge_extra_and_refuse_a_repeat():
    assert request_fields_of({"model": "m", "extra": {"seed": 1}, "planned_cost_uc": 5}) == {
        "model": "m",
        "seed": 1,
    }
    with pytest.raises(EvolinkValidationError, match=r"'prompt'.*both"):
        request_fields_of({"prompt": "a", "extra": {"prompt": "b"}})


def test_the_pipeline_names_its_steps_in_order():
    assert BeforePayment.STEPS == (
        "validate",
        "resolve_inputs",
        "price",
        "check_cap",
        "check_plan",
        "check_balance",
    )
    assert all(callable(getattr(BeforePayment, name)) for name in BeforePayment.STEPS)


# ---- the plan ---------------------------------------------------------------------------------------------
TEN = [{"prompt": f"shot {i}"} for i in range(10)]


def test_fit_keeps_the_first_requests_that_fit_and_the_budget_holds():
    budget = Cap(Decimal(6 * 270_000), "budget_credits=162")
    plan = plan_budget(TEN, [CLIP] * 10, budget, policy="fit")
    assert [item["prompt"] for item in plan.approved] == [f"shot {i}" for i in range(6)]
    assert all(item["planned_cost_uc"] == 270_000 for item in plan.approved)
    assert plan.total_uc == 6 * 270_000 <= budget.uc
    table = plan.to_xcom()
    assert table["approved"] == 6 and table["total_credits"] == "162" and table["total_usd"] == "2.382353"
    assert table["per_model"] == {
        "kling-v3-image-to-video": {"requests": 6, "uc": 1_620_000, "credits": "162", "usd": "2.382353"}
    }
    assert [row["approved"] for row in table["requests"]] == [True] * 6 + [False] * 4


def test_fit_stops_at_the_first_request_that_does_not_fit():
    # A later, cheaper request is not approved in place of an earlier one left out: order is priority.
    estimates = [priced(100), priced(1_000), priced(10)]
    plan = plan_budget([{"i": 0}, {"i": 1}, {"i": 2}], estimates, Cap(Decimal(500), "b"), policy="fit")
    assert [item["i"] for item in plan.approved] == [0] and plan.total_uc == 100


def test_the_budget_holds_at_the_exact_figure():
    plan = plan_budget(TEN[:2], [CLIP] * 2, Cap(Decimal(540_000), "b"), policy="fail")
    assert len(plan.approved) == 2
    with pytest.raises(CostRefused, match=r"540,000 UC.*above the budget"):
        plan_budget(TEN[:2], [CLIP] * 2, Cap(Decimal("539999.5"), "b"), policy="fail")


def test_fail_refuses_the_whole_plan():
    with pytest.raises(CostRefused, match="Not submitting any of the 10 requests"):
        plan_budget(TEN, [CLIP] * 10, Cap(Decimal(6 * 270_000), "b"), policy="fail")


def test_planning_refuses_partial_and_unpriced_requests_unless_allowed():
    budget = Cap(Decimal(10**9), "b")
    with pytest.raises(CostRefused, match="no price could be read for #1"):
        plan_budget(TEN[:2], [CLIP, priced(None, "unavailable")], budget, policy="fit", allow_partial=True)
    with pytest.raises(CostRefused, match="lower bounds"):
        plan_budget(TEN[:2], [CLIP, priced(5, "partial")], budget, policy="fit")
    assert len(plan_budget(TEN[:2], [CLIP, priced(5, "partial")], budget, allow_partial=True).approved) == 2


def test_an_unknown_policy_is_refused_naming_the_field():
    with pytest.raises(EvolinkValidationError, match="'policy'"):
        plan_budget(TEN[:1], [CLIP], Cap(Decimal(1), "b"), policy="greedy")


def test_without_a_state_store_a_later_try_is_checked_but_its_balance_is_not_read():
    from types import SimpleNamespace

    from airflow_evolink.operators.evolink import EvolinkSubmitVideoOperator as Submit

    later = {"ti": SimpleNamespace(try_number=2)}
    first = {"ti": SimpleNamespace(try_number=1)}
    # No store: never "already cleared" (which would skip every check), but "maybe a re-send".
    assert Submit._resending(None, later, None, None, "key") is False  # type: ignore[arg-type]
    assert Submit._maybe_resending(later, None, None) is True
    assert Submit._maybe_resending(first, None, None) is False
    assert BeforePayment.RESEND_CHECKS == ("price", "check_cap", "check_plan")
    assert "check_balance" in BeforePayment.CHECKS


@pytest.mark.parametrize("basis", ["actual_usage", "request_then_actual"])
def test_an_estimate_settled_on_actual_usage_is_a_lower_bound_under_a_cap_and_a_plan(basis):
    from dataclasses import replace

    settled = replace(CLIP, settlement_basis=basis)  # "estimated", as a stale or foreign estimate may say
    cap = Cap.of("max_cost_usd", 100, "max_credits", None)
    with pytest.raises(CostRefused, match="settled on actual usage"):
        check_cap(settled, cap, allow_partial=False)
    check_cap(settled, cap, allow_partial=True)
    check_cap(CLIP, cap, allow_partial=False)  # request_only: the exact price
    with pytest.raises(CostRefused, match="lower bounds"):
        plan_budget([{"prompt": "a"}], [settled], cap, policy="fail")  # type: ignore[arg-type]
