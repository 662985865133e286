"""The pieces of storage inputs without Airflow: field discovery, the multipart body, presign, the quota."""

from __future__ import annotations

import io
import logging

import fsspec
import pytest
import requests
from fsspec.implementations.memory import MemoryFileSystem

from airflow_evolink.core.errors import EvolinkValidationError
from airflow_evolink.hooks.files import EvolinkFileQuotaError, FileServiceClient, MultipartStream
from airflow_evolink.inputs.paths import find_storage_inputs, open_storage, with_stand_ins
from airflow_evolink.inputs.resolve import InputLedger, resolve_inputs, strip_query

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
SECRET = "X-Amz-Signature=abc123secret"


class SigningMemoryFS(MemoryFileSystem):
    """A memory filesystem that presigns like S3 does (a signature in the query string)."""

    protocol = "signmem"

    @classmethod
    def _strip_protocol(cls, path: str) -> str:
        return str(super()._strip_protocol(path.removeprefix("signmem://")))

    def sign(self, path: str, expiration: int = 100, **kwargs: object) -> str:
        return f"https://bucket.example.com{path}?X-Amz-Expires={expiration}&{SECRET}"


fsspec.register_implementation("signmem", SigningMemoryFS, clobber=True)


def test_storage_paths_are_found_in_every_input_field_and_only_there():
    fields = {
        "model": "m",
        "image_start": "s3://bucket/a.png",
        "image_urls": ["https://x.example/a.png", "gs://b/c.png"],
        "video_urls": ["file:///v.mp4"],
        "audio_url": "memory://a/b.mp3",
        "callback_url": "https://hooks.example/cb",
        "prompt": "s3://not/an/input",
    }
    found = [ref.field for ref in find_storage_inputs(fields)]
    assert found == ["image_start", "image_urls[1]", "video_urls[0]", "audio_url"]
    stand_in = with_stand_ins(fields)
    assert stand_in["image_urls"][0] == "https://x.example/a.png"
    assert stand_in["image_urls"][1].startswith("https://")
    assert fields["image_urls"][1] == "gs://b/c.png"  # the caller's list is not changed


def test_the_multipart_body_is_exactly_as_long_as_it_says():
    body = MultipartStream(lambda: io.BytesIO(b"x" * 3_000_000), 3_000_000, 'a"b.png', "image/png")
    data = b"".join(body)
    assert len(data) == len(body)
    assert b'filename="a_b.png"' in data and data.endswith(f"--{body.boundary}--\r\n".encode())


def test_presign_sends_the_signed_url_but_logs_and_records_it_without_the_query(caplog):
    fs = fsspec.filesystem("signmem")
    fs.pipe_file("/frames/a.png", PNG)
    refs = find_storage_inputs({"image_start": "signmem://frames/a.png"})
    caplog.set_level(logging.INFO)
    log = logging.getLogger("test.inputs")
    resolved = resolve_inputs(refs, mode="presign", client=_no_client, ledger=InputLedger(), log=log)
    [(url, record)] = resolved.values()
    assert SECRET in url
    assert record.url == strip_query(url) == "https://bucket.example.com/frames/a.png"
    assert SECRET not in str(record.to_xcom()) and SECRET not in caplog.text
    assert "signmem://frames/a.png -> https://bucket.example.com/frames/a.png" in caplog.text


def test_presign_is_reused_from_the_ledger_so_a_retry_sends_the_same_body():
    fs = fsspec.filesystem("signmem")
    fs.pipe_file("/frames/b.png", PNG)
    refs = find_storage_inputs({"image_start": "signmem://frames/b.png"})
    store = _Store()
    log = logging.getLogger("test.inputs")
    first = resolve_inputs(refs, mode="presign", client=_no_client, ledger=InputLedger(store), log=log)
    again = resolve_inputs(refs, mode="presign", client=_no_client, ledger=InputLedger(store), log=log)
    assert [u for u, _ in first.values()] == [u for u, _ in again.values()]
    assert [r.reused for _, r in again.values()] == [True]


def test_presign_is_refused_for_memory_storage():
    fsspec.filesystem("memory").pipe_file("/frames/c.png", PNG)
    refs = find_storage_inputs({"image_urls": ["memory://frames/c.png"]})
    with pytest.raises(EvolinkValidationError, match=r"'image_urls\[0\]'.*cannot be presigned.*'memory://'"):
        resolve_inputs(refs, mode="presign", client=_no_client, ledger=InputLedger(), log=logging.getLogger())


@pytest.mark.evolink_emulator(file_quota=1)
def test_a_full_quota_says_what_to_do(evolink_emulator):
    client = FileServiceClient(requests.Session(), evolink_emulator.base_url, "sk-test", sleep=lambda _: None)
    uploaded = client.upload_stream(
        lambda: io.BytesIO(PNG), size=len(PNG), filename="a.png", content_type="image/png"
    )
    assert requests.get(uploaded.file_url, timeout=10).content == PNG
    with pytest.raises(EvolinkFileQuotaError) as caught:
        client.upload_stream(
            lambda: io.BytesIO(PNG), size=len(PNG), filename="b.png", content_type="image/png"
        )
    message = str(caught.value)
    assert (
        "file_quota_exceeded" in message and "cleanup_uploads=True" in message and "Delete files" in message
    )
    assert not caught.value.retryable
    assert client.quota() == {"used": 1, "limit": 1, "remaining": 0}
    assert client.delete(uploaded.file_id) is True
    assert client.delete(uploaded.file_id) is False  # already gone
    assert requests.get(uploaded.file_url, timeout=10).status_code == 404
    assert evolink_emulator.state.uploads()["uploads"] == 1


class _Store:
    def __init__(self) -> None:
        self.data: dict[str, object] = {}

    def get(self, key: str, default: object = None) -> object:
        return self.data.get(key, default)

    def set(self, key: str, value: object) -> None:
        self.data[key] = value


def _no_client() -> FileServiceClient:
    raise AssertionError("presign must not call the file service")


def test_reading_an_unattached_scheme_leaves_airflows_store_cache_as_it_was():
    # Airflow caches a store without a filesystem the first time it meets a scheme nobody attached; a
    # later attach(protocol=..., fs=...) in the same process would get that dud back.
    from airflow.sdk import ObjectStoragePath
    from airflow.sdk.io import attach

    fsspec.filesystem("memory").pipe_file("/frames/cache-check.png", PNG)
    [ref] = find_storage_inputs({"image_start": "memory://frames/cache-check.png"})
    open_storage(ref)
    fs = MemoryFileSystem()
    attach(protocol="memory", fs=fs)
    assert ObjectStoragePath("memory://frames/cache-check.png").fs is fs
