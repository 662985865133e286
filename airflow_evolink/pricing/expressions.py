"""Pricing expressions: the small tree language of the published rules, evaluated exactly.

A node is ``{op, name?, value?, args?, key?, values?}``. Numbers are exact rationals
(:class:`fractions.Fraction`): a rule may divide (``divide(duration_seconds, 4)``) and round later, and a
Decimal would have to round a third before the rule says so. Decimal strings in the rules and numbers in
the request convert exactly. Semantics follow Evolink's own client (evolink-cli
``services/pricing-rules-estimate.js``):

- ``constant`` gives its string (``"true"``/``"false"`` are booleans); a string turns into a number where
  an op needs one, and must then be a plain decimal;
- ``variable`` reads a pricing parameter; a parameter without a value raises :class:`UsageRequired`, which
  makes the estimate ``partial`` (a measured usage not known before the run);
- ``lookup`` evaluates ``key`` and reads ``values[key]`` (an integer key as ``"5"``, a fraction as
  ``"3/2"``, a boolean as ``"true"``); a key the table lacks has no published price;
- ``eq``/``neq`` compare booleans as booleans, numbers (or two numeric strings) by value, else strings
  (a numeric string with a leading zero, ``"05"``, is no plain decimal: the rule cannot be evaluated);
- ``ceil``/``floor`` round to an integer; ``clamp(x, low, high)`` needs ``low <= high``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

Value = Fraction | str | bool

#: op -> (fewest args, most args), as the published schema allows.
ARITY: dict[str, tuple[int, int]] = {
    "constant": (0, 0),
    "variable": (0, 0),
    "lookup": (0, 0),
    "add": (2, 32),
    "multiply": (2, 32),
    "subtract": (2, 2),
    "divide": (2, 2),
    "min": (2, 32),
    "max": (2, 32),
    "clamp": (3, 3),
    "ceil": (1, 1),
    "floor": (1, 1),
    "if": (3, 3),
    "eq": (2, 2),
    "neq": (2, 2),
    "lt": (2, 2),
    "lte": (2, 2),
    "gt": (2, 2),
    "gte": (2, 2),
    "and": (2, 32),
    "or": (2, 32),
    "not": (1, 1),
}
MAX_DEPTH = 32
MAX_NODES = 10_000
#: A decimal string, signed or not, as the rules write amounts and ``eq`` operands.
SIGNED_DECIMAL = re.compile(r"^-?(?:0|[1-9]\d*)(?:\.\d+)?$")
#: What ``eq`` takes for a number (digits, as Evolink's client tests it); it must then be a plain decimal.
_NUMBER_LIKE = re.compile(r"^-?\d+(?:\.\d+)?$")


class PricingRuleError(ValueError):
    """The rule cannot price this request: malformed, or no published price matches it."""


class UsageRequired(LookupError):
    """A parameter the rule needs has no value before the run (a measured usage)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class Expression(BaseModel):
    """One node of an expression tree (immutable; parsed once with the rules)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    op: str = Field(min_length=1, max_length=40)
    name: str | None = Field(default=None, max_length=100)
    value: str | None = Field(default=None, max_length=128)
    args: tuple[Expression, ...] | None = Field(default=None, max_length=32)
    key: Expression | None = None
    values: dict[str, str] | None = None

    @field_validator("values")
    @classmethod
    def _lookup_table(cls, values: dict[str, str] | None) -> dict[str, str] | None:
        if values is None:
            return None
        if not 1 <= len(values) <= 100:
            raise ValueError("a lookup table holds 1 to 100 entries")
        for key, price in values.items():
            if not key or len(key) > 100 or not SIGNED_DECIMAL.fullmatch(price):
                raise ValueError("lookup entries must map a key to a decimal string")
        return values


def check_expression(node: Expression, declared: set[str] | frozenset[str]) -> None:
    """Refuse an unknown op, a wrong number of args, an undeclared variable or a tree too deep or big."""
    _check(node, declared, 0, [0])


def _check(node: Expression, declared: set[str] | frozenset[str], depth: int, count: list[int]) -> None:
    count[0] += 1
    bounds = ARITY.get(node.op)
    size = len(node.args or ())
    if depth > MAX_DEPTH or count[0] > MAX_NODES:
        raise PricingRuleError("an expression is nested too deep or too large")
    if bounds is None:
        raise PricingRuleError(f"unsupported expression op {node.op!r}")
    if not bounds[0] <= size <= bounds[1]:
        raise PricingRuleError(f"op {node.op!r} takes {bounds[0]} to {bounds[1]} args, not {size}")
    if node.op == "constant" and node.value is None:
        raise PricingRuleError("a constant has no value")
    if node.op == "variable" and (not node.name or node.name not in declared):
        raise PricingRuleError(f"variable {node.name!r} is not a declared parameter")
    if node.op == "lookup":
        if node.key is None or node.values is None:
            raise PricingRuleError("a lookup needs a key and a values table")
        _check(node.key, declared, depth + 1, count)
    for child in node.args or ():
        _check(child, declared, depth + 1, count)


def evaluate(node: Expression, params: Mapping[str, Value]) -> Value:
    """The value of ``node`` for the pricing parameters ``params`` (numbers as Fractions)."""
    op = node.op
    args = node.args or ()
    if op == "constant":
        value = node.value
        return True if value == "true" else False if value == "false" else str(value)
    if op == "variable":
        name = str(node.name)
        if name not in params:
            raise UsageRequired(name)
        return params[name]
    if op == "lookup":
        assert node.key is not None and node.values is not None  # checked when the rules were read
        text = key_text(evaluate(node.key, params))
        if text not in node.values:
            raise PricingRuleError(f"no published price for {describe(node.key)} = {text}")
        return Fraction(node.values[text])
    if op == "if":
        return evaluate(args[1], params) if truth(evaluate(args[0], params)) else evaluate(args[2], params)
    if op == "and":
        return all(truth(evaluate(arg, params)) for arg in args)
    if op == "or":
        return any(truth(evaluate(arg, params)) for arg in args)
    if op == "not":
        return not truth(evaluate(args[0], params))
    if op in ("eq", "neq"):
        equal = _equal(evaluate(args[0], params), evaluate(args[1], params))
        return equal if op == "eq" else not equal
    numbers = [number(evaluate(arg, params)) for arg in args]
    if op == "lt":
        return numbers[0] < numbers[1]
    if op == "lte":
        return numbers[0] <= numbers[1]
    if op == "gt":
        return numbers[0] > numbers[1]
    if op == "gte":
        return numbers[0] >= numbers[1]
    if op == "add":
        return sum(numbers, Fraction(0))
    if op == "multiply":
        return math.prod(numbers, start=Fraction(1))
    if op == "subtract":
        return numbers[0] - numbers[1]
    if op == "divide":
        if numbers[1] == 0:
            raise PricingRuleError("the rule divides by zero")
        return numbers[0] / numbers[1]
    if op == "min":
        return min(numbers)
    if op == "max":
        return max(numbers)
    if op == "clamp":
        amount, low, high = numbers
        if low > high:
            raise PricingRuleError("clamp bounds are reversed")
        return low if amount < low else high if amount > high else amount
    if op == "ceil":
        return Fraction(math.ceil(numbers[0]))
    if op == "floor":
        return Fraction(math.floor(numbers[0]))
    raise PricingRuleError(f"unsupported expression op {op!r}")


def number(value: Value) -> Fraction:
    """A number: a Fraction as is, a plain decimal string exactly; anything else is a rule error."""
    if isinstance(value, Fraction):
        return value
    if isinstance(value, str) and len(value) <= 128 and SIGNED_DECIMAL.fullmatch(value):
        return Fraction(value)
    raise PricingRuleError(f"the rule needs a number, got {value!r}")


def truth(value: Value) -> bool:
    if not isinstance(value, bool):
        raise PricingRuleError(f"the rule needs a boolean condition, got {value!r}")
    return value


def key_text(value: Value) -> str:
    """How a lookup key reads: ``5``, ``3/2``, ``true``, or the string itself."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Fraction):
        return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"
    return value


def round_to_integer(value: Fraction, mode: str) -> Fraction:
    """``floor``, ``ceil``, or ``half_up`` (halves away from zero), exactly."""
    if mode == "floor":
        return Fraction(math.floor(value))
    if mode == "ceil":
        return Fraction(math.ceil(value))
    if mode == "half_up":
        magnitude = math.floor(abs(value) + Fraction(1, 2))
        return Fraction(magnitude if value >= 0 else -magnitude)
    raise PricingRuleError(f"unsupported rounding mode {mode!r}")


def describe(node: Expression) -> str:
    """A short reading of a condition for people: ``quality = 720p and sound = on``."""
    op = node.op
    args = node.args or ()
    if op == "constant":
        return str(node.value)
    if op == "variable":
        return str(node.name)
    if op == "lookup":
        return f"price by {describe(node.key)}" if node.key is not None else "lookup"
    symbols = {"eq": "=", "neq": "!=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
    if op in symbols:
        return f"{describe(args[0])} {symbols[op]} {describe(args[1])}"
    if op in ("and", "or"):
        return f" {op} ".join(_grouped(arg) for arg in args)
    if op == "not":
        return f"not {_grouped(args[0])}"
    return f"{op}({', '.join(describe(arg) for arg in args)})"


def _grouped(node: Expression) -> str:
    text = describe(node)
    return f"({text})" if node.op in ("and", "or") else text


def _equal(left: Value, right: Value) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return left is right
    if isinstance(left, Fraction) or isinstance(right, Fraction):
        return number(left) == number(right)
    if _NUMBER_LIKE.fullmatch(left) and _NUMBER_LIKE.fullmatch(right):
        return number(left) == number(right)
    return left == right


def exact_text(value: Fraction) -> str:
    """A quantity for people and XCom: ``5``, ``2.5``, or ``10/3`` when no decimal is exact."""
    if value.denominator == 1:
        return str(value.numerator)
    denominator = value.denominator
    for prime in (2, 5):
        while denominator % prime == 0:
            denominator //= prime
    if denominator != 1:
        return f"{value.numerator}/{value.denominator}"
    places = 0
    while (value * 10**places).denominator != 1:
        places += 1
    digits = str(abs(value.numerator) * 10**places // value.denominator).rjust(places + 1, "0")
    sign = "-" if value < 0 else ""
    return f"{sign}{digits[:-places]}.{digits[-places:]}"


def as_any(value: Any) -> Any:
    """Plain JSON for a parameter value (numbers as ints or decimal strings)."""
    if isinstance(value, Fraction):
        return int(value) if value.denominator == 1 else exact_text(value)
    return value
