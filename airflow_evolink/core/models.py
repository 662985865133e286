"""Request models for POST /v1/videos/generations, one per model family.

Each family declares its field types (pydantic) and its ranges (a :class:`FamilyRules`). A model the
provider does not know passes through with its own fields untouched, so every Evolink video model works;
only the rules that hold for every model (``model`` present, ``callback_url`` safe) are checked for it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from airflow_evolink.core.errors import EvolinkValidationError
from airflow_evolink.core.urls import check_callback_url, check_http_url


@dataclass(frozen=True)
class FamilyRules:
    """The documented ranges for one model (or a group of models) of a family."""

    duration_min: int | None = None
    duration_max: int | None = None
    duration_choices: tuple[int, ...] = ()
    qualities: tuple[str, ...] = ()
    aspect_ratios: tuple[str, ...] = ()
    prompt_max: int | None = None
    images_min: int = 0
    images_max: int | None = None


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
        return FamilyRules()

    def check_rules(self) -> None:
        """Check the family's ranges. Raises :class:`EvolinkValidationError` naming the field and rule."""
        rules = self.rules_for(self.model)
        model = self.model
        if rules.prompt_max is not None and self.prompt is not None and len(self.prompt) > rules.prompt_max:
            raise EvolinkValidationError(
                "prompt",
                f"must be at most {rules.prompt_max} characters (has {len(self.prompt)})",
                model=model,
            )
        if self.duration is not None:
            if rules.duration_choices and self.duration not in rules.duration_choices:
                allowed = ", ".join(str(d) for d in rules.duration_choices)
                raise EvolinkValidationError(
                    "duration", f"must be one of {allowed} seconds", self.duration, model=model
                )
            low, high = rules.duration_min, rules.duration_max
            if (low is not None and self.duration < low) or (high is not None and self.duration > high):
                raise EvolinkValidationError(
                    "duration", f"must be an integer from {low} to {high} seconds", self.duration, model=model
                )
        _check_choice("quality", self.quality, rules.qualities, model)
        _check_choice("aspect_ratio", self.aspect_ratio, rules.aspect_ratios, model)
        if self.callback_url is not None:
            check_callback_url(self.callback_url, model=model)

    def payload(self) -> dict[str, Any]:
        """The JSON body to send: fields left as ``None`` are omitted so the API applies its defaults."""
        return self.model_dump(exclude_none=True)


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
    """Kling takes single first/last frame URLs (``image_start``/``image_end``), not ``image_urls``."""

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

    @classmethod
    def rules_for(cls, model: str) -> FamilyRules:
        return FamilyRules(
            duration_min=3,
            duration_max=15,
            qualities=("720p", "1080p"),
            aspect_ratios=("16:9", "9:16", "1:1"),
            prompt_max=2500,
        )

    def check_rules(self) -> None:
        super().check_rules()
        model = self.model
        name = model.lower()
        image_to_video = "image-to-video" in name
        if image_to_video and not self.image_start:
            raise EvolinkValidationError(
                "image_start", "is required for Kling image-to-video (the first frame URL)", model=model
            )
        if self.image_end and not self.image_start:
            raise EvolinkValidationError(
                "image_end", "requires image_start (a last frame needs a first frame)", model=model
            )
        for field in ("image_start", "image_end"):
            value = getattr(self, field)
            if value is not None:
                check_http_url(field, value, model=model)
        _check_choice("sound", self.sound, ("on", "off"), model)
        if self.image_urls is not None and not (name.startswith("kling-o3") and image_to_video):
            raise EvolinkValidationError(
                "image_urls",
                "is only taken by kling-o3 image-to-video (style references); pass image_start / image_end",
                model=model,
            )
        for index, url in enumerate(self.image_urls or []):
            check_http_url(f"image_urls[{index}]", url, model=model)


class ImageUrlsVideoRequest(VideoRequest):
    """Families that take input images as an ``image_urls`` list."""

    image_urls: list[str] | None = None

    def check_rules(self) -> None:
        super().check_rules()
        rules = self.rules_for(self.model)
        urls = self.image_urls or []
        images_max = self._images_max(rules)
        if len(urls) < rules.images_min:
            raise EvolinkValidationError(
                "image_urls",
                f"needs at least {rules.images_min} image URL(s) for this model (has {len(urls)})",
                model=self.model,
            )
        if images_max is not None and len(urls) > images_max:
            raise EvolinkValidationError(
                "image_urls",
                f"takes at most {images_max} image URL(s) for this model (has {len(urls)})",
                model=self.model,
            )
        for index, url in enumerate(urls):
            check_http_url(f"image_urls[{index}]", url, model=self.model)

    def _images_max(self, rules: FamilyRules) -> int | None:
        return rules.images_max


def _kind(model: str) -> str:
    if "reference" in model or "-r2v" in model:
        return "r2v"
    if "image-to-video" in model or "i2v" in model:
        return "i2v"
    if "text-to-video" in model or "t2v" in model:
        return "t2v"
    return "any"


class SeedanceVideoRequest(ImageUrlsVideoRequest):
    family: ClassVar[str] = "seedance"

    @classmethod
    def rules_for(cls, model: str) -> FamilyRules:
        if model.startswith("seedance-2.0"):
            images = {"t2v": (0, 0), "i2v": (1, 2), "r2v": (0, 9)}.get(_kind(model), (0, 9))
            standard = not model.startswith(("seedance-2.0-fast", "seedance-2.0-mini"))
            return FamilyRules(
                duration_min=4,
                duration_max=15,
                # 1080p is for the Standard models only.
                qualities=("480p", "720p", "1080p") if standard else ("480p", "720p"),
                aspect_ratios=("16:9", "9:16", "1:1", "4:3", "3:4", "21:9", "adaptive"),
                images_min=images[0],
                images_max=images[1],
            )
        if model.startswith("doubao-seedance-1.0-pro-fast"):
            return FamilyRules(
                duration_min=2, duration_max=12, qualities=("480p", "720p", "1080p"), images_max=1
            )
        return FamilyRules(images_max=2)


class WanVideoRequest(ImageUrlsVideoRequest):
    family: ClassVar[str] = "wan"

    @classmethod
    def rules_for(cls, model: str) -> FamilyRules:
        kind = _kind(model)
        images = (1, 1) if kind == "i2v" else (0, None) if kind == "r2v" else (0, 0)
        durations: tuple[int, ...] = ()
        low = high = None
        if model.startswith("wan2.6-image-to-video-flash"):
            low, high = 2, 15
        elif model.startswith("wan2.6-image-to-video"):
            durations = (5, 10, 15)
        return FamilyRules(
            prompt_max=1500,
            qualities=("720p", "1080p"),
            duration_choices=durations,
            duration_min=low,
            duration_max=high,
            images_min=images[0],
            images_max=images[1],
        )


class VeoVideoRequest(ImageUrlsVideoRequest):
    family: ClassVar[str] = "veo"

    generation_type: str | None = None

    @classmethod
    def rules_for(cls, model: str) -> FamilyRules:
        return FamilyRules(duration_choices=(4, 6, 8), qualities=("720p", "1080p"), images_max=2)

    def _images_max(self, rules: FamilyRules) -> int | None:
        # REFERENCE mode takes up to three images.
        return 3 if self.generation_type == "REFERENCE" else rules.images_max


class SoraVideoRequest(ImageUrlsVideoRequest):
    family: ClassVar[str] = "sora"

    @classmethod
    def rules_for(cls, model: str) -> FamilyRules:
        if model.startswith("sora-2-preview"):
            return FamilyRules(
                duration_choices=(4, 8, 12),
                aspect_ratios=("16:9", "9:16", "1280x720", "720x1280"),
                images_max=1,
            )
        if model in ("sora-2", "sora-2-pro"):
            return FamilyRules(prompt_max=1000, aspect_ratios=("16:9", "9:16"), images_max=1)
        return FamilyRules(images_max=1)


class HailuoVideoRequest(ImageUrlsVideoRequest):
    family: ClassVar[str] = "hailuo"

    @classmethod
    def rules_for(cls, model: str) -> FamilyRules:
        name = model.lower()
        images = (0, 2) if "hailuo-02" in name else (1, 1) if name.endswith("-fast") else (0, 1)
        return FamilyRules(
            prompt_max=2000,
            qualities=("512p", "768p", "1080p"),
            duration_choices=(6, 10),
            images_min=images[0],
            images_max=images[1],
        )

    def check_rules(self) -> None:
        super().check_rules()
        if self.quality == "1080p" and self.duration not in (None, 6):
            raise EvolinkValidationError(
                "duration", "must be 6 seconds when quality is 1080p", self.duration, model=self.model
            )


class HappyHorseVideoRequest(ImageUrlsVideoRequest):
    family: ClassVar[str] = "happyhorse"

    @classmethod
    def rules_for(cls, model: str) -> FamilyRules:
        images = {"t2v": (0, 0), "i2v": (1, 1), "r2v": (1, 9)}.get(_kind(model), (0, 9))
        return FamilyRules(
            duration_min=3,
            duration_max=15,
            qualities=("720p", "1080p"),
            images_min=images[0],
            images_max=images[1],
        )


_FAMILIES: tuple[tuple[tuple[str, ...], type[VideoRequest]], ...] = (
    (("kling-v3-", "kling-o3-", "kling-o1-"), KlingVideoRequest),
    (("seedance-", "doubao-seedance-"), SeedanceVideoRequest),
    (("wan2.",), WanVideoRequest),
    (("veo",), VeoVideoRequest),
    (("sora-2",), SoraVideoRequest),
    (("minimax-hailuo-",), HailuoVideoRequest),
    (("happyhorse-",), HappyHorseVideoRequest),
)


def request_class_for(model: str) -> type[VideoRequest]:
    """The request model that knows the rules of ``model``; pass-through for models without a table."""
    name = model.lower()
    for prefixes, cls in _FAMILIES:
        if name.startswith(prefixes):
            if cls is KlingVideoRequest and not ("image-to-video" in name or "text-to-video" in name):
                return PassThroughVideoRequest
            return cls
    return PassThroughVideoRequest


def build_video_request(fields: Mapping[str, Any], *, check_rules: bool = True) -> VideoRequest:
    """Validate ``fields`` against the model's family and return the request, or raise naming the field.

    Fields whose value is ``None`` are dropped first, so optional operator arguments left unset never
    reach the API.
    """
    cleaned = {key: value for key, value in fields.items() if value is not None}
    model = cleaned.get("model")
    if not isinstance(model, str) or not model.strip():
        raise EvolinkValidationError("model", "is required and must be a non-empty string", model)
    cls = request_class_for(model) if check_rules else PassThroughVideoRequest
    try:
        request = cls.model_validate(cleaned)
    except ValidationError as exc:
        raise _first_error(exc, model) from None
    request.check_rules()
    try:
        json.dumps(request.payload())
    except (TypeError, ValueError) as exc:
        raise EvolinkValidationError(
            "request", f"every field must be JSON-serializable ({exc})", model=model
        ) from None
    return request


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
