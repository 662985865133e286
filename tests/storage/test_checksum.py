"""The recorded checksum: known check values, chunking, and the choice refused at DAG-parse time."""

from __future__ import annotations

import pytest

from airflow_evolink.operators.evolink import EvolinkDownloadVideoOperator, EvolinkSubmitVideoOperator
from airflow_evolink.sensors.evolink import EvolinkVideoSensor
from airflow_evolink.storage.checksum import DEFAULT_CHECKSUM, check_checksum_name, new_checksum

# Published check values: CRC-32C of "123456789" (RFC 3720, appendix B.4 and the CRC catalogue);
# SHA-256 of "abc" (FIPS 180-2, appendix B.1).
CHECK = {
    "crc32c": (b"123456789", "e3069283"),
    "sha256": (b"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
}


@pytest.mark.parametrize("name", sorted(CHECK))
def test_known_check_value(name):
    data, expected = CHECK[name]
    checksum = new_checksum(name)
    checksum.update(data)
    assert checksum.hexdigest() == expected


@pytest.mark.parametrize("name", sorted(CHECK))
def test_chunks_from_a_reused_buffer_sum_as_the_whole(name):
    data = bytes(range(256)) * 5000
    whole = new_checksum(name)
    whole.update(data)
    chunked = new_checksum(name)
    buffer = bytearray(4096)
    for start in range(0, len(data), len(buffer)):
        piece = data[start : start + len(buffer)]
        buffer[: len(piece)] = piece
        chunked.update(memoryview(buffer)[: len(piece)])
    assert chunked.hexdigest() == whole.hexdigest()


def test_crc32c_is_the_default_and_none_is_allowed():
    assert DEFAULT_CHECKSUM == "crc32c"
    assert check_checksum_name(None) is None
    assert check_checksum_name("sha256") == "sha256"


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (
            lambda: EvolinkDownloadVideoOperator(task_id="d", destination="file:///tmp", checksum="md5"),
            "checksum",
        ),
        (
            lambda: EvolinkVideoSensor(task_id="s", evolink_task_id="x", download_checksum="md5"),
            "download_checksum",
        ),
        (
            lambda: EvolinkSubmitVideoOperator(task_id="o", model="m", prompt="p", download_checksum="MD5"),
            "download_checksum",
        ),
    ],
)
def test_an_unknown_checksum_is_refused_when_the_dag_is_parsed(build, field):
    with pytest.raises(ValueError) as info:
        build()
    assert str(info.value).startswith(f"{field} must be one of 'crc32c', 'sha256' or None")
