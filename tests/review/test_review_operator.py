"""The review operator without a run: its form, its Markdown body, the answer it keeps, the CSRF token, and
what Airflow 3.0 (no human-in-the-loop tasks) says."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from airflow_evolink.operators.review import (
    DEFAULT_RESPONSE_TIMEOUT,
    EvolinkReviewVideoOperator,
    missing_hitl_message,
    review_decision,
    review_page_path,
    staged_videos,
)
from airflow_evolink.version_compat import AIRFLOW_V_3_1_PLUS

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
needs_hitl = pytest.mark.skipif(not AIRFLOW_V_3_1_PLUS, reason="human-in-the-loop tasks need Airflow 3.1+")
RUN_ID = "manual__2026-01-01T00:00:00+00:00"


@needs_hitl
def test_the_form_is_approve_or_reject_with_a_note_and_a_safe_timeout() -> None:
    from airflow.sdk import DAG, Param
    from airflow.sdk.bases.notifier import BaseNotifier

    class Nothing(BaseNotifier):
        def notify(self, context: object) -> None:
            return None

    with DAG("review_form", params={"staging": "file:///tmp/s"}, schedule=None):
        op = EvolinkReviewVideoOperator(
            task_id="review",
            video_task_id="generate",
            assigned_users={"id": "ana", "name": "Ana"},
            notifiers=Nothing(),
            form_params={"rating": Param(3, type="integer")},
        )
    assert op.options == ["Approve", "Reject"] and op.multiple is False
    assert set(op.params) == {"note", "rating"}  # never the DAG's params
    assert op.defaults == ["Reject"] and op.response_timeout == DEFAULT_RESPONSE_TIMEOUT
    assert op.assigned_users == [{"id": "ana", "name": "Ana"}] and len(op.notifiers) == 1
    custom = EvolinkReviewVideoOperator(
        task_id="r2", video_task_id="g", response_timeout=timedelta(hours=1), defaults=None
    )
    assert custom.response_timeout == timedelta(hours=1) and custom.defaults is None
    with pytest.raises(ValueError, match="form_params must not define 'note'"):
        EvolinkReviewVideoOperator(task_id="r3", video_task_id="g", form_params={"note": Param("")})
    with pytest.raises(ValueError, match="options"):
        EvolinkReviewVideoOperator(task_id="r4", video_task_id="g", options=["Yes"])


@needs_hitl
def test_the_body_shows_what_was_asked_and_links_to_the_player() -> None:
    op = EvolinkReviewVideoOperator(task_id="review", video_task_id="generate")
    body = op.review_body(
        "my_dag",
        RUN_ID,
        "review",
        1,
        1,
        {"prompt": "A boat\nin `rain`", "model": "seedance-2.0-text-to-video"},
        {"id": "task-unified-1", "credits_used": 68.0},
        intro="Check the **horizon**",
    )
    lines = body.splitlines()
    assert lines[0] == "Check the **horizon**"
    assert "> A boat in \\`rain\\`" in lines  # Markdown punctuation from XCom is literal
    assert "Model: `seedance-2.0-text-to-video` · Evolink task: `task-unified-1` · Cost: 68 credits" in body
    run = "manual__2026-01-01T00%3A00%3A00%2B00%3A00"
    assert f"(/evolink/dags/my_dag/runs/{run}/tasks/generate/video?map_index=1)" in body
    assert f"(/evolink/review/dags/my_dag/runs/{run}/tasks/review?map_index=1)" in body
    # Nothing known about the video: the links still lead to it.
    bare = op.review_body("d", "r", "review", -1, -1, None, None)
    assert "Model: `unknown`" in bare and "Cost" not in bare and "/tasks/generate/video?map_index=-1" in bare


def test_review_page_paths() -> None:
    assert review_page_path("d", "r 1") == "/evolink/review?dag_id=d&run_id=r+1"
    assert (
        review_page_path("d", "r/1", "review", 2)
        == "/evolink/review/dags/d/runs/r%2F1/tasks/review?map_index=2"
    )


def test_the_answer_kept_for_the_dag() -> None:
    assert review_decision({"chosen_options": ["Approve"], "params_input": {"note": None}}) == {
        "approved": True,
        "note": "",
    }
    assert review_decision({"chosen_options": ["Reject"], "params_input": {"note": "darker"}}) == {
        "approved": False,
        "note": "darker",
    }
    assert review_decision(None) == {"approved": False, "note": ""}


@needs_hitl
def test_the_csrf_token_is_bound_to_the_user_and_expires() -> None:
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    from airflow_evolink.plugins.review import CSRF_LIFETIME, check_csrf, csrf_token

    ana = SimpleAuthManagerUser(username="ana", role="admin")
    bob = SimpleAuthManagerUser(username="bob", role="admin")
    now = 1_800_000_000.0
    token = csrf_token(ana, now)
    assert check_csrf(ana, token, now + 60)
    assert not check_csrf(bob, token, now + 60)
    assert not check_csrf(ana, token, now + CSRF_LIFETIME + 1)
    issued, _, mac = token.partition(".")
    assert not check_csrf(ana, f"{int(issued) + 1}.{mac}", now)
    assert not check_csrf(ana, None, now) and not check_csrf(ana, "", now) and not check_csrf(ana, "x.y", now)
    # Digits int() cannot read (superscripts) or that exceed its limit are refused, not a 500.
    for issued_text in ("\u00b2", "\u0661\u0662", "9" * 5000, "1" * 13):
        assert not check_csrf(ana, f"{issued_text}.{mac}", now)


@needs_hitl
def test_a_review_record_gives_a_map_index_only_when_it_is_one() -> None:
    from airflow_evolink.plugins.review import MAX_MAP_INDEX, _map_index, _reviewed

    assert [_map_index(v) for v in (0, -1, MAX_MAP_INDEX)] == [0, -1, MAX_MAP_INDEX]
    assert [_map_index(v) for v in ("x", None, "1", True, 1.0, -2, MAX_MAP_INDEX + 1, [1])] == [None] * 8
    reviewed = {"task_id": "generate", "map_index": 0, "evolink_task_id": "t", "paths": []}
    assert _reviewed({"reviewed": reviewed}) == reviewed
    assert (
        _reviewed(None) is None and _reviewed({"event": {}}) is None and _reviewed({"reviewed": "x"}) is None
    )


@pytest.mark.skipif(AIRFLOW_V_3_1_PLUS, reason="Airflow 3.0 only")
def test_airflow_3_0_says_which_version_the_review_needs() -> None:
    from airflow.models.dagbag import DagBag  # Airflow 3.0's place

    with pytest.raises(RuntimeError, match=r"needs Airflow 3\.1 or newer .* this is Airflow 3\.0"):
        EvolinkReviewVideoOperator(task_id="review", video_task_id="generate")
    bag = DagBag(dag_folder=str(DAGS_DIR / "example_evolink_review_and_publish.py"), include_examples=False)
    [error] = bag.import_errors.values()
    assert "needs Airflow 3.1 or newer" in error
    assert "needs Airflow 3.1 or newer" in missing_hitl_message()


@needs_hitl
@pytest.mark.parametrize(
    ("headers", "allowed"),
    [
        ({"origin": "http://127.0.0.1:8080"}, True),
        ({}, True),  # no Origin (a non-browser client with its bearer token): the CSRF token decides
        ({"origin": "https://evil.example"}, False),
        ({"origin": "http://127.0.0.1:8080", "sec-fetch-site": "cross-site"}, False),
        ({"origin": "null"}, False),
    ],
)
def test_the_answer_route_refuses_foreign_origins(headers: dict[str, str], allowed: bool) -> None:
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from fastapi import HTTPException
    from starlette.requests import Request

    from airflow_evolink.plugins.review import csrf_token, refuse_cross_site

    user = SimpleAuthManagerUser(username="ana", role="admin")
    request = Request(
        {
            "type": "http",
            "method": "POST",
            "scheme": "http",
            "server": ("127.0.0.1", 8080),
            "path": "/evolink/review/dags/d/runs/r/tasks/review/0/answer",
            "headers": [(k.encode(), v.encode()) for k, v in {"host": "127.0.0.1:8080", **headers}.items()],
        }
    )
    if allowed:
        refuse_cross_site(request, user, csrf_token(user))
        with pytest.raises(HTTPException, match="X-Evolink-CSRF") as missing:
            refuse_cross_site(request, user, None)
        assert missing.value.status_code == 403
    else:
        with pytest.raises(HTTPException) as refused:
            refuse_cross_site(request, user, csrf_token(user))
        assert refused.value.status_code == 403


@needs_hitl
def test_xcom_values_in_the_body_cannot_make_links_images_or_html() -> None:
    """The prompt, model and task id come from XCom: a link or a tracking image must stay literal text."""
    op = EvolinkReviewVideoOperator(task_id="review", video_task_id="generate")
    hostile = "[Watch](https://evil.example) ![](https://evil.example/px.png) <img src=x> **bold** _i_ #h"
    body = op.review_body(
        "d",
        "r",
        "review",
        -1,
        -1,
        {"prompt": hostile, "model": "m`](https://evil.example)"},
        {"id": "t` [x](https://evil.example) `"},
    )
    quoted = next(line for line in body.splitlines() if line.startswith("> "))
    assert quoted == (
        "> \\[Watch\\]\\(https\\:\\/\\/evil\\.example\\) \\!\\[\\]\\(https\\:\\/\\/evil\\.example\\/px\\.png\\) "
        "\\<img src\\=x\\> \\*\\*bold\\*\\* \\_i\\_ \\#h"
    )
    # The model and task id sit in code spans that no backtick of theirs can close.
    assert "Model: `m'](https://evil.example)`" in body
    assert "Evolink task: `t' [x](https://evil.example) '`" in body
    # Rendered as Markdown, the only links are the operator's own two, and there is no image or HTML.
    markdown_it = pytest.importorskip("markdown_it")
    html = markdown_it.MarkdownIt("commonmark").render(body)
    assert "<img" not in html and 'evil.example"' not in html
    assert re.findall(r'href="([^"]*)"', html) == [
        "/evolink/dags/d/runs/r/tasks/generate/video?map_index=-1",
        "/evolink/review/dags/d/runs/r/tasks/review?map_index=-1",
    ]


def test_only_videos_under_the_runs_staging_folder_are_published() -> None:
    staging = "file:///data/staging/run 1"
    ok = [
        "file:///data/staging/run 1/a.mp4",
        "file:///data/staging/run%201/b.MOV",
        "/data/staging/run 1/c.webm",
    ]
    bad = [
        "file:///data/staging/run 1/../../secret.mp4",
        "file:///data/staging/run 1/%2e%2e/x.mp4",
        "file:///data/staging/run 10/a.mp4",
        "file:///data/staging/run 1/notes.txt",
        "file:///etc/passwd",
        "file://otherhost/data/staging/run 1/a.mp4",
        "http://127.0.0.1:8080/data/staging/run 1/a.mp4",
        "file:///data/staging/run 1/a.mp4?x=1",
        "file:///data/staging/run 1",
        None,
        42,
    ]
    assert staged_videos([*ok, *bad], staging) == (ok, [str(p) for p in bad])
    # Connection ids are case-sensitive: another connection's bucket is another store.
    s3 = "s3://aws_default@bucket/staging/r"
    assert staged_videos(
        ["s3://aws_default@bucket/staging/r/a.mp4", "s3://AWS_DEFAULT@bucket/staging/r/a.mp4"], s3
    ) == (
        ["s3://aws_default@bucket/staging/r/a.mp4"],
        ["s3://AWS_DEFAULT@bucket/staging/r/a.mp4"],
    )
    assert staged_videos("not a list", staging) == ([], [])
