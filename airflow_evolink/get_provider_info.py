"""Provider metadata that Airflow reads through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

from airflow_evolink import __version__
from airflow_evolink.version_compat import AIRFLOW_V_3_1_PLUS

#: The gallery needs the UI's ``external_views`` (Airflow 3.1+); on 3.0 it is not declared at all, so
#: nothing imports it there.
GALLERY_PLUGIN = {
    "name": "evolink_gallery",
    "plugin-class": "airflow_evolink.plugins.gallery.EvolinkGalleryPlugin",
}


def get_provider_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "package-name": "airflow-provider-evolink",
        "name": "Evolink",
        "description": "Generate AI videos with the `Evolink <https://evolink.ai>`__ API from Airflow DAGs.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Evolink",
                "external-doc-url": "https://docs.evolink.ai",
                "tags": ["service"],
            }
        ],
        "hooks": [{"integration-name": "Evolink", "python-modules": ["airflow_evolink.hooks.evolink"]}],
        "operators": [
            {"integration-name": "Evolink", "python-modules": ["airflow_evolink.operators.evolink"]}
        ],
        "sensors": [{"integration-name": "Evolink", "python-modules": ["airflow_evolink.sensors.evolink"]}],
        "triggers": [{"integration-name": "Evolink", "python-modules": ["airflow_evolink.triggers.evolink"]}],
        "connection-types": [
            {"hook-class-name": "airflow_evolink.hooks.evolink.EvolinkHook", "connection-type": "evolink"}
        ],
        "extra-links": [
            "airflow_evolink.operators.evolink.EvolinkTaskLink",
            "airflow_evolink.operators.evolink.EvolinkVideoLink",
        ],
    }
    if AIRFLOW_V_3_1_PLUS:
        info["plugins"] = [dict(GALLERY_PLUGIN)]
    return info
