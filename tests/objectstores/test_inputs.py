"""Frames in real object stores (moto S3, gcp-storage-emulator GCS) as inputs of a generation, in real
Airflow (``dag.test()``) against the emulator: uploaded byte-exact and once, or presigned with real
signatures that the emulator fetches when the generation starts.

moto (5.2) checks neither the expiry nor the signature of a presigned URL: it serves any GET of an existing
key (its IAM checks read only the ``Authorization`` header). So the presign tests put S3's own checks of a
presigned URL in front of moto's app (:class:`PresignGate`, the SigV4 query rules of AWS's docs: the URL
expires at ``X-Amz-Date`` + ``X-Amz-Expires``; the signature is recomputed with the secret key) and reach it
through a second ``aws`` connection; the objects are moto's (one in-process backend), so the frames are put
and read back through ``s3_server`` as usual.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import pytest

from tests.airflow_helpers import dag_bag, xcom_values
from tests.objectstores.servers import (
    GCS_CONN_ID,
    S3_ACCESS_KEY,
    S3_CONN_ID,
    S3_REGION,
    S3_SECRET_KEY,
    GCSServer,
    S3Server,
    free_port,
)

pytestmark = pytest.mark.usefixtures("airflow_db")

CREATE = "/v1/videos/generations"
UPLOAD = "/api/v1/files/upload/stream"
TEST_DAGS = Path(__file__).resolve().parents[1] / "dags"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR"
GATED_CONN_ID = "evolink_test_s3_gated"
SIGNED_GCS_CONN_ID = "evolink_test_gcs_signed"
SIGNER_EMAIL = "frames-signer@evolink-test.iam.gserviceaccount.com"
SIX_HOURS = 6 * 3600  # how long the provider presigns for (airflow_evolink.inputs.resolve.PRESIGN_SECONDS)


def png(size: int) -> bytes:
    """A PNG-headed frame of its own (random body): no other test's upload has these bytes."""
    return PNG + os.urandom(size - len(PNG))


def run(dag_id: str, **params: Any) -> Any:
    return dag_bag(TEST_DAGS).get_dag(dag_id).test(run_conf=params)


def requests_to(emulator: Any, path: str) -> list[dict[str, Any]]:
    return [r for r in emulator.state.requests() if r["path"] == path]


def tries(dag_run: Any) -> int:
    return int(dag_run.get_task_instance("generate").try_number)


# --- S3's checks of a presigned URL, in front of moto -------------------------------------------------


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def presign_problem(method: str, raw_uri: str, host: str, secret: str, now: float) -> tuple[str, str] | None:
    """(S3 error code, message) for a presigned request S3 would refuse, else ``None``: expiry first,
    then the signature, in either form botocore presigns (SigV4 ``X-Amz-*``, or SigV2 ``AWSAccessKeyId``
    / ``Expires`` / ``Signature``, which it uses in us-east-1 unless told ``s3v4``)."""
    path, _, query = raw_uri.partition("?")
    params = parse_qsl(query, keep_blank_values=True)
    given = dict(params)
    if "X-Amz-Signature" in given:
        signed_at = datetime.strptime(given["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
        expires_at = signed_at.timestamp() + int(given["X-Amz-Expires"])
    else:
        expires_at = int(given["Expires"])
    if now > expires_at:
        return "AccessDenied", "Request has expired"
    expected = _sigv4(method, path, params, host, secret) if "X-Amz-Signature" in given else None
    if expected is None:
        # SigV2: HMAC-SHA1 of "GET\n<Content-MD5>\n<Content-Type>\n<Expires>\n<resource>", base64.
        to_sign = f"{method}\n\n\n{given['Expires']}\n{path}"
        digest = hmac.new(secret.encode(), to_sign.encode(), hashlib.sha1).digest()
        expected, provided = base64.b64encode(digest).decode(), given["Signature"]
    else:
        provided = given["X-Amz-Signature"]
    if not hmac.compare_digest(expected, provided):
        return (
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
        )
    return None


def _sigv4(method: str, path: str, params: list[tuple[str, str]], host: str, secret: str) -> str:
    """The SigV4 query signature S3 computes for this request (only ``host`` signed, as botocore does)."""
    given = dict(params)
    canonical_query = "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
        for k, v in sorted(params)
        if k != "X-Amz-Signature"
    )
    signed_headers = given["X-Amz-SignedHeaders"]
    canonical = "\n".join(
        [method, path, canonical_query, f"host:{host}\n", signed_headers, "UNSIGNED-PAYLOAD"]
    )
    _, day, region, service, terminal = given["X-Amz-Credential"].split("/")
    scope = f"{day}/{region}/{service}/{terminal}"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", given["X-Amz-Date"], scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = ("AWS4" + secret).encode()
    for part in (day, region, service, terminal):
        key = _hmac(key, part)
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


class PresignGate:
    """A WSGI layer over moto's app: presigned requests (a ``Signature`` or ``X-Amz-Signature`` in the query) are checked as
    S3 checks them; everything else passes to moto untouched. ``ahead`` moves the gate's clock forward
    (a generation that starts later than the URL lives); ``checked`` lists (path, outcome)."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app
        self.endpoint = ""
        self.ahead = 0.0
        self.checked: list[tuple[str, str]] = []

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if "Signature=" not in environ.get("QUERY_STRING", ""):
            return self.app(environ, start_response)
        raw = environ.get("RAW_URI") or environ["PATH_INFO"] + "?" + environ["QUERY_STRING"]
        problem = presign_problem(
            environ["REQUEST_METHOD"], raw, environ["HTTP_HOST"], S3_SECRET_KEY, time.time() + self.ahead
        )
        self.checked.append((raw.partition("?")[0], "ok" if problem is None else problem[0]))
        if problem is None:
            return self.app(environ, start_response)
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{problem[0]}</Code>'
            f"<Message>{problem[1]}</Message></Error>"
        ).encode()
        start_response(
            "403 Forbidden", [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))]
        )
        return [body]


@pytest.fixture(scope="module")
def gate(s3_server: S3Server) -> Iterator[PresignGate]:
    """moto behind :class:`PresignGate` on its own port, as the ``aws`` connection ``evolink_test_s3_gated``."""
    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    layer = PresignGate(DomainDispatcherApplication(create_backend_app))
    port = free_port()
    server = make_server("127.0.0.1", port, layer, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    name = f"AIRFLOW_CONN_{GATED_CONN_ID.upper()}"
    os.environ[name] = json.dumps(
        {
            "conn_type": "aws",
            "login": S3_ACCESS_KEY,
            "password": S3_SECRET_KEY,
            "extra": {"endpoint_url": f"http://127.0.0.1:{port}", "region_name": S3_REGION},
        }
    )
    layer.endpoint = f"http://127.0.0.1:{port}"
    try:
        yield layer
    finally:
        os.environ.pop(name, None)
        server.shutdown()
        server.server_close()


@pytest.fixture
def fresh_gate(gate: PresignGate) -> Iterator[PresignGate]:
    gate.ahead = 0.0
    gate.checked.clear()
    yield gate
    gate.ahead = 0.0


# --- upload ---------------------------------------------------------------------------------------------


def test_s3_and_gcs_frames_are_uploaded_byte_exact_and_once(clean_emulator, s3_server, gcs_server):
    from airflow.sdk import ObjectStoragePath

    s3_server.create_bucket("inputs-upload")
    gcs_server.create_bucket("inputs-upload")
    first, last = png(300_000), png(200_000)
    s3_server.client().put_object(Bucket="inputs-upload", Key="frames/first.png", Body=first)
    ObjectStoragePath("gs://inputs-upload/frames/last.png", conn_id=GCS_CONN_ID).write_bytes(last)
    frames = {
        "first": f"s3://{S3_CONN_ID}@inputs-upload/frames/first.png",
        "last": f"gs://{GCS_CONN_ID}@inputs-upload/frames/last.png",
    }
    # The first try's paid POST fails (501: not retried within the try), so Airflow tries again.
    clean_emulator.faults.http_status(501, method="POST", path=CREATE)
    dag_run = run("objectstore_inputs_upload", **frames)
    assert dag_run.state == "success"
    assert tries(dag_run) == 2
    held = clean_emulator.state.uploads()
    assert held["uploads"] == 2 and len(requests_to(clean_emulator, UPLOAD)) == 2  # once each, not per try
    [records] = xcom_values(dag_run, "generate", "evolink_inputs")
    by_field = {r["field"]: r for r in records}
    assert [r["reused"] for r in records] == [True, True]  # the second try's view: the first try's uploads
    # What the file service holds is what each store holds, read straight from the servers.
    start, end = by_field["image_start"]["file_id"], by_field["image_end"]["file_id"]
    assert clean_emulator.state.uploaded_bytes(start) == s3_server.read("inputs-upload", "frames/first.png")
    assert clean_emulator.state.uploaded_bytes(end) == gcs_server.read("inputs-upload", "frames/last.png")
    assert s3_server.read("inputs-upload", "frames/first.png") == first
    posts = requests_to(clean_emulator, CREATE)
    assert [p["status"] for p in posts] == [501, 200]
    assert posts[1]["body"]["image_start"] == f"{clean_emulator.base_url}/uploads/{start}/first.png"
    assert posts[1]["body"]["image_end"] == f"{clean_emulator.base_url}/uploads/{end}/last.png"
    # Another run of the same frames reuses both uploads (the shared list), still served by the service.
    again = run("objectstore_inputs_upload", **frames)
    assert again.state == "success"
    assert clean_emulator.state.uploads()["uploads"] == 2
    [later] = xcom_values(again, "generate", "evolink_inputs")
    assert {r["file_id"] for r in later} == {start, end}


# --- presign --------------------------------------------------------------------------------------------


def put_frame(s3_server: S3Server, bucket: str, conn_id: str = GATED_CONN_ID) -> str:
    s3_server.create_bucket(bucket)
    s3_server.client().put_object(Bucket=bucket, Key="frames/first.png", Body=png(50_000))
    return f"s3://{conn_id}@{bucket}/frames/first.png"


def test_s3_presign_sends_a_real_signature_of_moto_that_the_generation_fetches(
    clean_emulator, s3_server, caplog
):
    caplog.set_level(logging.INFO, logger="werkzeug")
    frame = put_frame(s3_server, "inputs-presign", S3_CONN_ID)
    before = time.time()
    dag_run = run("objectstore_inputs_presign_submit", first=frame)
    after = time.time()
    assert dag_run.state == "success"
    assert tries(dag_run) == 1
    [task] = clean_emulator.state.tasks()
    assert task["final_status"] == "completed"  # the generation could read its input
    assert clean_emulator.state.uploads()["uploads"] == 0  # presigned, not uploaded
    [post] = requests_to(clean_emulator, CREATE)
    url = post["body"]["image_start"]
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == s3_server.endpoint
    assert parts.path == "/inputs-presign/frames/first.png"
    query = dict(parse_qsl(parts.query))
    # botocore presigns with SigV2 for this us-east-1 connection: the key id, an absolute expiry 6 h on.
    assert query["AWSAccessKeyId"] == S3_ACCESS_KEY and query["Signature"]
    assert before + SIX_HOURS - 1 <= int(query["Expires"]) <= after + SIX_HOURS + 1
    # A real signature: S3's rules accept it, and the same URL with one character changed is refused.
    raw = f"{parts.path}?{parts.query}"
    assert presign_problem("GET", raw, parts.netloc, S3_SECRET_KEY, time.time()) is None
    tampered = raw.replace("Signature=", "Signature=A" if "Signature=A" not in raw else "Signature=B", 1)
    assert (
        presign_problem("GET", tampered, parts.netloc, S3_SECRET_KEY, time.time())[0]
        == "SignatureDoesNotMatch"
    )
    # moto's log (werkzeug's, which prints %2F decoded): the generation fetched the signed URL, whole (a
    # GET without a Range, not a HEAD), once.
    fetched = [
        r.getMessage() for r in caplog.records if f"GET {parts.path}?AWSAccessKeyId=" in r.getMessage()
    ]
    assert len(fetched) == 1 and f'&Expires={query["Expires"]} HTTP/1.1" 200 ' in fetched[0]
    # Logs and XCom show it without its signature.
    [[record]] = xcom_values(dag_run, "generate", "evolink_inputs")
    assert record["url"] == f"{s3_server.endpoint}/inputs-presign/frames/first.png"


def test_s3_presign_passes_s3s_own_checks_in_front_of_moto(clean_emulator, s3_server, fresh_gate):
    dag_run = run("objectstore_inputs_presign_submit", first=put_frame(s3_server, "inputs-gated"))
    assert dag_run.state == "success"
    [task] = clean_emulator.state.tasks()
    assert task["final_status"] == "completed"
    # The emulator fetched it when the generation started, and S3's checks passed it.
    assert fresh_gate.checked == [("/inputs-gated/frames/first.png", "ok")]


def assert_clear_input_failure(dag_run: Any, emulator: Any, capfd: Any, s3_code: str) -> None:
    """The task failed once for good (no second try paying again), naming the input and the failure."""
    assert dag_run.state == "failed"
    assert tries(dag_run) == 1
    assert len(requests_to(emulator, CREATE)) == 1
    [task] = emulator.state.tasks()
    assert task["final_status"] == "failed" and task["charge_status"] == "refunded"
    out = capfd.readouterr().out
    assert "image_processing_error" in out
    assert "Failed to fetch input image_start (" in out and "/frames/first.png): HTTP 403" in out
    assert s3_code in out
    assert "Signature=" not in out  # the signature stays out of the log


def test_an_expired_presigned_url_fails_the_task_clearly(clean_emulator, s3_server, fresh_gate, capfd):
    frame = put_frame(s3_server, "inputs-expired")
    # The generation starts after the URL's 6 hours: the store's clock is that far ahead of the signer's.
    fresh_gate.ahead = SIX_HOURS + 60
    dag_run = run("objectstore_inputs_presign", first=frame)
    assert fresh_gate.checked == [("/inputs-expired/frames/first.png", "AccessDenied")]
    assert_clear_input_failure(dag_run, clean_emulator, capfd, "Request has expired")


def test_a_tampered_signature_fails_the_task_clearly(
    clean_emulator, s3_server, fresh_gate, capfd, monkeypatch
):
    import s3fs

    real_sign = s3fs.S3FileSystem.sign

    def sign_then_tamper(self: Any, path: str, expiration: int = 100, **kwargs: Any) -> str:
        """The real presigned URL with the signature's last digit changed, as a URL damaged on its way."""
        url = str(real_sign(self, path, expiration=expiration, **kwargs))
        head, _, signature = url.partition("Signature=")
        flipped = ("B" if signature[0] != "B" else "C") + signature[1:]
        return f"{head}Signature={flipped}"

    monkeypatch.setattr(s3fs.S3FileSystem, "sign", sign_then_tamper)
    frame = put_frame(s3_server, "inputs-tampered")
    dag_run = run("objectstore_inputs_presign", first=frame)
    assert fresh_gate.checked == [("/inputs-tampered/frames/first.png", "SignatureDoesNotMatch")]
    assert_clear_input_failure(dag_run, clean_emulator, capfd, "SignatureDoesNotMatch")


def test_gcs_presign_with_anonymous_credentials_is_refused_before_any_post(clean_emulator, gcs_server, capfd):
    from airflow.sdk import ObjectStoragePath

    gcs_server.create_bucket("inputs-anonymous")
    ObjectStoragePath("gs://inputs-anonymous/frames/first.png", conn_id=GCS_CONN_ID).write_bytes(png(4096))
    dag_run = run("objectstore_inputs_presign", first=f"gs://{GCS_CONN_ID}@inputs-anonymous/frames/first.png")
    assert dag_run.state == "failed"
    assert tries(dag_run) == 1  # refused for good: a second try cannot sign either
    assert clean_emulator.state.requests() == []  # no upload, no POST
    out = capfd.readouterr().out
    assert "'image_start'" in out and "cannot be presigned" in out


# --- GCS presign with a service-account key made here ---------------------------------------------------


class _GoogleTokenEndpoint(BaseHTTPRequestHandler):
    """Stands in for Google's OAuth token endpoint (not reachable offline): gcsfs trades the service
    account's signed JWT for an access token here before it reads the bucket. The emulator takes any."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps(
            {"access_token": "local-token", "expires_in": 3600, "token_type": "Bearer"}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def gcs_signer(gcs_server: GCSServer) -> Iterator[Any]:
    """The ``google_cloud_platform`` connection ``evolink_test_gcs_signed``: the GCS emulator's endpoint
    and a service-account key made here (a fresh RSA key, a made-up client email); returns the key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    tokens = ThreadingHTTPServer(("127.0.0.1", 0), _GoogleTokenEndpoint)
    threading.Thread(target=tokens.serve_forever, daemon=True).start()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    account = {
        "type": "service_account",
        "project_id": "evolink-test",
        "private_key_id": "made-in-the-test",
        "private_key": pem,
        "client_email": SIGNER_EMAIL,
        "client_id": "1",
        "token_uri": f"http://127.0.0.1:{tokens.server_address[1]}/token",
    }
    extra = {
        k: v for k, v in json.loads(gcs_server.connection_json())["extra"].items() if k != "is_anonymous"
    }
    extra["keyfile_dict"] = json.dumps(account)
    name = f"AIRFLOW_CONN_{SIGNED_GCS_CONN_ID.upper()}"
    os.environ[name] = json.dumps({"conn_type": "google_cloud_platform", "extra": extra})
    try:
        yield key
    finally:
        os.environ.pop(name, None)
        tokens.shutdown()
        tokens.server_close()


def test_gcs_presign_with_a_service_account_key_is_signed_and_fetched(
    clean_emulator, gcs_server, gcs_signer, caplog
):
    from airflow.sdk import ObjectStoragePath
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    caplog.set_level(logging.INFO, logger="gcp_storage_emulator")
    gcs_server.create_bucket("inputs-signed")
    ObjectStoragePath("gs://inputs-signed/frames/first.png", conn_id=GCS_CONN_ID).write_bytes(png(4096))
    dag_run = run(
        "objectstore_inputs_presign_submit", first=f"gs://{SIGNED_GCS_CONN_ID}@inputs-signed/frames/first.png"
    )
    assert dag_run.state == "success"
    assert tries(dag_run) == 1
    [task] = clean_emulator.state.tasks()
    assert task["final_status"] == "completed"
    assert clean_emulator.state.uploads()["uploads"] == 0
    [post] = requests_to(clean_emulator, CREATE)
    parts = urlsplit(post["body"]["image_start"])
    assert f"{parts.scheme}://{parts.netloc}" == gcs_server.endpoint  # gcsfs signs for the store's endpoint
    assert parts.path == "/inputs-signed/frames/first.png"
    query = dict(parse_qsl(parts.query))
    assert query["GoogleAccessId"] == SIGNER_EMAIL
    # A real V2 signature by the key made here: RSA-SHA256 of the canonical string (verify raises if not).
    signed = f"GET\n\n\n{query['Expires']}\n{parts.path}".encode()
    gcs_signer.public_key().verify(
        base64.b64decode(query["Signature"]), signed, padding.PKCS1v15(), hashes.SHA256()
    )
    # The GCS emulator does not check signatures; it shows that the generation fetched the signed URL.
    fetched = [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("gcp_storage_emulator") and f"GET {parts.path}?" in r.getMessage()
    ]
    assert len(fetched) == 1 and "Signature=" in fetched[0] and '" 200 ' in fetched[0]
