"""The emulator's own table of model rules.

Deliberately independent of the client's rule table: if both were generated from one source, a wrong rule
would pass the client's own tests. Facts come from /work/shared/evolink-api.md (§1.1 and §5). Where the
notes are vague the choice below is marked "guess" and leans towards accepting, so the emulator never
rejects a request the real API would take:

* Kling o3 image-to-video / reference-to-video `image_urls`: up to 7 style references (guess).
* Kling edit / custom-element models, sora-character, veo3.1-fast-extend: only the prompt limit and a
  positive integer duration are checked (inputs undocumented).
* seedance-1.5-pro duration 4..12 (guess, from the vendor's model card); 1.0-pro-fast 2..12 (documented).
* Seedance 2.0: 1080p only on the Standard models (fast and mini stop at 720p).
* Sora 2 (non-preview) durations are undocumented: any positive integer.
* wan2.5 durations 5 or 10; wan2.6 text-to-video 5/10/15; wan2.6-reference-video up to 5 images (guess).
* HappyHorse image-to-video: 1..9 images (first one is the first frame); reference-to-video 1..9.
* Grok image-to-video: exactly 1 image (guess).
* Unknown model names pass through: only generic checks, duration default 5.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: (field, message) of a broken rule, or None when the body is fine.
Check = Callable[[Mapping[str, Any], int], "tuple[str, str] | None"]

KLING_ASPECTS = frozenset({"16:9", "9:16", "1:1"})
SEEDANCE2_ASPECTS = frozenset({"16:9", "9:16", "1:1", "4:3", "3:4", "21:9", "adaptive"})
SEEDANCE_OLD_ASPECTS = SEEDANCE2_ASPECTS | {"keep_ratio"}
VEO_ASPECTS = frozenset({"16:9", "9:16"})
SORA_ASPECTS = frozenset({"16:9", "9:16"})
HAILUO_QUALITIES = frozenset({"512p", "768p", "1080p"})
HD = frozenset({"720p", "1080p"})
SEEDANCE_QUALITIES = frozenset({"480p", "720p", "1080p"})


@dataclass(frozen=True)
class ModelRule:
    """What one model accepts. `None` for a limit means "not checked"."""

    family: str
    prompt_max: int | None = None
    durations: frozenset[int] | None = None
    default_duration: int = 5
    qualities: frozenset[str] | None = None
    aspect_ratios: frozenset[str] | None = None
    #: Kling style: first/last frame as `image_start` / `image_end` strings.
    frame_images: bool = False
    image_start_required: bool = False
    #: Allowed count of `image_urls` items; (0, 0) rejects the field.
    image_urls: tuple[int, int] = (0, 9)
    #: Other URL lists and their allowed counts (e.g. Seedance R2V `video_urls`).
    url_lists: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    #: Plain enum fields (e.g. Kling `sound`).
    enums: Mapping[str, frozenset[str]] = field(default_factory=dict)
    #: Rules that involve more than one field.
    checks: tuple[Check, ...] = ()
    credits_per_second: int = 54_000
    billing_rule: str = "per_second"


def span(low: int, high: int) -> frozenset[int]:
    return frozenset(range(low, high + 1))


def _hailuo_1080p_six_seconds(body: Mapping[str, Any], duration: int) -> tuple[str, str] | None:
    if body.get("quality") == "1080p" and duration != 6:
        return "duration", "duration must be 6 when quality is 1080p for MiniMax-Hailuo models"
    return None


def _veo_preview_generation_type(body: Mapping[str, Any], duration: int) -> tuple[str, str] | None:
    kind = body.get("generation_type", body.get("model_params", {}).get("generation_type"))
    if kind is not None and kind not in ("TEXT", "FIRST&LAST", "REFERENCE"):
        return "generation_type", "generation_type must be one of TEXT, FIRST&LAST, REFERENCE"
    images = body.get("image_urls") or []
    if kind == "TEXT" and images:
        return "image_urls", "image_urls must be empty when generation_type is TEXT"
    if kind == "REFERENCE":
        if not 1 <= len(images) <= 3:
            return "image_urls", "image_urls must hold 1 to 3 items when generation_type is REFERENCE"
        if duration != 8:
            return "duration", "duration must be 8 when generation_type is REFERENCE"
        if body.get("aspect_ratio", "16:9") != "16:9":
            return "aspect_ratio", "aspect_ratio must be 16:9 when generation_type is REFERENCE"
    elif len(images) > 2:
        return "image_urls", "image_urls must hold at most 2 items unless generation_type is REFERENCE"
    return None


def _veo_n(body: Mapping[str, Any], duration: int) -> tuple[str, str] | None:
    n = body.get("n")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 4):
        return "n", "n must be an integer from 1 to 4"
    return None


def _kling(images: str, **kw: Any) -> ModelRule:
    base: dict[str, Any] = {
        "family": "kling",
        "prompt_max": 2500,
        "durations": span(3, 15),
        "qualities": frozenset({"720p", "1080p", "4k"}),
        "aspect_ratios": KLING_ASPECTS,
        "frame_images": True,
        "image_urls": (0, 0),
        "enums": {"sound": frozenset({"on", "off"})},
    }
    if images == "i2v":
        base["image_start_required"] = True
    base.update(kw)
    return ModelRule(**base)


def _kling_loose() -> ModelRule:
    return ModelRule(family="kling", prompt_max=2500, frame_images=True)


def _seedance2(variant: str, task: str) -> ModelRule:
    counts = {"t2v": (0, 0), "i2v": (1, 2), "r2v": (0, 9)}[task]
    lists = {"video_urls": (0, 3), "audio_urls": (0, 3)} if task == "r2v" else {}
    qualities = SEEDANCE_QUALITIES if variant == "" else frozenset({"480p", "720p"})
    return ModelRule(
        family="seedance-2.0",
        durations=span(4, 15),
        qualities=qualities,
        aspect_ratios=SEEDANCE2_ASPECTS,
        image_urls=counts,
        url_lists=lists,
    )


def _veo(preview: bool, aspects: frozenset[str] = VEO_ASPECTS) -> ModelRule:
    checks: tuple[Check, ...] = (_veo_n,)
    if preview:
        checks += (_veo_preview_generation_type,)
    return ModelRule(
        family="veo",
        durations=frozenset({4, 6, 8}),
        default_duration=8,
        qualities=HD,
        aspect_ratios=aspects,
        image_urls=(0, 3) if preview else (0, 2),
        checks=checks,
    )


def _hailuo(images: tuple[int, int]) -> ModelRule:
    return ModelRule(
        family="hailuo",
        prompt_max=2000,
        durations=frozenset({6, 10}),
        default_duration=6,
        qualities=HAILUO_QUALITIES,
        image_urls=images,
        checks=(_hailuo_1080p_six_seconds,),
    )


def _wan(images: tuple[int, int], durations: frozenset[int]) -> ModelRule:
    return ModelRule(family="wan", prompt_max=1500, durations=durations, qualities=HD, image_urls=images)


def _happyhorse(images: tuple[int, int]) -> ModelRule:
    return ModelRule(family="happyhorse", durations=span(3, 15), qualities=HD, image_urls=images)


def _build_table() -> dict[str, ModelRule]:
    table: dict[str, ModelRule] = {
        "kling-v3-image-to-video": _kling("i2v"),
        "kling-o1-image-to-video": _kling("i2v"),
        "kling-o3-image-to-video": _kling("i2v", image_urls=(0, 7)),
        "kling-v3-text-to-video": _kling("t2v"),
        "kling-o3-text-to-video": _kling("t2v"),
        "kling-o3-reference-to-video": _kling("r2v", image_urls=(0, 7)),
        "kling-o3-video-edit": _kling_loose(),
        "kling-o1-video-edit": _kling_loose(),
        "kling-o1-video-edit-fast": _kling_loose(),
        "kling-custom-element": _kling_loose(),
        "seedance-1.5-pro": ModelRule(
            family="seedance",
            durations=span(4, 12),
            qualities=SEEDANCE_QUALITIES,
            aspect_ratios=SEEDANCE_OLD_ASPECTS,
            image_urls=(0, 2),
        ),
        "doubao-seedance-1.0-pro-fast": ModelRule(
            family="seedance",
            durations=span(2, 12),
            qualities=SEEDANCE_QUALITIES,
            aspect_ratios=SEEDANCE_OLD_ASPECTS,
            image_urls=(0, 1),
        ),
        "veo-3.1-generate-preview": _veo(preview=True),
        "veo-3.1-fast-generate-preview": _veo(preview=True),
        "veo3.1-pro": _veo(preview=False, aspects=VEO_ASPECTS | {"auto"}),
        "veo3.1-fast": _veo(preview=False),
        "veo3": _veo(preview=False),
        "veo3-fast": _veo(preview=False),
        "veo3.1-fast-extend": ModelRule(family="veo", default_duration=8),
        "sora-2": ModelRule(family="sora", prompt_max=1000, aspect_ratios=SORA_ASPECTS, image_urls=(0, 1)),
        "sora-2-pro": ModelRule(family="sora", aspect_ratios=SORA_ASPECTS, image_urls=(0, 1)),
        "sora-2-beta-max": ModelRule(family="sora", aspect_ratios=SORA_ASPECTS, image_urls=(0, 1)),
        "sora-2-preview": ModelRule(
            family="sora",
            durations=frozenset({4, 8, 12}),
            default_duration=4,
            aspect_ratios=SORA_ASPECTS | {"1280x720", "720x1280"},
            image_urls=(0, 1),
        ),
        "sora-character": ModelRule(family="sora"),
        "MiniMax-Hailuo-02": _hailuo((0, 2)),
        "MiniMax-Hailuo-2.3": _hailuo((0, 1)),
        "MiniMax-Hailuo-2.3-Fast": _hailuo((1, 1)),
        "wan2.5-t2v-preview": _wan((0, 0), frozenset({5, 10})),
        "wan2.5-text-to-video": _wan((0, 0), frozenset({5, 10})),
        "wan2.6-text-to-video": _wan((0, 0), frozenset({5, 10, 15})),
        "wan2.5-i2v-preview": _wan((1, 1), frozenset({5, 10})),
        "wan2.5-image-to-video": _wan((1, 1), frozenset({5, 10})),
        "wan2.6-image-to-video": _wan((1, 1), frozenset({5, 10, 15})),
        "wan2.6-image-to-video-flash": _wan((1, 1), span(2, 15)),
        "wan2.6-reference-video": _wan((0, 5), frozenset({5, 10})),
        "grok-imagine-text-to-video": ModelRule(family="grok", image_urls=(0, 0)),
        "grok-imagine-image-to-video": ModelRule(family="grok", image_urls=(1, 1)),
    }
    for variant in ("", "-fast", "-mini"):
        for task, suffix in (
            ("t2v", "text-to-video"),
            ("i2v", "image-to-video"),
            ("r2v", "reference-to-video"),
        ):
            table[f"seedance-2.0{variant}-{suffix}"] = _seedance2(variant, task)
    for version in ("1.0", "1.1"):
        table[f"happyhorse-{version}-text-to-video"] = _happyhorse((0, 0))
        table[f"happyhorse-{version}-image-to-video"] = _happyhorse((1, 9))
        table[f"happyhorse-{version}-reference-to-video"] = _happyhorse((1, 9))
    table["happyhorse-1.0-video-edit"] = ModelRule(family="happyhorse", durations=span(3, 15), qualities=HD)
    return table


MODEL_RULES: Mapping[str, ModelRule] = _build_table()

#: Rules for names that match a known family but are not in the table (new versions appear often).
_FAMILY_FALLBACKS: tuple[tuple[re.Pattern[str], ModelRule], ...] = (
    (re.compile(r"^kling-.*-image-to-video$"), _kling("i2v", image_urls=(0, 7))),
    (re.compile(r"^kling-.*-text-to-video$"), _kling("t2v")),
)

#: Anything else: generic checks only.
PASS_THROUGH = ModelRule(family="unknown")


def rule_for(model: str) -> ModelRule:
    """The rule for `model`; unknown names get the permissive pass-through rule."""
    rule = MODEL_RULES.get(model)
    if rule is not None:
        return rule
    for pattern, fallback in _FAMILY_FALLBACKS:
        if pattern.match(model):
            return fallback
    return PASS_THROUGH
