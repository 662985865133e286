"""The provider in Airflow's own UI, in a real Chromium, against real Airflow components.

The session's shared cluster (tests/e2e/cluster.py): api-server, scheduler, dag-processor and triggerer on a
PostgreSQL metadata DB, the simple auth manager with one admin user and password (no all-admins shortcut),
connection testing enabled, and the Evolink emulator as its own process. The persist-videos example DAG is
triggered as soon as this module starts, so it runs while the connection pages are tested.

The browser signs in through the login page, then checks the Evolink connection form and its Test button,
the DAG run, the gallery plugin's player (the served bytes are the stored file's and Chromium plays them),
the task's extra links, and that every plugin route refuses a request without a login.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
import requests

from airflow_evolink.version_compat import AIRFLOW_V_3_1_PLUS
from tests.browser.conftest import FAILED, UI_TIMEOUT_MS, assert_plays, screenshot
from tests.e2e.cluster import SHARED_LOGIN, AirflowCluster, PostgresDatabase, SharedCluster, wait_for

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture says why the tests cannot run (skip locally, fail in CI)
    expect = None

pytestmark = pytest.mark.skipif(not AIRFLOW_V_3_1_PLUS, reason="the browser tests target the Airflow 3.1+ UI")

DAG_ID = "example_evolink_persist_videos"
USERNAME, PASSWORD = SHARED_LOGIN
API_KEY = "sk-browser-test-2b8e"
PLUGIN = "/evolink"


@dataclass
class UiCluster:
    airflow: AirflowCluster
    emulator: str
    run_id: str
    videos: Path
    database: PostgresDatabase

    @property
    def base_url(self) -> str:
        return self.airflow.base_url


@pytest.fixture(scope="module")
def ui_cluster(shared_cluster: SharedCluster) -> UiCluster:
    airflow, emulator = shared_cluster.airflow, shared_cluster.emulator
    emulator_url = urlsplit(emulator)
    # The host without the port and the port on its own: Airflow 3.3's Test button in the connection
    # list sends port 0 for a connection without one, which the API then refuses as "host or port
    # differs from the stored connection". (Tasks use the environment's evolink_default, which comes
    # first; this stored one is what the connection pages show and test.)
    airflow.api(
        "POST",
        "/connections",
        json={
            "connection_id": "evolink_default",
            "conn_type": "evolink",
            "host": f"{emulator_url.scheme}://{emulator_url.hostname}",
            "port": emulator_url.port,
            "password": API_KEY,
        },
    )
    run_id = f"browser_{int(time.time())}"
    videos = airflow.home / "videos"
    airflow.trigger(DAG_ID, run_id, conf={"destination": videos.as_uri()})
    return UiCluster(
        airflow=airflow, emulator=emulator, run_id=run_id, videos=videos, database=shared_cluster.database
    )


@pytest.fixture(scope="module")
def page(browser: Any, ui_cluster: UiCluster, artifacts: Path) -> Iterator[Any]:
    """One signed-in tab: the login page is filled in and submitted as a user would."""
    context = browser.new_context(base_url=ui_cluster.base_url, viewport={"width": 1400, "height": 900})
    context.set_default_timeout(UI_TIMEOUT_MS)
    tab = context.new_page()
    tab.goto("/")
    tab.wait_for_url(re.compile(r"/auth/login"))
    tab.get_by_label("Username").fill(USERNAME)
    tab.get_by_label("Password").fill(PASSWORD)
    screenshot(tab, artifacts, "01-login")
    tab.get_by_role("button", name="Sign in").click()
    tab.wait_for_url(f"{ui_cluster.base_url}/")
    try:
        yield tab
    finally:
        context.close()


@pytest.fixture(autouse=True)
def _screenshot_on_failure(request: pytest.FixtureRequest, page: Any, artifacts: Path) -> Iterator[None]:
    yield
    if request.node.stash.get(FAILED, False):
        screenshot(page, artifacts, f"failed-{request.node.name}", full_page=True)


@pytest.fixture(scope="module")
def finished_run(ui_cluster: UiCluster) -> str:
    """The persist-videos run's final state (it was triggered when the cluster started)."""
    airflow, run_id = ui_cluster.airflow, ui_cluster.run_id
    return str(
        wait_for(
            lambda: (state := airflow.run_state(DAG_ID, run_id)) in ("success", "failed") and state,
            240,
            "the persist-videos run to finish",
        )
    )


def stored_video(ui_cluster: UiCluster) -> Path:
    """The one file the run's save task wrote (its XCom lists it as a file:// URL)."""
    [url] = ui_cluster.airflow.xcom(DAG_ID, ui_cluster.run_id, "save_videos")
    path = Path(urlsplit(url).path)
    assert ui_cluster.videos in path.parents and path.is_file(), url
    return path


def test_sign_in_sets_the_session_cookie(page: Any, ui_cluster: UiCluster) -> None:
    assert page.url == f"{ui_cluster.base_url}/"
    assert "_token" in {cookie["name"] for cookie in page.context.cookies()}
    expect(page.get_by_role("button", name="Sign in")).to_have_count(0)


def test_connection_form_offers_evolink_with_its_own_fields(
    page: Any, ui_cluster: UiCluster, artifacts: Path
) -> None:
    page.goto("/connections")
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("combobox").click()
    try:
        evolink = page.get_by_role("option", name="Evolink", exact=True)
        expect(evolink).to_be_visible()
        evolink.click()
        expect(dialog.get_by_label("API base URL", exact=True)).to_be_visible()
        expect(dialog.get_by_label("API Key", exact=True)).to_be_visible()
        for unused in ("Login", "Schema", "Port", "Host", "Password"):
            expect(dialog.get_by_label(unused, exact=True)).to_be_hidden()
    finally:
        screenshot(page, artifacts, "02-connection-form")

    # The relabeled fields are still the host and the password underneath.
    dialog.get_by_label("Connection ID").fill("evolink_ui")
    dialog.get_by_label("API base URL", exact=True).fill(ui_cluster.emulator)
    dialog.get_by_label("API Key", exact=True).fill(API_KEY)
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    saved = ui_cluster.airflow.api("GET", "/connections/evolink_ui")
    assert (saved["conn_type"], saved["host"]) == ("evolink", ui_cluster.emulator)
    assert saved["password"] not in (None, "", API_KEY)  # stored, and shown masked


def test_connection_test_button_reports_the_balance(page: Any, artifacts: Path) -> None:
    page.goto("/connections")
    row = page.get_by_role("row").filter(has=page.get_by_role("cell", name="evolink_default", exact=True))
    with page.expect_response(re.compile(r"/api/v2/connections/test$")) as tested:
        row.get_by_role("button", name="Test Connection").click()
    answer = tested.value
    assert answer.status == 200, answer.text()
    body = answer.json()
    assert body["status"] is True and "credits" in body["message"], body
    expect(page.get_by_text("Test Connection Successful")).to_be_visible()
    expect(page.get_by_text(re.compile(r"Connected to Evolink.*credits"))).to_be_visible()
    screenshot(page, artifacts, "03-connection-test")


def test_persist_videos_dag_runs_to_success(
    page: Any, ui_cluster: UiCluster, finished_run: str, artifacts: Path
) -> None:
    airflow, run_id = ui_cluster.airflow, ui_cluster.run_id
    assert finished_run == "success", airflow.log_text("scheduler")[-3000:]
    for task_id in ("submit_video", "wait_for_video", "save_videos"):
        assert airflow.task_state(DAG_ID, run_id, task_id) == "success", task_id
    assert stored_video(ui_cluster).stat().st_size > 0

    page.goto(f"/dags/{DAG_ID}/runs/{run_id}")
    expect(page.get_by_text(run_id).first).to_be_visible()
    expect(page.get_by_text("save_videos").first).to_be_visible()
    expect(page.get_by_text("Success", exact=True).first).to_be_visible()
    screenshot(page, artifacts, "04-dag-run")


def test_gallery_serves_and_plays_the_stored_video(
    page: Any, ui_cluster: UiCluster, finished_run: str, artifacts: Path
) -> None:
    assert finished_run == "success"
    page.goto(f"{PLUGIN}/?dag_id={DAG_ID}&run_id={ui_cluster.run_id}")
    card = page.get_by_test_id("generation").first
    expect(card).to_be_visible()
    video = card.get_by_test_id("video")
    expect(video).to_be_attached()
    src = video.evaluate("v => v.currentSrc || v.src || (v.querySelector('source') || {}).src || ''")
    assert src, video.evaluate("v => v.outerHTML")
    src = urljoin(page.url, src)

    # The browser's own cookies; the stored copy itself, not a redirect to the expiring live link.
    served = page.request.get(src, max_redirects=0)
    assert served.status in (200, 206), (served.status, served.headers)
    assert served.body() == stored_video(ui_cluster).read_bytes()

    assert_plays(page, video)
    page.goto(f"{PLUGIN}/")
    expect(page.get_by_test_id("credits-per-dag")).to_be_visible()
    expect(page.get_by_test_id("credits-per-day")).to_be_visible()
    first = page.get_by_test_id("generation").first
    expect(first).to_be_visible()
    # Show a decoded frame rather than the loading spinner.
    player = first.get_by_test_id("video")
    player.evaluate(
        "v => new Promise(done => { v.addEventListener('seeked', done, {once: true}); v.currentTime = 1; })"
    )
    page.wait_for_function("v => v.readyState >= 3", arg=player.element_handle())
    screenshot(page, artifacts, "05-gallery", full_page=True)


def extra_links(page: Any, run_id: str, task_id: str, names: tuple[str, ...]) -> dict[str, str]:
    """The task instance's extra links as the Details tab shows them, by name."""
    page.goto(f"/dags/{DAG_ID}/runs/{run_id}/tasks/{task_id}/details")
    expect(page.get_by_text("Extra Links")).to_be_visible()
    hrefs = {}
    for name in names:
        link = page.get_by_role("link", name=name, exact=True)
        expect(link).to_be_visible()
        hrefs[name] = urljoin(page.url, link.get_attribute("href"))
    return hrefs


def test_extra_links_lead_to_the_plugin(
    page: Any, ui_cluster: UiCluster, finished_run: str, artifacts: Path
) -> None:
    assert finished_run == "success"
    run_id = ui_cluster.run_id
    # The submit task makes no video itself: it offers its generation's page only.
    submit = extra_links(page, run_id, "submit_video", ("Evolink Task",))
    screenshot(page, artifacts, "06-task-instance", full_page=True)
    expect(page.get_by_role("link", name="Evolink Video", exact=True)).to_have_count(0)
    wait = extra_links(page, run_id, "wait_for_video", ("Evolink Task", "Evolink Video"))
    save = extra_links(page, run_id, "save_videos", ("Evolink Video",))
    hrefs = {"submit task": submit["Evolink Task"], "wait video": wait["Evolink Video"], **save}
    for name, href in hrefs.items():
        assert href.startswith(f"{ui_cluster.base_url}{PLUGIN}/"), (name, href)  # never the raw API

    opened = page.goto(submit["Evolink Task"])
    assert opened is not None and opened.status == 200, submit["Evolink Task"]
    expect(page.get_by_test_id("generation").first).to_be_visible()

    stored = stored_video(ui_cluster).read_bytes()
    for href in (wait["Evolink Video"], save["Evolink Video"]):
        # The stored copy first: served by the gallery, not a redirect to the expiring live link.
        served = page.request.get(href, max_redirects=0)
        assert served.status == 200 and served.body() == stored, (href, served.status)
    opened = page.goto(save["Evolink Video"])
    assert opened is not None and opened.status == 200, save["Evolink Video"]
    assert_plays(page, page.locator("video"))  # Chromium's own player for a bare video URL


def test_plugin_routes_refuse_requests_without_a_login(ui_cluster: UiCluster, finished_run: str) -> None:
    run = f"{PLUGIN}/dags/{DAG_ID}/runs/{ui_cluster.run_id}"
    routes = [
        f"{PLUGIN}/",
        f"{PLUGIN}/?dag_id={DAG_ID}&status=success",
        run,
        f"{run}/tasks/submit_video?map_index=-1",
        f"{run}/tasks/submit_video/video?map_index=-1&n=0",
        f"{run}/tasks/save_videos/video?map_index=-1&n=0",
    ]
    answers = {}
    for route in routes:
        for cookies in ({}, {"_token": "not-a-token"}):
            response = requests.get(
                f"{ui_cluster.base_url}{route}", cookies=cookies, allow_redirects=False, timeout=30
            )
            answers[(route, json.dumps(cookies))] = response.status_code
    assert {key: status for key, status in answers.items() if status not in (401, 403)} == {}


def test_the_gallery_is_registered_once_with_airflows_default_provider_discovery(
    ui_cluster: UiCluster,
) -> None:
    # Airflow's default (lazy provider discovery) skips provider-info plugins: the gallery comes in through
    # the airflow.plugins entry point, once, with no plugin import error of ours.
    plugins = ui_cluster.airflow.api("GET", "/plugins")["plugins"]
    assert [p["name"] for p in plugins].count("evolink_gallery") == 1
    errors = ui_cluster.airflow.api("GET", "/plugins/importErrors")["import_errors"]
    assert [e for e in errors if "evolink" in json.dumps(e).lower()] == [], errors


def test_the_stored_video_is_served_by_range(page: Any, ui_cluster: UiCluster, finished_run: str) -> None:
    assert finished_run == "success"
    video = (
        f"{ui_cluster.base_url}{PLUGIN}/dags/{DAG_ID}/runs/{ui_cluster.run_id}/tasks/save_videos/video"
        "?map_index=-1&n=0"
    )
    content = stored_video(ui_cluster).read_bytes()
    partial = page.request.get(video, headers={"Range": "bytes=0-99"}, max_redirects=0)
    assert partial.status == 206
    assert partial.body() == content[:100]
    assert partial.headers["content-range"] == f"bytes 0-99/{len(content)}"
    beyond = page.request.get(video, headers={"Range": f"bytes={len(content)}-"}, max_redirects=0)
    assert beyond.status == 416


#: The README's query for credits per DAG and per day (PostgreSQL metadata DB).
COSTS_SQL = """
SELECT dag_id, date_trunc('day', timestamp)::date AS day, sum((value #>> '{}')::numeric) AS credits_used
FROM xcom WHERE key = 'credits_used'
GROUP BY dag_id, day ORDER BY day, dag_id
"""


def test_the_readme_cost_queries_agree(ui_cluster: UiCluster, finished_run: str) -> None:
    assert finished_run == "success"
    # Other modules may run DAGs on the shared cluster: this DAG's rows are the ones compared.
    rows = [row for row in ui_cluster.database.query(COSTS_SQL) if row[0] == DAG_ID]
    assert rows, "the run pushed credits_used"
    dag_id, from_sql = DAG_ID, sum(row[2] for row in rows)
    airflow = ui_cluster.airflow
    entries = airflow.api(
        "GET", "/dags/~/dagRuns/~/taskInstances/~/xcomEntries", params={"xcom_key": "credits_used"}
    )["xcom_entries"]
    # The list names the entries; each value is read on its own, as the README says.
    from_rest = sum(
        float(
            airflow.api(
                "GET",
                f"/dags/{e['dag_id']}/dagRuns/{e['run_id']}/taskInstances/{e['task_id']}/xcomEntries/credits_used",
                params={"map_index": e["map_index"], "deserialize": "true"},
            )["value"]
        )
        for e in entries
        if e["dag_id"] == dag_id
    )
    assert dag_id == DAG_ID
    assert float(from_sql) == from_rest > 0
