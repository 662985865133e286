"""The gallery streams a stored copy from S3 (moto on 127.0.0.1) with Range requests, and refuses S3 paths
a ``downloads`` XCom was edited to name outside the task's rendered destination, without sending S3 a
request for them.

Airflow's api-server app runs in-process with a test client, as in tests/plugins/test_gallery.py. What the
gallery asks of S3 is read from moto's own request recorder (server side), so a refused path that reached
S3 would show there.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from airflow_evolink.version_compat import AIRFLOW_V_3_1_PLUS
from tests.objectstores.servers import (
    S3_ACCESS_KEY,
    S3_CONN_ID,
    S3_REGION,
    S3_SECRET_KEY,
    S3Server,
    s3_requests,
)
from tests.plugins.app_client import api_server_client
from tests.plugins.test_gallery import AUTH_ENV, task_url, token, xcom

pytestmark = [
    pytest.mark.skipif(not AIRFLOW_V_3_1_PLUS, reason="the gallery needs Airflow 3.1+"),
    pytest.mark.usefixtures("airflow_db"),
]

TEST_DAGS = Path(__file__).resolve().parents[1] / "dags"
BUCKET = "gallery-s3"
OTHER_BUCKET = "gallery-s3-other"
#: A second connection to the same moto server: a path naming it is refused even though it would work.
OTHER_CONN_ID = "evolink_test_s3_other"
#: The stored copy is replaced by this (6 MiB, so a small range that fetched whole blocks would show).
VIDEO = bytes(range(256)) * (6 * 4096) + b"end of video"


def gets_of(seen: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """The GETs of ``key`` (the recorder keeps the URL as sent, percent-encoded)."""
    return [r for r in seen if r["method"] == "GET" and key in unquote(r["url"])]


@pytest.fixture(scope="module")
def stored(emulator: Any, s3_server: S3Server) -> dict[str, Any]:
    """A run of ``gallery_persist`` whose download task stored the video in S3 (the copy then made 6 MiB)."""
    from tests.airflow_helpers import dag_bag

    s3_server.create_bucket(BUCKET)
    s3_server.create_bucket(OTHER_BUCKET)
    destination = f"s3://{S3_CONN_ID}@{BUCKET}/videos"
    run = (
        dag_bag(TEST_DAGS)
        .get_dag("gallery_persist")
        .test(run_conf={"destination": destination}, logical_date=None)
    )
    assert run.state == "success"
    [record] = xcom("gallery_persist", run.run_id, "save", "downloads")
    [key] = s3_server.list_keys(BUCKET, "videos/")
    assert record["path"] == f"s3://{S3_CONN_ID}@{BUCKET}/{key}"
    s3_server.client().put_object(Bucket=BUCKET, Key=key, Body=VIDEO)
    return {"run_id": run.run_id, "key": key, "record": record}


@pytest.fixture(scope="module")
def client(stored: dict[str, Any], s3_server: S3Server) -> Iterator[Any]:
    """Airflow's api-server app with the provider's plugins (as in tests/plugins/test_gallery.py)."""
    # The other connection, aws_default, and boto's own settings (what a path naming no connection uses)
    # all lead to the same moto server: were a planted path read, it would be served (and seen by the
    # recorder), and nothing would leave 127.0.0.1.
    env = {
        **AUTH_ENV,
        f"AIRFLOW_CONN_{OTHER_CONN_ID.upper()}": s3_server.connection_json(),
        "AIRFLOW_CONN_AWS_DEFAULT": s3_server.connection_json(),
        "AWS_ENDPOINT_URL_S3": s3_server.endpoint,
        "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY,
        "AWS_DEFAULT_REGION": S3_REGION,
    }
    with api_server_client(env) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def viewer(client: Any) -> dict[str, str]:
    return {"Cookie": f"_token={token('viewer', 'viewer')}"}


def video_url(stored: dict[str, Any], n: int = 0) -> str:
    return f"{task_url(stored['run_id'], 'save')}/video?map_index=-1&n={n}"


def test_the_stored_copy_streams_from_s3_whole_and_by_range(client, stored, viewer, tmp_path):
    size = len(VIDEO)
    url = video_url(stored)
    with s3_requests(tmp_path) as seen:
        whole = client.get(url, headers=viewer)
        assert whole.status_code == 200
        assert whole.content == VIDEO
        assert whole.headers["content-length"] == str(size)
        assert whole.headers["accept-ranges"] == "bytes"

        first = client.get(url, headers={**viewer, "Range": "bytes=0-99"})
        assert first.status_code == 206 and first.content == VIDEO[:100]
        assert first.headers["content-range"] == f"bytes 0-99/{size}"
        assert first.headers["content-length"] == "100"

        tail = client.get(url, headers={**viewer, "Range": "bytes=-12"})
        assert tail.status_code == 206 and tail.content == b"end of video"
        assert tail.headers["content-range"] == f"bytes {size - 12}-{size - 1}/{size}"

        middle = size // 2 + 7
        rest = client.get(url, headers={**viewer, "Range": f"bytes={middle}-"})
        assert rest.status_code == 206 and rest.content == VIDEO[middle:]
        assert rest.headers["content-range"] == f"bytes {middle}-{size - 1}/{size}"

        beyond = client.get(url, headers={**viewer, "Range": f"bytes={size}-"})
        assert beyond.status_code == 416
        assert beyond.headers["content-range"] == f"bytes */{size}"
    # The bytes came from S3 itself (the recorder sees the gallery's GETs of the key).
    assert gets_of(seen, stored["key"]), "the gallery sent S3 no GET for the stored copy"


def test_a_small_range_fetches_a_small_range_from_s3(client, stored, viewer, tmp_path):
    """A player's first request asks for a few bytes: the gallery must not pull megabytes from S3 for it."""
    with s3_requests(tmp_path) as seen:
        response = client.get(video_url(stored), headers={**viewer, "Range": "bytes=0-99"})
        assert response.status_code == 206 and response.content == VIDEO[:100]
    asked = 0
    for request in gets_of(seen, stored["key"]):
        header = {k.lower(): v for k, v in request["headers"].items()}.get("range", "")
        assert header.startswith("bytes="), f"a GET of the whole object: {request}"
        first, _, last = header[len("bytes=") :].partition("-")
        asked += int(last) - int(first) + 1
    assert 0 < asked <= 1024 * 1024, f"{asked} bytes asked of S3 for a 100-byte range"


def planted_paths(stored: dict[str, Any]) -> dict[str, str]:
    """Recorded paths an XCom editor might plant; each names an object that exists and is a video."""
    key, name = stored["key"], stored["key"].rsplit("/", 1)[1]
    folder = key.rsplit("/", 1)[0]
    return {
        "outside the destination": f"s3://{S3_CONN_ID}@{BUCKET}/private/{name}",
        "another bucket": f"s3://{S3_CONN_ID}@{OTHER_BUCKET}/{key}",
        "another connection": f"s3://{OTHER_CONN_ID}@{BUCKET}/{key}",
        "no connection": f"s3://{BUCKET}/{key}",
        "a .. key": f"s3://{S3_CONN_ID}@{BUCKET}/{folder}/../../private/{name}",
        "an encoded .. key": f"s3://{S3_CONN_ID}@{BUCKET}/{folder}/%2e%2e/%2E%2E/private/{name}",
    }


def set_downloads(stored: dict[str, Any], value: list[dict[str, Any]]) -> None:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import update

    with create_session() as session:
        session.execute(
            update(XComModel)
            .where(
                XComModel.dag_id == "gallery_persist",
                XComModel.run_id == stored["run_id"],
                XComModel.task_id == "save",
                XComModel.key == "downloads",
            )
            .values(value=XComModel.serialize_value(value))
        )


@pytest.mark.parametrize(
    "attack",
    [
        "outside the destination",
        "another bucket",
        "another connection",
        "no connection",
        "a .. key",
        "an encoded .. key",
    ],
)
def test_an_s3_path_planted_in_xcom_is_not_found_and_s3_is_not_asked(
    client, stored, viewer, s3_server, tmp_path, attack
):
    """XCom editors can write ``downloads``; only the rendered destination decides what is read."""
    path = planted_paths(stored)[attack]
    name = stored["key"].rsplit("/", 1)[1]
    folder = stored["key"].rsplit("/", 1)[0]
    secret = b"not for the gallery " + attack.encode()
    # Each planted path names a real object (the literal and the normalised key), so only the gallery's
    # refusal can keep it from being served.
    for bucket, key in (
        (BUCKET, f"private/{name}"),
        (OTHER_BUCKET, stored["key"]),
        (BUCKET, f"{folder}/../../private/{name}"),
        (BUCKET, f"{folder}/%2e%2e/%2E%2E/private/{name}"),
    ):
        s3_server.client().put_object(Bucket=bucket, Key=key, Body=secret)
    # (No result URL: a record is matched to the generation by its file name, as the planted one is.)
    set_downloads(stored, [stored["record"], {**stored["record"], "url": None, "path": path}])
    try:
        with s3_requests(tmp_path) as seen:
            response = client.get(video_url(stored, n=1), headers=viewer)
            assert response.status_code == 404, (attack, response.status_code)
            assert secret not in response.content
        assert seen == [], f"S3 was asked for a refused path ({attack}): {seen}"
        # The recorder does see the gallery's requests: the genuine copy, asked the same way, is read.
        with s3_requests(tmp_path) as seen:
            genuine = client.get(video_url(stored, n=0), headers={**viewer, "Range": "bytes=0-99"})
            assert genuine.status_code == 206 and genuine.content == VIDEO[:100]
        assert gets_of(seen, stored["key"])
    finally:
        set_downloads(stored, [stored["record"]])
