"""Human review of generated videos in a real Chromium, against real Airflow components.

One cluster for the module: api-server, scheduler, dag-processor and triggerer on a PostgreSQL metadata DB,
the simple auth manager with two users (``reviewer``, and ``outsider`` who may not touch the review DAG),
and the Evolink emulator as its own process. The review example DAG is triggered as soon as the cluster is
up; its two review questions wait in Airflow's human-in-the-loop tables.

Chromium signs in as the reviewer, finds the pending reviews from the gallery's top page, sees both videos
play, approves one and rejects the other with a note. The run then publishes exactly the approved file,
the Asset event names it, and Airflow's own HITL API reports the same answers. The answer route refuses
the outsider (403), anonymous requests (401/403) and cross-site requests (403).
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from airflow_evolink.version_compat import AIRFLOW_V_3_1_PLUS
from tests.browser.conftest import FAILED, UI_TIMEOUT_MS, assert_plays, screenshot, sign_in
from tests.e2e.cluster import (
    SHARED_OUTSIDER,
    SHARED_REVIEWER,
    AirflowCluster,
    SharedCluster,
    wait_for,
)

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture says why the tests cannot run (skip locally, fail in CI)
    expect = None

pytestmark = pytest.mark.skipif(not AIRFLOW_V_3_1_PLUS, reason="human-in-the-loop tasks need Airflow 3.1+")

DAG_ID = "example_evolink_review_and_publish"
REVIEWER, PASSWORD = SHARED_REVIEWER
OUTSIDER = SHARED_OUTSIDER
NOTE = "Too dark; try brighter morning light"


@dataclass
class ReviewCluster:
    airflow: AirflowCluster
    run_id: str
    staging: Path
    published: Path

    @property
    def base_url(self) -> str:
        return self.airflow.base_url

    def answer_url(self, map_index: int) -> str:
        return (
            f"{self.base_url}/evolink/review/dags/{DAG_ID}/runs/{self.run_id}/tasks/review/{map_index}/answer"
        )

    def hitl(self, map_index: int) -> dict[str, Any]:
        path = f"/dags/{DAG_ID}/dagRuns/{self.run_id}/taskInstances/review/{map_index}/hitlDetails"
        return dict(self.airflow.api("GET", path))

    def token_for(self, username: str) -> str:
        password = json.loads(self.airflow.passwords_file.read_text())[username]
        response = requests.post(
            f"{self.base_url}/auth/token", json={"username": username, "password": password}, timeout=30
        )
        response.raise_for_status()
        return str(response.json()["access_token"])


@pytest.fixture(scope="module")
def cluster(shared_cluster: SharedCluster) -> Iterator[ReviewCluster]:
    """One run of the review DAG on the shared cluster, staging and publishing into folders of its own."""
    home = Path(tempfile.mkdtemp(prefix="evolink-review-"))
    airflow = shared_cluster.airflow
    run_id = f"review_{int(time.time())}"
    staging, published = home / "staging", home / "published"
    airflow.trigger(DAG_ID, run_id, conf={"staging": staging.as_uri(), "published": published.as_uri()})
    yield ReviewCluster(airflow=airflow, run_id=run_id, staging=staging, published=published)


@pytest.fixture(scope="module")
def questions(cluster: ReviewCluster) -> list[dict[str, Any]]:
    """Both review questions, once their task instances wait for an answer.

    Also once the scheduler has handled the executor's report of the worker that parked each task: an
    answer given before that (seconds after the question was asked) meets a race in Airflow 3.3.2's
    scheduler, which then takes the resumed try for a task killed externally and fails it. A person
    watching the video first never answers that fast.
    """

    def waiting() -> list[dict[str, Any]] | None:
        details = [cluster.hitl(i) for i in (0, 1)]
        states = [d["task_instance"]["state"] for d in details]
        return details if all(s in ("awaiting_input", "deferred") for s in states) else None

    def parked_exit_seen(map_index: int) -> bool:
        line = re.compile(
            rf"TaskInstance Finished: dag_id={DAG_ID}, task_id=review, run_id={re.escape(cluster.run_id)}, "
            rf"map_index={map_index}, .*state=(awaiting_input|deferred),"
        )
        return bool(line.search(cluster.airflow.log_text("scheduler")))

    try:
        details = list(wait_for(waiting, 300, "both review questions to wait for an answer", interval=2))
        wait_for(lambda: all(parked_exit_seen(i) for i in (0, 1)), 60, "the scheduler to see both parked")
    except TimeoutError:
        print(cluster.airflow.log_text("scheduler")[-4000:])
        raise
    return details


@pytest.fixture(scope="module")
def page(browser: Any, cluster: ReviewCluster) -> Iterator[Any]:
    """The reviewer's tab, signed in through Airflow's login page."""
    context = browser.new_context(base_url=cluster.base_url, viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(UI_TIMEOUT_MS)
    tab = context.new_page()
    sign_in(tab, cluster.base_url, REVIEWER, PASSWORD)
    try:
        yield tab
    finally:
        context.close()


@pytest.fixture(autouse=True)
def _screenshot_on_failure(request: pytest.FixtureRequest, page: Any, artifacts: Path) -> Iterator[None]:
    yield
    if request.node.stash.get(FAILED, False):
        screenshot(page, artifacts, f"failed-review-{request.node.name}", full_page=True)


def task_logs(cluster: ReviewCluster) -> str:
    """The review and publish task logs, for a failure message."""
    logs = sorted((cluster.airflow.home / "logs").rglob("*.log"))
    wanted = [p for p in logs if "task_id=review" in str(p) or "task_id=publish" in str(p)]
    return "\n".join(f"== {p}\n{p.read_text(errors='replace')[-3000:]}" for p in wanted)


def session_cookie(page: Any) -> str:
    [value] = [c["value"] for c in page.context.cookies() if c["name"] == "_token"]
    return str(value)


def page_csrf(page: Any) -> str:
    return str(page.locator('meta[name="evolink-csrf"]').get_attribute("content"))


def test_the_answer_route_refuses_outsiders_anonymous_and_cross_site_requests(
    page: Any, cluster: ReviewCluster, questions: list[dict[str, Any]]
) -> None:
    # Run before anyone answers: a request that got through would answer question 0 and show as 200.
    page.goto(f"/evolink/review?dag_id={DAG_ID}&run_id={cluster.run_id}")
    csrf, cookie = page_csrf(page), session_cookie(page)
    body = {"decision": "Approve", "note": ""}
    url = cluster.answer_url(0)
    same_site = {"Origin": cluster.base_url, "X-Evolink-CSRF": csrf}

    outsider = requests.post(
        url,
        json=body,
        headers={"Authorization": f"Bearer {cluster.token_for(OUTSIDER)}", **same_site},
        timeout=30,
    )
    assert outsider.status_code == 403, outsider.text
    # The outsider's own review page lists nothing of that DAG.
    outsider_page = requests.get(
        f"{cluster.base_url}/evolink/review",
        headers={"Authorization": f"Bearer {cluster.token_for(OUTSIDER)}"},
        timeout=30,
    )
    assert outsider_page.status_code == 200 and 'data-testid="review"' not in outsider_page.text

    for cookies in ({}, {"_token": "not-a-token"}):
        anonymous = requests.post(url, json=body, headers=same_site, cookies=cookies, timeout=30)
        assert anonymous.status_code in (401, 403), (cookies, anonymous.status_code)
        listing = requests.get(f"{cluster.base_url}/evolink/review", cookies=cookies, timeout=30)
        assert listing.status_code in (401, 403), (cookies, listing.status_code)

    cross_site = [
        # A form or fetch from another site: the session cookie rides along, but no token can.
        {"Origin": "https://evil.example", "Content-Type": "application/json"},
        # Even with a token lifted from somewhere, a foreign Origin is refused.
        {"Origin": "https://evil.example", "X-Evolink-CSRF": csrf},
        # Same origin but no token (or a forged one).
        {"Origin": cluster.base_url},
        {"Origin": cluster.base_url, "X-Evolink-CSRF": f"{int(time.time())}.{'0' * 64}"},
    ]
    for headers in cross_site:
        refused = requests.post(url, json=body, headers=headers, cookies={"_token": cookie}, timeout=30)
        assert refused.status_code == 403, (headers, refused.status_code, refused.text)
    # Nothing was answered meanwhile.
    assert cluster.hitl(0)["response_received"] is False


def test_reviewer_approves_one_video_and_rejects_the_other_with_a_note(
    page: Any, cluster: ReviewCluster, questions: list[dict[str, Any]], artifacts: Path
) -> None:
    # The gallery's top page says what waits, and leads to the review page.
    page.goto("/evolink/")
    pending = page.get_by_test_id("reviews-pending")
    expect(pending).to_contain_text("2 video(s) wait for your review")
    pending.get_by_role("link").click()
    page.wait_for_url(re.compile(r"/evolink/review$"))
    reviews = page.get_by_test_id("review")
    expect(reviews).to_have_count(2)
    for n in range(2):
        review = reviews.nth(n)
        expect(review.get_by_test_id("prompt")).to_be_visible()
        expect(review.get_by_test_id("model")).to_have_text("seedance-2.0-text-to-video")
        expect(review.get_by_test_id("credits-used")).to_contain_text("credits")
        assert_plays(page, review.get_by_test_id("video"))
    approve = page.locator('[data-testid="review"][data-map-index="0"]')
    reject = page.locator('[data-testid="review"][data-map-index="1"]')
    expect(approve.get_by_test_id("prompt")).to_contain_text("paper boat")
    expect(approve.get_by_test_id("review-subject")).to_have_text(
        "Review the Evolink video: A paper boat drifting down a rainy street, cinematic"
    )
    expect(reject.get_by_test_id("prompt")).to_contain_text("hummingbird")
    screenshot(page, artifacts, "review-before", full_page=True)

    approve.get_by_test_id("approve").click()
    expect(approve.get_by_test_id("decision")).to_have_attribute("data-decision", "Approve")
    reject.get_by_test_id("note").fill(NOTE)
    reject.get_by_test_id("reject").click()
    expect(reject.get_by_test_id("decision")).to_have_attribute("data-decision", "Reject")
    expect(approve.get_by_test_id("decision")).to_contain_text("Approved by reviewer")
    expect(reject.get_by_test_id("decision")).to_contain_text(NOTE)
    expect(page.get_by_test_id("answer-form")).to_have_count(0)
    screenshot(page, artifacts, "review-after", full_page=True)

    # Airflow's own HITL API reports the same answers, by the same user.
    first, second = cluster.hitl(0), cluster.hitl(1)
    assert first["chosen_options"] == ["Approve"] and second["chosen_options"] == ["Reject"]
    assert second["params_input"]["note"] == NOTE
    assert first["responded_by_user"]["name"] == second["responded_by_user"]["name"] == REVIEWER
    # A second answer is refused by Airflow (one answer per question).
    again = page.request.post(
        cluster.answer_url(0),
        data=json.dumps({"decision": "Reject", "note": ""}),
        headers={"Content-Type": "application/json", "X-Evolink-CSRF": page_csrf(page)},
    )
    assert again.status == 409, again.text()


def test_the_run_publishes_exactly_the_approved_video(
    page: Any, cluster: ReviewCluster, artifacts: Path
) -> None:
    airflow, run_id = cluster.airflow, cluster.run_id
    state = wait_for(
        lambda: (s := airflow.run_state(DAG_ID, run_id)) in ("success", "failed") and s, 240, "the run"
    )
    assert state == "success", task_logs(cluster)
    reviews = airflow.api(
        "GET",
        f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/review/xcomEntries/evolink_review",
        params={"map_index": 0, "deserialize": "true"},
    )
    staged_approved = Path(urlsplit(reviews["value"]["paths"][0]).path)
    staged = sorted(p for p in cluster.staging.rglob("*.mp4"))
    assert len(staged) == 2 and staged_approved in staged
    published = sorted(cluster.published.iterdir())
    assert [p.name for p in published] == [staged_approved.name]
    assert hashlib.sha256(published[0].read_bytes()).digest() == (
        hashlib.sha256(staged_approved.read_bytes()).digest()
    )
    events = airflow.api("GET", "/assets/events", params={"source_dag_id": DAG_ID, "source_run_id": run_id})
    [event] = [e for e in events["asset_events"] if e["name"] == "evolink_published_videos"]
    assert [Path(urlsplit(p).path).name for p in event["extra"]["paths"]] == [staged_approved.name]
    summary = airflow.xcom(DAG_ID, run_id, "summary")
    assert [item["note"] for item in summary["rejected"]] == [NOTE]

    # The reviewed page of the run shows both answers after a reload too; Airflow's UI lists them.
    page.goto(f"/evolink/review?dag_id={DAG_ID}&run_id={run_id}")
    decisions = page.get_by_test_id("decision")
    expect(decisions).to_have_count(2)
    expect(page.locator('[data-decision="Approve"]')).to_have_count(1)
    expect(page.locator('[data-testid="decision"][data-decision="Reject"]')).to_contain_text(NOTE)
    screenshot(page, artifacts, "review-answered", full_page=True)
    # The task instance's "Evolink review" tab shows that one review.
    page.goto(f"/evolink/review/dags/{DAG_ID}/runs/{run_id}/tasks/review?map_index=1")
    expect(page.get_by_test_id("review")).to_have_count(1)
    expect(page.get_by_test_id("decision")).to_contain_text(f"Rejected by {REVIEWER}")
    # Airflow's own Required Actions view lists both questions as answered.
    page.goto(f"/dags/{DAG_ID}/runs/{run_id}/required_actions")
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name="Pending required actions (0)")).to_be_visible()
    dialog.get_by_role("button", name="All").click()
    expect(dialog.get_by_role("heading", name="Completed required actions (2)")).to_be_visible()
    expect(dialog.get_by_role("heading", name="Pending required actions (0)")).to_be_visible()
    expect(dialog.get_by_text(re.compile(r"Response received at .* from reviewer"))).to_be_visible()
    screenshot(page, artifacts, "review-airflow-required-actions", full_page=True)
