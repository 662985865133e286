"""The store-check rules that need no server: part sizes for S3's 10,000-part limit, ETags that are not
MD5s, and GCS's base64 CRC-32C. (Against real S3 and GCS answers: tests/objectstores/test_outputs.py.)"""

from __future__ import annotations

import base64
import hashlib

import google_crc32c
import pytest

from airflow_evolink.storage.sinks import MAX_PARTS, PART_BYTES, part_bytes_for
from airflow_evolink.storage.store_checks import GcsCrc32c, S3ETag, gcs_crc32c, s3_etag

MIB = 1024 * 1024


@pytest.mark.parametrize(
    "size", [None, 0, 64 * MIB, PART_BYTES * MAX_PARTS, PART_BYTES * MAX_PARTS + 1, 200 * 1024**3]
)
def test_part_size_keeps_uploads_within_s3_limits(size: int | None) -> None:
    part = part_bytes_for(size)
    assert part >= 5 * MIB and part % MIB == 0
    assert size is None or -(-size // part) <= MAX_PARTS <= 10_000
    assert part == PART_BYTES or (size is not None and size > PART_BYTES * MAX_PARTS)


def test_etag_of_a_video_smaller_than_one_part_is_its_md5() -> None:
    digest = S3ETag(5 * MIB)
    digest.update(b"abc")
    digest.update(memoryview(b"def"))
    assert digest.expected() == f"etag:{hashlib.md5(b'abcdef').hexdigest()}"


def test_etag_of_an_exact_number_of_parts_has_no_empty_last_part() -> None:
    digest = S3ETag(4)
    digest.update(b"12345678")
    parts = hashlib.md5(b"1234").digest() + hashlib.md5(b"5678").digest()
    assert digest.expected() == f"etag:{hashlib.md5(parts).hexdigest()}-2"


def test_etag_is_not_compared_when_the_store_encrypts_with_kms_or_customer_keys() -> None:
    assert s3_etag({"ETag": '"ABC-2"'}) == "etag:abc-2"
    assert s3_etag({"ETag": '"abc"', "ServerSideEncryption": "AES256"}) == "etag:abc"
    assert s3_etag({"ETag": '"abc"', "ServerSideEncryption": "aws:kms"}) is None
    assert s3_etag({"ETag": '"abc"', "SSECustomerAlgorithm": "AES256"}) is None


def test_gcs_crc32c_is_read_from_base64_big_endian() -> None:
    data = b"a video"
    value = google_crc32c.value(data)
    reported = gcs_crc32c({"crc32c": base64.b64encode(value.to_bytes(4, "big")).decode()})
    summed = GcsCrc32c()
    summed.update(data)
    assert reported == summed.expected() == f"crc32c:{value:08x}"
