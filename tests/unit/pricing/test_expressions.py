"""Every expression op, exactly, and the checks that refuse a malformed tree."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest

from airflow_evolink.pricing.expressions import (
    Expression,
    PricingRuleError,
    UsageRequired,
    check_expression,
    describe,
    evaluate,
    exact_text,
    round_to_integer,
)
from tests.unit.pricing.rulebook import const, op, var

PARAMS: dict[str, Any] = {
    "seconds": Fraction(5),
    "rate": Fraction("7350.5"),
    "quality": "720p",
    "sound": True,
    "text_number": "2.5",
}


def run(tree: dict[str, Any], params: dict[str, Any] | None = None) -> Any:
    node = Expression.model_validate(tree)
    check_expression(node, set(PARAMS) | set(params or {}))
    return evaluate(node, params if params is not None else PARAMS)


@pytest.mark.parametrize(
    ("tree", "expected"),
    [
        (const("12.25"), "12.25"),
        (const("true"), True),
        (const("false"), False),
        (var("seconds"), Fraction(5)),
        (var("quality"), "720p"),
        (op("add", var("seconds"), const("0.5"), const("1")), Fraction("6.5")),
        (op("multiply", var("seconds"), var("rate")), Fraction("36752.5")),
        (op("subtract", const("1"), var("seconds")), Fraction(-4)),
        (op("divide", const("1"), const("3")), Fraction(1, 3)),
        (op("multiply", op("divide", const("1"), const("3")), const("3")), Fraction(1)),  # exact, not 0.999
        (op("min", const("3"), var("seconds"), const("4")), Fraction(3)),
        (op("max", const("3"), var("seconds"), const("4")), Fraction(5)),
        (op("clamp", const("20"), const("3"), const("15")), Fraction(15)),
        (op("clamp", const("1"), const("3"), const("15")), Fraction(3)),
        (op("clamp", const("7"), const("3"), const("15")), Fraction(7)),
        (op("ceil", const("1.25")), Fraction(2)),
        (op("ceil", const("-1.25")), Fraction(-1)),
        (op("floor", const("1.75")), Fraction(1)),
        (op("floor", const("-1.25")), Fraction(-2)),
        (op("if", op("gt", var("seconds"), const("4")), const("10"), const("20")), "10"),
        (op("if", op("lt", var("seconds"), const("4")), const("10"), const("20")), "20"),
        (op("eq", var("quality"), const("720p")), True),
        (op("eq", var("seconds"), const("5.0")), True),  # numbers compare by value
        (op("eq", var("text_number"), const("2.50")), True),  # two numeric strings: by value
        (op("eq", var("sound"), const("true")), True),
        (op("eq", var("sound"), const("1")), False),  # a boolean equals only a boolean
        (op("neq", var("quality"), const("1080p")), True),
        (op("lt", const("1"), const("2")), True),
        (op("lte", const("2"), const("2")), True),
        (op("gt", const("2"), const("2")), False),
        (op("gte", const("2"), const("2")), True),
        (op("and", op("eq", var("quality"), const("720p")), var("sound")), True),
        (op("and", var("sound"), const("false")), False),
        (op("or", const("false"), var("sound")), True),
        (op("or", const("false"), const("false")), False),
        (op("not", var("sound")), False),
        ({"op": "lookup", "key": var("seconds"), "values": {"5": "42", "10": "80"}}, Fraction(42)),
        ({"op": "lookup", "key": var("quality"), "values": {"720p": "1.5"}}, Fraction("1.5")),
        ({"op": "lookup", "key": var("sound"), "values": {"true": "2", "false": "1"}}, Fraction(2)),
        ({"op": "lookup", "key": op("divide", const("3"), const("2")), "values": {"3/2": "7"}}, Fraction(7)),
    ],
)
def test_every_op(tree: dict[str, Any], expected: Any) -> None:
    result = run(tree)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(
    ("tree", "words"),
    [
        (op("divide", const("1"), const("0")), "divides by zero"),
        (op("clamp", const("5"), const("9"), const("3")), "clamp bounds"),
        (op("add", var("quality"), const("1")), "needs a number"),
        (op("if", const("1"), const("2"), const("3")), "boolean condition"),
        (op("eq", const("05"), const("5")), "needs a number"),  # looks numeric, is no plain decimal
        (op("and", var("seconds"), const("true")), "boolean condition"),
        ({"op": "lookup", "key": var("seconds"), "values": {"10": "1"}}, "no published price"),
    ],
)
def test_a_rule_that_cannot_price_the_request_says_why(tree: dict[str, Any], words: str) -> None:
    with pytest.raises(PricingRuleError, match=words):
        run(tree)


def test_a_variable_without_a_value_is_usage_required() -> None:
    node = Expression.model_validate(var("input_tokens"))
    with pytest.raises(UsageRequired) as raised:
        evaluate(node, {})
    assert raised.value.name == "input_tokens"


@pytest.mark.parametrize(
    ("tree", "words"),
    [
        ({"op": "power", "args": [const("2"), const("3")]}, "unsupported expression op"),
        (op("add", const("1")), "takes 2 to 32 args"),
        (op("not", const("true"), const("false")), "takes 1 to 1"),
        ({"op": "constant"}, "no value"),
        (var("undeclared"), "not a declared parameter"),
        ({"op": "lookup", "key": var("seconds")}, "key and a values table"),
        ({"op": "lookup", "key": var("nope"), "values": {"1": "1"}}, "not a declared"),
    ],
)
def test_malformed_trees_are_refused_when_read(tree: dict[str, Any], words: str) -> None:
    with pytest.raises(PricingRuleError, match=words):
        check_expression(Expression.model_validate(tree), {"seconds"})


def test_depth_is_bounded() -> None:
    tree: dict[str, Any] = const("1")
    for _ in range(40):
        tree = op("ceil", tree)
    with pytest.raises(PricingRuleError, match="too deep"):
        check_expression(Expression.model_validate(tree), set())


@pytest.mark.parametrize(
    ("value", "mode", "expected"),
    [
        ("2.5", "half_up", 3),
        ("2.4999", "half_up", 2),
        ("-2.5", "half_up", -3),  # halves away from zero
        ("2.0001", "ceil", 3),
        ("2", "ceil", 2),
        ("2.9999", "floor", 2),
    ],
)
def test_rounding_modes(value: str, mode: str, expected: int) -> None:
    assert round_to_integer(Fraction(value), mode) == expected


def test_texts_for_people() -> None:
    when = Expression.model_validate(
        op("and", op("eq", var("quality"), const("1080p")), op("not", op("eq", var("sound"), const("on"))))
    )
    assert describe(when) == "quality = 1080p and not sound = on"
    assert [exact_text(Fraction(v)) for v in ("5", "1.25", "-0.05", "10/3")] == ["5", "1.25", "-0.05", "10/3"]
