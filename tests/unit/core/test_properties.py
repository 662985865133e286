"""Property-based tests of request validation, per model family.

The expected ranges are written out here from the API's docs (docs.evolink.ai model pages), independently
of ``models.py``, so that a wrong rule there cannot make its own test pass. Valid combinations must be
accepted with a payload that is exactly the non-None fields given; a combination with one broken field
must raise :class:`EvolinkValidationError` naming that field. The last property runs the real hook
against the emulator and checks that invalid input never reaches the network.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_evolink.core.errors import EvolinkValidationError
from airflow_evolink.core.models import build_video_request
from airflow_evolink.core.retry import RetryPolicy
from airflow_evolink.hooks.evolink import EvolinkHook

EXAMPLES = settings(max_examples=100, deadline=None)

ABSENT = object()


@dataclass(frozen=True)
class Spec:
    """What one model accepts, per the API notes."""

    model: str
    durations: tuple[int, ...] | None = None  # None: not checked by the client
    qualities: tuple[str, ...] | None = None
    aspects: tuple[str, ...] | None = None
    prompt_max: int | None = None
    # (min, max) of image_urls, max None when not checked; None for Kling frame fields
    images: tuple[int, int | None] | None = (0, None)
    frames_required: bool = False  # Kling v3 image-to-video: image_start required
    end_needs_start: bool = False  # Kling v3 / o3 image-to-video: image_end needs image_start
    hailuo: bool = False  # 1080p only with 6 s

    @property
    def kling(self) -> bool:
        return self.images is None


def span(low: int, high: int) -> tuple[int, ...]:
    return tuple(range(low, high + 1))


HD = ("720p", "1080p")
HD_4K = ("720p", "1080p", "4k")
SD_TO_HD = ("480p", "720p", "1080p")
KLING_ASPECTS = ("16:9", "9:16", "1:1")
SEEDANCE2_ASPECTS = ("16:9", "9:16", "1:1", "4:3", "3:4", "21:9", "adaptive")
WAN_ASPECTS = ("16:9", "9:16", "1:1", "4:3", "3:4")
HAPPYHORSE_ASPECTS = ("16:9", "9:16", "1:1", "4:3", "3:4", "4:5", "5:4", "9:21", "21:9")


def _kling(model: str, *, required: bool = False, end_needs_start: bool = False) -> Spec:
    return Spec(model, span(3, 15), HD_4K, KLING_ASPECTS, 2500, None, required, end_needs_start)


def _seedance2(model: str, images: tuple[int, int | None]) -> Spec:
    # 4k is Standard-only; fast and mini stop at 720p (checked in test_models.py).
    fast = "-fast-" in model or "-mini-" in model
    qualities = ("480p", "720p") if fast else ("480p", "720p", "1080p", "4k")
    return Spec(model, span(4, 15), qualities, SEEDANCE2_ASPECTS, None, images)


FAMILIES: dict[str, list[Spec]] = {
    "kling": [
        _kling("kling-v3-image-to-video", required=True, end_needs_start=True),
        _kling("kling-o3-image-to-video", end_needs_start=True),
        _kling("kling-v3-text-to-video"),
        _kling("kling-o3-text-to-video"),
        Spec("kling-o1-image-to-video", (5, 10), None, KLING_ASPECTS, 5000, (1, 2)),
    ],
    "seedance": [
        _seedance2("seedance-2.0-text-to-video", (0, None)),
        _seedance2("seedance-2.0-fast-image-to-video", (1, 2)),
        _seedance2("seedance-2.0-mini-reference-to-video", (0, 9)),
        _seedance2("seedance-2.0-image-to-video", (1, 2)),
        Spec(
            "seedance-2.5-reference-to-video", (-1, *span(4, 30)), SD_TO_HD, SEEDANCE2_ASPECTS, None, (0, 30)
        ),
        Spec("doubao-seedance-1.0-pro-fast", span(2, 12), SD_TO_HD, None, None, (0, 1)),
    ],
    "wan": [
        Spec("wan2.6-image-to-video", span(2, 15), HD, None, 1500, (1, 1)),
        Spec("wan2.6-image-to-video-flash", span(2, 15), HD, None, 1500, (1, 1)),
        Spec("wan2.5-image-to-video", (5, 10), SD_TO_HD, None, None, (1, 1)),
        Spec("wan2.6-text-to-video", span(2, 15), HD, WAN_ASPECTS, 1500, (0, None)),
        Spec("wan2.5-text-to-video", (5, 10), SD_TO_HD, WAN_ASPECTS, None, (0, None)),
    ],
    "veo": [
        Spec("veo-3.1-generate-preview", (4, 6, 8), HD_4K, ("auto", "16:9", "9:16"), None, (0, 3)),
        Spec("veo-3.1-fast-generate-preview", (4, 6, 8), HD_4K, ("auto", "16:9", "9:16"), None, (0, 3)),
    ],
    "sora": [
        Spec("sora-2-preview", (4, 8, 12), None, ("16:9", "9:16", "1280x720", "720x1280"), None, (0, 1)),
        Spec("sora-2-pro-preview", (4, 8, 12), HD, ("16:9", "9:16"), None, (0, 1)),
    ],
    "hailuo": [
        Spec("MiniMax-Hailuo-2.3", (6, 10), ("768p", "1080p"), None, 2000, (0, 1), hailuo=True),
        Spec("MiniMax-Hailuo-02", (6, 10), ("512p", "768p", "1080p"), None, 2000, (0, 2), hailuo=True),
        Spec("MiniMax-Hailuo-2.3-Fast", (6, 10), ("768p", "1080p"), None, 2000, (1, 1), hailuo=True),
    ],
    "happyhorse": [
        Spec("happyhorse-1.1-text-to-video", span(3, 15), HD, HAPPYHORSE_ASPECTS, None, (0, None)),
        Spec("happyhorse-1.1-image-to-video", span(3, 15), HD, None, None, (1, 1)),
        Spec("happyhorse-1.1-reference-to-video", span(3, 15), HD, HAPPYHORSE_ASPECTS, None, (1, 9)),
        Spec("happyhorse-1.0-image-to-video", span(3, 15), HD, None, None, (1, 1)),
    ],
}
ALL_SPECS = [spec for specs in FAMILIES.values() for spec in specs]

# ---- building blocks ---------------------------------------------------------------------------------

_SAFE = "abcdefghijklmnopqrstuvwxyz0123456789-_"
hosts = st.one_of(
    st.sampled_from(["example.com", "cdn.example.org", "files-api.evolink.ai", "img.example.net"]),
    st.from_regex(r"[a-z][a-z0-9-]{0,12}\.(com|net|org|io|ai)", fullmatch=True),
)
paths = st.text(alphabet=_SAFE, max_size=20)
image_urls_valid = st.builds(
    lambda scheme, host, path, ext: f"{scheme}://{host}/{path}.{ext}",
    st.sampled_from(["http", "https"]),
    hosts,
    paths,
    st.sampled_from(["png", "jpg", "jpeg"]),
)
image_urls_bad = st.one_of(
    st.sampled_from(
        [
            "ftp://example.com/a.png",
            "file:///etc/passwd",
            "example.com/a.png",
            "//example.com/a.png",
            "/tmp/a.png",
            "https://",
            "http:///a.png",
            "javascript:alert(1)",
            "data:image/png;base64,AAAA",
            "",
        ]
    ),
    st.text(alphabet=_SAFE, min_size=1, max_size=20),  # no scheme at all
)
public_ipv4 = st.ip_addresses(v=4).filter(lambda a: a.is_global and not a.is_multicast)
callback_valid = st.builds(
    lambda host, path: f"https://{host}/{path}",
    st.one_of(hosts, public_ipv4.map(str)),
    paths,
)
_CB_PREFIX = "https://example.com/"
callback_valid_long = st.integers(0, 2048 - len(_CB_PREFIX)).map(lambda n: _CB_PREFIX + "c" * n)
internal_ips = st.one_of(
    st.ip_addresses(network="10.0.0.0/8"),
    st.ip_addresses(network="172.16.0.0/12"),
    st.ip_addresses(network="192.168.0.0/16"),
    st.ip_addresses(network="127.0.0.0/8"),
    st.ip_addresses(network="169.254.0.0/16"),
    st.ip_addresses(network="::1/128"),
    st.ip_addresses(network="fe80::/10"),
    st.ip_addresses(network="fc00::/7"),
)
callback_bad = st.one_of(
    st.builds(lambda host, path: f"http://{host}/{path}", hosts, paths),  # http scheme
    st.builds(
        lambda ip, path: f"https://[{ip}]/{path}" if ip.version == 6 else f"https://{ip}/{path}",
        internal_ips,
        paths,
    ),
    st.builds(
        lambda host, port: f"https://{host}{port}/cb",
        st.sampled_from(["localhost", "LOCALHOST", "localhost.", "app.localhost", "a.b.localhost"]),
        st.sampled_from(["", ":443", ":8080"]),
    ),
    st.integers(2049 - len(_CB_PREFIX), 4000 - len(_CB_PREFIX)).map(lambda n: _CB_PREFIX + "c" * n),
)
prompts = st.one_of(st.text(max_size=60), st.just(""))
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-1000, 1000), st.text(alphabet=_SAFE, max_size=8)
)
model_params = st.dictionaries(st.text(alphabet=_SAFE, min_size=1, max_size=10), json_scalars, max_size=4)


def _optional(draw: st.DrawFn, strategy: st.SearchStrategy[Any]) -> Any:
    """A value, an explicit None (which must be dropped), or ABSENT (key left out)."""
    choice = draw(st.sampled_from(["value", "none", "absent"]))
    if choice == "value":
        return draw(strategy)
    return None if choice == "none" else ABSENT


def _put(fields: dict[str, Any], key: str, value: Any) -> None:
    if value is not ABSENT:
        fields[key] = value


@st.composite
def valid_fields(draw: st.DrawFn, spec: Spec) -> dict[str, Any]:
    fields: dict[str, Any] = {"model": spec.model}
    prompt_strategy = prompts
    if spec.prompt_max is not None:
        limit = spec.prompt_max
        prompt_strategy = st.one_of(prompts, st.integers(limit - 20, limit).map(lambda n: "p" * n))
    _put(fields, "prompt", _optional(draw, prompt_strategy))
    _put(fields, "negative_prompt", _optional(draw, st.text(max_size=30)))
    quality = _optional(draw, st.sampled_from(spec.qualities)) if spec.qualities else ABSENT
    _put(fields, "quality", quality)
    durations = spec.durations or (5, 10)
    if spec.hailuo and quality == "1080p":
        durations = (6,)
    _put(fields, "duration", _optional(draw, st.sampled_from(durations)))
    if spec.aspects:
        _put(fields, "aspect_ratio", _optional(draw, st.sampled_from(spec.aspects)))
    _put(fields, "model_params", _optional(draw, model_params))
    _put(fields, "callback_url", _optional(draw, st.one_of(callback_valid, callback_valid_long)))
    if spec.kling:
        start = draw(image_urls_valid) if spec.frames_required else _optional(draw, image_urls_valid)
        _put(fields, "image_start", start)
        if start not in (None, ABSENT):
            _put(fields, "image_end", _optional(draw, image_urls_valid))
        _put(fields, "image_urls", _optional(draw, st.lists(image_urls_valid, max_size=3)))
        _put(fields, "sound", _optional(draw, st.sampled_from(["on", "off"])))
    else:
        low, high = spec.images  # type: ignore[misc]
        if low > 0:
            fields["image_urls"] = draw(st.lists(image_urls_valid, min_size=low, max_size=high))
        elif high is None or high > 0:
            _put(fields, "image_urls", _optional(draw, st.lists(image_urls_valid, max_size=high or 3)))
    return fields


def _non_numeric_text() -> st.SearchStrategy[str]:
    return st.text(alphabet="abcxyz -", min_size=1, max_size=6).filter(lambda s: s.strip() != "")


@st.composite
def invalid_fields(draw: st.DrawFn, spec: Spec) -> tuple[dict[str, Any], str]:
    """A valid request with exactly one broken field, and the name of that field."""
    fields = draw(valid_fields(spec))
    mutations: list[str] = ["duration_type", "prompt_type", "callback", "model_params"]
    if spec.durations:
        mutations.append("duration_range")
    if spec.qualities:
        mutations.append("quality")
    if spec.aspects:
        mutations.append("aspect")
    if spec.prompt_max is not None:
        mutations.append("prompt_long")
    if spec.kling:
        mutations += ["frame_url", "sound"]
        if spec.frames_required:
            mutations.append("no_start")
        elif spec.end_needs_start:
            mutations.append("image_end_alone")
    else:
        low, high = spec.images  # type: ignore[misc]
        if high is not None:
            mutations.append("too_many_images")
        if low > 0:
            mutations.append("too_few_images")
        if high is None or high > 0:
            mutations.append("bad_image_url")
    if spec.hailuo:
        mutations.append("hailuo_1080p")
    mutation = draw(st.sampled_from(mutations))

    if mutation == "duration_type":
        fields["duration"] = draw(
            st.one_of(
                st.booleans(),
                _non_numeric_text(),
                st.floats(2.01, 14.99).filter(lambda f: not f.is_integer()),
                st.lists(st.integers(), min_size=1, max_size=2),
            )
        )
        return fields, "duration"
    if mutation == "duration_range":
        allowed = set(spec.durations or ())
        fields["duration"] = draw(st.integers(-100, 1000).filter(lambda d: d not in allowed))
        if spec.hailuo and fields.get("quality") == "1080p":
            fields.pop("quality")
        return fields, "duration"
    if mutation == "prompt_type":
        fields["prompt"] = draw(
            st.one_of(st.integers(), st.lists(st.text(max_size=3), min_size=1, max_size=2))
        )
        return fields, "prompt"
    if mutation == "prompt_long":
        limit = spec.prompt_max or 0
        fields["prompt"] = "p" * draw(st.integers(limit + 1, limit + 300))
        return fields, "prompt"
    if mutation == "quality":
        allowed_q = set(spec.qualities or ())
        fields["quality"] = draw(
            st.one_of(st.text(max_size=8).filter(lambda q: q not in allowed_q), st.integers(0, 4000))
        )
        return fields, "quality"
    if mutation == "aspect":
        allowed_a = set(spec.aspects or ())
        fields["aspect_ratio"] = draw(st.text(max_size=8).filter(lambda a: a not in allowed_a))
        return fields, "aspect_ratio"
    if mutation == "callback":
        fields["callback_url"] = draw(callback_bad)
        return fields, "callback_url"
    if mutation == "model_params":
        fields["model_params"] = draw(
            st.one_of(st.lists(st.integers(), max_size=2), st.integers(), _non_numeric_text())
        )
        return fields, "model_params"
    if mutation == "frame_url":
        field = draw(st.sampled_from(["image_start", "image_end"]))
        fields["image_start"] = draw(image_urls_valid)
        fields[field] = draw(image_urls_bad)
        if field == "image_start" and fields[field] == "" and spec.frames_required:
            return fields, "image_start"
        if field == "image_start" and fields[field] == "":
            # An empty first frame with a last frame is "image_end needs image_start".
            fields.pop("image_end", None)
        return fields, field
    if mutation == "sound":
        fields["sound"] = draw(st.text(max_size=5).filter(lambda s: s not in ("on", "off")))
        return fields, "sound"
    if mutation == "no_start":
        fields.pop("image_start", None)
        fields.pop("image_end", None)
        return fields, "image_start"
    if mutation == "image_end_alone":
        fields.pop("image_start", None)
        fields["image_end"] = draw(image_urls_valid)
        return fields, "image_end"
    if mutation == "too_many_images":
        high = spec.images[1]  # type: ignore[index]
        fields["image_urls"] = draw(st.lists(image_urls_valid, min_size=high + 1, max_size=high + 3))
        return fields, "image_urls"
    if mutation == "too_few_images":
        low = spec.images[0]  # type: ignore[index]
        fields["image_urls"] = draw(st.lists(image_urls_valid, max_size=low - 1))
        return fields, "image_urls"
    if mutation == "bad_image_url":
        low, high = spec.images  # type: ignore[misc]
        urls = draw(st.lists(image_urls_valid, min_size=max(low, 1), max_size=high or 3))
        index = draw(st.integers(0, len(urls) - 1))
        urls[index] = draw(image_urls_bad)
        fields["image_urls"] = urls
        return fields, f"image_urls[{index}]"
    assert mutation == "hailuo_1080p"
    fields["quality"] = "1080p"
    fields["duration"] = 10
    return fields, "duration"


def expected_payload(fields: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


def assert_rejected(fields: dict[str, Any], field: str) -> EvolinkValidationError:
    with pytest.raises(EvolinkValidationError) as info:
        build_video_request(fields)
    error = info.value
    assert error.field == field, f"{fields!r}: expected {field!r}, got {error.field!r} ({error})"
    assert f"'{field}'" in str(error)
    assert error.rule and error.rule in str(error)
    return error


# ---- properties --------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", sorted(FAMILIES))
@EXAMPLES
@given(data=st.data())
def test_valid_combinations_are_accepted_verbatim(family, data):
    spec = data.draw(st.sampled_from(FAMILIES[family]), label="spec")
    fields = data.draw(valid_fields(spec), label="fields")
    payload = build_video_request(fields).payload()
    assert payload == expected_payload(fields)


@pytest.mark.parametrize("family", sorted(FAMILIES))
@EXAMPLES
@given(data=st.data())
def test_one_broken_field_is_rejected_by_name(family, data):
    spec = data.draw(st.sampled_from(FAMILIES[family]), label="spec")
    fields, field = data.draw(invalid_fields(spec), label="broken")
    assert_rejected(fields, field)


@settings(max_examples=150, deadline=None)
@given(url=callback_bad, model=st.sampled_from([spec.model for spec in ALL_SPECS] + ["brand-new-model-v9"]))
def test_bad_callback_url_rejected_for_every_model(url, model):
    spec = next((s for s in ALL_SPECS if s.model == model), None)
    fields: dict[str, Any] = {"model": model, "callback_url": url}
    if spec is not None and spec.frames_required:
        fields["image_start"] = "https://example.com/a.png"
    if spec is not None and spec.images and spec.images[0] > 0:
        fields["image_urls"] = ["https://example.com/a.png"] * spec.images[0]
    assert_rejected(fields, "callback_url")


@settings(max_examples=100, deadline=None)
@given(url=st.one_of(callback_valid, callback_valid_long))
def test_public_https_callback_url_accepted_for_unknown_models(url):
    assert (
        build_video_request({"model": "brand-new-model-v9", "callback_url": url}).payload()["callback_url"]
        == url
    )


@settings(max_examples=100, deadline=None)
@given(
    extra=st.dictionaries(
        st.text(alphabet=_SAFE, min_size=1, max_size=10).filter(
            lambda k: k != "model" and k != "callback_url"
        ),
        st.recursive(
            json_scalars | st.floats(allow_nan=False),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.text(alphabet=_SAFE, max_size=5), inner, max_size=3)
            ),
            max_leaves=8,
        ),
        max_size=6,
    )
)
def test_unknown_models_pass_any_json_fields_through(extra):
    # Types are not enforced for models without a rule table (but a boolean duration is: see test_models).
    if isinstance(extra.get("duration"), bool):
        extra["duration"] = 1
    fields = {"model": "brand-new-model-v9", **extra}
    assert build_video_request(fields).payload() == expected_payload(fields)


# ---- through the real hook: invalid input never reaches the API -------------------------------------


@st.composite
def any_invalid(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    spec = draw(st.sampled_from(ALL_SPECS))
    return draw(invalid_fields(spec))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=50, deadline=None)
@given(broken=any_invalid())
def test_hook_sends_nothing_for_invalid_input(clean_emulator, broken):
    fields, field = broken
    clean_emulator.state.reset()
    hook = EvolinkHook(
        "evolink_default",
        retry_policy=RetryPolicy(max_attempts=2, initial_wait=0.01, max_wait=0.01, jitter=0),
        sleep=lambda s: None,
    )
    with pytest.raises(EvolinkValidationError) as info:
        hook.submit_video(fields)
    assert info.value.field == field
    assert clean_emulator.state.requests() == []
    assert clean_emulator.state.stats()["tasks_created"] == 0


def test_hook_does_send_a_valid_request(clean_emulator):
    """The zero-requests property above is only meaningful if a valid request does reach the emulator."""
    hook = EvolinkHook(
        "evolink_default",
        retry_policy=RetryPolicy(max_attempts=2, initial_wait=0.01, max_wait=0.01, jitter=0),
        sleep=lambda s: None,
    )
    task = hook.submit_video({"model": "kling-v3-image-to-video", "image_start": "https://example.com/a.png"})
    requests = clean_emulator.state.requests()
    assert [(r["method"], r["path"], r["status"]) for r in requests] == [
        ("POST", "/v1/videos/generations", 200)
    ]
    assert requests[0]["task_id"] == task.id
    assert clean_emulator.state.stats()["tasks_created"] == 1
