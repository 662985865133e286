"""The gallery for Airflow's ``airflow.plugins`` entry point, where the provider info is not read for it.

Airflow loads the plugins a provider declares in its provider info only with ``[core]
lazy_discover_providers = False``; with the default (``True``) it loads entry-point plugins only. Listing the
gallery both ways would register it twice, which Airflow reports as a plugin import error, so this entry
point offers the plugin class only when Airflow will not load it from the provider info, and only on
Airflow 3.1+ (where plugin pages exist). Anything else is not a plugin class, which Airflow skips quietly.
Workers and the scheduler load entry-point plugins too; the plugin builds its app only when the api-server
asks for it, so loading it there costs milliseconds.
"""

from __future__ import annotations

from typing import Any

from airflow_evolink.version_compat import AIRFLOW_V_3_1_PLUS


def gallery_plugin_for_entry_point() -> Any:
    """The plugin class, or ``None`` when the provider info already brings it (or on Airflow 3.0)."""
    if not AIRFLOW_V_3_1_PLUS:
        return None
    from airflow import settings

    if not getattr(settings, "LAZY_LOAD_PROVIDERS", True):
        return None  # the provider info's "plugins" entry is loaded
    from airflow_evolink.plugins.gallery import EvolinkGalleryPlugin

    return EvolinkGalleryPlugin


def __getattr__(name: str) -> Any:
    # Decided each time Airflow loads the entry point, not once at import: the same process may load
    # plugins again after its settings changed (tests do; so could an embedding application).
    if name == "EvolinkGalleryEntryPoint":
        return gallery_plugin_for_entry_point()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
