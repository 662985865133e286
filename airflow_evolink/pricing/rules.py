"""The published pricing rules (schema version 2) as typed data, checked once when they are read.

``GET {base}/v1/catalog/models/{model}/pricing-rules?view=full`` answers ``{meta, model}``; the catalog
route ``/v1/catalog/pricing-rules?modality=video&view=full`` answers ``{meta, models: [...]}``. The shape
and its limits follow Evolink's own client (evolink-cli ``services/pricing-rules-client.js``). Whatever does not fit is refused here, so a malformed rule makes
the estimate ``unavailable`` instead of a wrong price:

- money objects ``{uc, credits, cny, usd}`` are decimal strings that must name the same amount;
- every expression uses a known op with its arity, references only declared parameters, and nests at most
  32 deep (at most 10,000 nodes per tree);
- the full view gives every component a ``quantity_rule`` and a ``rounding``, and every tier a ``when``.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from airflow_evolink.pricing.expressions import SIGNED_DECIMAL, Expression, PricingRuleError, check_expression

ROUNDING_POINTS = frozenset({"per_quantity", "per_tier", "per_component_subtotal"})
ROUNDING_MODES = frozenset({"half_up", "ceil", "floor"})

_DECIMAL = re.compile(r"^(?:0|[1-9]\d*)(?:\.\d+)?$")
_IDENTIFIER = re.compile(r"^[a-z0-9][a-z0-9._:-]*$")


class RulesError(ValueError):
    """The rules could not be read: the body does not follow the published schema."""


class Money(BaseModel):
    """An amount in the four units the gateway publishes; ``uc`` decides, the others must agree."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    uc: str = Field(max_length=64)
    credits: str = Field(max_length=64)
    cny: str = Field(max_length=64)
    usd: str = Field(max_length=64)

    @field_validator("uc", "credits", "cny", "usd")
    @classmethod
    def _plain_decimal(cls, value: str) -> str:
        if not _DECIMAL.fullmatch(value):
            raise ValueError("must be a non-negative decimal string")
        return value

    @model_validator(mode="after")
    def _same_amount(self) -> Money:
        # 1 credit = 10,000 UC; 1 CNY = 100,000 UC; 1 USD = 680,000 UC (a published USD may be rounded
        # to 8 places, as Evolink's client allows).
        uc = Fraction(self.uc)
        if Fraction(self.credits) * 10_000 != uc or Fraction(self.cny) * 100_000 != uc:
            raise ValueError("credits and cny must name the same amount as uc")
        if abs(Fraction(self.usd) * 680_000 - uc) * 10**8 > 680_000:
            raise ValueError("usd must name the same amount as uc")
        return self

    @property
    def uc_value(self) -> Fraction:
        return Fraction(self.uc)


class Rounding(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    point: str
    mode: str

    @model_validator(mode="after")
    def _known(self) -> Rounding:
        if self.point not in ROUNDING_POINTS:
            raise ValueError(f"rounding point must be one of {', '.join(sorted(ROUNDING_POINTS))}")
        if self.mode not in ROUNDING_MODES:
            raise ValueError(f"rounding mode must be one of {', '.join(sorted(ROUNDING_MODES))}")
        return self


class _Rated(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    sku_id: str = Field(min_length=1, max_length=100)
    rate: Money
    minimum_charge: Money
    pricing_status: Literal["available", "unavailable"]
    billing_rule: str | None = None


class Tier(_Rated):
    """A price that replaces its component's when ``when`` holds; ``rate`` already includes ``multiplier``."""

    multiplier: str = "1"
    when: Expression | None = None

    @field_validator("multiplier")
    @classmethod
    def _positive(cls, value: str) -> str:
        if not _DECIMAL.fullmatch(value) or Fraction(value) <= 0:
            raise ValueError("multiplier must be a positive decimal string")
        return value


class Component(_Rated):
    """One billed part of a generation (the output seconds, an input image...)."""

    id: str = Field(min_length=1, max_length=100)
    role: str = Field(min_length=1, max_length=100)
    dimension: str = Field(min_length=1, max_length=100)
    unit: str = Field(min_length=1, max_length=100)
    billing_unit_size: int = Field(default=1, gt=0, le=1_000_000_000)
    condition: Expression | None = None
    quantity_rule: Expression | None = None
    rounding: Rounding | None = None
    tiers: list[Tier] = Field(default_factory=list, max_length=100)


class Parameter(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str = Field(min_length=1, max_length=100)
    type: str = Field(min_length=1, max_length=60)
    required: bool = False
    default: str | bool | int | float | None = None
    enum: list[str | bool | int | float] | None = Field(default=None, max_length=100)
    values: list[str | bool | int | float] | None = Field(default=None, max_length=100)
    minimum: str | None = None
    maximum: str | None = None

    @field_validator("minimum", "maximum")
    @classmethod
    def _signed_decimal(cls, value: str | None) -> str | None:
        # A bound the request is compared with exactly: anything but a decimal makes the rules malformed.
        if value is not None and not SIGNED_DECIMAL.fullmatch(value):
            raise ValueError(f"a parameter bound must be a signed decimal string, not {value!r}")
        return value

    @property
    def allowed(self) -> list[Any] | None:
        return self.values if self.values is not None else self.enum


class ModelRules(BaseModel):
    """One model's published pricing policy."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    model_id: str = Field(max_length=100)
    product_id: str = Field(max_length=100)
    operation: str = Field(max_length=50)
    modality: Literal["text", "image", "video", "audio"]
    lifecycle: Literal["active", "preview", "deprecated"]
    pricing_status: Literal["available", "unavailable"]
    settlement_basis: str = Field(min_length=1, max_length=100)
    policy_version: int = Field(ge=0)
    policy_checksum: str = Field(pattern=r"^[a-f0-9]{64}$")
    policy_source: Literal["published", "legacy_text_adapter"]
    parameters: list[Parameter] = Field(default_factory=list, max_length=100)
    components: list[Component] = Field(min_length=1, max_length=200)

    @field_validator("model_id", "product_id", "operation")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not _IDENTIFIER.fullmatch(value):
            raise ValueError("must be a lower-case identifier")
        return value

    @model_validator(mode="after")
    def _complete(self) -> ModelRules:
        """The full view: each component priced by a rule, each tier chosen by a condition."""
        declared = {parameter.name for parameter in self.parameters}
        seen: set[str] = set()
        for component in self.components:
            if component.id in seen:
                raise ValueError(f"component {component.id!r} appears twice")
            seen.add(component.id)
            if component.quantity_rule is None or component.rounding is None:
                raise ValueError(f"component {component.id!r} has no quantity_rule or rounding")
            if any(tier.when is None for tier in component.tiers):
                raise ValueError(f"a tier of component {component.id!r} has no condition (when)")
            trees = [component.condition, component.quantity_rule, *(tier.when for tier in component.tiers)]
            try:
                for tree in trees:
                    if tree is not None:
                        check_expression(tree, declared)
            except PricingRuleError as error:
                raise ValueError(f"component {component.id!r}: {error}") from None
        return self

    @property
    def parameter_map(self) -> dict[str, Parameter]:
        return {parameter.name: parameter for parameter in self.parameters}


class Meta(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    schema_version: Literal["2"]
    catalog_version: str = Field(min_length=1, max_length=128)
    pricing_version: str = Field(min_length=1, max_length=128)
    price_scope: Literal["public_default"]
    currency: Literal["USD"]
    exchange_rate_version: Literal["pricing-fx/v1:USD-CNY=6.8"]
    updated_at: str
    fresh_until: str


class RulesDocument(BaseModel):
    """The single-model answer: ``{meta, model}``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    meta: Meta
    model: ModelRules


class RulesCatalog(BaseModel):
    """The catalog answer: ``{meta, models}``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    meta: Meta
    models: list[ModelRules] = Field(max_length=1000)


def parse_rules(body: Any, model: str) -> RulesDocument:
    """Read one model's rules, or raise :class:`RulesError` saying what does not fit the schema."""
    try:
        document = RulesDocument.model_validate(body)
    except ValidationError as error:
        raise RulesError(_first_problem(error)) from None
    if document.model.model_id != model.lower():
        raise RulesError(f"the rules are for {document.model.model_id!r}, not {model.lower()!r}")
    return document


def parse_catalog(body: Any) -> RulesCatalog:
    try:
        return RulesCatalog.model_validate(body)
    except ValidationError as error:
        raise RulesError(_first_problem(error)) from None


def _first_problem(error: ValidationError) -> str:
    first = error.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or "body"
    message = str(first.get("msg", "is invalid")).removeprefix("Value error, ")
    return f"malformed pricing rules at {where}: {message}"
