"""FileServiceClient against the emulator's file service: upload ids, receipts after a lost answer, and
``success: false`` answers. Real HTTP on 127.0.0.1; only the retry sleeps are skipped."""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from airflow_evolink.core.errors import EvolinkBadRequestError, EvolinkValidationError
from airflow_evolink.emulator import EmulatorConfig, EmulatorServer
from airflow_evolink.hooks.files import UPLOAD_ID_PATTERN, FileServiceClient, UploadedFile, upload_id_for

KEY = "sk-receipts-7d1f0c9a5e"
UPLOAD = "/api/v1/files/upload/stream"
RECEIPTS = "/api/v1/files/upload-receipts/"
DATA = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(api_key=KEY)) as running:
        yield running


@pytest.fixture
def emulator(server: EmulatorServer) -> Iterator[EmulatorServer]:
    server.reset()
    yield server
    server.reset()


@pytest.fixture
def client(emulator: EmulatorServer) -> FileServiceClient:
    return FileServiceClient(
        requests.Session(),
        emulator.base_url,
        KEY,
        log=logging.getLogger("test.receipts"),
        sleep=lambda _: None,
    )


def upload(client: FileServiceClient, **kwargs: Any) -> UploadedFile:
    return client.upload_stream(
        lambda: io.BytesIO(DATA), size=len(DATA), filename="frame.png", content_type="image/png", **kwargs
    )


def sent(emulator: EmulatorServer) -> list[tuple[str, int]]:
    """(what, status) of each upload and receipt request, in order; status 0 is a dropped connection."""
    out = []
    for record in emulator.state.requests():
        if record["path"] == UPLOAD:
            out.append(("upload", record["status"]))
        elif record["path"].startswith(RECEIPTS):
            out.append(("receipt", record["status"]))
    return out


@pytest.mark.parametrize(("lose", "first_status"), [("reset", 0), ("truncated", 200), ("502", 502)])
def test_a_lost_answer_is_recovered_from_the_receipt_with_one_stored_file(
    emulator: EmulatorServer,
    client: FileServiceClient,
    caplog: pytest.LogCaptureFixture,
    lose: str,
    first_status: int,
) -> None:
    if lose == "502":  # stored, then the gateway answers 502
        emulator.faults.http_status(502, method="POST", path=UPLOAD, after_processing=True)
    else:
        emulator.faults.lose_upload_answer(lose)
    caplog.set_level(logging.INFO)
    got = upload(client, upload_id="airflow-lost-answer-0001")
    held = emulator.state.uploads()
    [stored] = held["files"]  # exactly one stored file
    assert held["uploads"] == 1 and got.file_id == stored["file_id"]
    assert requests.get(got.file_url, timeout=10).content == DATA
    assert sent(emulator) == [("upload", first_status), ("receipt", 200)]  # no second upload
    assert "its receipt says done" in caplog.text and "not uploading again" in caplog.text
    assert KEY not in caplog.text


def test_an_outcome_unknown_receipt_means_one_upload_more(
    emulator: EmulatorServer, client: FileServiceClient, caplog: pytest.LogCaptureFixture
) -> None:
    # Cut mid-body: the service keeps an outcome_unknown receipt and no file.
    emulator.faults.reset_connection(method="POST", path="/api/v1/files/upload/")
    caplog.set_level(logging.INFO)
    got = upload(client, upload_id="airflow-outcome-unknown-01")
    assert sent(emulator) == [("upload", 0), ("receipt", 200), ("upload", 200)]
    [stored] = emulator.state.uploads()["files"]
    assert got.file_id == stored["file_id"]
    assert emulator.state.uploaded_bytes(got.file_id) == DATA
    assert "its receipt says outcome_unknown: uploading again" in caplog.text


@pytest.mark.parametrize("status", [404, 405])
def test_no_receipt_route_means_one_upload_more_as_before(
    emulator: EmulatorServer, client: FileServiceClient, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    emulator.state.set_upload_receipts(status)
    emulator.faults.lose_upload_answer("reset")
    caplog.set_level(logging.INFO)
    got = upload(client, upload_id="airflow-older-service-001")
    assert sent(emulator) == [("upload", 0), ("receipt", status), ("upload", 200)]
    held = emulator.state.uploads()
    assert held["uploads"] == 2  # the lost one is stored too: without receipts nothing can find it
    assert got.file_id == held["files"][-1]["file_id"]
    assert f"no receipt for it (HTTP {status}): uploading again" in caplog.text
    assert KEY not in caplog.text and KEY not in str(emulator.state.requests())  # nor in the request log


def test_a_failed_receipt_read_means_one_upload_more(
    emulator: EmulatorServer, client: FileServiceClient, caplog: pytest.LogCaptureFixture
) -> None:
    emulator.faults.lose_upload_answer("reset")
    emulator.faults.http_status(500, method="GET", path=RECEIPTS)
    caplog.set_level(logging.INFO)
    upload(client, upload_id="airflow-receipt-fails-001")
    assert sent(emulator) == [("upload", 0), ("receipt", 500), ("upload", 200)]  # the read is not retried
    assert "reading its receipt failed" in caplog.text
    assert KEY not in caplog.text


def test_an_earlier_tries_done_receipt_means_no_upload(
    emulator: EmulatorServer, client: FileServiceClient
) -> None:
    first = upload(client, upload_id="airflow-earlier-try-00001")
    again = upload(client, upload_id="airflow-earlier-try-00001", earlier_try=True)
    assert again.file_id == first.file_id and again.file_url == first.file_url
    assert sent(emulator) == [("upload", 200), ("receipt", 200)]
    # A first try reads no receipt; an earlier try with no receipt uploads.
    upload(client, upload_id="airflow-earlier-try-00002", earlier_try=True)
    assert sent(emulator)[2:] == [("receipt", 404), ("upload", 200)]


def test_success_false_with_a_4xx_code_fails_at_once_naming_the_upload(
    emulator: EmulatorServer, client: FileServiceClient
) -> None:
    emulator.faults.upload_success_false(400)
    with pytest.raises(EvolinkBadRequestError) as caught:
        upload(client, upload_id="airflow-success-false-400")
    assert sent(emulator) == [("upload", 200)]  # not retried, and no receipt read: the answer came
    error = caught.value
    assert error.http_status == 400 and not error.retryable
    message = str(error)
    assert "Upload of 'frame.png'" in message and "success: false, code 400" in message
    assert KEY not in message and KEY not in repr(error)


def test_success_false_with_503_is_retried(emulator: EmulatorServer, client: FileServiceClient) -> None:
    emulator.faults.upload_success_false(503)
    got = upload(client, upload_id="airflow-success-false-503")
    assert sent(emulator) == [("upload", 200), ("upload", 200)]
    assert [f["file_id"] for f in emulator.state.uploads()["files"]] == [got.file_id]


def test_every_upload_is_named_and_sent_under_the_keys_evolinks_client_sends(
    emulator: EmulatorServer, client: FileServiceClient
) -> None:
    upload(client)
    upload(client)
    first, second = emulator.state.uploads()["upload_ids"]
    # Outside a task instance: the file's checksum and a random part, so two uploads are two uploads.
    assert first != second and first.startswith(f"evo-{SHA[:40]}-") and second.startswith(f"evo-{SHA[:40]}-")
    assert all(UPLOAD_ID_PATTERN.fullmatch(upload_id) for upload_id in (first, second))
    keys = [r["idempotency_key"] for r in emulator.state.requests() if r["path"] == UPLOAD]
    assert keys == [first, second]


def test_a_bad_upload_id_is_refused_before_anything_is_sent(
    emulator: EmulatorServer, client: FileServiceClient
) -> None:
    for bad in ("too-short", "-leading-dash-0123456", "a.dot.is.not.allowed.01", "x" * 129):
        with pytest.raises(EvolinkValidationError, match="upload_id"):
            upload(client, upload_id=bad)
    assert emulator.state.requests() == []


def test_the_task_instance_id_ignores_the_try_and_tells_map_indexes_and_files_apart() -> None:
    instance = ("dag", "generate", "manual__2026-01-01T00:00:00+00:00", -1)
    same = upload_id_for(SHA, instance)
    assert same == upload_id_for(SHA, instance) and UPLOAD_ID_PATTERN.fullmatch(same)
    others = {
        upload_id_for(SHA, (*instance[:3], 0)),
        upload_id_for(SHA, (*instance[:3], 1)),
        upload_id_for(hashlib.sha256(b"another frame").hexdigest(), instance),
        upload_id_for(SHA, ("dag", "generate", "manual__2026-01-02T00:00:00+00:00", -1)),
    }
    assert len(others) == 4 and same not in others
