"""The connection form and the Providers page as Airflow builds them from the provider info."""

from __future__ import annotations

import warnings

import pytest

from airflow_evolink.get_provider_info import get_provider_info
from airflow_evolink.hooks.evolink import EvolinkHook
from airflow_evolink.version_compat import AIRFLOW_VERSION


def test_description_is_plain_text_and_docs_link_exists():
    info = get_provider_info()
    # The Providers page renders the description as it is: no reStructuredText link markup.
    assert "`" not in info["description"] and "<https" not in info["description"]
    assert info["documentation-url"].startswith("https://")


def test_hook_method_and_declaration_describe_the_same_form():
    declared = get_provider_info()["connection-types"][0]["ui-field-behaviour"]
    from_hook = EvolinkHook.get_ui_field_behaviour()
    assert set(declared["hidden-fields"]) == set(from_hook["hidden_fields"]) == {"schema", "port", "login"}
    assert declared["relabeling"] == from_hook["relabeling"]
    assert declared["relabeling"] == {"host": "API base URL", "password": "API Key"}


@pytest.mark.skipif(AIRFLOW_VERSION < (3, 2, 0), reason="Airflow reads the form from provider info from 3.2")
def test_airflow_builds_the_evolink_form_from_provider_info_without_warnings():
    # What the api-server's /ui/connections/hook_meta sends to the connection form.
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        HookMetaService.hook_meta_data.cache_clear()
        metas = {meta.connection_type: meta for meta in HookMetaService.hook_meta_data()}
    assert not [w for w in caught if "evolink" in str(w.message).lower()]
    meta = metas["evolink"]
    assert meta.hook_name == "Evolink"
    fields = meta.standard_fields.model_dump()
    hidden = {name for name, field in fields.items() if field and field["hidden"]}
    assert hidden == {"login", "url_schema", "port"}  # url_schema is the form's "schema" field
    assert fields["host"]["title"] == "API base URL"
    assert fields["password"]["title"] == "API Key"
    assert meta.extra_fields["timeout"]["schema"]["title"] == "Timeout (seconds)"
