"""Result videos stored on real S3 (moto) and GCS (gcp-storage-emulator) servers: large videos streamed
byte-exact through a real multipart / resumable upload, nothing at the final key after a dropped
connection (no part object, no incomplete multipart upload), the store's checksum compared, and the
idempotent paths (already stored, link expired) kept. Assertions read the servers directly."""

from __future__ import annotations

import hashlib
import http.server
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import google_crc32c
import pytest
import requests
from airflow.sdk import ObjectStoragePath

from airflow_evolink.core.retry import RetryPolicy
from airflow_evolink.emulator import EmulatorConfig, EmulatorServer
from airflow_evolink.hooks.evolink import EvolinkHook
from airflow_evolink.storage.download import (
    EvolinkResultExpiredError,
    EvolinkStoreChecksumError,
    download_videos,
)
from airflow_evolink.storage.sinks import PART_BYTES
from airflow_evolink.storage.store_checks import GcsCrc32c, S3ETag, verify_stored
from tests.airflow_helpers import dag_bag, xcom_values
from tests.conftest import TEST_API_KEY, connection_json
from tests.objectstores.servers import GCS_CONN_ID, S3_CONN_ID, GCSServer, S3Server
from tests.storage.local_server import serve

TEST_DAGS = Path(__file__).resolve().parents[1] / "dags"
#: At least 64 MiB, and not a whole number of parts: 8 full parts of 8 MiB and a short last one.
BIG = 64 * 1024 * 1024 + 12345
BIG_CONN_ID = "evolink_objectstore_big"
FAST = RetryPolicy(max_attempts=3, initial_wait=0.01, max_wait=0.02, jitter=0.0)
KLING = {"model": "kling-v3-image-to-video", "prompt": "x", "image_start": "https://example.com/a.png"}


@pytest.fixture(scope="module")
def big_emulator() -> Iterator[EmulatorServer]:
    """An emulator whose result videos are BIG bytes, behind the connection BIG_CONN_ID."""
    server = EmulatorServer(EmulatorConfig(api_key=TEST_API_KEY, job_seconds=0.0, result_bytes=BIG))
    server.start()
    variable = f"AIRFLOW_CONN_{BIG_CONN_ID.upper()}"
    os.environ[variable] = connection_json(server.base_url, files_base_url=server.base_url)
    try:
        yield server
    finally:
        os.environ.pop(variable, None)
        server.stop()


@pytest.fixture
def big(big_emulator: EmulatorServer) -> Iterator[EmulatorServer]:
    big_emulator.state.reset()
    yield big_emulator
    big_emulator.state.reset()


def finished(emulator: EmulatorServer, conn_id: str = BIG_CONN_ID) -> tuple[str, str]:
    """A completed task: (task id, result URL)."""
    hook = EvolinkHook(conn_id)
    task = hook.submit_video(KLING)
    emulator.clock.advance(10)
    done = hook.get_task(task.id)
    assert done.is_success
    return task.id, done.results[0]


def served(url: str) -> bytes:
    """The video as the server sends it, read directly (not through the code under test)."""
    return requests.get(url, timeout=60).content


def s3_etag(s3_server: S3Server, bucket: str, key: str) -> str:
    return str(s3_server.client().head_object(Bucket=bucket, Key=key)["ETag"]).strip('"')


def open_uploads(s3_server: S3Server, bucket: str) -> list[dict[str, Any]]:
    return list(s3_server.client().list_multipart_uploads(Bucket=bucket).get("Uploads", []))


def test_large_video_to_s3_through_a_multipart_upload(s3_server: S3Server, big: EmulatorServer) -> None:
    s3_server.create_bucket("outputs-big")
    task_id, url = finished(big)
    dest = ObjectStoragePath("s3://outputs-big/videos", conn_id=S3_CONN_ID)
    [video] = download_videos([url], dest, task_id=task_id, retry_policy=FAST)
    expected = served(url)
    key = f"videos/{task_id}.mp4"
    assert len(expected) == BIG == video.size and not video.skipped
    assert s3_server.list_keys("outputs-big") == [key]
    assert s3_server.read("outputs-big", key) == expected
    etag = s3_etag(s3_server, "outputs-big", key)
    parts = -(-BIG // PART_BYTES)
    assert etag.endswith(f"-{parts}")  # a real multipart upload, one part per PART_BYTES
    assert video.store_checksum == f"etag:{etag}"
    assert video.checksum == f"crc32c:{google_crc32c.value(expected):08x}"
    assert video.path == f"s3://{S3_CONN_ID}@outputs-big/videos/{task_id}.mp4"  # Airflow names the connection
    assert open_uploads(s3_server, "outputs-big") == []
    # Again: the object of the right size is kept, not uploaded a second time.
    [again] = download_videos([url], dest, task_id=task_id, retry_policy=FAST)
    assert again.skipped and again.size == BIG
    assert s3_etag(s3_server, "outputs-big", key) == etag
    s3_server.empty_bucket("outputs-big")  # the servers keep objects in memory for the session


def test_large_video_to_gcs_through_a_resumable_upload(gcs_server: GCSServer, big: EmulatorServer) -> None:
    gcs_server.create_bucket("outputs-big")
    task_id, url = finished(big)
    dest = ObjectStoragePath("gs://outputs-big/videos", conn_id=GCS_CONN_ID)
    [video] = download_videos([url], dest, task_id=task_id, retry_policy=FAST)
    expected = served(url)
    key = f"videos/{task_id}.mp4"
    assert video.size == BIG and gcs_server.list_keys("outputs-big") == [key]
    assert gcs_server.read("outputs-big", key) == expected
    crc = f"crc32c:{google_crc32c.value(expected):08x}"
    assert video.checksum == crc and video.store_checksum == crc
    gcs_server.empty_bucket("outputs-big")


@pytest.mark.parametrize("store", ["s3", "gcs"])
def test_connection_dropped_mid_copy_leaves_nothing(
    store: str, s3_server: S3Server, gcs_server: GCSServer, big: EmulatorServer
) -> None:
    """The emulator cuts each try after half the video (several parts uploaded): every try is
    cancelled, so the bucket holds no object and S3 no incomplete upload."""
    server = s3_server if store == "s3" else gcs_server
    server.create_bucket("outputs-cut")
    task_id, url = finished(big)
    big.faults.truncated(method="GET", path="/files/", count=10)
    conn_id = S3_CONN_ID if store == "s3" else GCS_CONN_ID
    dest = ObjectStoragePath(f"{'s3' if store == 's3' else 'gs'}://outputs-cut/videos", conn_id=conn_id)
    with pytest.raises(Exception, match=r"download of .* (broke|ended) after"):
        download_videos([url], dest, task_id=task_id, retry_policy=FAST, sleep=lambda _s: None)
    assert server.list_keys("outputs-cut") == []
    if isinstance(server, S3Server):
        assert open_uploads(server, "outputs-cut") == []


class _BreaksEarly(http.server.BaseHTTPRequestHandler):
    """Announces 3 MiB, sends 1 MiB, and drops the connection: less than one upload part, the case
    where a buffered fsspec file would upload what it holds when closed."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(3 * 1024 * 1024))
        self.end_headers()
        self.wfile.write(b"\x01" * (1024 * 1024))
        self.wfile.flush()
        self.connection.close()

    def log_message(self, *args: object) -> None:
        return


@pytest.mark.parametrize("scheme", ["s3", "gs"])
def test_small_video_broken_before_one_part_leaves_nothing(
    scheme: str, s3_server: S3Server, gcs_server: GCSServer
) -> None:
    server: S3Server | GCSServer = s3_server if scheme == "s3" else gcs_server
    server.create_bucket("outputs-small-cut")
    conn_id = S3_CONN_ID if scheme == "s3" else GCS_CONN_ID
    dest = ObjectStoragePath(f"{scheme}://outputs-small-cut/videos", conn_id=conn_id)
    with serve(_BreaksEarly) as base_url, pytest.raises(Exception, match="download of"):
        download_videos([f"{base_url}/short.mp4"], dest, retry_policy=FAST, sleep=lambda _s: None)
    import gc

    gc.collect()  # a file object left open would commit its buffer when collected
    assert server.list_keys("outputs-small-cut") == []


def test_incomplete_upload_of_a_killed_run_is_aborted(s3_server: S3Server, clean_emulator: Any) -> None:
    """A run killed mid-upload leaves an incomplete multipart upload at the key; the next run aborts it."""
    s3_server.create_bucket("outputs-killed")
    task_id, url = finished(clean_emulator, EvolinkHook.default_conn_name)
    key = f"videos/{task_id}.mp4"
    client = s3_server.client()
    upload = client.create_multipart_upload(Bucket="outputs-killed", Key=key)
    client.upload_part(
        Bucket="outputs-killed", Key=key, UploadId=upload["UploadId"], PartNumber=1, Body=b"\0" * 5242880
    )
    assert [u["Key"] for u in open_uploads(s3_server, "outputs-killed")] == [key]
    dest = ObjectStoragePath("s3://outputs-killed/videos", conn_id=S3_CONN_ID)
    [video] = download_videos([url], dest, task_id=task_id, retry_policy=FAST)
    assert open_uploads(s3_server, "outputs-killed") == []
    assert s3_server.read("outputs-killed", key) == served(url)
    # Small enough for one PUT: the ETag is the object's MD5.
    assert video.store_checksum == f"etag:{hashlib.md5(served(url)).hexdigest()}"


@pytest.mark.parametrize("scheme", ["s3", "gs"])
def test_expired_link_keeps_the_stored_copy(
    scheme: str, s3_server: S3Server, gcs_server: GCSServer, clean_emulator: Any
) -> None:
    server: S3Server | GCSServer = s3_server if scheme == "s3" else gcs_server
    server.create_bucket("outputs-expired")
    conn_id = S3_CONN_ID if scheme == "s3" else GCS_CONN_ID
    task_id, url = finished(clean_emulator, EvolinkHook.default_conn_name)
    dest = ObjectStoragePath(f"{scheme}://outputs-expired/videos", conn_id=conn_id)
    [first] = download_videos([url], dest, task_id=task_id, retry_policy=FAST)
    clean_emulator.faults.expire_results_now()
    [kept] = download_videos([url], dest, task_id=task_id, retry_policy=FAST)
    assert kept.skipped and kept.size == first.size
    server.empty_bucket("outputs-expired")
    with pytest.raises(EvolinkResultExpiredError, match="24 hours"):
        download_videos([url], dest, task_id=task_id, retry_policy=FAST)


@pytest.mark.parametrize("scheme", ["s3", "gs"])
def test_store_checksum_mismatch_fails_and_removes_the_object(
    scheme: str, s3_server: S3Server, gcs_server: GCSServer
) -> None:
    """The comparison against a real store's answer: the store holds other bytes than were summed."""
    server: S3Server | GCSServer = s3_server if scheme == "s3" else gcs_server
    server.create_bucket("outputs-mismatch")
    conn_id = S3_CONN_ID if scheme == "s3" else GCS_CONN_ID
    target = ObjectStoragePath(f"{scheme}://outputs-mismatch/v.mp4", conn_id=conn_id)
    stored = os.urandom(300_000)
    target.write_bytes(stored)

    def digest_of(data: bytes) -> Any:
        digest = S3ETag(PART_BYTES) if scheme == "s3" else GcsCrc32c()
        digest.update(data)
        return digest

    recorded = verify_stored(target, digest_of(stored), "http://127.0.0.1/v.mp4")
    assert recorded == digest_of(stored).expected()
    assert server.list_keys("outputs-mismatch") == ["v.mp4"]
    with pytest.raises(EvolinkStoreChecksumError, match="does not hold the bytes downloaded") as caught:
        verify_stored(target, digest_of(stored[:-1] + b"?"), "http://127.0.0.1/v.mp4")
    assert recorded in str(caught.value)
    assert server.list_keys("outputs-mismatch") == []


def test_s3_etag_of_parts_matches_what_s3_computes(s3_server: S3Server) -> None:
    """S3ETag's multipart rule against moto's answer for an upload made with boto3 directly."""
    s3_server.create_bucket("outputs-etag")
    part = 5 * 1024 * 1024
    data = os.urandom(2 * part + 777)
    client = s3_server.client()
    upload = client.create_multipart_upload(Bucket="outputs-etag", Key="k")
    parts = []
    for number, start in enumerate(range(0, len(data), part), start=1):
        answer = client.upload_part(
            Bucket="outputs-etag",
            Key="k",
            UploadId=upload["UploadId"],
            PartNumber=number,
            Body=data[start : start + part],
        )
        parts.append({"PartNumber": number, "ETag": answer["ETag"]})
    client.complete_multipart_upload(
        Bucket="outputs-etag", Key="k", UploadId=upload["UploadId"], MultipartUpload={"Parts": parts}
    )
    digest = S3ETag(part)
    for start in range(0, len(data), 1_000_003):  # chunks that straddle part boundaries
        digest.update(data[start : start + 1_000_003])
    assert digest.expected() == f"etag:{s3_etag(s3_server, 'outputs-etag', 'k')}"
    assert digest.expected().endswith("-3")


@pytest.mark.usefixtures("airflow_db")
def test_dag_stores_a_large_video_on_s3_and_gcs(
    s3_server: S3Server, gcs_server: GCSServer, big: EmulatorServer
) -> None:
    s3_server.create_bucket("outputs-dag")
    gcs_server.create_bucket("outputs-dag")
    conf = {
        "evolink_conn_id": BIG_CONN_ID,
        # The connection named in the URL, as a user writes it in a templated field.
        "s3_destination": f"s3://{S3_CONN_ID}@outputs-dag/generated",
        "gcs_destination": f"gs://{GCS_CONN_ID}@outputs-dag/saved",
    }
    run = dag_bag(TEST_DAGS).get_dag("objectstore_outputs").test(run_conf=conf)
    assert run.state == "success"
    [task_id] = xcom_values(run, "generate")
    expected = served(f"{big.base_url}/files/{task_id}.mp4")
    assert len(expected) == BIG
    assert s3_server.read("outputs-dag", f"generated/{task_id}.mp4") == expected
    assert gcs_server.read("outputs-dag", f"saved/{task_id}.mp4") == expected
    [[on_s3]] = xcom_values(run, "generate", "downloads")
    [[on_gcs]] = xcom_values(run, "save_to_gcs", "downloads")
    etag = s3_etag(s3_server, "outputs-dag", f"generated/{task_id}.mp4")
    assert etag.endswith(f"-{-(-BIG // PART_BYTES)}") and on_s3["store_checksum"] == f"etag:{etag}"
    crc = f"crc32c:{google_crc32c.value(expected):08x}"
    assert on_gcs["checksum"] == on_gcs["store_checksum"] == crc
    assert open_uploads(s3_server, "outputs-dag") == []
    s3_server.empty_bucket("outputs-dag")
    gcs_server.empty_bucket("outputs-dag")
