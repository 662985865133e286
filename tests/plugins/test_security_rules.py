"""The gallery's hardening rules on their own: the Range parser, the stored-copy and redirect trust rules,
the identifier checks and the header policy. No database, no cluster; the real api-server checks are in
tests/browser/test_gallery_security.py.
"""

from __future__ import annotations

import time

import pytest

from airflow_evolink.plugins import security, trust
from airflow_evolink.plugins.streaming import RangeNotSatisfiable, parse_range

SIZE = 1000


# ---- Range ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-99", (0, 99)),
        ("bytes=100-", (100, SIZE - 1)),
        ("bytes=-10", (SIZE - 10, SIZE - 1)),
        ("BYTES = 5 - 9", (5, 9)),
        ("bytes=\t5-\t9\t", (5, 9)),
        ("bytes=900-5000", (900, SIZE - 1)),
        ("bytes=-5000", (0, SIZE - 1)),
        ("bytes=0000000000000000000000000000000005-9", (5, 9)),
        ("bytes=0-" + "9" * 5000, (0, SIZE - 1)),  # a last position past any file: up to the end
        ("bytes=-" + "9" * 5000, (0, SIZE - 1)),  # a suffix longer than any file: all of it
    ],
)
def test_a_single_range_is_parsed(header, expected):
    assert parse_range(header, SIZE) == expected


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "bytes=",
        "bytes=-",
        "bytes=0-99,200-299",  # several ranges: the whole file
        "bytes=9-5",  # last before first: ignored
        "items=0-9",
        "bytes 0-9",
        "bytes=a-9",
        "bytes=0-9x",
        "bytes=\u0661-9",  # an Arabic-Indic digit is not a byte position
        "bytes=" + " " * 1200 + "-" + " " * 1200 + "x",
        "bytes=0-9" + " " * 9000,  # over the length cap: not even read
    ],
)
def test_anything_else_means_the_whole_file(header):
    assert parse_range(header, SIZE) is None


@pytest.mark.parametrize("header", [f"bytes={SIZE}-", "bytes=-0", "bytes=" + "9" * 5000 + "-"])
def test_a_range_past_the_end_is_not_satisfiable(header):
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, SIZE)


def test_a_pathological_header_is_parsed_in_linear_time():
    """8 KB of whitespace took a backtracking pattern minutes; a generous bound still catches a relapse
    (the benchmark benchmarks/bench_range.py gives the figures)."""
    header = "bytes=" + " " * 4090 + "-" + " " * 4090 + "x"
    started = time.perf_counter()
    for _ in range(100):
        assert parse_range(header, SIZE) is None
    assert time.perf_counter() - started < 1.0


# ---- stored copies -------------------------------------------------------------------------------
DEST = "file:///data/videos/dag_a"


@pytest.mark.parametrize(
    "path",
    [
        "file:///data/videos/dag_a/task-1.mp4",
        "/data/videos/dag_a/run/task-1.MOV",
        "file://localhost/data/videos/dag_a/task-1.webm",
        "file:///data/videos/dag_a/with%20space.mp4",
    ],
)
def test_a_video_under_the_rendered_destination_is_trusted(path):
    assert trust.trusted_store_path(path, [DEST]) == DEST


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("file:///data/videos/dag_b/task-1.mp4", "another DAG's folder"),
        ("file:///data/videos/dag_a_other/task-1.mp4", "a sibling whose name starts the same"),
        ("file:///data/videos/dag_a/../dag_b/task-1.mp4", "a .. segment"),
        ("file:///data/videos/dag_a/%2e%2e/dag_b/task-1.mp4", "an encoded .. segment"),
        ("file:///data/videos/dag_a/./task-1.mp4", "a . segment"),
        ("file:///data/videos/dag_a/x%2f..%2f..%2ftask-1.mp4", "an encoded slash"),
        ("file:///etc/passwd", "outside, and not a video"),
        ("file:///data/videos/dag_a/notes.txt", "not a video"),
        ("file:///data/videos/dag_a/clip%2Emp4", "a video only once decoded"),
        ("file:///data/videos/dag_a/clip.mp4%2Etxt", "a video only as written"),
        ("file:///data/videos/dag_a/", "the folder itself"),
        ("file:///data/videos/dag_a", "the folder itself"),
        ("file:///data/videos/dag_a/task-1.mp4?x=1", "a query"),
        ("file:///data/videos/dag_a/a#.mp4", "a fragment"),
        ("file://evil.example/data/videos/dag_a/task-1.mp4", "a file URL naming a host"),
        ("http://127.0.0.1:18555/secret?x=.mp4", "http, with the extension only in the query"),
        ("https://files.evolink.ai/data/videos/dag_a/task-1.mp4", "https is never a store here"),
        ("data/videos/dag_a/task-1.mp4", "a relative path"),
        ("s3://bucket/data/videos/dag_a/task-1.mp4", "another store"),
        ("file:///data/videos/dag_a/task\x00.mp4", "a NUL byte"),
        ("C:\\data\\videos\\dag_a\\task-1.mp4", "a Windows path"),
        (["file:///data/videos/dag_a/task-1.mp4"], "not a string"),
    ],
)
def test_anything_else_is_refused(path, why):
    assert trust.trusted_store_path(path, [DEST]) is None, why


def test_an_object_store_path_is_trusted_under_its_own_bucket_only():
    dest = "s3://media/videos/dag_a"
    assert trust.trusted_store_path("s3://media/videos/dag_a/t.mp4", [dest]) == dest
    assert trust.trusted_store_path("s3://other/videos/dag_a/t.mp4", [dest]) is None
    assert trust.trusted_store_path("gs://media/videos/dag_a/t.mp4", [dest]) is None
    # ObjectStoragePath writes its connection id before the bucket: the same connection is required.
    with_conn = "s3://aws_default@media/videos/dag_a"
    assert trust.trusted_store_path(f"{with_conn}/t.mp4", [with_conn]) == with_conn
    assert trust.trusted_store_path("s3://other@media/videos/dag_a/t.mp4", [with_conn]) is None
    # Connection ids are case-sensitive: OTHER is another connection than other; the scheme and the
    # bucket are not.
    assert trust.trusted_store_path("s3://OTHER@media/d/x.mp4", ["s3://other@media/d"]) is None
    assert (
        trust.trusted_store_path("S3://other@MEDIA/d/x.mp4", ["s3://other@media/d"]) == "s3://other@media/d"
    )


@pytest.mark.parametrize(
    "destination",
    [
        "http://127.0.0.1:18555/",
        "Truncated. You can change this behaviour in [core]max_templated_field_length. 'file:///d'",
        "relative/folder",
        None,
        {"path": "/data"},
    ],
)
def test_a_destination_that_is_no_plain_folder_trusts_nothing(destination):
    assert trust.trusted_store_path("file:///data/videos/dag_a/task-1.mp4", [destination]) is None


def test_destinations_come_from_the_destination_fields_only():
    fields = {"destination": "file:///a", "download_to": "s3://b/c", "prompt": "file:///", "extra": 3}
    assert trust.destinations_of(fields) == ["file:///a", "s3://b/c"]
    assert trust.destinations_of({"download_to": ["file:///a"]}) == []
    assert trust.destinations_of("file:///a") == []


def test_a_symlink_out_of_the_folder_is_caught(tmp_path):
    folder = tmp_path / "dag_a"
    folder.mkdir()
    outside = tmp_path / "dag_b.mp4"
    outside.write_bytes(b"x")
    (folder / "link.mp4").symlink_to(outside)
    (folder / "real.mp4").write_bytes(b"x")
    assert trust.local_file_is_inside(str(folder / "real.mp4"), str(folder))
    assert not trust.local_file_is_inside(str(folder / "link.mp4"), str(folder))


# ---- live links ----------------------------------------------------------------------------------
HOSTS = trust.parse_media_hosts("*.evolink.ai, http://127.0.0.1:8099 media.example.com bad/entry")


def test_media_hosts_parse_into_origins():
    assert [h.source for h in HOSTS] == [
        "https://*.evolink.ai",
        "http://127.0.0.1:8099",
        "https://media.example.com",
    ]


@pytest.mark.parametrize(
    "url",
    [
        "https://files.evolink.ai/v/abc.mp4",
        "https://FILES.EVOLINK.AI:443/v/abc.mp4",
        "http://127.0.0.1:8099/results/abc.mp4",
        "https://media.example.com/abc.mp4?sig=1",
    ],
)
def test_a_link_to_an_allowed_host_is_redirected_to(url):
    assert trust.allowed_redirect(url, HOSTS) == url


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/abc.mp4",
        "https://evolink.ai.evil.example/abc.mp4",
        "https://evilevolink.ai/abc.mp4",
        "https://evolink.ai/abc.mp4",  # the wildcard is for subdomains
        "http://files.evolink.ai/abc.mp4",  # not https
        "https://files.evolink.ai:8443/abc.mp4",
        "http://127.0.0.1:8098/abc.mp4",
        "https://127.0.0.1:8099/abc.mp4",
        "https://user@files.evolink.ai/abc.mp4",
        "javascript:alert(1)//files.evolink.ai",
        "data:text/html,<script>alert(1)</script>",
        "//files.evolink.ai/abc.mp4",
        "https://files.evolink.ai:99999/abc.mp4",
        "https://files.evolink.ai/a\nb.mp4",
        None,
    ],
)
def test_any_other_link_is_not(url):
    assert trust.allowed_redirect(url, HOSTS) is None


def test_the_default_hosts_are_evolinks_own(monkeypatch):
    monkeypatch.delenv("AIRFLOW__EVOLINK__GALLERY_MEDIA_HOSTS", raising=False)
    assert [h.source for h in trust.configured_media_hosts()] == ["https://*.evolink.ai"]
    monkeypatch.setenv("AIRFLOW__EVOLINK__GALLERY_MEDIA_HOSTS", "http://127.0.0.1:9")
    assert [h.source for h in trust.configured_media_hosts()] == ["http://127.0.0.1:9"]


# ---- identifiers and headers ---------------------------------------------------------------------
@pytest.mark.parametrize("value", ["my_dag", "dag.v2-b", "a" * 250])
def test_valid_keys_pass(value):
    assert security.key_problem(value) is None


@pytest.mark.parametrize("value", ["\x00", "a/b", "a b", "a\n", "a" * 251, "<script>"])
def test_invalid_keys_are_named(value):
    assert security.key_problem(value)


@pytest.mark.parametrize(
    "value",
    ["manual__2026-01-01T00:00:00+00:00", "browser_1764912000", "scheduled__2026-01-01T00:00:00+00:00"],
)
def test_run_ids_airflow_makes_pass(value):
    assert security.run_id_problem(value) is None


@pytest.mark.parametrize("value", ["\x00", "a/b", "a" * 251, "run id"])
def test_run_ids_airflow_refuses_are_refused(value):
    assert security.run_id_problem(value)


def test_the_policy_allows_only_the_galleries_own_code_and_the_airflow_ui_as_frame():
    policy = security.content_security_policy(HOSTS)
    directives = dict(d.split(" ", 1) for d in policy.split("; "))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'self'"
    assert (
        directives["media-src"]
        == "'self' https://*.evolink.ai http://127.0.0.1:8099 https://media.example.com"
    )
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


def test_the_provider_declares_the_media_hosts_option_with_the_same_default():
    from airflow_evolink.get_provider_info import GALLERY_CONFIG

    option = GALLERY_CONFIG["evolink"]["options"]["gallery_media_hosts"]
    assert option["default"] == trust.DEFAULT_MEDIA_HOSTS
    assert trust.parse_media_hosts(option["example"])


def test_an_unhandled_error_is_a_plain_500_with_the_security_headers():
    """Starlette's error handler sits outside the gallery's middleware: the middleware answers the 500."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from airflow_evolink.plugins.security import SecurityHeadersMiddleware

    app = FastAPI()
    app.add_middleware(SecurityHeadersMiddleware)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret detail")

    response = TestClient(app).get("/boom")
    assert response.status_code == 500
    assert response.text == "Internal Server Error" and "secret" not in response.text
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors" in response.headers["content-security-policy"]
