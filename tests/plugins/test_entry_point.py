"""The gallery's ``airflow.plugins`` entry point: the plugin where provider-info plugins are not loaded."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from airflow_evolink.version_compat import AIRFLOW_V_3_1_PLUS


def load(lazy: bool) -> object:
    from airflow import settings

    saved = settings.LAZY_LOAD_PROVIDERS
    settings.LAZY_LOAD_PROVIDERS = lazy
    try:
        module = importlib.import_module("airflow_evolink.plugins.entry_point")
        return module.EvolinkGalleryEntryPoint
    finally:
        settings.LAZY_LOAD_PROVIDERS = saved


@pytest.mark.skipif(not AIRFLOW_V_3_1_PLUS, reason="the gallery needs Airflow 3.1+")
def test_offered_only_when_provider_info_plugins_are_not_loaded():
    from airflow_evolink.plugins.gallery import EvolinkGalleryPlugin

    assert load(lazy=True) is EvolinkGalleryPlugin
    assert load(lazy=False) is None  # the provider info's "plugins" entry brings it


def test_loading_the_plugin_does_not_build_the_app():
    # Workers and the scheduler load entry-point plugins too: there the plugin must stay cheap.
    code = (
        "import sys; from airflow_evolink.plugins import entry_point as e; "
        "plugin = e.EvolinkGalleryEntryPoint; "
        "print(plugin is None or plugin.__name__, 'airflow_evolink.plugins.app' in sys.modules, "
        "'airflow.api_fastapi.app' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    expected = "EvolinkGalleryPlugin" if AIRFLOW_V_3_1_PLUS else "True"
    assert out.split() == [expected, "False", "False"]
