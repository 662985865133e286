"""Evaluating published rules: tiers, rounding points and modes, minimum charge, partial and unavailable."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_evolink.pricing.evaluate import estimate_from_rules
from airflow_evolink.pricing.rules import RulesError, parse_rules
from tests.unit.pricing.rulebook import MODEL, SECONDS, body, component, const, document, op, tier, var

QUALITY = {"name": "quality", "type": "string", "default": "720p", "enum": ["720p", "1080p", "4k"]}
SOUND = {"name": "sound", "type": "string", "default": "off", "enum": ["on", "off"]}


def price(doc: Any, **fields: Any) -> Any:
    return estimate_from_rules(doc, {"model": MODEL, **fields})


def tiered(**kwargs: Any) -> Any:
    tiers = [
        tier(
            "720p-on",
            "81000",
            op("and", op("eq", var("quality"), const("720p")), op("eq", var("sound"), const("on"))),
            "1.5",
        ),
        tier("1080p", "71982", op("eq", var("quality"), const("1080p")), "1.333"),
        tier(
            "1080p-on",
            "108000",
            op("and", op("eq", var("quality"), const("1080p")), op("eq", var("sound"), const("on"))),
            "2",
        ),
    ]
    return document(component("54000", tiers=tiers, **kwargs), parameters=[SECONDS, QUALITY, SOUND])


def test_no_tier_matches_so_the_component_rate_applies() -> None:
    estimate = price(tiered(), duration=5)
    assert (estimate.status, estimate.uc) == ("estimated", 270_000)
    assert estimate.components[0].tier is None and estimate.components[0].rate_uc == "54000"


def test_the_one_matching_tier_gives_the_rate_and_names_itself() -> None:
    estimate = price(tiered(), duration=5, quality="720p", sound="on")
    (line,) = estimate.components
    assert estimate.uc == 405_000 and line.rate_uc == "81000" and line.sku_id == "720p-on"
    assert line.tier == "quality = 720p and sound = on [720p-on]"
    assert "405,000 UC" in estimate.describe() and "40.5 credits" in estimate.describe()


def test_two_matching_tiers_mean_no_published_price() -> None:
    estimate = price(tiered(), duration=5, quality="1080p", sound="on")  # "1080p" and "1080p-on" both hold
    assert (estimate.status, estimate.uc) == ("unavailable", None)
    assert "more than one pricing tier" in str(estimate.reason)


def test_an_unavailable_tier_makes_the_estimate_unavailable() -> None:
    dead = tier("4k", "200000", op("eq", var("quality"), const("4k")))
    dead["pricing_status"] = "unavailable"
    doc = document(component("54000", tiers=[dead]), parameters=[SECONDS, QUALITY])
    assert price(doc, duration=5, quality="720p").uc == 270_000
    assert "unavailable" in str(price(doc, duration=5, quality="4k").reason)


# (point, mode, expected UC) for 5 units at 7,350.5 UC; and with a tier of multiplier 1.5 (rate 11,025.75).
@pytest.mark.parametrize(
    ("point", "mode", "expected"),
    [
        ("per_component_subtotal", "half_up", 36_753),  # 36,752.5 -> 36,753
        ("per_component_subtotal", "ceil", 36_753),
        ("per_component_subtotal", "floor", 36_752),
        ("per_tier", "half_up", 36_755),  # rate 7,350.5 -> 7,351, x 5
        ("per_tier", "ceil", 36_755),
        ("per_tier", "floor", 36_750),  # rate 7,350.5 -> 7,350, x 5
    ],
)
def test_rounding_points_and_modes(point: str, mode: str, expected: int) -> None:
    doc = document(component("7350.5", point=point, mode=mode))
    estimate = price(doc, duration=5)
    assert estimate.uc == expected and estimate.components[0].rounding == f"{point} {mode}"


@pytest.mark.parametrize(("mode", "blocks"), [("ceil", 2), ("floor", 1), ("half_up", 1)])
def test_per_quantity_rounds_the_billed_quantity(mode: str, blocks: int) -> None:
    quantity = op("divide", var("duration_seconds"), const("4"))  # 5 s -> 1.25 blocks
    doc = document(component("40000", quantity, point="per_quantity", mode=mode))
    estimate = price(doc, duration=5)
    assert estimate.uc == blocks * 40_000 and estimate.components[0].quantity == "1.25"


def test_per_quantity_with_a_tier_multiplier_rounds_quantity_x_multiplier_and_undoes_it_in_the_rate() -> None:
    # 5 s x 1.5 = 7.5 billed units -> ceil 8, each at 81,000 / 1.5 = 54,000 UC: the multiplier counts once.
    when = op("eq", var("quality"), const("720p"))
    doc = document(
        component("54000", point="per_quantity", mode="ceil", tiers=[tier("sound", "81000", when, "1.5")]),
        parameters=[SECONDS, QUALITY],
    )
    assert price(doc, duration=5).uc == 432_000


def test_half_up_at_exactly_half_a_uc() -> None:
    doc = document(component("0.5", point="per_component_subtotal", mode="half_up"))
    assert [price(doc, duration=seconds).uc for seconds in (1, 3, 4)] == [1, 2, 2]


def test_minimum_charge_of_the_component_and_of_its_tier() -> None:
    doc = document(
        component(
            "10000",
            minimum="50000",
            tiers=[tier("hd", "20000", op("eq", var("quality"), const("1080p")), "2", minimum="150000")],
        ),
        parameters=[SECONDS, QUALITY],
    )
    low = price(doc, duration=3)
    assert (low.uc, low.components[0].minimum_applied) == (50_000, True)
    assert "minimum charge" in low.describe()
    assert (price(doc, duration=6).uc, price(doc, duration=6).components[0].minimum_applied) == (
        60_000,
        False,
    )
    assert price(doc, duration=5, quality="1080p").uc == 150_000  # the tier's own minimum
    assert price(doc, duration=8, quality="1080p").uc == 160_000


def test_a_charge_that_is_not_a_whole_uc_is_refused() -> None:
    doc = document(component("0.5", point="per_tier", mode="floor"))  # rate floors to 0: fine
    assert price(doc, duration=3).uc == 0
    fractional = document(component("7350.5", point="per_quantity", mode="ceil"))  # 5 x 7,350.5
    estimate = price(fractional, duration=5)
    assert estimate.status == "unavailable" and "not a whole number of UC" in str(estimate.reason)


def test_a_negative_quantity_is_refused() -> None:
    doc = document(component("100", op("subtract", var("duration_seconds"), const("10"))))
    assert "negative quantity" in str(price(doc, duration=5).reason)


def test_components_add_up_and_a_false_condition_skips_one() -> None:
    images = {"name": "input_images", "type": "integer", "default": 0}
    doc = document(
        component("1000"),
        component(
            "2500",
            var("input_images"),
            id="input_images",
            unit="image",
            condition=op("gt", var("input_images"), const("0")),
        ),
        parameters=[SECONDS, images],
    )
    with_images = price(doc, duration=5, image_urls=["https://a/1.png", "https://a/2.png"])
    without = price(doc, duration=5)
    assert with_images.uc == 5_000 + 5_000 and [c.id for c in with_images.components] == [
        "output_seconds",
        "input_images",
    ]
    assert without.uc == 5_000 and len(without.components) == 1


def test_a_lookup_gives_a_price_table_by_duration() -> None:
    table = {"op": "lookup", "key": var("duration_seconds"), "values": {"4": "4", "8": "7", "12": "10"}}
    doc = document(component("20000", table, unit="billed_second"))
    assert [price(doc, duration=s).uc for s in (4, 8, 12)] == [80_000, 140_000, 200_000]
    assert "no published price for duration_seconds = 6" in str(price(doc, duration=6).reason)


def test_the_estimate_carries_settlement_policy_and_freshness() -> None:
    estimate = price(document(component("1000")), duration=2)
    assert (estimate.settlement_basis, estimate.policy_version) == ("request_only", "3")
    assert estimate.fresh_until == "2099-01-01T00:00:00Z"
    again = type(estimate).from_xcom(estimate.to_xcom())
    assert again == estimate


# ---- partial ------------------------------------------------------------------------------------------
def test_measured_usage_unknown_before_the_run_makes_a_partial_lower_bound() -> None:
    tokens = {"name": "input_tokens", "type": "integer"}
    doc = document(
        component("1000"),
        component("3", var("input_tokens"), id="tokens", unit="token"),
        parameters=[SECONDS, tokens],
    )
    estimate = price(doc, duration=5)
    assert (estimate.status, estimate.uc) == ("partial", 5_000)
    assert "measured usage not known before the run: input_tokens" in str(estimate.reason)
    known = estimate_from_rules(doc, {"model": MODEL, "duration": 5}, usage={"input_tokens": 100})
    assert (known.status, known.uc) == ("estimated", 5_300)


def test_smart_duration_is_partial() -> None:
    duration = {"name": "duration", "type": "integer", "values": [-1, 5, 10]}
    doc = document(component("1000"), parameters=[SECONDS, duration])
    estimate = price(doc, duration=-1)
    # Billed only per second, nothing is priced before the run: no figure rather than a 0 lower bound.
    assert estimate.status == "unavailable" and "smart duration" in str(estimate.reason)
    assert "needs measured usage" in str(estimate.reason)
    assert price(doc, duration=10).uc == 10_000  # an explicit length is priced normally
    plain = price(document(component("1000")), duration=-1)  # rules that declare only duration_seconds
    assert plain.status == "unavailable" and "smart duration" in str(plain.reason)
    fee = component("500", const("1"), id="fee", unit="request")
    with_fee = price(document(component("1000"), fee), duration=-1)  # something priced: a lower bound
    assert (with_fee.status, with_fee.uc) == ("partial", 500) and "smart duration" in str(with_fee.reason)


@pytest.mark.parametrize(
    "model",
    [
        "wan2.5-text-to-video",
        "wan2.6-image-to-video",
        "wan3.0-prime-reference-video",
        "veo-3.1-generate-preview",
        "veo-3.1-fast-generate-preview",
    ],
)
def test_models_evolinks_client_marks_partial(model: str) -> None:
    doc = document(component("1000"), model=model)
    estimate = estimate_from_rules(doc, {"model": model, "duration": 5})
    assert (estimate.status, estimate.uc) == ("partial", 5_000)
    assert "marks this model partial" in str(estimate.reason)


def test_a_per_second_model_with_an_input_video_is_partial() -> None:
    estimate = price(document(component("1000")), duration=5, video_urls=["https://a/in.mp4"])
    assert estimate.status == "partial" and "input video" in str(estimate.reason)
    per_request = document(component("1000", const("1"), unit="request"))
    assert price(per_request, video_urls=["https://a/in.mp4"]).status == "estimated"


# ---- unavailable --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"pricing_status": "unavailable"}, "pricing_status unavailable"),
        ({"policy_source": "legacy_text_adapter"}, "not a published one"),
        ({"modality": "image"}, "not a video model"),
    ],
)
def test_rules_that_publish_no_price_are_unavailable(fields: dict[str, Any], words: str) -> None:
    data = body(component("1000"), **fields)
    estimate = price(parse_rules(data, MODEL), duration=5)
    assert (estimate.status, estimate.uc) == ("unavailable", None) and words in str(estimate.reason)


def _bad_money() -> dict[str, Any]:
    data = body(component("1000"))
    data["model"]["components"][0]["rate"]["credits"] = "1"  # 1000 UC is 0.1 credits
    return data


def _strip(path: tuple[str, ...]) -> dict[str, Any]:
    data = body(component("1000", tiers=[tier("t", "2", op("eq", var("duration_seconds"), const("9")))]))
    target: Any = data
    for key in path[:-1]:
        target = target[key] if not key.isdigit() else target[int(key)]
    del target[path[-1]]
    return data


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (_bad_money(), "same amount"),
        (body(component("1000", mode="banker")), "rounding mode"),
        (body(component("1000", point="per_day")), "rounding point"),
        (body(component("1000"), component("5")), "appears twice"),
        (_strip(("model", "components", "0", "quantity_rule")), "no quantity_rule"),
        (_strip(("model", "components", "0", "tiers", "0", "when")), "no condition"),
        (body(component("1000", var("undeclared"))), "not a declared parameter"),
        (body(component("1000", {"op": "power", "args": []})), "unsupported expression op"),
        ({**body(component("1000")), "meta": {**body()["meta"], "schema_version": "1"}}, "schema_version"),
        ({**body(component("1000")), "meta": {**body()["meta"], "currency": "EUR"}}, "currency"),
        ({"meta": body()["meta"]}, "model"),
        ([], "body"),
    ],
)
def test_malformed_rules_are_refused_when_read(data: Any, words: str) -> None:
    with pytest.raises(RulesError, match=words):
        parse_rules(data, MODEL)


def test_rules_for_another_model_are_refused() -> None:
    with pytest.raises(RulesError, match="not 'other-model'"):
        parse_rules(body(component("1000")), "other-model")


@pytest.mark.parametrize("basis", ["actual_usage", "request_then_actual"])
def test_a_model_settled_on_actual_usage_is_never_an_exact_estimate(basis: str) -> None:
    estimate = price(document(component("1000"), settlement_basis=basis), duration=5)
    assert (estimate.status, estimate.uc) == ("partial", 5_000)
    assert "final charge is settled on actual usage" in str(estimate.reason) and basis in str(estimate.reason)
    assert price(document(component("1000")), duration=5).status == "estimated"  # request_only


def test_nothing_priced_before_the_run_is_unavailable_not_a_zero_lower_bound() -> None:
    tokens = {"name": "input_tokens", "type": "integer"}
    doc = document(component("3", var("input_tokens"), id="tokens", unit="token"), parameters=[tokens])
    estimate = price(doc)
    assert (estimate.status, estimate.uc) == ("unavailable", None)
    assert "needs measured usage" in str(estimate.reason) and "input_tokens" in str(estimate.reason)


@pytest.mark.parametrize("field", ["duration", "duration_seconds", "output_seconds"])
def test_smart_duration_under_any_name_is_partial_when_the_rules_do_not_bill_seconds(field: str) -> None:
    # The rules price per request and read the duration only as a choice: -1 still means the model picks.
    duration = {"name": "duration", "type": "integer", "values": [-1, 5, 10]}
    doc = document(component("1000", const("1"), unit="request"), parameters=[duration])
    estimate = price(doc, **{field: -1})
    assert estimate.status == "partial" and "smart duration" in str(estimate.reason)
    assert price(doc, duration=5).status == "estimated"
