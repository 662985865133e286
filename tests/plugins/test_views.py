"""What a generation card shows for a failure and for an expired live link (rendered, no database)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from airflow_evolink.plugins import views
from airflow_evolink.plugins.generations import TaskInstanceInfo, TaskInstanceXComs, build_generations

NOW = datetime.now(timezone.utc)


def render(values: dict) -> str:
    ti = TaskInstanceInfo("submit", -1, "failed", NOW - timedelta(minutes=5), NOW)
    generations = build_generations(
        [TaskInstanceXComs("d", "r 1", ti, {k: (v, NOW) for k, v in values.items()})]
    )
    links = views.Links("/evolink")
    cards = [views.card(g, generations, links) for g in generations]
    return views.render("generations.html", heading="h", empty="none", home=links.home(), cards=cards)


def test_a_failure_shows_code_message_and_suggestion_escaped():
    html = render(
        {
            "evolink_task": {
                "id": "task-9",
                "status": "failed",
                "error": {
                    "code": "content_policy",
                    "message": "<script>x</script>",
                    "suggestion": "Rephrase",
                },
                "credits_reserved": 270000,
            }
        }
    )
    assert 'data-testid="status">failed<' in html
    assert 'data-testid="error-code">content_policy<' in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html and "<script>" not in html
    assert "Rephrase" in html
    # credits_reserved has no settled unit: never given a dollar figure.
    assert 'data-testid="credits-reserved">270,000 credits<' in html
    assert 'data-testid="credits-used">unknown<' in html
    assert 'data-testid="video"' not in html


def test_a_live_link_older_than_a_day_is_marked_expired_and_still_linked():
    created = int(time.time()) - 2 * 24 * 3600
    html = render(
        {
            "evolink_task": {
                "id": "task-8",
                "status": "completed",
                "created": created,
                "results": ["https://cdn.example.com/files/task-8.mp4"],
            }
        }
    )
    assert 'data-testid="link-expiry" data-expired="true"' in html and ">expired<" in html
    assert (
        'src="/evolink/dags/d/runs/r%201/tasks/submit/video?map_index=-1&amp;n=0" data-testid="video"' in html
    )
