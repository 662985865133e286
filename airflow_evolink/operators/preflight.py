"""What happens before a paid POST, in one place: named steps, run in order.

``validate`` -> ``resolve_inputs`` -> ``price`` -> ``check_cap`` -> ``check_plan`` -> ``check_balance``, then
the submit operator pays (``submit_job``). The first two run on every try (they build the request that is
sent); the checks run only on a try that may create a new job. A later try that sends the first try's
``Idempotency-Key`` again can only get back the job that try may have created and paid for, so it is not
checked again when that key passed the checks (recorded in the task state store on Airflow 3.3+). Without
a state store a later try runs price, cap and plan again (:attr:`BeforePayment.RESEND_CHECKS`) and skips
only the balance check. A new check is one more method and one more name in :attr:`BeforePayment.CHECKS`.

Money is compared exactly, in UC (``Decimal``): a cap of $0.40 is 272,000 UC, and a request refused is
one whose estimate is above the cap, never one equal to it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from airflow_evolink.core.account import format_credits
from airflow_evolink.core.errors import EvolinkError, EvolinkValidationError
from airflow_evolink.core.models import REQUEST_FIELDS
from airflow_evolink.core.money import credits_to_uc, format_uc, plain_decimal, usd_to_uc
from airflow_evolink.core.protocol import check_idempotency_key
from airflow_evolink.pricing.estimate import CostEstimate
from airflow_evolink.utils import xcom_keys
from airflow_evolink.utils.failures import raise_airflow_error
from airflow_evolink.version_compat import AirflowFailException

if TYPE_CHECKING:
    from airflow_evolink.core.models import VideoRequest


Estimator = Callable[["VideoRequest"], CostEstimate]


class CostRefused(Exception):
    """The request may not be paid for: over its cap, priced differently from its plan, or unpriceable."""


def request_fields_of(values: Mapping[str, Any]) -> dict[str, Any]:
    """The request body from the submit operator's arguments: ``extra`` first, then the named fields.

    Raises :class:`EvolinkValidationError` naming the field when ``extra`` is not a dict or repeats one.
    """
    extra = values.get("extra") or {}
    if not isinstance(extra, dict):
        raise EvolinkValidationError("extra", "must be a dict of additional request fields", extra)
    named = {name: values[name] for name in REQUEST_FIELDS if values.get(name) is not None}
    for name, value in named.items():
        if name in extra:
            raise EvolinkValidationError(name, "is given both as an argument and in 'extra'", value)
    return {**extra, **named}


def parse_limit(name: str, value: Any) -> Decimal | None:
    """A money limit (``max_cost_usd``, ``budget_credits`` ...) as an exact ``Decimal``, or ``None``.

    Numbers and numeric strings (a rendered template) are accepted; anything else, zero or less, NaN and
    infinity raise :class:`EvolinkValidationError` naming the field. So does an empty string: a template
    that renders to nothing must not silently turn the limit off.
    """
    if value is None:
        return None
    _refuse_blank(name, value, "a positive number")
    if isinstance(value, bool):
        raise EvolinkValidationError(name, "must be a positive number", value)
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise EvolinkValidationError(name, "must be a positive number", value) from None
    if not number.is_finite() or number <= 0:
        raise EvolinkValidationError(name, "must be a positive number", value)
    return number


@dataclass(frozen=True)
class Cap:
    """The tightest of the limits given, in UC (possibly fractional: a cap may fall between two UC)."""

    uc: Decimal
    label: str  # "max_cost_usd=0.4 (272,000 UC)"

    @classmethod
    def of(cls, usd_name: str, usd: Any, credits_name: str, credits: Any) -> Cap | None:
        limits = []
        usd_value = parse_limit(usd_name, usd)
        credits_value = parse_limit(credits_name, credits)
        if usd_value is not None:
            limits.append(
                cls(
                    usd_to_uc(usd_value), f"{usd_name}={usd_value} ({plain_decimal(usd_to_uc(usd_value))} UC)"
                )
            )
        if credits_value is not None:
            uc = credits_to_uc(credits_value)
            limits.append(cls(uc, f"{credits_name}={credits_value} ({plain_decimal(uc)} UC)"))
        return min(limits, key=lambda cap: cap.uc) if limits else None


def estimate_safely(estimator: Estimator | None, request: VideoRequest, model: str) -> CostEstimate:
    """The estimate, or an ``unavailable`` one saying why: pricing never stops an uncapped request."""
    if estimator is None:
        return CostEstimate.unavailable(model, "this hook cannot price requests")
    try:
        return estimator(request)
    except Exception as exc:  # pricing is advisory unless a cap or plan depends on it
        return CostEstimate.unavailable(model, f"pricing failed: {type(exc).__name__}: {exc}")


def check_cap(estimate: CostEstimate, cap: Cap | None, *, allow_partial: bool) -> None:
    """Refuse (:class:`CostRefused`) a request over ``cap``, or one no cap can be established for."""
    if cap is None:
        return
    if estimate.uc is None:
        raise CostRefused(
            f"Not submitting: a cap is set ({cap.label}) but no price could be read, so no cap can be "
            f"established ({estimate.describe()}). Fix the pricing route or remove the cap."
        )
    if is_lower_bound(estimate) and not allow_partial:
        settled = (
            f" The final charge is settled on actual usage (settlement_basis {estimate.settlement_basis})."
            if not settled_on_request(estimate)
            else ""
        )
        raise CostRefused(
            f"Not submitting: the estimate is partial ({estimate.describe()}): the figure is a lower bound, "
            f"so it cannot prove the request stays within {cap.label}.{settled} Pass "
            "allow_partial_estimate=True to accept the lower bound."
        )
    if Decimal(estimate.uc) > cap.uc:
        raise CostRefused(f"Not submitting: the estimate {estimate.describe()} is above the cap {cap.label}.")


def settled_on_request(estimate: CostEstimate) -> bool:
    """Whether the charge is the price of the request (``request_only``), not settled on actual usage."""
    return estimate.settlement_basis in (None, "request_only")


def is_lower_bound(estimate: CostEstimate) -> bool:
    """A partial estimate, or one for a model settled on actual usage: the charge may be higher."""
    return estimate.status == "partial" or not settled_on_request(estimate)


def check_plan(estimate: CostEstimate, planned_uc: int | None) -> None:
    """Refuse a request whose price is no longer the one its plan approved (the plan's total holds)."""
    if planned_uc is None:
        return
    if estimate.uc is None:
        raise CostRefused(
            f"Not submitting: planned at {format_uc(planned_uc)}, but no price can be read now "
            f"({estimate.describe()}), so the plan cannot be confirmed."
        )
    if estimate.uc != planned_uc:
        raise CostRefused(
            f"Not submitting: the price changed since planning: planned {format_uc(planned_uc)}, now "
            f"{estimate.describe()}. Plan the run again."
        )


def parse_planned(value: Any) -> int | None:
    """``planned_cost_uc`` as an integer number of UC (rendered templates arrive as text; an empty one is
    an error, not "no plan")."""
    if value is None:
        return None
    _refuse_blank("planned_cost_uc", value, "a whole number of UC, 0 or more")
    if isinstance(value, bool):
        raise EvolinkValidationError("planned_cost_uc", "must be a whole number of UC, 0 or more", value)
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        number = Decimal(-1)
    if not number.is_finite() or number < 0 or number != number.to_integral_value():
        raise EvolinkValidationError("planned_cost_uc", "must be a whole number of UC, 0 or more", value)
    return int(number)


class BeforePayment:
    """The steps of one try of a submit operator before its paid POST, in order.

    ``operator`` is the submit operator: it owns the fields, the hook and the input ledger. Each step is
    a method named in :attr:`STEPS`; :meth:`prepare` runs the steps every try needs, :meth:`clear_to_pay`
    the checks before a new job may be paid for. A refusal fails the task without retries and without a
    POST.
    """

    #: Every try: the request exactly as it will be sent.
    PREPARE = ("validate", "resolve_inputs")
    #: A try that may create (and pay for) a new job.
    CHECKS = ("price", "check_cap", "check_plan", "check_balance")
    #: A try that may re-send an earlier try's key, unknown whether it was paid (no state store).
    RESEND_CHECKS = ("price", "check_cap", "check_plan")
    STEPS = PREPARE + CHECKS

    def __init__(self, operator: Any, context: Any, estimator: Estimator | None = None) -> None:
        self.operator = operator
        self.context = context
        self.estimator = estimator
        self.cap: Cap | None = None
        self.planned_uc: int | None = None
        self.estimate: CostEstimate | None = None

    def prepare(self) -> None:
        self._run(self.PREPARE)

    def clear_to_pay(self) -> None:
        self._run(self.CHECKS)

    def clear_to_resend(self) -> None:
        """A try that may re-send a key an earlier try paid for, with no record of whether it did
        (no task state store): every check but the balance, which could strand the paid job."""
        self._run(self.RESEND_CHECKS)

    def _run(self, steps: tuple[str, ...]) -> None:
        for name in steps:
            try:
                getattr(self, name)()
            except (EvolinkValidationError, CostRefused) as exc:
                raise AirflowFailException(str(exc)) from exc

    # ---- the steps ----------------------------------------------------------------------------------
    def validate(self) -> None:
        """Every field, before anything is sent or priced (the request, the key, the limits)."""
        op = self.operator
        op._request = op.build_request()
        if op.idempotency_key is not None:
            check_idempotency_key(op.idempotency_key)
        self.cap = Cap.of("max_cost_usd", op.max_cost_usd, "max_credits", op.max_credits)
        self.planned_uc = parse_planned(op.planned_cost_uc)

    def resolve_inputs(self) -> None:
        """Storage paths become URLs (uploaded or presigned); what was asked goes to XCom."""
        op = self.operator
        # Lineage names the inputs as given (storage paths included), before they become URLs.
        op._lineage.request = op._plain_request_fields()
        shown = op._resolve_inputs(self.context)
        # No secrets (nor URL signatures) in it.
        self.context["ti"].xcom_push(key=xcom_keys.EVOLINK_REQUEST, value=shown)

    def price(self) -> None:
        """The request's price from the published rules; one log line, and XCom when there is a figure."""
        op = self.operator
        estimator = self.estimator or op.hook.estimate_cost
        estimate = estimate_safely(estimator, op._request, str(op.model))
        self.estimate = estimate
        # Pushed even when unavailable: its reason tells the UI and downstream tasks why there is no figure.
        self.context["ti"].xcom_push(key=xcom_keys.EVOLINK_ESTIMATE, value=estimate.to_xcom())
        if estimate.uc is None:
            if self.cap is None and self.planned_uc is None:
                op.log.info("No estimate was available (%s); submitting without one", estimate.reason)
            return
        op.log.info("Estimate before paying: %s", estimate.describe())

    def check_cap(self) -> None:
        assert self.estimate is not None
        check_cap(self.estimate, self.cap, allow_partial=bool(self.operator.allow_partial_estimate))

    def check_plan(self) -> None:
        assert self.estimate is not None
        check_plan(self.estimate, self.planned_uc)

    def check_balance(self) -> None:
        """``min_credits``: refuse when the account (or the key's limit) cannot spend that much."""
        op = self.operator
        if op.min_credits is None:
            return
        try:
            credits = op.hook.get_credits()
        except EvolinkError as exc:
            raise_airflow_error(exc)
        spendable = credits.spendable_credits
        if spendable is None:
            op.log.warning(
                "GET /v1/credits gave no balance figure; submitting without the min_credits=%g check",
                op.min_credits,
            )
        elif spendable < op.min_credits:
            raise CostRefused(
                f"Not submitting: {format_credits(spendable)} can be spent ({credits.describe()}), "
                f"below min_credits={op.min_credits:g}. Top up, raise the key's limit, or lower min_credits."
            )

    def record_submission(self, task_id: str) -> None:
        """After the POST: the estimate names its Evolink task, so a run's summary can match them."""
        if self.estimate is not None:
            value = {**self.estimate.to_xcom(), "evolink_task_id": task_id}
            self.context["ti"].xcom_push(key=xcom_keys.EVOLINK_ESTIMATE, value=value)


def _refuse_blank(name: str, value: Any, wanted: str) -> None:
    if isinstance(value, str) and not value.strip():
        raise EvolinkValidationError(
            name, f"is empty (a template that rendered to nothing?): give {wanted}, or leave it unset", value
        )
