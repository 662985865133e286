"""How the gallery merges what several task instances say about one generation (no database)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from airflow_evolink.plugins.credits import credits_by
from airflow_evolink.plugins.generations import (
    TaskInstanceInfo,
    TaskInstanceXComs,
    build_generations,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
URL = "https://cdn.example.com/files/task-1.mp4"


def record(
    task_id: str, values: dict, map_index: int = -1, minute: int = 0, run_id: str = "r1", dag_id: str = "d"
):
    ti = TaskInstanceInfo(
        task_id, map_index, "success", T0 + timedelta(minutes=minute), T0 + timedelta(minutes=minute + 1)
    )
    written = T0 + timedelta(minutes=minute, seconds=30)
    return TaskInstanceXComs(dag_id, run_id, ti, {k: (v, written) for k, v in values.items()})


def evolink_task(status: str, progress: int, **extra) -> dict:
    return {
        "id": "task-1",
        "status": status,
        "progress": progress,
        "model": "m",
        "created": int(T0.timestamp()),
        **extra,
    }


def test_submit_sensor_and_download_make_one_generation_with_the_final_state():
    submit = record(
        "submit",
        {
            "evolink_request": {
                "model": "m",
                "prompt": "p",
                "image_start": "https://x/a.png",
                "image_urls": ["https://x/a.png", "file:///etc/passwd"],
            },
            "evolink_task": evolink_task("pending", 0),
            "evolink_task_id": "task-1",
            "return_value": "task-1",
            "credits_reserved": 100,
        },
    )
    sensor = record(
        "wait", {"evolink_task": evolink_task("completed", 100, results=[URL], credits_used=90)}, minute=1
    )
    download = record(
        "save", {"downloads": [{"url": URL, "path": "file:///v/task-1.mp4", "size": 5}]}, minute=2
    )
    unrelated = record(
        "other", {"downloads": [{"url": "https://elsewhere/x.mp4", "path": "file:///v/x.mp4"}]}
    )
    [generation] = build_generations([submit, sensor, download, unrelated])
    assert generation.status == "completed" and generation.prompt == "p"
    assert [ti.task_id for ti in generation.task_instances] == ["submit", "wait", "save"]
    assert generation.input_images == ["https://x/a.png"]  # only web links, once each
    assert generation.credits == (90.0, False)
    assert generation.credits_reserved == 100.0
    [video] = generation.videos
    assert video.url == URL and video.path == "file:///v/task-1.mp4"
    assert generation.time_taken == timedelta(minutes=2)  # submit and sensor; not the copy
    assert all(generation.belongs_to(t, -1) for t in ("submit", "wait", "save"))
    assert not generation.belongs_to("other", -1)


def test_a_late_non_terminal_copy_does_not_replace_the_terminal_one():
    final = record(
        "wait", {"evolink_task": evolink_task("failed", 40, error={"code": "content_policy"})}, minute=1
    )
    stale = record("submit", {"evolink_task": evolink_task("processing", 60)}, minute=5)
    [generation] = build_generations([final, stale])
    assert generation.status == "failed" and generation.error["code"] == "content_policy"
    assert generation.time_taken is not None


def test_mapped_indices_are_separate_generations():
    first = record("gen", {"evolink_task_id": "a", "result_urls": ["https://x/a.mp4"]}, map_index=0)
    second = record("gen", {"evolink_task_id": "b"}, map_index=1)
    generations = build_generations([first, second])
    assert [g.evolink_task_id for g in generations] == ["a", "b"]
    assert generations[0].belongs_to("gen", None) and not generations[0].belongs_to("gen", 1)
    assert [v.url for v in generations[0].videos] == ["https://x/a.mp4"] and generations[1].videos == []


def test_same_task_id_in_two_runs_stays_two_generations():
    generations = build_generations(
        [
            record("s", {"evolink_task_id": "x"}, run_id="r1"),
            record("s", {"evolink_task_id": "x"}, run_id="r2"),
        ]
    )
    assert len(generations) == 2


def test_a_return_value_alone_is_not_a_generation():
    assert build_generations([record("t", {"return_value": "hello"})]) == []


def test_live_link_expiry_is_24_hours_after_creation():
    [generation] = build_generations(
        [record("s", {"evolink_task": evolink_task("completed", 100, results=[URL])})]
    )
    assert generation.link_expiry() == T0 + timedelta(hours=24)
    assert not generation.has_stored_copy


def test_credits_keep_charged_estimated_and_reserved_apart():
    """Charged counts where Evolink reported usage; else the estimate; else the reservation, as reported,
    never added to credits or dollars."""
    estimate = {"status": "estimated", "uc": 270_000, "credits": "27", "usd": "0.397059"}
    used = record(
        "a",
        {"evolink_task_id": "1", "credits_reserved": 50, "credits_used": 40, "evolink_estimate": estimate},
        dag_id="x",
    )
    estimated = record(
        "b", {"evolink_task_id": "2", "credits_reserved": 30, "evolink_estimate": estimate}, dag_id="x"
    )
    reserved = record("c", {"evolink_task_id": "3", "credits_reserved": 30}, dag_id="x")
    unavailable = record(
        "d", {"evolink_task_id": "4", "evolink_estimate": {"status": "unavailable", "uc": None}}, dag_id="y"
    )
    generations = build_generations([used, estimated, reserved, unavailable])
    by_dag = {line.label: line for line in credits_by(generations, "dag")}
    x = by_dag["x"]
    assert (x.generations, x.charged, x.charged_count) == (3, 40, 1)
    assert (x.estimated, x.estimated_count, x.reserved, x.reserved_count) == (27, 1, 30, 1)
    assert x.charged_text == "40 credits (~$0.59)"
    assert x.estimated_text == "27 credits (~$0.40)"
    assert x.reserved_text == "30 reserved (as reported)" and "$" not in x.reserved_text
    assert by_dag["y"].unknown == 1 and by_dag["y"].charged == 0
    [day] = credits_by(generations, "day")
    assert day.label == "2026-03-01" and day.charged == 40 and day.generations == 4
    by_id = {g.evolink_task_id: g for g in generations}
    assert by_id["2"].estimate_text == "27 credits (~$0.40), estimated"
    assert by_id["3"].credits_reserved_text == "30 (as reported)"
    assert by_id["4"].estimate_text is None


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-99", (0, 99)),
        ("bytes=100-", (100, 999)),
        ("bytes=-10", (990, 999)),
        ("bytes=990-5000", (990, 999)),
        ("bytes=5-1", None),
        ("bytes=0-1,5-6", None),
        ("items=0-1", None),
    ],
)
def test_range_headers(header, expected):
    from airflow_evolink.plugins.streaming import parse_range

    assert parse_range(header, 1000) == expected


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=1000-1001", "bytes=-0"])
def test_unsatisfiable_ranges(header):
    from airflow_evolink.plugins.streaming import RangeNotSatisfiable, parse_range

    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, 1000)


def test_storage_path_inputs_show_as_the_paths_the_user_gave():
    uploaded = "https://files.example.com/u/abc.png"
    submit = record(
        "submit",
        {
            "evolink_request": {"model": "m", "prompt": "p", "image_start": uploaded},
            "evolink_inputs": [
                {"field": "image_start", "source": "s3://frames/shot-1.png", "url": uploaded, "reused": False}
            ],
            "evolink_task": evolink_task("completed", 100, results=[URL]),
        },
    )
    [generation] = build_generations([submit])
    assert generation.input_sources == [
        {"field": "image_start", "source": "s3://frames/shot-1.png", "url": uploaded}
    ]
    assert generation.input_images == [uploaded]  # what a browser can show


def test_a_huge_downloads_or_result_urls_xcom_is_capped_per_task_instance():
    """XCom is user input: 50,000 entries (repeated and distinct) merge in linear time, capped and flagged."""
    from airflow_evolink.plugins.generations import MAX_ITEMS_PER_TASK_INSTANCE

    downloads = [{"url": f"https://x/{i}.mp4", "path": f"file:///v/task-1-{i}.mp4"} for i in range(50_000)]
    submit = record(
        "submit",
        {
            "evolink_task": evolink_task("completed", 100),
            "result_urls": [f"https://cdn/{i}.mp4" for i in range(50_000)],
            "downloads": downloads,
        },
    )
    again = record("save", {"downloads": downloads[::-1]}, minute=2)  # a download-only copy, matched by name
    [generation] = build_generations([submit, again])
    assert len(generation.result_urls) == MAX_ITEMS_PER_TASK_INSTANCE
    # each task instance adds at most the cap; the reversed list adds its own first 100 (distinct paths)
    assert len(generation.downloads) == 2 * MAX_ITEMS_PER_TASK_INSTANCE
    assert generation.truncated
    small = build_generations(
        [record("submit", {"evolink_task": evolink_task("completed", 100), "downloads": downloads[:3] * 2})]
    )[0]
    assert len(small.downloads) == 3 and not small.truncated  # duplicates by path collapse
    page = render_card(generation)
    assert 'data-testid="truncated"' in page and f"first {MAX_ITEMS_PER_TASK_INSTANCE}" in page
    assert 'data-testid="truncated"' not in render_card(small)


def render_card(generation):
    from airflow_evolink.plugins.views import Links, card, environment

    links = Links("/evolink")
    template = environment().from_string(
        '{% from "_card.html" import generation_card %}{{ generation_card(c) }}'
    )
    return template.render(c=card(generation, [generation], links))
