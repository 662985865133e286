"""Real S3 (moto) and GCS (gcp-storage-emulator) servers on 127.0.0.1 for the object-store tests.

Each server object knows its endpoint, creates and empties buckets, and reads objects back directly
(boto3 for S3, the emulator's JSON API for GCS), so a test's assertions never pass through the code
under test (Airflow's ObjectStoragePath, s3fs, gcsfs).
"""

from __future__ import annotations

import base64
import json
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

S3_CONN_ID = "evolink_test_s3"
GCS_CONN_ID = "evolink_test_gcs"
S3_ACCESS_KEY = "evolink-test-access-key"
S3_SECRET_KEY = "evolink-test-secret-key"
S3_REGION = "us-east-1"
GCS_PROJECT = "evolink-test"
#: gcsfs >= 2026.10 first asks a gRPC control plane for each bucket's type (60 s per bucket against an
#: emulator) unless this is off.
GCSFS_ENV = {"GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(url: str, timeout: float = 60.0) -> None:
    # The first request to moto loads its S3 backend, which takes seconds on a loaded 2-core machine:
    # a slow first answer is waited for (read timeout), a refused connection is tried again.
    deadline = time.monotonic() + timeout
    while True:
        try:
            requests.get(url, timeout=(2, 30))
            return
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"object-store server did not answer at {url} within {timeout} s"
                ) from None
            time.sleep(0.05)


class S3Server:
    """moto's S3 server in this process (a thread), on 127.0.0.1 and a free port."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)

    def start(self) -> None:
        self._server.start()
        _wait_until_up(self.endpoint)

    def stop(self) -> None:
        self._server.stop()

    def client(self) -> Any:
        """A boto3 S3 client straight to the server (for assertions; not the code under test)."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=S3_ACCESS_KEY,
            aws_secret_access_key=S3_SECRET_KEY,
            region_name=S3_REGION,
        )

    def create_bucket(self, bucket: str) -> None:
        """Create the bucket, or empty it if it exists."""
        client = self.client()
        existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
        if bucket in existing:
            self.empty_bucket(bucket)
        else:
            client.create_bucket(Bucket=bucket)

    def empty_bucket(self, bucket: str) -> None:
        client = self.client()
        for key in self.list_keys(bucket):
            client.delete_object(Bucket=bucket, Key=key)
        for upload in client.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
            client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        paginator = self.client().get_paginator("list_objects_v2")
        return sorted(
            item["Key"]
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
            for item in page.get("Contents", [])
        )

    def read(self, bucket: str, key: str) -> bytes:
        return bytes(self.client().get_object(Bucket=bucket, Key=key)["Body"].read())

    def connection_json(self) -> str:
        """An `aws` connection as a user configures one for an S3-compatible endpoint."""
        return json.dumps(
            {
                "conn_type": "aws",
                "login": S3_ACCESS_KEY,
                "password": S3_SECRET_KEY,
                "extra": {"endpoint_url": self.endpoint, "region_name": S3_REGION},
            }
        )


class GCSServer:
    """gcp-storage-emulator in this process (in memory), on 127.0.0.1 and a free port."""

    def __init__(self) -> None:
        from gcp_storage_emulator.server import create_server

        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._server = create_server("127.0.0.1", self.port, in_memory=True)

    def start(self) -> None:
        self._server.start()
        _wait_until_up(self.endpoint)

    def stop(self) -> None:
        self._server.stop()

    def _api(self, path: str) -> str:
        return f"{self.endpoint}/storage/v1/{path}"

    def create_bucket(self, bucket: str) -> None:
        """Create the bucket, or empty it if it exists."""
        answer = requests.get(self._api(f"b/{bucket}"), timeout=10)
        if answer.status_code == 200:
            self.empty_bucket(bucket)
            return
        created = requests.post(
            self._api("b"), params={"project": GCS_PROJECT}, json={"name": bucket}, timeout=10
        )
        created.raise_for_status()

    def empty_bucket(self, bucket: str) -> None:
        for name in self.list_keys(bucket):
            requests.delete(self._api(f"b/{bucket}/o/{quote(name, safe='')}"), timeout=10).raise_for_status()

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        names: list[str] = []
        token: str | None = None
        while True:
            params = {"prefix": prefix, **({"pageToken": token} if token else {})}
            answer = requests.get(self._api(f"b/{bucket}/o"), params=params, timeout=10)
            answer.raise_for_status()
            body = answer.json()
            names.extend(item["name"] for item in body.get("items", []))
            token = body.get("nextPageToken")
            if not token:
                return sorted(names)

    def read(self, bucket: str, key: str) -> bytes:
        answer = requests.get(
            f"{self.endpoint}/download/storage/v1/b/{bucket}/o/{quote(key, safe='')}",
            params={"alt": "media"},
            timeout=30,
        )
        answer.raise_for_status()
        return answer.content

    def connection_json(self) -> str:
        """A `google_cloud_platform` connection with anonymous credentials and the emulator's endpoint."""
        return json.dumps(
            {
                "conn_type": "google_cloud_platform",
                "extra": {"is_anonymous": True, "project": GCS_PROJECT, "gcs.endpoint": self.endpoint},
            }
        )


@contextmanager
def s3_requests(tmp_path: Path) -> Iterator[list[dict[str, Any]]]:
    """The requests moto's server receives meanwhile (method, url, headers, body), filled in on exit."""
    from moto.moto_api import recorder

    saved = recorder._location
    recorder._location = str(tmp_path / "moto-recording.jsonl")
    recorder.reset_recording()
    recorder.start_recording()
    seen: list[dict[str, Any]] = []
    try:
        yield seen
    finally:
        recorder.stop_recording()
        seen.extend(json.loads(line) for line in recorder.download_recording().splitlines() if line)
        recorder._location = saved


def request_text(record: dict[str, Any]) -> str:
    """Everything a recorded request carried (headers, URL, body), as text to search."""
    body = record.get("body") or ""
    if record.get("body_encoded"):
        body = base64.b64decode(body).decode("latin-1")
    return json.dumps(record.get("headers") or {}) + str(record.get("url")) + str(body)
