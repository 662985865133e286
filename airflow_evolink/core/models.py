"""Request models for POST /v1/videos/generations, one per model family.

Each model the provider knows has a row in ``_RULES``: the ranges Evolink documents for it, each with its
source beside it. "spec 79a6b56a" is Evolink's own generated parameter file (repository
``deeplearning-goethe/evolink-cli``, ``packages/cli/src/platform/core/src/data/model-params.generated.js``,
docs snapshot 79a6b56a, built from the OpenAPI files of docs.evolink.ai); other sources are named where
used. The rule is: never refuse what the API accepts. Only what a source states is refused; where the
source is unsure (a limit counted in tokens, a value described only loosely) the request goes through and
the API decides, which costs nothing when it refuses.

A model without a row passes through with its own fields untouched, so every Evolink video model works;
only the rules that hold for every model (``model`` present, ``callback_url`` safe) are checked for it.
``build_video_request(fields, check_rules=False)`` turns every client-side rule off.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from airflow_evolink.core.errors import EvolinkValidationError
from airflow_evolink.core.urls import check_callback_url, check_http_url

#: The request fields the submit operator names as arguments, in the order they are documented.
REQUEST_FIELDS = (
    "model",
    "prompt",
    "negative_prompt",
    "image_start",
    "image_end",
    "image_urls",
    "duration",
    "aspect_ratio",
    "quality",
    "sound",
    "model_params",
    "callback_url",
)
#: Those that say what was asked, as a person reads it (the gallery shows them): not the model's own
#: parameters, nor where Evolink calls back.
DESCRIBING_REQUEST_FIELDS = tuple(
    name for name in REQUEST_FIELDS if name not in ("sound", "model_params", "callback_url")
)


@dataclass(frozen=True)
class FamilyRules:
    """The documented ranges of one model. A limit left empty is not checked."""

    duration_min: int | None = None
    duration_max: int | None = None
    duration_choices: tuple[int, ...] = ()
    #: ``-1`` asks the model to choose the length itself.
    duration_auto: bool = False
    qualities: tuple[str, ...] = ()
    aspect_ratios: tuple[str, ...] = ()
    prompt_max: int | None = None
    images_min: int = 0
    images_max: int | None = None
    #: Other URL arrays and their item counts: (field, min, max or None).
    url_lists: tuple[tuple[str, int, int | None], ...] = ()
    #: Other string fields with a fixed set of values: (field, allowed values).
    enums: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: Kling: the first frame ``image_start`` is required.
    image_start_required: bool = False
    #: Kling: a last frame ``image_end`` needs a first frame.
    image_end_needs_start: bool = False


class VideoRequest(BaseModel):
    """Fields every video model shares. Unknown fields are kept and sent as given."""

    model_config = ConfigDict(extra="allow", str_strip_whitespace=False)

    model: str
    prompt: str | None = None
    negative_prompt: str | None = None
    duration: int | None = None
    aspect_ratio: str | None = None
    quality: str | None = None
    model_params: dict[str, Any] | None = None
    callback_url: str | None = None

    family: ClassVar[str] = "generic"

    @field_validator("duration", mode="before")
    @classmethod
    def _check_duration(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("must be an integer, not a boolean")
        return value

    @classmethod
    def rules_for(cls, model: str) -> FamilyRules:
        """The documented ranges of ``model``; empty (nothing checked) for a model without a row."""
        return _RULES.get(model.lower(), FamilyRules())

    def check_rules(self) -> None:
        """Check the model's ranges. Raises :class:`EvolinkValidationError` naming the field and rule."""
        rules = self.rules_for(self.model)
        model = self.model
        if rules.prompt_max is not None and self.prompt is not None and len(self.prompt) > rules.prompt_max:
            raise EvolinkValidationError(
                "prompt",
                f"must be at most {rules.prompt_max} characters (has {len(self.prompt)})",
                model=model,
            )
        if self.duration is not None:
            _check_duration(self.duration, rules, model)
        _check_choice("quality", self.quality, rules.qualities, model)
        _check_choice("aspect_ratio", self.aspect_ratio, rules.aspect_ratios, model)
        for field, allowed in rules.enums:
            value = self._field(field)
            if value is not None and not isinstance(value, str):
                raise EvolinkValidationError(field, "must be a string", value, model=model)
            _check_choice(field, value, allowed, model)
        if self.callback_url is not None:
            check_callback_url(self.callback_url, model=model)

    def payload(self) -> dict[str, Any]:
        """The JSON body to send: fields left as ``None`` are omitted so the API applies its defaults."""
        return self.model_dump(exclude_none=True)

    def _field(self, name: str) -> Any:
        """A declared field or an extra one, by name."""
        if name in type(self).model_fields:
            return getattr(self, name)
        return (self.model_extra or {}).get(name)

    def _check_url_lists(self, rules: FamilyRules) -> None:
        lists = (("image_urls", rules.images_min, rules.images_max), *rules.url_lists)
        for field, low, high in lists:
            value = self._field(field)
            if value is None:
                if low > 0:
                    raise EvolinkValidationError(
                        field, f"needs at least {low} URL(s) for this model (has 0)", model=self.model
                    )
                continue
            if not isinstance(value, list) or not all(isinstance(url, str) for url in value):
                raise EvolinkValidationError(field, "must be a list of URL strings", value, model=self.model)
            if len(value) < low:
                raise EvolinkValidationError(
                    field, f"needs at least {low} URL(s) for this model (has {len(value)})", model=self.model
                )
            if high is not None and len(value) > high:
                raise EvolinkValidationError(
                    field, f"takes at most {high} URL(s) for this model (has {len(value)})", model=self.model
                )
            for index, url in enumerate(value):
                check_http_url(f"{field}[{index}]", url, model=self.model)


class PassThroughVideoRequest(VideoRequest):
    """A model without a rule table here: only universal rules apply, fields go through untouched."""

    model_config = ConfigDict(extra="allow")

    # Types are not enforced for unknown models: their fields may differ from the common ones.
    prompt: Any = None
    negative_prompt: Any = None
    duration: Any = None
    aspect_ratio: Any = None
    quality: Any = None
    model_params: Any = None

    @field_validator("duration", mode="before")
    @classmethod
    def _check_duration(cls, value: Any) -> Any:
        # An unknown model's duration goes through as given.
        return value

    def check_rules(self) -> None:
        if self.callback_url is not None:
            check_callback_url(self.callback_url, model=self.model)


class KlingVideoRequest(VideoRequest):
    """Kling takes first/last frames as single URLs (``image_start``/``image_end``); o1 takes ``image_urls``."""

    family: ClassVar[str] = "kling"

    image_start: str | None = None
    image_end: str | None = None
    sound: str | None = None
    image_urls: list[str] | None = None

    @field_validator("sound", mode="before")
    @classmethod
    def _sound_from_bool(cls, value: Any) -> Any:
        if isinstance(value, bool):
            return "on" if value else "off"
        return value

    def check_rules(self) -> None:
        super().check_rules()
        rules = self.rules_for(self.model)
        model = self.model
        if rules.image_start_required and not self.image_start:
            raise EvolinkValidationError(
                "image_start", "is required for this model (the first frame URL)", model=model
            )
        if rules.image_end_needs_start and self.image_end and not self.image_start:
            raise EvolinkValidationError(
                "image_end", "requires image_start (a last frame needs a first frame)", model=model
            )
        for field in ("image_start", "image_end"):
            value = getattr(self, field)
            if value is not None:
                check_http_url(field, value, model=model)
        self._check_url_lists(rules)


class ImageUrlsVideoRequest(VideoRequest):
    """Families that take input images as an ``image_urls`` list."""

    image_urls: list[str] | None = None

    def check_rules(self) -> None:
        super().check_rules()
        self._check_url_lists(self.rules_for(self.model))


class SeedanceVideoRequest(ImageUrlsVideoRequest):
    family: ClassVar[str] = "seedance"


class WanVideoRequest(ImageUrlsVideoRequest):
    family: ClassVar[str] = "wan"


class VeoVideoRequest(ImageUrlsVideoRequest):
    family: ClassVar[str] = "veo"

    generation_type: str | None = None


class SoraVideoRequest(ImageUrlsVideoRequest):
    family: ClassVar[str] = "sora"


class HailuoVideoRequest(ImageUrlsVideoRequest):
    family: ClassVar[str] = "hailuo"

    def check_rules(self) -> None:
        super().check_rules()
        # spec 79a6b56a MiniMax-Hailuo-*: "1080p: 6s only"
        if self.quality == "1080p" and self.duration not in (None, 6):
            raise EvolinkValidationError(
                "duration", "must be 6 seconds when quality is 1080p", self.duration, model=self.model
            )


class HappyHorseVideoRequest(ImageUrlsVideoRequest):
    family: ClassVar[str] = "happyhorse"


# ---- the rule table ----------------------------------------------------------------------------------
# Keys are lower-case model ids. "spec" below means spec 79a6b56a (see the module docstring). Prompt
# limits the spec counts in tokens, or per language with truncation, are left to the API.

_KLING_ASPECTS = ("16:9", "9:16", "1:1")
_SOUND = (("sound", ("on", "off")),)
_SEEDANCE_ASPECTS = ("16:9", "9:16", "1:1", "4:3", "3:4", "21:9", "adaptive")
_WAN_ASPECTS = ("16:9", "9:16", "1:1", "4:3", "3:4")
_HAPPYHORSE_ASPECTS = ("16:9", "9:16", "1:1", "4:3", "3:4", "4:5", "5:4", "9:21", "21:9")
_HD = ("720p", "1080p")
_SD_TO_HD = ("480p", "720p", "1080p")


def _kling(**rules: Any) -> FamilyRules:
    # spec kling-v3/o3 *-to-video: duration 3..15, prompt maxLength 2500, aspect 16:9 / 9:16 / 1:1
    base: dict[str, Any] = {
        "duration_min": 3,
        "duration_max": 15,
        "prompt_max": 2500,
        "aspect_ratios": _KLING_ASPECTS,
    }
    return FamilyRules(**{**base, **rules})


def _seedance20(qualities: tuple[str, ...], **rules: Any) -> FamilyRules:
    # spec seedance-2.0-*: duration 4..15, aspect enum of seven
    return FamilyRules(
        duration_min=4, duration_max=15, qualities=qualities, aspect_ratios=_SEEDANCE_ASPECTS, **rules
    )


def _seedance25(**rules: Any) -> FamilyRules:
    # spec seedance-2.5-*: duration 4..30 or -1 (automatic), quality 480p / 720p / 1080p
    base: dict[str, Any] = {
        "duration_min": 4,
        "duration_max": 30,
        "duration_auto": True,
        "qualities": _SD_TO_HD,
        "aspect_ratios": _SEEDANCE_ASPECTS,
    }
    return FamilyRules(**{**base, **rules})


def _happyhorse(**rules: Any) -> FamilyRules:
    # spec happyhorse-1.0/1.1-*: duration 3..15, quality 720p / 1080p
    return FamilyRules(duration_min=3, duration_max=15, qualities=_HD, **rules)


_RULES: dict[str, FamilyRules] = {
    # Kling (spec). Quality 4k on v3 / o3 text- and image-to-video; not on the v3-turbo models.
    # Its aspect ratios come from the doc page (kling-v3-image-to-video); the spec has no aspect field.
    "kling-v3-image-to-video": _kling(
        qualities=("720p", "1080p", "4k"),
        enums=_SOUND,
        image_start_required=True,  # spec: required ["image_start"]
        image_end_needs_start=True,  # spec: "image_start must be provided when using last frame"
    ),
    "kling-v3-text-to-video": _kling(qualities=("720p", "1080p", "4k"), enums=_SOUND),
    "kling-o3-image-to-video": _kling(
        qualities=("720p", "1080p", "4k"),
        enums=_SOUND,
        image_end_needs_start=True,  # spec: "Last frame requires a first frame"
    ),
    "kling-o3-text-to-video": _kling(qualities=("720p", "1080p", "4k"), enums=_SOUND),
    "kling-o3-reference-to-video": _kling(duration_max=10, qualities=_HD),  # spec: duration 3..10
    # spec kling-o1-image-to-video: prompt 5000, image_urls 1..2 (required), duration 5 or 10, no quality
    "kling-o1-image-to-video": FamilyRules(
        duration_choices=(5, 10),
        aspect_ratios=_KLING_ASPECTS,
        prompt_max=5000,
        images_min=1,
        images_max=2,
    ),
    # spec kling-v3-turbo-*: quality 720p / 1080p ("4k not supported"), duration 3..15
    "kling-v3-turbo-image-to-video": FamilyRules(
        duration_min=3, duration_max=15, qualities=_HD, prompt_max=2500, image_start_required=True
    ),
    # spec: its 2500-character prompt limit is only "recommended", so it is not checked.
    "kling-v3-turbo-text-to-video": FamilyRules(
        duration_min=3, duration_max=15, qualities=_HD, aspect_ratios=_KLING_ASPECTS
    ),
    # Seedance 2.0 (spec): 4k on the standard models (the doc page lists 480p..1080p: the union is
    # kept); fast and mini stop at 720p (1080p "coming soon"). Image-to-video 1..2 images, reference
    # 0..9 images, 0..3 videos, 0..3 audio clips.
    **{
        f"seedance-2.0{variant}-{task}": _seedance20(
            ("480p", "720p", "1080p", "4k") if variant == "" else ("480p", "720p"), **lists
        )
        for variant in ("", "-fast", "-mini")
        for task, lists in (
            ("text-to-video", {}),
            ("image-to-video", {"images_min": 1, "images_max": 2}),
            (
                "reference-to-video",
                {"images_max": 9, "url_lists": (("video_urls", 0, 3), ("audio_urls", 0, 3))},
            ),
        )
    },
    # Seedance 2.5 (spec)
    "seedance-2.5-text-to-video": _seedance25(),
    "seedance-2.5-image-to-video": _seedance25(
        aspect_ratios=("adaptive",),  # spec: "image-to-video only supports adaptive"
        images_min=1,
        images_max=2,
    ),
    "seedance-2.5-reference-to-video": _seedance25(
        images_max=30, url_lists=(("video_urls", 0, 10), ("audio_urls", 0, 10))
    ),
    # spec seedance-1.5-pro: duration 4..12, quality 480p..1080p, image_urls at most 2
    "seedance-1.5-pro": FamilyRules(duration_min=4, duration_max=12, qualities=_SD_TO_HD, images_max=2),
    # EvoLinkAI/evolink-media-mcp video-api-params.md: 2..12 s, 1 image
    "doubao-seedance-1.0-pro-fast": FamilyRules(
        duration_min=2, duration_max=12, qualities=_SD_TO_HD, images_max=1
    ),
    # Wan (spec). wan2.5 prompt limits are counted in tokens: not checked here.
    "wan2.5-text-to-video": FamilyRules(
        duration_choices=(5, 10), qualities=_SD_TO_HD, aspect_ratios=_WAN_ASPECTS
    ),
    "wan2.5-image-to-video": FamilyRules(
        duration_choices=(5, 10), qualities=_SD_TO_HD, images_min=1, images_max=1
    ),
    "wan2.6-text-to-video": FamilyRules(
        duration_min=2, duration_max=15, qualities=_HD, aspect_ratios=_WAN_ASPECTS, prompt_max=1500
    ),
    **{
        model: FamilyRules(
            duration_min=2, duration_max=15, qualities=_HD, prompt_max=1500, images_min=1, images_max=1
        )
        for model in ("wan2.6-image-to-video", "wan2.6-image-to-video-flash")
    },
    **{
        # spec: video_urls required (at most 3), duration 2..10
        model: FamilyRules(
            duration_min=2,
            duration_max=10,
            qualities=_HD,
            aspect_ratios=_WAN_ASPECTS,
            prompt_max=1500,
            url_lists=(("video_urls", 1, 3),),
        )
        for model in ("wan2.6-reference-video", "wan2.6-reference-video-flash")
    },
    **{
        # spec (model-constraints.js): duration 2..30 or -1
        f"wan3.0-{tier}{task}": FamilyRules(duration_min=2, duration_max=30, duration_auto=True)
        for tier in ("", "prime-")
        for task in ("text-to-video", "image-to-video", "reference-video")
    },
    # Veo (spec): duration 4 / 6 / 8, quality up to 4k, aspect auto / 16:9 / 9:16, at most 3 images.
    **{
        model: FamilyRules(
            duration_choices=(4, 6, 8),
            qualities=("720p", "1080p", "4k"),
            aspect_ratios=("auto", "16:9", "9:16"),
            images_max=3,
            enums=(("generation_type", ("TEXT", "FIRST&LAST", "REFERENCE")),),
        )
        for model in ("veo-3.1-generate-preview", "veo-3.1-fast-generate-preview")
    },
    # Sora (spec)
    "sora-2-preview": FamilyRules(
        duration_choices=(4, 8, 12),
        aspect_ratios=("1280x720", "720x1280", "16:9", "9:16"),
        images_max=1,
    ),
    "sora-2-pro-preview": FamilyRules(
        duration_choices=(4, 8, 12), qualities=_HD, aspect_ratios=("16:9", "9:16"), images_max=1
    ),
    # Hailuo (spec): prompt 2000 characters, duration 6 or 10; 512p only on Hailuo-02
    "minimax-hailuo-02": FamilyRules(
        duration_choices=(6, 10), qualities=("512p", "768p", "1080p"), prompt_max=2000, images_max=2
    ),
    "minimax-hailuo-2.3": FamilyRules(
        duration_choices=(6, 10), qualities=("768p", "1080p"), prompt_max=2000, images_max=1
    ),
    "minimax-hailuo-2.3-fast": FamilyRules(
        duration_choices=(6, 10),
        qualities=("768p", "1080p"),
        prompt_max=2000,
        images_min=1,
        images_max=1,
    ),
    # HappyHorse (spec): image-to-video exactly 1 image, reference 1..9
    **{
        f"happyhorse-{version}-{task}": _happyhorse(**rules)
        for version in ("1.0", "1.1")
        for task, rules in (
            ("text-to-video", {"aspect_ratios": _HAPPYHORSE_ASPECTS}),
            ("image-to-video", {"images_min": 1, "images_max": 1}),
            ("reference-to-video", {"aspect_ratios": _HAPPYHORSE_ASPECTS, "images_min": 1, "images_max": 9}),
        )
    },
    # spec happyhorse-1.0-video-edit: one video_urls item, at most 5 images, no duration
    "happyhorse-1.0-video-edit": FamilyRules(qualities=_HD, images_max=5, url_lists=(("video_urls", 1, 1),)),
}

_FAMILIES: tuple[tuple[tuple[str, ...], type[VideoRequest]], ...] = (
    (("kling-",), KlingVideoRequest),
    (("seedance-", "doubao-seedance-"), SeedanceVideoRequest),
    (("wan",), WanVideoRequest),
    (("veo",), VeoVideoRequest),
    (("sora-",), SoraVideoRequest),
    (("minimax-hailuo-",), HailuoVideoRequest),
    (("happyhorse-",), HappyHorseVideoRequest),
)


def request_class_for(model: str) -> type[VideoRequest]:
    """The request model that knows the rules of ``model``; pass-through for models without a row."""
    name = model.lower()
    if name in _RULES:
        for prefixes, cls in _FAMILIES:
            if name.startswith(prefixes):
                return cls
    return PassThroughVideoRequest


def build_video_request(fields: Mapping[str, Any], *, check_rules: bool = True) -> VideoRequest:
    """Validate ``fields`` against the model's rules and return the request, or raise naming the field.

    Fields whose value is ``None`` are dropped first, so optional operator arguments left unset never
    reach the API. With ``check_rules=False`` only the universal checks remain (``model`` is a non-empty
    string, the body is JSON-serializable) and every field goes through untouched: for a model whose
    rules changed faster than this provider.
    """
    cleaned = {key: value for key, value in fields.items() if value is not None}
    model = cleaned.get("model")
    if not isinstance(model, str) or not model.strip():
        raise EvolinkValidationError("model", "is required and must be a non-empty string", model)
    request: VideoRequest
    if check_rules:
        cls = request_class_for(model)
        try:
            request = cls.model_validate(cleaned)
        except ValidationError as exc:
            raise _first_error(exc, model) from None
        request.check_rules()
    else:
        # No validation at all: the fields are kept exactly as given (no coercion by a family class).
        request = PassThroughVideoRequest.model_construct(**cleaned)
    try:
        json.dumps(request.payload())
    except (TypeError, ValueError) as exc:
        raise EvolinkValidationError(
            "request", f"every field must be JSON-serializable ({exc})", model=model
        ) from None
    return request


def _check_duration(duration: int, rules: FamilyRules, model: str) -> None:
    if rules.duration_auto and duration == -1:
        return
    auto = ", or -1 (automatic)" if rules.duration_auto else ""
    if rules.duration_choices and duration not in rules.duration_choices:
        allowed = ", ".join(str(d) for d in rules.duration_choices)
        raise EvolinkValidationError(
            "duration", f"must be one of {allowed} seconds{auto}", duration, model=model
        )
    low, high = rules.duration_min, rules.duration_max
    if (low is not None and duration < low) or (high is not None and duration > high):
        raise EvolinkValidationError(
            "duration", f"must be an integer from {low} to {high} seconds{auto}", duration, model=model
        )


def _check_choice(field: str, value: str | None, allowed: tuple[str, ...], model: str) -> None:
    if value is not None and allowed and value not in allowed:
        raise EvolinkValidationError(field, f"must be one of {', '.join(allowed)}", value, model=model)


def _first_error(exc: ValidationError, model: str) -> EvolinkValidationError:
    error = exc.errors(include_url=False)[0]
    field = ""
    for part in error.get("loc", ()):
        field += f"[{part}]" if isinstance(part, int) else (f".{part}" if field else str(part))
    field = field or "request"
    message = str(error.get("msg", "is invalid"))
    message = message.removeprefix("Value error, ")
    rule = message[0].lower() + message[1:] if message else "is invalid"
    return EvolinkValidationError(field, rule, error.get("input"), model=model)
