"""From a generation request to the pricing parameters a model's rules declare.

The rules name their parameters (``duration_seconds``, ``quality``, ``sound``, ``input_images``...); a
request names its fields. Evolink's own client maps them (evolink-cli ``services/pricing-quote-client.js``,
``prepareQuoteParameters``), and so does this module:

- by name, else by alias: ``duration_seconds``/``output_seconds`` <- ``duration``, ``resolution`` <->
  ``quality``, ``image_count``/``video_count`` <- ``n``/``count`` (an alias the rules declare themselves is
  a parameter of its own, not an alias);
- ``input_images`` <- ``len(image_urls)``, else how many of ``image_url``, ``image_start``, ``image_end``
  the request has (Kling's first and last frames); a declared ``image_start``/``image_end`` parameter of
  type boolean or integer reads whether the frame is there;
- a parameter the request does not set takes the model's spec default, then the rule's default;
- a measured parameter (``...tokens``, ``input_seconds``, ``output_seconds``, ``first_input_video_seconds``
  ...) is known only after the run unless the caller passes it in ``usage``: without it, the estimate is
  partial. So is a smart duration (``-1``): the model picks the length.

A value the rules refuse (out of the published range, not an allowed value, the wrong type, two fields
that disagree) raises :class:`ParameterError`: no published price covers that request.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from airflow_evolink.pricing.expressions import PricingRuleError, Value
from airflow_evolink.pricing.rules import ModelRules, Parameter

ALIASES: dict[str, tuple[str, ...]] = {
    "duration_seconds": ("duration",),
    "output_seconds": ("duration",),
    "image_count": ("n", "count"),
    "video_count": ("n", "count"),
    "resolution": ("quality",),
    "quality": ("resolution",),
}
MEASURED = re.compile(
    r"(?:tokens|input_seconds|output_seconds|source_output_seconds|first_input_video_seconds|search_count)$"
)
SMART_DURATION = -1
_FRAMES = ("image_url", "image_start", "image_end")
_NUMERIC = re.compile(r"^-?(?:0|[1-9]\d*)(?:\.\d+)?$")
_DURATION_PARAMETERS = ("duration_seconds", "output_seconds")


class ParameterError(PricingRuleError):
    """The request has a value the published rules do not price (the message names the parameter)."""


@dataclass
class PricingParameters:
    """The parameter values for the rules, and what is not known before the run."""

    values: dict[str, Value] = field(default_factory=dict)
    #: Parameters without a value: measured usage, or the length of a smart-duration clip.
    missing: set[str] = field(default_factory=set)
    smart_duration: bool = False
    has_input_video: bool = False


def prepare_parameters(
    rules: ModelRules,
    body: Mapping[str, Any],
    *,
    usage: Mapping[str, Any] | None = None,
    spec_defaults: Mapping[str, Any] | None = None,
) -> PricingParameters:
    """The pricing parameters of ``body`` for ``rules`` (see the module docstring)."""
    usage = usage or {}
    spec_defaults = spec_defaults or {}
    declared = rules.parameter_map
    undeclared = sorted(set(usage) - set(declared))
    if undeclared:
        raise ParameterError(f"the pricing rules declare no parameter {undeclared[0]!r} (given in usage)")
    out = PricingParameters(has_input_video=_has_input_video(body))
    for name, parameter in declared.items():
        names = (name, *(alias for alias in ALIASES.get(name, ()) if alias not in declared))
        supplied = [body[key] for key in names if body.get(key) is not None]
        if any(str(value) != str(supplied[0]) for value in supplied[1:]):
            raise ParameterError(f"the request gives {name} two different values ({', '.join(names)})")
        value: Any = supplied[0] if supplied else None
        if value is None:
            value = _counted(name, parameter, body)
        if name in usage:
            if value is not None and str(value) != str(usage[name]):
                raise ParameterError(f"usage {name}={usage[name]!r} differs from the request's {value!r}")
            value = usage[name]
        if value is None and name in _DURATION_PARAMETERS and "duration" in declared:
            # The rules declare the request's duration too (it may be -1); the billed seconds follow it.
            value = body.get("duration")
        if name in _DURATION_PARAMETERS and _is_smart(value):
            out.smart_duration = True
            out.missing.add(name)
            continue
        measured = bool(MEASURED.search(name))
        if value is None and not measured:
            value = next((spec_defaults[key] for key in names if spec_defaults.get(key) is not None), None)
        if value is None and measured:
            if (
                parameter.required
                or out.has_input_video
                or name.endswith("tokens")
                or parameter.default is None
            ):
                out.missing.add(name)
                continue
        if value is None:
            value = parameter.default
        if value is None:
            if parameter.required:
                raise ParameterError(f"pricing parameter {name} is required and the request has no value")
            continue
        out.values[name] = _typed(parameter, value)
    if any(_is_smart(body.get(key)) for key in ("duration", *_DURATION_PARAMETERS) if key in body):
        # -1 under any name: the model picks the length, whichever parameter the rules bill it by.
        out.smart_duration = True
    return out


def _counted(name: str, parameter: Parameter, body: Mapping[str, Any]) -> Any:
    """Values read from what the request carries rather than from a field of the same name."""
    if name == "input_images":
        urls = body.get("image_urls")
        if isinstance(urls, list):
            return len(urls)
        return sum(1 for key in _FRAMES if isinstance(body.get(key), str) and body.get(key))
    return None


def _has_input_video(body: Mapping[str, Any]) -> bool:
    urls = body.get("video_urls")
    return bool(
        (isinstance(urls, list) and urls)
        or (isinstance(body.get("video_url"), str) and body["video_url"].strip())
        or (isinstance(body.get("source_task_id"), str) and body["source_task_id"].strip())
    )


def _is_smart(value: Any) -> bool:
    return not isinstance(value, bool) and str(value).strip() == str(SMART_DURATION)


def _typed(parameter: Parameter, value: Any) -> Value:
    """Check ``value`` against the parameter's published type, range and values; numbers as Fractions."""
    name, kind = parameter.name, parameter.type
    if name in ("image_start", "image_end") and isinstance(value, str) and kind in ("boolean", "integer"):
        value = bool(value.strip()) if kind == "boolean" else int(bool(value.strip()))
    if isinstance(value, (list, dict)) or (isinstance(value, float) and value != value):
        raise ParameterError(f"pricing parameter {name} must be a single value, not {value!r}")
    typed: Value
    if kind in ("integer", "decimal", "number"):
        typed = _number(name, value)
        if kind == "integer" and typed.denominator != 1:
            raise ParameterError(f"pricing parameter {name} must be an integer, not {value!r}")
        if parameter.minimum is not None and typed < Fraction(parameter.minimum):
            raise ParameterError(f"{name}={value} is below the published minimum {parameter.minimum}")
        if parameter.maximum is not None and typed > Fraction(parameter.maximum):
            raise ParameterError(f"{name}={value} is above the published maximum {parameter.maximum}")
    elif kind == "boolean":
        typed = _boolean(name, value)
    elif isinstance(value, bool):
        typed = value
    elif isinstance(value, (int, float)):
        typed = _number(name, value)
    else:
        typed = str(value)
    allowed = parameter.allowed
    if allowed is not None and not any(_same(typed, candidate) for candidate in allowed):
        choices = ", ".join(str(candidate) for candidate in allowed)
        raise ParameterError(f"{name}={value!r} is not a published value (one of {choices})")
    return typed


def _number(name: str, value: Any) -> Fraction:
    if isinstance(value, bool):
        raise ParameterError(f"pricing parameter {name} must be a number, not {value!r}")
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ParameterError(f"pricing parameter {name} must be a finite number, not {value!r}")
        return Fraction(repr(value))
    if isinstance(value, str) and _NUMERIC.fullmatch(value.strip()):
        return Fraction(value.strip())
    raise ParameterError(f"pricing parameter {name} must be a number, not {value!r}")


def _boolean(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    # Kling's request says sound "on"/"off"; a rule may declare the same choice as a boolean.
    text = str(value).strip().lower()
    if text in ("on", "true"):
        return True
    if text in ("off", "false"):
        return False
    raise ParameterError(f"pricing parameter {name} must be a boolean, not {value!r}")


def _same(value: Value, candidate: Any) -> bool:
    if isinstance(value, bool) or isinstance(candidate, bool):
        return value is candidate
    if isinstance(value, Fraction):
        if isinstance(candidate, (int, float)):
            if isinstance(candidate, float):
                return math.isfinite(candidate) and value == Fraction(repr(candidate))
            return value == candidate
        return (
            isinstance(candidate, str)
            and bool(_NUMERIC.fullmatch(candidate))
            and value == Fraction(candidate)
        )
    return isinstance(candidate, str) and value == candidate
