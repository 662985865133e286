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

DOCUMENTATION_URL = "https://pypi.org/project/airflow-provider-evolink/"

#: The connection form: only the base URL and the key are used (kebab-case keys, as provider info has them).
UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["schema", "port", "login"],
    "relabeling": {"host": "API base URL", "password": "API Key"},
    "placeholders": {"host": "https://api.evolink.ai", "password": "sk-..."},
}

#: Extra fields the form shows as their own inputs; stored in the connection's extra under these names.
CONN_FIELDS: dict[str, Any] = {
    "timeout": {
        "label": "Timeout (seconds)",
        "description": "How long to wait for Evolink to answer a request (default 60; at most 10 to connect).",
        "schema": {"type": ["number", "null"], "minimum": 1},
    },
}


#: Airflow config the gallery reads (``[evolink]``); only the admin can set it, unlike XComs.
GALLERY_CONFIG: dict[str, Any] = {
    "evolink": {
        "description": "Settings of the Evolink gallery in the Airflow UI.",
        "options": {
            "gallery_media_hosts": {
                "description": (
                    "Hosts the gallery may redirect a video to when no stored copy can be served (its live "
                    "result link), and that its pages may play media from. Comma-separated; a bare host or "
                    "*.domain means https on the default port, a full origin (http://127.0.0.1:8099) means "
                    "exactly that origin. Any other link recorded in an XCom is never redirected to."
                ),
                "version_added": "0.1.0",
                "type": "string",
                "example": "*.evolink.ai, http://127.0.0.1:8099",
                "default": "*.evolink.ai",
            }
        },
    }
}


def get_provider_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "package-name": "airflow-provider-evolink",
        "name": "Evolink",
        # Plain text: the Providers page shows it as it is, with no reStructuredText link to render.
        "description": "Generate AI videos with the Evolink API (https://evolink.ai) from Airflow DAGs.",
        "documentation-url": DOCUMENTATION_URL,
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
            {
                "hook-class-name": "airflow_evolink.hooks.evolink.EvolinkHook",
                "connection-type": "evolink",
                # Airflow 3.2+ builds the connection form from these declarations, without wtforms;
                # 3.0 and 3.1 read EvolinkHook.get_ui_field_behaviour(), which says the same.
                "hook-name": "Evolink",
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
                "conn-fields": CONN_FIELDS,
            }
        ],
        "extra-links": [
            "airflow_evolink.operators.evolink.EvolinkTaskLink",
            "airflow_evolink.operators.evolink.EvolinkVideoLink",
        ],
    }
    if AIRFLOW_V_3_1_PLUS:
        info["plugins"] = [dict(GALLERY_PLUGIN)]
        info["config"] = GALLERY_CONFIG
    return info
