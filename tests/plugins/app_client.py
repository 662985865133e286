"""Airflow's whole api-server app in-process, with the provider's plugins loaded, for the gallery tests."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import Any


@contextlib.contextmanager
def api_server_client(env: Mapping[str, str]) -> Iterator[Any]:
    """A test client of a freshly built api-server app, with ``env`` set while it lives (then restored).

    Airflow loads the plugins a provider declares only when providers are not discovered lazily, and
    caches both the plugins and the app: all three are reset on the way in and out.
    """
    from airflow import plugins_manager, settings
    from airflow.api_fastapi import app as api_app
    from fastapi.testclient import TestClient

    saved_env = {name: os.environ.get(name) for name in env}
    saved_lazy = settings.LAZY_LOAD_PROVIDERS
    os.environ.update(env)
    settings.LAZY_LOAD_PROVIDERS = False
    plugins_manager._get_plugins.cache_clear()
    api_app.purge_cached_app()
    try:
        with TestClient(api_app.create_app(), base_url="http://127.0.0.1") as test_client:
            yield test_client
    finally:
        settings.LAZY_LOAD_PROVIDERS = saved_lazy
        plugins_manager._get_plugins.cache_clear()
        api_app.purge_cached_app()
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
