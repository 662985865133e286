"""The emulator's own table of model rules.

Deliberately independent of the client's rule table: if both were generated from one source, a wrong rule
would pass the client's own tests. The emulator must accept everything the real API accepts, so it
refuses only what a source states. "Spec" below is Evolink's generated parameter file (evolink-cli
``packages/cli/src/platform/core/src/data/model-params.generated.js``, docs snapshot 79a6b56a; see
/work/shared/evolink-api.md section 9), "notes" is /work/shared/evolink-api.md section 5. Where the spec
is loose the emulator accepts:

* Prompt limits the spec counts in tokens (Wan 2.5, Veo, Sora, Seedance) or per language with truncation
  (HappyHorse) are not checked.
* A model the spec says "does not support" a field (e.g. text-to-video and `image_urls`) gets no 400 for
  it: the spec does not say the API refuses it.
* Models the spec does not list (sora-2, veo3.1-fast, wan2.5 previews...) and models whose inputs it
  leaves open (kling-o3-video-edit, kling-custom-element) get only the generic checks.
* Unknown model names pass through: only generic checks, duration default 5.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: (field, message) of a broken rule, or None when the body is fine.
Check = Callable[[Mapping[str, Any], int], "tuple[str, str] | None"]

#: `-1` in a duration set means "the model picks the length".
AUTO = -1

KLING_ASPECTS = frozenset({"16:9", "9:16", "1:1"})
SEEDANCE2_ASPECTS = frozenset({"16:9", "9:16", "1:1", "4:3", "3:4", "21:9", "adaptive"})
SEEDANCE_OLD_ASPECTS = SEEDANCE2_ASPECTS | {"keep_ratio"}
VEO_ASPECTS = frozenset({"auto", "16:9", "9:16"})
WAN_ASPECTS = frozenset({"16:9", "9:16", "1:1", "4:3", "3:4"})
HAPPYHORSE_ASPECTS = frozenset({"16:9", "9:16", "1:1", "4:3", "3:4", "4:5", "5:4", "9:21", "21:9"})
GROK_ASPECTS = frozenset({"16:9", "9:16", "1:1", "3:2", "2:3", "4:3", "3:4"})
HD = frozenset({"720p", "1080p"})
HD_4K = HD | {"4k"}
SD_HD = frozenset({"480p", "720p", "1080p"})
SD = frozenset({"480p", "720p"})


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
    #: Allowed count of `image_urls` items, the upper bound None when not checked.
    image_urls: tuple[int, int | None] = (0, None)
    #: Other URL lists and their allowed counts (e.g. Seedance R2V `video_urls`).
    url_lists: Mapping[str, tuple[int, int | None]] = field(default_factory=dict)
    #: Plain enum fields (e.g. Kling `sound`).
    enums: Mapping[str, frozenset[str]] = field(default_factory=dict)
    #: Rules that involve more than one field.
    checks: tuple[Check, ...] = ()
    #: `usage.billing_rule` on its tasks; the price itself is in pricing.py.
    billing_rule: str = "per_second"


def span(low: int, high: int) -> frozenset[int]:
    return frozenset(range(low, high + 1))


def _hailuo_1080p_six_seconds(body: Mapping[str, Any], duration: int) -> tuple[str, str] | None:
    # Spec MiniMax-Hailuo-*: "1080p: 6s only".
    if body.get("quality") == "1080p" and duration != 6:
        return "duration", "duration must be 6 when quality is 1080p for MiniMax-Hailuo models"
    return None


def _n_from_1_to_4(body: Mapping[str, Any], duration: int) -> tuple[str, str] | None:
    # Spec veo-3.1-*-generate-preview: n minimum 1, maximum 4.
    n = body.get("n")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 4):
        return "n", "n must be an integer from 1 to 4"
    return None


def _kling(**kw: Any) -> ModelRule:
    # Spec kling-v3 / o3 *-to-video: prompt 2500, duration 3..15, aspect 16:9 / 9:16 / 1:1.
    base: dict[str, Any] = {
        "family": "kling",
        "prompt_max": 2500,
        "durations": span(3, 15),
        "aspect_ratios": KLING_ASPECTS,
        "frame_images": True,
    }
    base.update(kw)
    return ModelRule(**base)


SOUND = {"sound": frozenset({"on", "off"})}


def _seedance2(variant: str, task: str) -> ModelRule:
    # Spec seedance-2.0-*: duration 4..15; 4k on the standard models, fast / mini 480p / 720p.
    counts: tuple[int, int | None] = {"t2v": (0, None), "i2v": (1, 2), "r2v": (0, 9)}[task]
    lists = {"video_urls": (0, 3), "audio_urls": (0, 3)} if task == "r2v" else {}
    return ModelRule(
        family="seedance-2.0",
        durations=span(4, 15),
        qualities=frozenset({"480p", "720p", "1080p", "4k"}) if variant == "" else SD,
        aspect_ratios=SEEDANCE2_ASPECTS,
        image_urls=counts,
        url_lists=lists,
    )


def _seedance25(**kw: Any) -> ModelRule:
    # Spec seedance-2.5-*: duration 4..30 or -1, quality 480p / 720p / 1080p.
    base: dict[str, Any] = {
        "family": "seedance-2.5",
        "durations": span(4, 30) | {AUTO},
        "qualities": SD_HD,
        "aspect_ratios": SEEDANCE2_ASPECTS,
    }
    base.update(kw)
    return ModelRule(**base)


def _wan26(images: tuple[int, int | None], **kw: Any) -> ModelRule:
    # Spec wan2.6-*: prompt 1500 characters, duration 2..15, quality 720p / 1080p.
    base: dict[str, Any] = {
        "family": "wan",
        "prompt_max": 1500,
        "durations": span(2, 15),
        "qualities": HD,
        "image_urls": images,
    }
    base.update(kw)
    return ModelRule(**base)


def _happyhorse(**kw: Any) -> ModelRule:
    # Spec happyhorse-1.0 / 1.1: duration 3..15, quality 720p / 1080p.
    return ModelRule(family="happyhorse", durations=span(3, 15), qualities=HD, **kw)


def _loose(family: str, default_duration: int = 5) -> ModelRule:
    return ModelRule(family=family, default_duration=default_duration)


def _build_table() -> dict[str, ModelRule]:
    table: dict[str, ModelRule] = {
        # Its aspect ratios come from the doc page (notes section 1.1); the spec lists no aspect field.
        "kling-v3-image-to-video": _kling(qualities=HD_4K, enums=SOUND, image_start_required=True),
        "kling-v3-text-to-video": _kling(qualities=HD_4K, enums=SOUND, frame_images=False),
        # Spec: o3 image-to-video requires only the prompt; a last frame still needs a first frame.
        "kling-o3-image-to-video": _kling(qualities=HD_4K, enums=SOUND),
        "kling-o3-text-to-video": _kling(qualities=HD_4K, enums=SOUND, frame_images=False),
        "kling-o3-reference-to-video": _kling(durations=span(3, 10), qualities=HD, frame_images=False),
        # Spec: "4k not supported" on the turbo models; turbo text-to-video's prompt limit is advice.
        "kling-v3-turbo-image-to-video": _kling(qualities=HD, aspect_ratios=None, image_start_required=True),
        "kling-v3-turbo-text-to-video": _kling(qualities=HD, prompt_max=None, frame_images=False),
        # Spec: frames in image_urls (1..2), duration 5 or 10, prompt 5000, no quality field.
        "kling-o1-image-to-video": ModelRule(
            family="kling",
            prompt_max=5000,
            durations=frozenset({5, 10}),
            aspect_ratios=KLING_ASPECTS,
            image_urls=(1, 2),
        ),
        # Spec: prompt 5000, one video, up to 4 reference images.
        "kling-o1-video-edit": ModelRule(
            family="kling", prompt_max=5000, image_urls=(0, 4), url_lists={"video_urls": (1, 1)}
        ),
        "kling-o1-video-edit-fast": ModelRule(
            family="kling", prompt_max=5000, image_urls=(0, 4), url_lists={"video_urls": (1, 1)}
        ),
        "kling-o3-video-edit": _loose("kling"),
        "kling-custom-element": _loose("kling"),
        # Spec: duration 4..12, quality 480p..1080p, at most 2 images.
        "seedance-1.5-pro": ModelRule(
            family="seedance",
            durations=span(4, 12),
            qualities=SD_HD,
            aspect_ratios=SEEDANCE_OLD_ASPECTS,
            image_urls=(0, 2),
        ),
        # Notes (section 5): duration 2..12, 480p..1080p, one image.
        "doubao-seedance-1.0-pro-fast": ModelRule(
            family="seedance",
            durations=span(2, 12),
            qualities=SD_HD,
            aspect_ratios=SEEDANCE_OLD_ASPECTS,
            image_urls=(0, 1),
        ),
        "seedance-2.5-text-to-video": _seedance25(),
        # Spec: image-to-video "only supports adaptive".
        "seedance-2.5-image-to-video": _seedance25(aspect_ratios=frozenset({"adaptive"}), image_urls=(1, 2)),
        "seedance-2.5-reference-to-video": _seedance25(
            image_urls=(0, 30), url_lists={"video_urls": (0, 10), "audio_urls": (0, 10)}
        ),
        # Spec: duration 4 / 6 / 8 (default 4), up to 4k, aspect auto / 16:9 / 9:16, at most 3 images.
        "veo-3.1-generate-preview": ModelRule(
            family="veo",
            durations=frozenset({4, 6, 8}),
            default_duration=4,
            qualities=HD_4K,
            aspect_ratios=VEO_ASPECTS,
            image_urls=(0, 3),
            enums={"generation_type": frozenset({"TEXT", "FIRST&LAST", "REFERENCE"})},
            checks=(_n_from_1_to_4,),
        ),
        # Spec veo3.1-fast-beta / veo3.1-pro-beta: quality 720p only, images at most 3 / 2.
        "veo3.1-fast-beta": ModelRule(
            family="veo",
            default_duration=8,
            qualities=frozenset({"720p"}),
            aspect_ratios=VEO_ASPECTS,
            image_urls=(0, 3),
        ),
        "veo3.1-pro-beta": ModelRule(
            family="veo",
            default_duration=8,
            qualities=frozenset({"720p"}),
            aspect_ratios=VEO_ASPECTS,
            image_urls=(0, 2),
        ),
        "veo3.1-pro": _loose("veo", 8),
        "veo3.1-fast": _loose("veo", 8),
        "veo3": _loose("veo", 8),
        "veo3-fast": _loose("veo", 8),
        "veo3.1-fast-extend": _loose("veo", 8),
        # Spec sora-2-preview / sora-2-pro-preview: duration 4 / 8 / 12, at most 1 image.
        "sora-2-preview": ModelRule(
            family="sora",
            durations=frozenset({4, 8, 12}),
            default_duration=4,
            aspect_ratios=frozenset({"16:9", "9:16", "1280x720", "720x1280"}),
            image_urls=(0, 1),
        ),
        "sora-2-pro-preview": ModelRule(
            family="sora",
            durations=frozenset({4, 8, 12}),
            default_duration=4,
            qualities=HD,
            aspect_ratios=frozenset({"16:9", "9:16"}),
            image_urls=(0, 1),
        ),
        "sora-2": _loose("sora"),
        "sora-2-pro": _loose("sora"),
        "sora-2-beta-max": _loose("sora"),
        "sora-character": _loose("sora"),
        # Spec: prompt 2000 characters, duration 6 / 10; 512p only on Hailuo-02; 2.3-Fast needs 1 image.
        "MiniMax-Hailuo-02": ModelRule(
            family="hailuo",
            prompt_max=2000,
            durations=frozenset({6, 10}),
            default_duration=6,
            qualities=frozenset({"512p", "768p", "1080p"}),
            image_urls=(0, 2),
            checks=(_hailuo_1080p_six_seconds,),
        ),
        "MiniMax-Hailuo-2.3": ModelRule(
            family="hailuo",
            prompt_max=2000,
            durations=frozenset({6, 10}),
            default_duration=6,
            qualities=frozenset({"768p", "1080p"}),
            image_urls=(0, 1),
            checks=(_hailuo_1080p_six_seconds,),
        ),
        "MiniMax-Hailuo-2.3-Fast": ModelRule(
            family="hailuo",
            prompt_max=2000,
            durations=frozenset({6, 10}),
            default_duration=6,
            qualities=frozenset({"768p", "1080p"}),
            image_urls=(1, 1),
            checks=(_hailuo_1080p_six_seconds,),
        ),
        # Spec wan2.5: duration 5 / 10, quality 480p..1080p (its prompt limit is in tokens).
        "wan2.5-text-to-video": ModelRule(
            family="wan", durations=frozenset({5, 10}), qualities=SD_HD, aspect_ratios=WAN_ASPECTS
        ),
        "wan2.5-image-to-video": ModelRule(
            family="wan", durations=frozenset({5, 10}), qualities=SD_HD, image_urls=(1, 1)
        ),
        "wan2.5-t2v-preview": _loose("wan"),
        "wan2.5-i2v-preview": _loose("wan"),
        "wan2.6-text-to-video": _wan26((0, None), aspect_ratios=WAN_ASPECTS),
        "wan2.6-image-to-video": _wan26((1, 1)),
        "wan2.6-image-to-video-flash": _wan26((1, 1)),
        # Spec: video_urls required (at most 3), duration 2..10.
        "wan2.6-reference-video": _wan26(
            (0, None), durations=span(2, 10), aspect_ratios=WAN_ASPECTS, url_lists={"video_urls": (1, 3)}
        ),
        "wan2.6-reference-video-flash": _wan26(
            (0, None), durations=span(2, 10), aspect_ratios=WAN_ASPECTS, url_lists={"video_urls": (1, 3)}
        ),
        # Spec grok-imagine-*-beta (doc pages grok-imagine-text-to-video / -image-to-video): 1..7 images.
        "grok-imagine-text-to-video": _loose("grok"),
        "grok-imagine-image-to-video": ModelRule(family="grok", image_urls=(1, 7)),
        "grok-imagine-text-to-video-beta": ModelRule(
            family="grok", durations=span(6, 30), default_duration=6, qualities=SD
        ),
        "grok-imagine-image-to-video-beta": ModelRule(
            family="grok", durations=span(6, 30), default_duration=6, qualities=SD, image_urls=(1, 7)
        ),
        # Spec grok-imagine-video-1.0-i2v; notes section 9 for 1.0-t2v: 1..15 s, 480p / 720p.
        "grok-imagine-video-1.0-i2v": ModelRule(
            family="grok",
            durations=span(1, 15),
            default_duration=6,
            qualities=SD,
            aspect_ratios=GROK_ASPECTS,
            image_urls=(1, 7),
        ),
        "grok-imagine-video-1.0-t2v": ModelRule(
            family="grok", durations=span(1, 15), default_duration=6, qualities=SD
        ),
    }
    table["veo-3.1-fast-generate-preview"] = table["veo-3.1-generate-preview"]
    for variant in ("", "-fast", "-mini"):
        for task, suffix in (
            ("t2v", "text-to-video"),
            ("i2v", "image-to-video"),
            ("r2v", "reference-to-video"),
        ):
            table[f"seedance-2.0{variant}-{suffix}"] = _seedance2(variant, task)
    for version in ("1.0", "1.1"):
        table[f"happyhorse-{version}-text-to-video"] = _happyhorse(aspect_ratios=HAPPYHORSE_ASPECTS)
        # Spec: image-to-video takes exactly one image (the first frame).
        table[f"happyhorse-{version}-image-to-video"] = _happyhorse(image_urls=(1, 1))
        table[f"happyhorse-{version}-reference-to-video"] = _happyhorse(
            aspect_ratios=HAPPYHORSE_ASPECTS, image_urls=(1, 9)
        )
    # Spec happyhorse-1.0-video-edit: one video, up to 5 images, no duration field.
    table["happyhorse-1.0-video-edit"] = ModelRule(
        family="happyhorse", qualities=HD, image_urls=(0, 5), url_lists={"video_urls": (1, 1)}
    )
    # Spec (model-constraints.js): wan3.0 duration 2..30 or -1.
    for tier in ("", "prime-"):
        for task in ("text-to-video", "image-to-video", "reference-video"):
            table[f"wan3.0-{tier}{task}"] = ModelRule(family="wan", durations=span(2, 30) | {AUTO})
    return table


MODEL_RULES: Mapping[str, ModelRule] = _build_table()

#: Anything else: generic checks only.
PASS_THROUGH = ModelRule(family="unknown")


def rule_for(model: str) -> ModelRule:
    """The rule for `model`; unknown names (new versions of a family too) get the pass-through rule."""
    return MODEL_RULES.get(model, PASS_THROUGH)
