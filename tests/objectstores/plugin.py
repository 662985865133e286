"""Pytest fixtures for real object stores, registered for every test folder by tests/conftest.py.

``s3_server`` and ``gcs_server`` (session scope) start the servers on 127.0.0.1 and set the Airflow
connections ``evolink_test_s3`` / ``evolink_test_gcs`` as ``AIRFLOW_CONN_...`` environment variables, so
``dag.test()`` tasks and real-cluster subprocesses (given ``object_store_env(...)``) see them. A server that
cannot start fails the test; nothing here skips.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.objectstores.servers import GCS_CONN_ID, GCSFS_ENV, S3_CONN_ID, GCSServer, S3Server


def conn_env_name(conn_id: str) -> str:
    return f"AIRFLOW_CONN_{conn_id.upper()}"


def object_store_env(*servers: S3Server | GCSServer) -> dict[str, str]:
    """The environment a process needs to reach these servers through the Airflow connections."""
    env = dict(GCSFS_ENV)
    for server in servers:
        conn_id = S3_CONN_ID if isinstance(server, S3Server) else GCS_CONN_ID
        env[conn_env_name(conn_id)] = server.connection_json()
    return env


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server; connection ``evolink_test_s3`` (type ``aws``, extra ``endpoint_url``)."""
    server = S3Server()
    server.start()
    os.environ.update(object_store_env(server))
    try:
        yield server
    finally:
        os.environ.pop(conn_env_name(S3_CONN_ID), None)
        server.stop()


@pytest.fixture(scope="session")
def gcs_server() -> Iterator[GCSServer]:
    """gcp-storage-emulator (in memory); connection ``evolink_test_gcs`` (anonymous, ``gcs.endpoint``)."""
    server = GCSServer()
    server.start()
    os.environ.update(object_store_env(server))
    try:
        yield server
    finally:
        os.environ.pop(conn_env_name(GCS_CONN_ID), None)
        server.stop()
