"""From request fields to pricing parameters: names, aliases, counts, defaults and refusals."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest

from airflow_evolink.pricing.defaults import spec_defaults_for
from airflow_evolink.pricing.evaluate import estimate_from_rules
from airflow_evolink.pricing.parameters import ParameterError, prepare_parameters
from tests.unit.pricing.rulebook import MODEL, component, document


def prepared(parameters: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    rules = document(component("1", {"op": "constant", "value": "1"}), parameters=parameters).model
    return prepare_parameters(rules, {"model": MODEL, **fields}).values


def integer(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": "integer", **extra}


def text(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": "string", **extra}


@pytest.mark.parametrize(
    ("declared", "fields", "expected"),
    [
        ([integer("duration_seconds")], {"duration": 8}, {"duration_seconds": Fraction(8)}),
        ([integer("output_seconds")], {"duration": 8}, {"output_seconds": Fraction(8)}),
        ([text("resolution")], {"quality": "1080p"}, {"resolution": "1080p"}),
        ([text("quality")], {"resolution": "1080p"}, {"quality": "1080p"}),
        ([integer("image_count")], {"n": 3}, {"image_count": Fraction(3)}),
        ([integer("video_count")], {"count": 2}, {"video_count": Fraction(2)}),
        ([integer("duration_seconds")], {"duration_seconds": 6}, {"duration_seconds": Fraction(6)}),
        ([integer("duration_seconds")], {"duration": "7"}, {"duration_seconds": Fraction(7)}),
    ],
)
def test_names_and_aliases(
    declared: list[dict[str, Any]], fields: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert prepared(declared, **fields) == expected


def test_an_alias_the_rules_declare_is_a_parameter_of_its_own() -> None:
    values = prepared([text("quality"), text("resolution")], quality="720p", resolution="1280x720")
    assert values == {"quality": "720p", "resolution": "1280x720"}


@pytest.mark.parametrize(
    ("fields", "count"),
    [
        ({"image_urls": ["https://a/1", "https://a/2", "https://a/3"]}, 3),
        ({"image_urls": []}, 0),
        ({"image_start": "https://a/first.png"}, 1),
        ({"image_start": "https://a/first.png", "image_end": "https://a/last.png"}, 2),
        ({"image_url": "https://a/one.png"}, 1),
        ({}, 0),
    ],
)
def test_input_images_are_counted(fields: dict[str, Any], count: int) -> None:
    assert prepared([integer("input_images")], **fields) == {"input_images": Fraction(count)}


def test_declared_frame_parameters_read_whether_the_frame_is_there() -> None:
    declared = [{"name": "image_end", "type": "boolean", "default": False}, integer("image_start", default=0)]
    assert prepared(declared, image_start="https://a/1.png", image_end="https://a/2.png") == {
        "image_end": True,
        "image_start": Fraction(1),
    }
    assert prepared(declared) == {"image_end": False, "image_start": Fraction(0)}


def test_defaults_spec_first_then_the_rule() -> None:
    rules = document(
        component("1"), parameters=[integer("duration_seconds", default=5), text("quality", default="720p")]
    ).model
    assert prepare_parameters(rules, {"model": MODEL}).values == {
        "duration_seconds": Fraction(5),
        "quality": "720p",
    }
    spec = {"duration": 6, "quality": "768p"}
    assert prepare_parameters(rules, {"model": MODEL}, spec_defaults=spec).values == {
        "duration_seconds": Fraction(6),
        "quality": "768p",
    }
    assert prepare_parameters(rules, {"model": MODEL, "duration": 10}, spec_defaults=spec).values[
        "duration_seconds"
    ] == Fraction(10)


def test_the_spec_defaults_table_names_its_models() -> None:
    assert spec_defaults_for("MiniMax-Hailuo-02") == {"duration": 6, "quality": "768p"}
    assert spec_defaults_for("veo-3.1-generate-preview") == {"duration": 4}
    assert spec_defaults_for("kling-v3-image-to-video") == {}


def test_a_parameter_without_any_value_is_left_out_unless_required() -> None:
    assert prepared([text("style")]) == {}
    doc = document(component("1"), parameters=[integer("duration_seconds"), text("style", required=True)])
    estimate = estimate_from_rules(doc, {"model": MODEL, "duration": 5})
    assert estimate.status == "unavailable" and "style is required" in str(estimate.reason)


def test_sound_on_off_reads_as_a_boolean_where_the_rules_say_boolean() -> None:
    declared = [{"name": "sound", "type": "boolean", "default": False}]
    assert prepared(declared, sound="on") == {"sound": True}
    assert prepared(declared, sound="off") == {"sound": False}
    assert prepared(declared, sound=True) == {"sound": True}


@pytest.mark.parametrize(
    ("declared", "fields", "words"),
    [
        (
            [integer("duration_seconds", minimum="3", maximum="15")],
            {"duration": 20},
            "above the published maximum",
        ),
        ([integer("duration_seconds", minimum="3")], {"duration": 2}, "below the published minimum"),
        ([integer("duration_seconds")], {"duration": 2.5}, "must be an integer"),
        ([integer("duration_seconds")], {"duration": True}, "must be a number"),
        ([integer("duration_seconds")], {"duration": "five"}, "must be a number"),
        ([text("quality", enum=["720p", "1080p"])], {"quality": "8k"}, "not a published value"),
        ([integer("duration_seconds", values=[5, 10])], {"duration": 7}, "not a published value"),
        ([{"name": "sound", "type": "boolean"}], {"sound": "loud"}, "must be a boolean"),
        ([integer("duration_seconds")], {"duration": 5, "duration_seconds": 6}, "two different values"),
        ([text("quality")], {"quality": ["720p"]}, "single value"),
    ],
)
def test_values_the_rules_do_not_price_are_refused(
    declared: list[dict[str, Any]], fields: dict[str, Any], words: str
) -> None:
    with pytest.raises(ParameterError, match=words):
        prepared(declared, **fields)


def test_enum_membership_is_type_aware() -> None:
    assert prepared([integer("duration_seconds", values=[5, 10])], duration=10) == {
        "duration_seconds": Fraction(10)
    }
    assert prepared([integer("duration_seconds", values=["5", "10"])], duration=5) == {
        "duration_seconds": Fraction(5)
    }
    with pytest.raises(ParameterError):
        prepared([{"name": "flag", "type": "string", "enum": [True]}], flag="1")


def test_usage_fills_measured_parameters_and_must_agree_with_the_request() -> None:
    rules = document(component("1"), parameters=[integer("duration_seconds"), integer("input_seconds")]).model
    values = prepare_parameters(rules, {"model": MODEL, "duration": 5}, usage={"input_seconds": 12}).values
    assert values["input_seconds"] == Fraction(12)
    with pytest.raises(ParameterError, match="differs"):
        prepare_parameters(rules, {"model": MODEL, "duration": 5}, usage={"duration_seconds": 6})
    with pytest.raises(ParameterError, match="declare no parameter"):
        prepare_parameters(rules, {"model": MODEL}, usage={"output_tokens": 1})


def test_a_measured_parameter_with_a_default_uses_it_unless_there_is_an_input_video() -> None:
    rules = document(
        component("1", {"op": "variable", "name": "input_seconds"}),
        parameters=[integer("input_seconds", default=0)],
    ).model
    assert prepare_parameters(rules, {"model": MODEL}).values == {"input_seconds": Fraction(0)}
    with_video = prepare_parameters(rules, {"model": MODEL, "video_urls": ["https://a/v.mp4"]})
    assert with_video.values == {} and with_video.missing == {"input_seconds"}


@pytest.mark.parametrize("bound", ["abc", "1e3", "inf", "", " 5", "+5", "1."])
def test_a_parameter_bound_that_is_not_a_decimal_makes_the_rules_malformed(bound: str) -> None:
    from airflow_evolink.pricing.rules import RulesError, parse_rules
    from tests.unit.pricing.rulebook import MODEL, body

    for key in ("minimum", "maximum"):
        with pytest.raises(RulesError, match="signed decimal"):
            parse_rules(body(parameters=[{"name": "duration_seconds", "type": "integer", key: bound}]), MODEL)
    negative = parse_rules(
        body(parameters=[{"name": "duration_seconds", "type": "integer", "minimum": "-1"}]), MODEL
    )
    assert negative.model.parameters[0].minimum == "-1"


@pytest.mark.parametrize("value", [float("inf"), float("-inf")])
def test_a_non_finite_number_is_a_parameter_error(value: float) -> None:
    from airflow_evolink.pricing.evaluate import estimate_from_rules
    from tests.unit.pricing.rulebook import MODEL, document

    estimate = estimate_from_rules(document(), {"model": MODEL, "duration": value})
    assert estimate.status == "unavailable" and "finite number" in str(estimate.reason)
