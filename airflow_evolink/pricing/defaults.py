"""Defaults the API applies to a field a request leaves out, where a source states them.

A request without ``duration`` is billed for the model's default length, so pricing needs it before the
rule's own parameter default (Evolink's client reads the spec default first: evolink-cli
``services/pricing-quote-client.js``). Only defaults a source states are listed; for any other model the
rule's published default applies. "spec" is Evolink's generated parameter file (evolink-cli
``packages/cli/src/platform/core/src/data/model-params.generated.js``, docs snapshot 79a6b56a).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

_HAILUO = MappingProxyType({"duration": 6, "quality": "768p"})  # spec: "6 seconds (default)", 768p default
_FOUR_SECONDS = MappingProxyType({"duration": 4})  # spec: duration 4 / 6 / 8 (veo), 4 / 8 / 12 (sora)

SPEC_DEFAULTS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "minimax-hailuo-02": _HAILUO,
        "minimax-hailuo-2.3": _HAILUO,
        "minimax-hailuo-2.3-fast": _HAILUO,
        "veo-3.1-generate-preview": _FOUR_SECONDS,
        "veo-3.1-fast-generate-preview": _FOUR_SECONDS,
        "sora-2-preview": _FOUR_SECONDS,
        "sora-2-pro-preview": _FOUR_SECONDS,
    }
)


def spec_defaults_for(model: str) -> Mapping[str, Any]:
    """The stated defaults of ``model`` (by generation field name); empty when no source states any."""
    return SPEC_DEFAULTS.get(model.lower(), MappingProxyType({}))
