"""The file service's upload receipts (``X-Evo-Upload-Id``) and the faults that lose an upload's answer.

Driven with plain ``requests`` (not the project's client), so the emulator's side is checked on its own.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
import requests

from airflow_evolink.emulator import EmulatorServer, FaultRule
from tests.emulator.conftest import KEY

FILES = "/api/v1/files"
UPLOAD_ID = "airflow-0123456789abcdef0123"
DATA = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40


def headers(upload_id: str | None = UPLOAD_ID, key: str | None = KEY) -> dict[str, str]:
    out = {} if key is None else {"Authorization": f"Bearer {key}"}
    if upload_id is not None:
        out["X-Evo-Upload-Id"] = upload_id
    return out


def stream(server: EmulatorServer, upload_id: str | None = UPLOAD_ID, key: str = KEY) -> requests.Response:
    return requests.post(
        f"{server.base_url}{FILES}/upload/stream",
        files={"file": ("frame.png", DATA, "image/png")},
        headers=headers(upload_id, key),
        timeout=10,
    )


def receipt(server: EmulatorServer, upload_id: str = UPLOAD_ID, key: str | None = KEY) -> requests.Response:
    return requests.get(
        f"{server.base_url}{FILES}/upload-receipts/{upload_id}", headers=headers(None, key), timeout=10
    )


@pytest.fixture
def server(start_emulator: Callable[..., EmulatorServer]) -> EmulatorServer:
    return start_emulator()


def test_a_named_upload_leaves_a_done_receipt_with_its_file(server: EmulatorServer) -> None:
    answer = stream(server)
    assert answer.status_code == 200, answer.text
    stored = answer.json()["data"]
    got = receipt(server)
    assert got.status_code == 200
    assert got.json() == {
        "upload_id": UPLOAD_ID,
        "state": "done",
        "result_verified": True,
        "file": {"file_id": stored["file_id"], "file_url": stored["file_url"], "file_size": len(DATA)},
    }
    assert requests.get(got.json()["file"]["file_url"], timeout=10).content == DATA
    held = server.state.uploads()
    assert held["upload_ids"] == [UPLOAD_ID]
    assert [f["upload_id"] for f in held["files"]] == [UPLOAD_ID]


@pytest.mark.parametrize(
    "bad",
    [
        "x" * 15,  # one too short
        "-starts-with-a-dash-01",  # must start with a letter or digit
        "has.a.dot.0123456789",  # '.' is not in the alphabet
        "a" * 129,  # one too long
        "spaces are not allowed 0123",
    ],
)
def test_a_bad_upload_id_is_refused_naming_the_header_on_every_route(
    server: EmulatorServer, bad: str
) -> None:
    encoded = {"base64_data": base64.b64encode(DATA).decode()}
    answers = [
        stream(server, bad),
        requests.post(
            f"{server.base_url}{FILES}/upload/base64", json=encoded, headers=headers(bad), timeout=10
        ),
        requests.post(
            f"{server.base_url}{FILES}/upload/url",
            json={"file_url": "http://127.0.0.1:9/never-fetched.png"},
            headers=headers(bad),
            timeout=10,
        ),
    ]
    for answer in answers:
        assert answer.status_code == 400
        assert answer.json()["success"] is False and "X-Evo-Upload-Id" in answer.json()["msg"]
    held = server.state.uploads()
    assert held["uploads"] == 0 and held["files"] == [] and held["receipts"] == []


def test_the_shortest_and_longest_ids_are_accepted(server: EmulatorServer) -> None:
    assert stream(server, "0_shortest-id-16").status_code == 200
    longest = "A" + "b_-9" * 31 + "xyz"  # 128 characters
    assert len(longest) == 128
    encoded = {"base64_data": base64.b64encode(DATA).decode(), "file_name": "f.png"}
    answer = requests.post(
        f"{server.base_url}{FILES}/upload/base64", json=encoded, headers=headers(longest), timeout=10
    )
    assert answer.status_code == 200
    first = answer.json()["data"]
    by_url = requests.post(
        f"{server.base_url}{FILES}/upload/url",
        json={"file_url": first["file_url"]},
        headers=headers(UPLOAD_ID),
        timeout=10,
    )
    assert by_url.status_code == 200
    assert receipt(server, longest).json()["file"]["file_id"] == first["file_id"]
    assert receipt(server, UPLOAD_ID).json()["file"]["file_id"] == by_url.json()["data"]["file_id"]


def test_receipts_need_the_key_and_show_only_its_own(start_emulator: Callable[..., EmulatorServer]) -> None:
    server = start_emulator()  # any key is accepted: two keys, two accounts' worth of receipts
    assert stream(server, key="sk-owner-key").status_code == 200
    assert receipt(server, key=None).status_code == 401
    assert receipt(server, key="sk-someone-else").status_code == 404
    assert receipt(server, "never-seen-upload-0001", key="sk-owner-key").status_code == 404
    assert receipt(server, key="sk-owner-key").json()["state"] == "done"


def test_a_deleted_file_takes_its_receipt_with_it(server: EmulatorServer) -> None:
    file_id = stream(server).json()["data"]["file_id"]
    assert requests.delete(f"{server.base_url}{FILES}/{file_id}", headers=headers(None), timeout=10).ok
    assert receipt(server).status_code == 404


@pytest.mark.parametrize("status", [404, 405])
def test_the_receipts_route_can_answer_as_an_older_file_service(
    start_emulator: Callable[..., EmulatorServer], api_for: Callable[..., Any], status: int
) -> None:
    switched = start_emulator()
    assert stream(switched).status_code == 200
    assert api_for(switched).control("POST", "upload-receipts", {"status": status}).json() == {
        "status": status
    }
    assert receipt(switched).status_code == status
    assert api_for(switched).control("POST", "upload-receipts", {"status": 302}).status_code == 400
    switched.reset()  # back to the config's setting
    assert stream(switched).status_code == 200 and receipt(switched).status_code == 200
    configured = start_emulator(upload_receipts_status=status)
    assert stream(configured).status_code == 200
    assert receipt(configured).status_code == status
    configured.state.set_upload_receipts(200)
    assert receipt(configured).status_code == 200
    with pytest.raises(ValueError, match="upload_receipts_status"):
        start_emulator(upload_receipts_status=500)


@pytest.mark.parametrize("how", ["reset", "truncated"])
def test_a_lost_answer_fault_stores_the_upload_first(server: EmulatorServer, how: str) -> None:
    server.faults.lose_upload_answer(how)
    if how == "reset":
        with pytest.raises(requests.ConnectionError):
            stream(server)
    else:
        answer = stream(server)
        assert answer.status_code == 200
        with pytest.raises(ValueError):
            answer.json()
    [held] = server.state.uploads()["files"]
    assert server.state.uploaded_bytes(held["file_id"]) == DATA
    assert receipt(server).json()["file"]["file_id"] == held["file_id"]
    [record] = [r for r in server.state.requests() if r["method"] == "POST"]
    assert (record["status"], record["fault"]) == ((0, "reset") if how == "reset" else (200, "truncated"))


def test_an_upload_cut_mid_body_leaves_an_outcome_unknown_receipt(server: EmulatorServer) -> None:
    server.faults.reset_connection(method="POST", path=f"{FILES}/upload/")
    with pytest.raises(requests.ConnectionError):
        requests.post(
            f"{server.base_url}{FILES}/upload/stream",
            files={"file": ("big.png", DATA * 100, "image/png")},
            headers=headers(),
            timeout=10,
        )
    assert server.state.uploads()["files"] == []
    assert receipt(server).json() == {
        "upload_id": UPLOAD_ID,
        "state": "outcome_unknown",
        "result_verified": False,
        "file": None,
    }


@pytest.mark.parametrize("code", [400, 503])
def test_success_false_fault_answers_200_with_the_code(server: EmulatorServer, code: int) -> None:
    server.faults.upload_success_false(code)
    answer = stream(server)
    assert answer.status_code == 200
    assert answer.json()["success"] is False and answer.json()["code"] == code
    assert server.state.uploads()["files"] == []
    assert receipt(server).status_code == 404  # nothing was stored under the id
    assert stream(server).json()["success"] is True  # count=1: used up


def test_the_upload_fault_presets_are_named_rules() -> None:
    reset = FaultRule.from_dict({"preset": "upload-reset-after-store"})
    assert (reset.kind, reset.after_processing, reset.path) == ("reset", True, f"{FILES}/upload/")
    assert reset.matches("POST", f"{FILES}/upload/stream")
    assert not reset.matches("GET", f"{FILES}/upload-receipts/{UPLOAD_ID}")
    refused = FaultRule.from_dict({"preset": "upload-success-false-400", "count": 2})
    assert (refused.body, refused.status, refused.count) == ("success_false", 400, 2)
