"""The gallery plugin is declared in the provider info on Airflow 3.1+ only; 3.0 never imports it."""

from __future__ import annotations

import sys

from airflow_evolink.get_provider_info import get_provider_info
from airflow_evolink.version_compat import AIRFLOW_V_3_1_PLUS


def test_the_gallery_is_declared_exactly_when_airflow_can_show_it():
    info = get_provider_info()
    if AIRFLOW_V_3_1_PLUS:
        assert info["plugins"] == [
            {
                "name": "evolink_gallery",
                "plugin-class": "airflow_evolink.plugins.gallery.EvolinkGalleryPlugin",
            }
        ]
    else:
        assert "plugins" not in info


def test_reading_the_provider_info_does_not_import_the_plugin():
    get_provider_info()
    assert "airflow_evolink.plugins.gallery" not in sys.modules or AIRFLOW_V_3_1_PLUS
