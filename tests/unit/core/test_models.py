"""Request models per family: each documented range, pass-through of unknown models, and the payload.

Every rejection must be an :class:`EvolinkValidationError` whose ``field`` is the offending field and whose
message names that field and the broken rule, so a DAG author can fix the input without reading code.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_evolink.core.errors import EvolinkValidationError
from airflow_evolink.core.models import (
    HailuoVideoRequest,
    HappyHorseVideoRequest,
    KlingVideoRequest,
    PassThroughVideoRequest,
    SeedanceVideoRequest,
    SoraVideoRequest,
    VeoVideoRequest,
    WanVideoRequest,
    build_video_request,
    request_class_for,
)

IMG = "https://example.com/frame.png"
IMG2 = "https://cdn.example.org/last.jpg"
KLING_I2V = {"model": "kling-v3-image-to-video", "image_start": IMG}
KLING_T2V = {"model": "kling-v3-text-to-video"}


def images(count: int) -> list[str]:
    return [f"https://example.com/{index}.png" for index in range(count)]


def rejects(fields: dict[str, Any], field: str, *rule_words: str) -> EvolinkValidationError:
    """Assert ``fields`` is rejected for ``field``, with the field and the rule's words in the message."""
    with pytest.raises(EvolinkValidationError) as info:
        build_video_request(fields)
    error = info.value
    assert error.field == field, f"expected field {field!r}, got {error.field!r}: {error}"
    message = str(error)
    assert f"'{field}'" in message
    for word in rule_words:
        assert word in message, f"{word!r} missing from {message!r}"
    return error


def accepts(fields: dict[str, Any]) -> dict[str, Any]:
    return build_video_request(fields).payload()


# ---- family selection ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "cls"),
    [
        ("kling-v3-image-to-video", KlingVideoRequest),
        ("kling-o3-text-to-video", KlingVideoRequest),
        ("kling-o1-image-to-video", KlingVideoRequest),
        ("kling-o3-reference-to-video", KlingVideoRequest),
        ("kling-v3-turbo-image-to-video", KlingVideoRequest),
        ("kling-o3-video-edit", PassThroughVideoRequest),
        ("kling-custom-element", PassThroughVideoRequest),
        ("kling-v9-image-to-video", PassThroughVideoRequest),
        ("seedance-2.0-image-to-video", SeedanceVideoRequest),
        ("seedance-2.5-reference-to-video", SeedanceVideoRequest),
        ("seedance-2.5-video-edit", PassThroughVideoRequest),
        ("doubao-seedance-1.0-pro-fast", SeedanceVideoRequest),
        ("seedance-1.5-pro", SeedanceVideoRequest),
        ("wan2.6-image-to-video", WanVideoRequest),
        ("wan3.0-prime-reference-video", WanVideoRequest),
        ("wan2.5-i2v-preview", PassThroughVideoRequest),
        ("veo-3.1-generate-preview", VeoVideoRequest),
        ("veo3.1-fast", PassThroughVideoRequest),
        ("sora-2-preview", SoraVideoRequest),
        ("sora-2-pro-preview", SoraVideoRequest),
        ("sora-2", PassThroughVideoRequest),
        ("sora-character", PassThroughVideoRequest),
        ("MiniMax-Hailuo-2.3", HailuoVideoRequest),
        ("happyhorse-1.1-image-to-video", HappyHorseVideoRequest),
        ("grok-imagine-text-to-video", PassThroughVideoRequest),
        ("brand-new-model-v9", PassThroughVideoRequest),
    ],
)
def test_request_class_for_picks_the_family(model, cls):
    assert request_class_for(model) is cls


@pytest.mark.parametrize("model", [None, "", "   ", 5, ["kling-v3-text-to-video"]])
def test_model_is_required_and_a_non_empty_string(model):
    fields = {} if model is None else {"model": model}
    rejects(fields, "model", "required", "non-empty string")


# ---- the requests the API accepts that an older table refused ----------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        # spec 79a6b56a: quality 4k on Kling v3 / o3 and the Veo 3.1 previews
        {**KLING_I2V, "quality": "4k"},
        {"model": "kling-o3-image-to-video", "prompt": "p", "image_start": IMG, "quality": "4k"},
        {"model": "kling-o3-text-to-video", "prompt": "p", "quality": "4k"},
        {"model": "veo-3.1-generate-preview", "prompt": "p", "quality": "4k"},
        {"model": "veo-3.1-fast-generate-preview", "prompt": "p", "quality": "4k"},
        # kling-o1 takes its frames in image_urls (1 or 2), duration 5 or 10, prompt up to 5000
        {"model": "kling-o1-image-to-video", "prompt": "o" * 5000, "image_urls": [IMG], "duration": 10},
        {"model": "kling-o1-image-to-video", "prompt": "p", "image_urls": [IMG, IMG2], "duration": 5},
        # wan2.6 image-to-video and text-to-video: any integer 2..15
        {"model": "wan2.6-image-to-video", "prompt": "p", "image_urls": [IMG], "duration": 7},
        {"model": "wan2.6-text-to-video", "prompt": "p", "duration": 2},
        # seedance-2.5 reference-to-video: up to 30 images, duration 4..30 or -1
        {"model": "seedance-2.5-reference-to-video", "prompt": "p", "image_urls": images(30), "duration": -1},
        {"model": "seedance-2.5-reference-to-video", "prompt": "p", "image_urls": images(3), "duration": 30},
        # wan2.5 text-to-video: its 2000 limit is counted in tokens; 480p is documented
        {"model": "wan2.5-text-to-video", "prompt": "w" * 1800, "quality": "480p"},
    ],
)
def test_known_wrong_refusals_are_now_accepted_untouched(fields):
    assert accepts(fields) == fields


# ---- Kling -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["kling-v3-image-to-video", "kling-v3-turbo-image-to-video"])
@pytest.mark.parametrize("image_start", [None, ""])
def test_kling_v3_image_to_video_requires_image_start(model, image_start):
    error = rejects({"model": model, "image_start": image_start}, "image_start", "required", "first frame")
    assert error.model == model
    assert model in str(error)


def test_kling_o3_image_to_video_does_not_require_image_start():
    # spec 79a6b56a: only prompt is required; image_urls alone are style references.
    fields = {"model": "kling-o3-image-to-video", "prompt": "p", "image_urls": [IMG]}
    assert accepts(fields) == fields


def test_kling_text_to_video_needs_no_image():
    assert accepts(KLING_T2V) == KLING_T2V


def test_kling_image_end_needs_image_start():
    rejects({"model": "kling-o3-image-to-video", "image_end": IMG2}, "image_end", "image_start")
    rejects({"model": "kling-v3-image-to-video", "image_end": IMG2}, "image_start", "required")


def test_kling_first_and_last_frame_accepted():
    fields = {**KLING_I2V, "image_end": IMG2}
    assert accepts(fields) == fields


@pytest.mark.parametrize("duration", [3, 4, 10, 15])
def test_kling_duration_in_range(duration):
    assert accepts({**KLING_I2V, "duration": duration})["duration"] == duration


@pytest.mark.parametrize("duration", [-1, 0, 2, 16, 60, 10**12])
def test_kling_duration_out_of_range(duration):
    error = rejects({**KLING_I2V, "duration": duration}, "duration", "from 3 to 15")
    assert error.value == duration


@pytest.mark.parametrize("duration", [True, False])
def test_kling_duration_rejects_booleans(duration):
    rejects({**KLING_I2V, "duration": duration}, "duration", "integer", "boolean")


def test_kling_duration_numeric_string_is_coerced():
    payload = accepts({**KLING_I2V, "duration": "5"})
    assert payload["duration"] == 5
    assert type(payload["duration"]) is int


@pytest.mark.parametrize("duration", ["five", "5s", 5.5, [5], {"s": 5}])
def test_kling_duration_rejects_non_integers(duration):
    rejects({**KLING_I2V, "duration": duration}, "duration", "integer")


@pytest.mark.parametrize("aspect", ["16:9", "9:16", "1:1"])
def test_kling_aspect_ratios(aspect):
    assert accepts({**KLING_I2V, "aspect_ratio": aspect})["aspect_ratio"] == aspect


@pytest.mark.parametrize("aspect", ["4:3", "21:9", "16/9", "", "adaptive"])
def test_kling_bad_aspect_ratio(aspect):
    rejects({**KLING_I2V, "aspect_ratio": aspect}, "aspect_ratio", "must be one of 16:9, 9:16, 1:1")


@pytest.mark.parametrize("quality", ["720p", "1080p", "4k"])
def test_kling_qualities(quality):
    assert accepts({**KLING_I2V, "quality": quality})["quality"] == quality


@pytest.mark.parametrize("quality", ["480p", "8k", "4K", "1080P", "pro", ""])
def test_kling_bad_quality(quality):
    rejects({**KLING_I2V, "quality": quality}, "quality", "720p, 1080p, 4k")


@pytest.mark.parametrize("model", ["kling-v3-turbo-text-to-video", "kling-o3-reference-to-video"])
def test_kling_turbo_and_reference_have_no_4k(model):
    assert accepts({"model": model, "prompt": "p", "quality": "1080p"})
    rejects({"model": model, "prompt": "p", "quality": "4k"}, "quality", "720p, 1080p")


def test_kling_o3_reference_duration_3_to_10():
    fields = {"model": "kling-o3-reference-to-video", "prompt": "p", "video_url": IMG, "duration": 10}
    assert accepts(fields) == fields
    rejects({**fields, "duration": 11}, "duration", "from 3 to 10")
    rejects({**fields, "duration": 2}, "duration", "from 3 to 10")


def test_kling_quality_wrong_type():
    rejects({**KLING_I2V, "quality": 1080}, "quality", "string")


@pytest.mark.parametrize(("sound", "sent"), [("on", "on"), ("off", "off"), (True, "on"), (False, "off")])
def test_kling_sound_on_off_and_bool_mapping(sound, sent):
    assert accepts({**KLING_I2V, "sound": sound})["sound"] == sent


@pytest.mark.parametrize("sound", ["yes", "ON", "", "true"])
def test_kling_bad_sound(sound):
    rejects({**KLING_I2V, "sound": sound}, "sound", "on, off")


def test_kling_prompt_limit():
    assert len(accepts({**KLING_I2V, "prompt": "p" * 2500})["prompt"]) == 2500
    rejects({**KLING_I2V, "prompt": "p" * 2501}, "prompt", "at most 2500 characters", "2501")


def test_kling_prompt_wrong_type():
    rejects({**KLING_I2V, "prompt": 42}, "prompt", "string")


def test_kling_o1_image_urls_one_or_two():
    base = {"model": "kling-o1-image-to-video", "prompt": "p"}
    rejects(base, "image_urls", "at least 1")
    rejects({**base, "image_urls": images(3)}, "image_urls", "at most 2", "has 3")
    rejects({**base, "image_urls": [IMG, "ftp://x/y.png"]}, "image_urls[1]", "http")


@pytest.mark.parametrize("duration", [3, 6, 15])
def test_kling_o1_duration_5_or_10(duration):
    fields = {"model": "kling-o1-image-to-video", "prompt": "p", "image_urls": [IMG], "duration": duration}
    rejects(fields, "duration", "one of 5, 10")


def test_kling_o1_prompt_limit_5000():
    fields = {"model": "kling-o1-image-to-video", "image_urls": [IMG], "prompt": "o" * 5001}
    rejects(fields, "prompt", "at most 5000")


def test_kling_o1_quality_is_not_checked():
    # The spec lists no quality for kling-o1; the API decides.
    fields = {"model": "kling-o1-image-to-video", "prompt": "p", "image_urls": [IMG], "quality": "1080p"}
    assert accepts(fields) == fields


def test_kling_o3_takes_image_urls_as_style_references():
    fields = {"model": "kling-o3-image-to-video", "image_start": IMG, "image_urls": [IMG2, IMG]}
    assert accepts(fields) == fields
    rejects({**fields, "image_urls": [IMG2, "ftp://x/y.png"]}, "image_urls[1]", "http")


@pytest.mark.parametrize("field", ["image_start", "image_end"])
@pytest.mark.parametrize(
    "url", ["ftp://example.com/a.png", "example.com/a.png", "/a.png", "https://", "file:///a.png"]
)
def test_kling_frame_urls_must_be_http(field, url):
    fields = {**KLING_I2V, field: url}
    rejects(fields, field, "http:// or https:// URL")


def test_kling_frame_url_wrong_type():
    rejects({**KLING_I2V, "image_start": ["https://example.com/a.png"]}, "image_start", "string")


def test_kling_full_payload_is_exactly_the_fields():
    fields = {
        "model": "kling-v3-image-to-video",
        "prompt": "A cat turns <<<element_1>>>",
        "negative_prompt": "text, watermark",
        "image_start": IMG,
        "image_end": IMG2,
        "duration": 10,
        "aspect_ratio": "9:16",
        "quality": "4k",
        "sound": "on",
        "model_params": {"multi_shot": True, "watermark": None},
        "callback_url": "https://hooks.example.com/evolink?x=1",
    }
    assert accepts(fields) == fields


# ---- Seedance ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("duration", [4, 15])
def test_seedance2_duration_bounds(duration):
    assert accepts({"model": "seedance-2.0-text-to-video", "duration": duration})["duration"] == duration


@pytest.mark.parametrize("duration", [-1, 3, 16])
def test_seedance2_duration_out_of_range(duration):
    rejects({"model": "seedance-2.0-text-to-video", "duration": duration}, "duration", "from 4 to 15")


@pytest.mark.parametrize("aspect", ["16:9", "9:16", "1:1", "4:3", "3:4", "21:9", "adaptive"])
def test_seedance2_aspect_ratios(aspect):
    assert accepts({"model": "seedance-2.0-text-to-video", "aspect_ratio": aspect})["aspect_ratio"] == aspect


@pytest.mark.parametrize("aspect", ["keep_ratio", "2:1"])
def test_seedance2_bad_aspect_ratio(aspect):
    rejects({"model": "seedance-2.0-text-to-video", "aspect_ratio": aspect}, "aspect_ratio", "adaptive")


@pytest.mark.parametrize("quality", ["480p", "720p", "1080p", "4k"])
def test_seedance2_standard_qualities(quality):
    # The doc page lists 480p..1080p, spec 79a6b56a adds 4k: the union is accepted.
    assert accepts({"model": "seedance-2.0-text-to-video", "quality": quality})["quality"] == quality


def test_seedance2_bad_quality():
    rejects({"model": "seedance-2.0-text-to-video", "quality": "2k"}, "quality", "480p, 720p, 1080p, 4k")


@pytest.mark.parametrize("model", ["seedance-2.0-fast-text-to-video", "seedance-2.0-mini-image-to-video"])
@pytest.mark.parametrize("quality", ["1080p", "4k"])
def test_seedance2_fast_and_mini_stop_at_720p(model, quality):
    fields = {"model": model, "quality": quality}
    if "image" in model:
        fields["image_urls"] = images(1)
    rejects(fields, "quality", "480p, 720p")


def test_seedance2_fast_and_mini_take_720p():
    assert accepts({"model": "seedance-2.0-fast-text-to-video", "quality": "720p"})["quality"] == "720p"
    assert accepts({"model": "seedance-2.0-mini-text-to-video", "quality": "480p"})["quality"] == "480p"


def test_seedance2_text_to_video_images_left_to_the_api():
    # The spec says text-to-video "does not support" images, not that they are refused.
    fields = {"model": "seedance-2.0-text-to-video", "image_urls": images(1)}
    assert accepts(fields) == fields


@pytest.mark.parametrize("count", [1, 2])
def test_seedance2_image_to_video_one_or_two_images(count):
    fields = {"model": "seedance-2.0-image-to-video", "image_urls": images(count)}
    assert accepts(fields) == fields


@pytest.mark.parametrize(("count", "rule"), [(0, "at least 1"), (3, "at most 2")])
def test_seedance2_image_to_video_image_count(count, rule):
    rejects(
        {"model": "seedance-2.0-image-to-video", "image_urls": images(count)},
        "image_urls",
        rule,
        f"has {count}",
    )


def test_seedance2_image_to_video_missing_images():
    rejects({"model": "seedance-2.0-fast-image-to-video"}, "image_urls", "at least 1")


@pytest.mark.parametrize("count", [0, 9])
def test_seedance2_reference_up_to_nine(count):
    assert accepts({"model": "seedance-2.0-reference-to-video", "image_urls": images(count)})[
        "image_urls"
    ] == images(count)


def test_seedance2_reference_ten_images_rejected():
    rejects({"model": "seedance-2.0-reference-to-video", "image_urls": images(10)}, "image_urls", "at most 9")


def test_seedance2_reference_video_and_audio_urls():
    fields = {
        "model": "seedance-2.0-reference-to-video",
        "video_urls": ["https://example.com/a.mp4"],
        "audio_urls": ["https://example.com/a.mp3"],
        "generate_audio": False,
    }
    assert accepts(fields) == fields
    rejects({**fields, "video_urls": images(4)}, "video_urls", "at most 3")
    rejects({**fields, "audio_urls": "https://example.com/a.mp3"}, "audio_urls", "list of URL strings")


@pytest.mark.parametrize("duration", [-1, 4, 5, 30])
@pytest.mark.parametrize("model", ["seedance-2.5-text-to-video", "seedance-2.5-reference-to-video"])
def test_seedance25_duration_4_to_30_or_auto(model, duration):
    assert accepts({"model": model, "prompt": "p", "duration": duration})["duration"] == duration


@pytest.mark.parametrize("duration", [-2, 0, 3, 31])
def test_seedance25_duration_out_of_range(duration):
    rejects(
        {"model": "seedance-2.5-text-to-video", "duration": duration}, "duration", "from 4 to 30", "or -1"
    )


def test_seedance25_reference_counts():
    base = {"model": "seedance-2.5-reference-to-video", "prompt": "p"}
    rejects({**base, "image_urls": images(31)}, "image_urls", "at most 30")
    assert accepts({**base, "video_urls": images(10), "audio_urls": images(10)})
    rejects({**base, "video_urls": images(11)}, "video_urls", "at most 10")
    rejects({**base, "audio_urls": images(11)}, "audio_urls", "at most 10")


def test_seedance25_image_to_video_adaptive_only():
    base = {"model": "seedance-2.5-image-to-video", "prompt": "p", "image_urls": images(2)}
    assert accepts({**base, "aspect_ratio": "adaptive", "duration": -1})
    rejects({**base, "aspect_ratio": "16:9"}, "aspect_ratio", "adaptive")
    rejects({**base, "image_urls": images(3)}, "image_urls", "at most 2")
    rejects({**base, "quality": "4k"}, "quality", "480p, 720p, 1080p")


@pytest.mark.parametrize("duration", [2, 12])
def test_doubao_seedance_fast_duration_bounds(duration):
    assert accepts({"model": "doubao-seedance-1.0-pro-fast", "duration": duration})["duration"] == duration


@pytest.mark.parametrize("duration", [1, 13])
def test_doubao_seedance_fast_duration_out_of_range(duration):
    rejects({"model": "doubao-seedance-1.0-pro-fast", "duration": duration}, "duration", "from 2 to 12")


def test_doubao_seedance_fast_one_image():
    assert accepts({"model": "doubao-seedance-1.0-pro-fast", "image_urls": images(1)})
    rejects({"model": "doubao-seedance-1.0-pro-fast", "image_urls": images(2)}, "image_urls", "at most 1")


def test_seedance_15_pro_first_and_last_frame():
    assert accepts({"model": "seedance-1.5-pro", "image_urls": images(2), "duration": 12})
    rejects({"model": "seedance-1.5-pro", "image_urls": images(3)}, "image_urls", "at most 2")
    rejects({"model": "seedance-1.5-pro", "duration": 13}, "duration", "from 4 to 12")


def test_image_urls_items_must_be_http_urls():
    rejects(
        {"model": "seedance-1.5-pro", "image_urls": [IMG, "data:image/png;base64,AAAA"]},
        "image_urls[1]",
        "http:// or https:// URL",
    )


def test_image_urls_must_be_a_list_of_strings():
    with pytest.raises(EvolinkValidationError) as info:
        build_video_request({"model": "seedance-1.5-pro", "image_urls": IMG})
    assert info.value.field == "image_urls"
    with pytest.raises(EvolinkValidationError) as info:
        build_video_request({"model": "seedance-1.5-pro", "image_urls": [7]})
    # pydantic reports the item as "image_urls.0"; the URL check says "image_urls[0]". Both name the list.
    assert info.value.field.startswith("image_urls")
    assert "image_urls" in str(info.value)


# ---- Wan ---------------------------------------------------------------------------------------------


def test_wan26_prompt_limit():
    assert accepts({"model": "wan2.6-text-to-video", "prompt": "w" * 1500})
    rejects({"model": "wan2.6-text-to-video", "prompt": "w" * 1501}, "prompt", "at most 1500")


@pytest.mark.parametrize("model", ["wan2.6-image-to-video", "wan2.6-image-to-video-flash"])
@pytest.mark.parametrize("duration", [2, 5, 7, 11, 15])
def test_wan26_image_to_video_durations(model, duration):
    fields = {"model": model, "image_urls": images(1), "duration": duration}
    assert accepts(fields) == fields


@pytest.mark.parametrize(
    "model", ["wan2.6-image-to-video", "wan2.6-image-to-video-flash", "wan2.6-text-to-video"]
)
@pytest.mark.parametrize("duration", [1, 16])
def test_wan26_duration_out_of_range(model, duration):
    fields = {"model": model, "duration": duration}
    if "image" in model:
        fields["image_urls"] = images(1)
    rejects(fields, "duration", "from 2 to 15")


@pytest.mark.parametrize(
    "model", ["wan2.6-image-to-video", "wan2.6-image-to-video-flash", "wan2.5-image-to-video"]
)
@pytest.mark.parametrize(("count", "rule"), [(0, "at least 1"), (2, "at most 1")])
def test_wan_image_to_video_exactly_one_image(model, count, rule):
    rejects({"model": model, "image_urls": images(count)}, "image_urls", rule)


def test_wan_text_to_video_images_left_to_the_api():
    fields = {"model": "wan2.6-text-to-video", "image_urls": images(1)}
    assert accepts(fields) == fields


@pytest.mark.parametrize("quality", ["480p", "4k"])
def test_wan26_quality(quality):
    rejects({"model": "wan2.6-text-to-video", "quality": quality}, "quality", "720p, 1080p")


def test_wan25_durations_and_quality():
    assert accepts({"model": "wan2.5-text-to-video", "duration": 10, "quality": "1080p"})
    rejects({"model": "wan2.5-text-to-video", "duration": 7}, "duration", "one of 5, 10")
    rejects({"model": "wan2.5-text-to-video", "quality": "4k"}, "quality", "480p, 720p, 1080p")


def test_wan25_prompt_counted_in_tokens_is_not_checked():
    fields = {"model": "wan2.5-text-to-video", "prompt": "w" * 5000}
    assert accepts(fields) == fields


def test_wan_audio_url_is_a_top_level_field():
    fields = {"model": "wan2.6-image-to-video", "image_urls": [IMG], "audio_url": "https://example.com/a.mp3"}
    assert accepts(fields) == fields


@pytest.mark.parametrize("model", ["wan2.6-reference-video", "wan2.6-reference-video-flash"])
def test_wan26_reference_video_needs_videos_and_takes_2_to_10_seconds(model):
    fields = {"model": model, "prompt": "p", "video_urls": ["https://example.com/a.mp4"], "duration": 10}
    assert accepts(fields) == fields
    rejects({"model": model, "prompt": "p"}, "video_urls", "at least 1")
    rejects({**fields, "video_urls": images(4)}, "video_urls", "at most 3")
    rejects({**fields, "duration": 11}, "duration", "from 2 to 10")


@pytest.mark.parametrize(
    "model",
    [
        f"wan3.0-{tier}{task}"
        for tier in ("", "prime-")
        for task in ("text-to-video", "image-to-video", "reference-video")
    ],
)
def test_wan30_duration_2_to_30_or_auto(model):
    for duration in (-1, 2, 30):
        assert accepts({"model": model, "duration": duration})["duration"] == duration
    rejects({"model": model, "duration": 31}, "duration", "from 2 to 30", "or -1")
    rejects({"model": model, "duration": 1}, "duration", "from 2 to 30")


# ---- Veo ---------------------------------------------------------------------------------------------

VEO_PREVIEWS = ["veo-3.1-generate-preview", "veo-3.1-fast-generate-preview"]


@pytest.mark.parametrize("model", VEO_PREVIEWS)
@pytest.mark.parametrize("duration", [4, 6, 8])
def test_veo_preview_durations(model, duration):
    assert accepts({"model": model, "duration": duration})["duration"] == duration


@pytest.mark.parametrize("duration", [5, 7, 10, 3])
def test_veo_preview_bad_duration(duration):
    rejects({"model": "veo-3.1-generate-preview", "duration": duration}, "duration", "one of 4, 6, 8")


@pytest.mark.parametrize("model", VEO_PREVIEWS)
def test_veo_preview_quality_and_aspect(model):
    for quality in ("720p", "1080p", "4k"):
        assert accepts({"model": model, "quality": quality})
    for aspect in ("auto", "16:9", "9:16"):
        assert accepts({"model": model, "aspect_ratio": aspect})
    rejects({"model": model, "quality": "8k"}, "quality", "720p, 1080p, 4k")
    rejects({"model": model, "aspect_ratio": "1:1"}, "aspect_ratio", "auto, 16:9, 9:16")


def test_veo_preview_at_most_three_images():
    fields = {"model": "veo-3.1-generate-preview", "generation_type": "REFERENCE", "image_urls": images(3)}
    assert accepts(fields) == fields
    assert accepts({"model": "veo-3.1-fast-generate-preview", "image_urls": images(3)})
    rejects({**fields, "image_urls": images(4)}, "image_urls", "at most 3")


def test_veo_preview_generation_type():
    for kind in ("TEXT", "FIRST&LAST", "REFERENCE"):
        assert accepts({"model": "veo-3.1-generate-preview", "generation_type": kind})
    rejects({"model": "veo-3.1-generate-preview", "generation_type": "text"}, "generation_type", "TEXT")


def test_veo_extra_parameters_pass_through():
    fields = {
        "model": "veo-3.1-generate-preview",
        "n": 2,
        "seed": 42,
        "person_generation": "allow_adult",
        "generate_audio": True,
    }
    assert accepts(fields) == fields


def test_veo_models_outside_the_spec_pass_through():
    fields = {"model": "veo3.1-fast", "duration": 5, "quality": "4k", "image_urls": images(3)}
    assert accepts(fields) == fields


# ---- Sora --------------------------------------------------------------------------------------------


def test_sora_one_image_at_most():
    for model in ("sora-2-preview", "sora-2-pro-preview"):
        assert accepts({"model": model, "image_urls": images(1)})
        rejects({"model": model, "image_urls": images(2)}, "image_urls", "at most 1")


@pytest.mark.parametrize("model", ["sora-2-preview", "sora-2-pro-preview"])
@pytest.mark.parametrize("duration", [4, 8, 12])
def test_sora_preview_durations(model, duration):
    assert accepts({"model": model, "duration": duration})


@pytest.mark.parametrize("duration", [5, 10, 16])
def test_sora_preview_bad_duration(duration):
    rejects({"model": "sora-2-preview", "duration": duration}, "duration", "one of 4, 8, 12")


@pytest.mark.parametrize("aspect", ["1280x720", "720x1280", "16:9"])
def test_sora_preview_pixel_aspects(aspect):
    assert accepts({"model": "sora-2-preview", "aspect_ratio": aspect})


def test_sora_preview_bad_aspect():
    rejects({"model": "sora-2-preview", "aspect_ratio": "1920x1080"}, "aspect_ratio", "1280x720")


def test_sora_2_pro_preview_quality_and_aspect():
    assert accepts({"model": "sora-2-pro-preview", "quality": "1080p", "aspect_ratio": "9:16"})
    rejects({"model": "sora-2-pro-preview", "quality": "4k"}, "quality", "720p, 1080p")
    rejects({"model": "sora-2-pro-preview", "aspect_ratio": "1280x720"}, "aspect_ratio", "16:9, 9:16")


def test_sora_models_outside_the_spec_pass_through():
    fields = {"model": "sora-2", "prompt": "s" * 3000, "aspect_ratio": "1:1", "image_urls": images(2)}
    assert accepts(fields) == fields


# ---- Hailuo ------------------------------------------------------------------------------------------


def test_hailuo_prompt_limit():
    assert accepts({"model": "MiniMax-Hailuo-2.3", "prompt": "h" * 2000})
    rejects({"model": "MiniMax-Hailuo-2.3", "prompt": "h" * 2001}, "prompt", "at most 2000")


@pytest.mark.parametrize("quality", ["512p", "768p", "1080p"])
def test_hailuo_02_qualities(quality):
    assert accepts({"model": "MiniMax-Hailuo-02", "quality": quality, "duration": 6})


@pytest.mark.parametrize("model", ["MiniMax-Hailuo-2.3", "MiniMax-Hailuo-2.3-Fast"])
def test_hailuo_23_has_no_512p(model):
    fields = {"model": model, "image_urls": images(1)}
    assert accepts({**fields, "quality": "768p", "duration": 10})
    rejects({**fields, "quality": "512p"}, "quality", "768p, 1080p")


def test_hailuo_bad_quality():
    rejects({"model": "MiniMax-Hailuo-02", "quality": "720p"}, "quality", "512p, 768p, 1080p")


@pytest.mark.parametrize("duration", [5, 8, 15])
def test_hailuo_durations(duration):
    rejects({"model": "MiniMax-Hailuo-02", "duration": duration}, "duration", "one of 6, 10")


def test_hailuo_1080p_only_six_seconds():
    assert accepts({"model": "MiniMax-Hailuo-2.3", "quality": "1080p", "duration": 6})
    assert accepts({"model": "MiniMax-Hailuo-2.3", "quality": "1080p"})
    assert accepts({"model": "MiniMax-Hailuo-2.3", "quality": "768p", "duration": 10})
    rejects(
        {"model": "MiniMax-Hailuo-2.3", "quality": "1080p", "duration": 10},
        "duration",
        "6 seconds when quality is 1080p",
    )


def test_hailuo_image_counts():
    assert accepts({"model": "MiniMax-Hailuo-02", "image_urls": images(2)})
    rejects({"model": "MiniMax-Hailuo-02", "image_urls": images(3)}, "image_urls", "at most 2")
    rejects({"model": "MiniMax-Hailuo-2.3", "image_urls": images(2)}, "image_urls", "at most 1")
    rejects({"model": "MiniMax-Hailuo-2.3-Fast"}, "image_urls", "at least 1")
    assert accepts({"model": "MiniMax-Hailuo-2.3-Fast", "image_urls": images(1)})


# ---- HappyHorse --------------------------------------------------------------------------------------


@pytest.mark.parametrize("duration", [3, 15])
def test_happyhorse_duration_bounds(duration):
    assert accepts({"model": "happyhorse-1.1-text-to-video", "duration": duration})


@pytest.mark.parametrize("duration", [2, 16])
def test_happyhorse_duration_out_of_range(duration):
    rejects({"model": "happyhorse-1.1-text-to-video", "duration": duration}, "duration", "from 3 to 15")


def test_happyhorse_quality():
    rejects({"model": "happyhorse-1.1-text-to-video", "quality": "480p"}, "quality", "720p, 1080p")


def test_happyhorse_aspect_ratios():
    for aspect in ("4:5", "9:21", "21:9"):
        assert accepts({"model": "happyhorse-1.0-text-to-video", "aspect_ratio": aspect})
    rejects({"model": "happyhorse-1.0-text-to-video", "aspect_ratio": "2:1"}, "aspect_ratio", "16:9")


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_happyhorse_image_counts(version):
    i2v, r2v = f"happyhorse-{version}-image-to-video", f"happyhorse-{version}-reference-to-video"
    assert accepts({"model": i2v, "image_urls": images(1)})
    rejects({"model": i2v}, "image_urls", "at least 1")
    rejects({"model": i2v, "image_urls": images(2)}, "image_urls", "at most 1")
    assert accepts({"model": r2v, "image_urls": images(9)})
    rejects({"model": r2v, "image_urls": images(10)}, "image_urls", "at most 9")
    rejects({"model": r2v, "image_urls": []}, "image_urls", "at least 1")


def test_happyhorse_video_edit():
    fields = {
        "model": "happyhorse-1.0-video-edit",
        "prompt": "p",
        "video_urls": [IMG],
        "image_urls": images(5),
    }
    assert accepts(fields) == fields
    rejects({**fields, "video_urls": [IMG, IMG2]}, "video_urls", "at most 1")
    rejects({**fields, "image_urls": images(6)}, "image_urls", "at most 5")


# ---- check_rules=False ---------------------------------------------------------------------------------


def test_check_rules_false_sends_an_otherwise_refused_body_untouched():
    fields = {
        "model": "kling-v3-image-to-video",  # image_start missing: refused with the rules on
        "duration": "5",  # a family class would coerce this to 5
        "quality": "16k",
        "sound": True,  # a family class would map this to "on"
        "image_urls": ["not a url", 3],
        "callback_url": "http://localhost/cb",
        "model_params": ["odd"],
        "dropped": None,
    }
    with pytest.raises(EvolinkValidationError):
        build_video_request(fields)
    request = build_video_request(fields, check_rules=False)
    assert isinstance(request, PassThroughVideoRequest)
    expected = {key: value for key, value in fields.items() if value is not None}
    payload = request.payload()
    assert payload == expected
    assert type(payload["duration"]) is str and payload["sound"] is True


@pytest.mark.parametrize("model", [None, "", 5])
def test_check_rules_false_still_needs_a_model(model):
    fields = {} if model is None else {"model": model}
    with pytest.raises(EvolinkValidationError) as info:
        build_video_request(fields, check_rules=False)
    assert info.value.field == "model"


def test_check_rules_false_still_needs_json():
    with pytest.raises(EvolinkValidationError) as info:
        build_video_request({"model": "kling-v3-text-to-video", "extra": object()}, check_rules=False)
    assert info.value.field == "request"
    assert "JSON-serializable" in str(info.value)


# ---- fields every model shares -----------------------------------------------------------------------


def test_none_fields_are_dropped():
    fields = {
        "model": "kling-v3-text-to-video",
        "prompt": None,
        "negative_prompt": None,
        "duration": None,
        "aspect_ratio": None,
        "quality": None,
        "sound": None,
        "image_start": None,
        "image_end": None,
        "image_urls": None,
        "model_params": None,
        "callback_url": None,
        "some_extra": None,
    }
    assert accepts(fields) == {"model": "kling-v3-text-to-video"}


def test_none_fields_do_not_trigger_rules():
    # image_end=None must not count as "a last frame without a first frame".
    assert accepts({**KLING_T2V, "image_end": None, "image_urls": None}) == KLING_T2V


def test_model_params_must_be_an_object_for_known_families():
    rejects({**KLING_I2V, "model_params": ["multi_shot"]}, "model_params", "dictionary")


def test_payload_keeps_unknown_keys_of_known_families():
    fields = {**KLING_I2V, "extra_body": {"a": 1}, "element_list": [{"id": "e1"}]}
    assert accepts(fields) == fields


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/cb",
        "https://hooks.example.org:8443/evolink/done?token=abc",
        "https://8.8.8.8/cb",
        "https://[2001:4860:4860::8888]/cb",
        "https://example.com/" + "a" * (2048 - len("https://example.com/")),
    ],
)
def test_callback_url_accepted(url):
    assert accepts({**KLING_T2V, "callback_url": url})["callback_url"] == url


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("http://example.com/cb", "https://"),
        ("ftp://example.com/cb", "https://"),
        ("example.com/cb", "https://"),
        ("https:///cb", "host"),
        ("https://localhost/cb", "localhost"),
        ("https://LOCALHOST:8443/cb", "localhost"),
        ("https://api.localhost/cb", "localhost"),
        ("https://localhost./cb", "localhost"),
        ("https://127.0.0.1/cb", "private, loopback"),
        ("https://10.1.2.3/cb", "private, loopback"),
        ("https://172.16.0.1/cb", "private, loopback"),
        ("https://172.31.255.254/cb", "private, loopback"),
        ("https://192.168.1.10/cb", "private, loopback"),
        ("https://169.254.169.254/latest/meta-data", "private, loopback"),
        ("https://0.0.0.0/cb", "private, loopback"),
        ("https://[::1]/cb", "private, loopback"),
        ("https://[fe80::1]/cb", "private, loopback"),
        ("https://[fd00::1]/cb", "private, loopback"),
        ("https://[::ffff:127.0.0.1]/cb", "private, loopback"),
        ("https://example.com/" + "a" * 2048, "at most 2048 characters"),
    ],
)
def test_callback_url_rejected(url, rule):
    rejects({**KLING_T2V, "callback_url": url}, "callback_url", rule)
    # The universal rule applies to models without a rule table too.
    rejects({"model": "brand-new-model-v9", "callback_url": url}, "callback_url", rule)


@pytest.mark.parametrize("url", ["https://127.1/cb", "https://2130706433/cb", "https://0x7f000001/cb"])
def test_callback_url_rejects_other_spellings_of_loopback(url):
    rejects({**KLING_T2V, "callback_url": url}, "callback_url", "private, loopback")


@pytest.mark.parametrize("url", ["https://:80/a.png", "https://exa mple.com/a.png"])
def test_image_url_needs_a_host_and_no_whitespace(url):
    rejects({**KLING_T2V, "image_start": url}, "image_start", "http")


def test_callback_url_wrong_type():
    rejects({**KLING_T2V, "callback_url": 123}, "callback_url", "string")


# ---- pass-through of unknown models ------------------------------------------------------------------


def test_unknown_model_passes_fields_through_untouched():
    fields = {
        "model": "grok-imagine-image-to-video",
        "prompt": "x" * 10_000,  # no prompt limit known for this model
        "duration": "ten seconds",
        "quality": 4,
        "aspect_ratio": ["16:9"],
        "image_urls": ["not even a url", 3],
        "image_start": 12,
        "model_params": ["odd", {"nested": None}],
        "extra_body": {"a": [1, 2, None], "b": {"c": None}},
        "n": 3.5,
        "flag": False,
    }
    request = build_video_request(fields)
    assert isinstance(request, PassThroughVideoRequest)
    assert request.payload() == fields


def test_unknown_model_drops_only_top_level_none():
    payload = accepts({"model": "brand-new-model-v9", "prompt": None, "extra": {"k": None}})
    assert payload == {"model": "brand-new-model-v9", "extra": {"k": None}}


def test_unknown_kling_variant_passes_through():
    fields = {"model": "kling-o3-video-edit", "video_url": "https://example.com/v.mp4", "duration": 99}
    assert accepts(fields) == fields


def test_unknown_model_boolean_duration_passes_through():
    fields = {"model": "brand-new-model-v9", "duration": True}
    assert accepts(fields) == fields


def test_validation_error_carries_value_and_model():
    error = rejects({**KLING_I2V, "duration": 99}, "duration", "from 3 to 15")
    assert error.value == 99
    assert error.model == "kling-v3-image-to-video"
    assert error.rule == "must be an integer from 3 to 15 seconds"
    assert isinstance(error, ValueError)
    assert error.retryable is False
