"""The gallery's hardening against a real api-server (with scheduler, dag-processor and triggerer, on
PostgreSQL), attacked the way a user with XCom edit rights would: through Airflow's REST API.

On the shared cluster (tests/e2e/cluster.py), two DAGs run against the emulator and store their videos: ``gallery_persist`` (the victim; the user
``outsider`` may not read it, see tests/plugins/restricted_auth.py) and ``example_evolink_persist_videos``
(the outsider's own, where the outsider has the ``user`` role and so may edit XComs). The outsider then
rewrites their own DAG's ``downloads`` and ``result_urls`` XComs to reach the victim's file, other files,
an internal HTTP listener the test starts, and other hosts; none of it is served, requested or redirected
to. Also: a pathological Range header answered at once while the health check stays fast, clean 4xx for
bad identifiers and numbers, the security headers, and the gallery still playing inside Airflow's UI.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import requests

from airflow_evolink.version_compat import AIRFLOW_V_3_1_PLUS
from tests.browser.conftest import UI_TIMEOUT_MS, assert_plays, screenshot, sign_in
from tests.e2e.cluster import (
    SHARED_LOGIN,
    SHARED_MEDIA_HOST,
    AirflowCluster,
    SharedCluster,
    wait_for,
)
from tests.plugins.restricted_auth import HIDDEN_DAG, OUTSIDER

pytestmark = pytest.mark.skipif(not AIRFLOW_V_3_1_PLUS, reason="the gallery needs Airflow 3.1+")

ADMIN, ADMIN_PASSWORD = SHARED_LOGIN
VICTIM_DAG, VICTIM_TASK = HIDDEN_DAG, "save"  # tests/dags/evolink_gallery.py
OWN_DAG, OWN_SAVE, OWN_WAIT = "example_evolink_persist_videos", "save_videos", "wait_for_video"
PLUGIN = "/evolink"
ALLOWED_MEDIA = SHARED_MEDIA_HOST


class _Listener(BaseHTTPRequestHandler):
    """An internal service the api-server must never be made to call."""

    seen: list[str] = []

    def do_GET(self) -> None:
        self.seen.append(self.path)
        body = b"internal secret"
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return


@dataclass
class Attack:
    airflow: AirflowCluster
    emulator: str
    home: Path
    victim_run: str
    own_run: str
    listener: str
    listener_seen: list[str]
    outsider_token: str

    @property
    def base_url(self) -> str:
        return self.airflow.base_url

    def as_outsider(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.outsider_token}", **kwargs.pop("headers", {})}
        return requests.request(method, f"{self.base_url}{path}", headers=headers, timeout=60, **kwargs)

    def set_xcom(self, task_id: str, key: str, value: Any) -> None:
        """Rewrite one of the outsider's own XComs through the public REST API, as the outsider."""
        path = f"/api/v2/dags/{OWN_DAG}/dagRuns/{self.own_run}/taskInstances/{task_id}/xcomEntries/{key}"
        answer = self.as_outsider("PATCH", path, json={"value": value, "map_index": -1})
        assert answer.status_code == 200, answer.text

    def own_video(self, task_id: str = OWN_SAVE, n: int = 0, **kwargs: Any) -> requests.Response:
        url = f"{PLUGIN}/dags/{OWN_DAG}/runs/{quote(self.own_run, safe='')}/tasks/{task_id}/video"
        return self.as_outsider("GET", f"{url}?map_index=-1&n={n}", allow_redirects=False, **kwargs)


@pytest.fixture(scope="module")
def attack(shared_cluster: SharedCluster) -> Iterator[Attack]:
    """Both DAGs run once on the shared cluster, each storing into a folder of its own."""
    listener = ThreadingHTTPServer(("127.0.0.1", 0), _Listener)
    _Listener.seen = []
    threading.Thread(target=listener.serve_forever, daemon=True).start()
    airflow = shared_cluster.airflow
    home = Path(tempfile.mkdtemp(prefix="evolink-security-"))
    try:
        stamp = int(time.time())
        victim_run, own_run = f"victim_{stamp}", f"own_{stamp}"
        airflow.trigger(VICTIM_DAG, victim_run, conf={"destination": (home / "victim").as_uri()})
        airflow.trigger(OWN_DAG, own_run, conf={"destination": (home / "own").as_uri()})
        for dag_id, run_id in ((VICTIM_DAG, victim_run), (OWN_DAG, own_run)):
            state = wait_for(
                lambda d=dag_id, r=run_id: (s := airflow.run_state(d, r)) in ("success", "failed") and s,
                300,
                f"{dag_id} to finish",
            )
            assert state == "success", airflow.log_text("scheduler")[-3000:]
        # The auth manager wrote a password for the outsider when it started.
        password = json.loads(airflow.passwords_file.read_text())[OUTSIDER]
        token = requests.post(
            f"{airflow.base_url}/auth/token",
            json={"username": OUTSIDER, "password": password},
            timeout=30,
        )
        token.raise_for_status()
        yield Attack(
            airflow=airflow,
            emulator=shared_cluster.emulator,
            home=home,
            victim_run=victim_run,
            own_run=own_run,
            listener=f"http://127.0.0.1:{listener.server_address[1]}",
            listener_seen=_Listener.seen,
            outsider_token=token.json()["access_token"],
        )
    finally:
        listener.shutdown()


@pytest.fixture
def original_xcoms(attack: Attack) -> Iterator[dict[str, Any]]:
    """The outsider's own XComs as the worker wrote them, put back after each test."""
    saved = {
        (OWN_SAVE, "downloads"): attack.airflow.xcom(OWN_DAG, attack.own_run, OWN_SAVE, "downloads"),
        (OWN_WAIT, "result_urls"): attack.airflow.xcom(OWN_DAG, attack.own_run, OWN_WAIT, "result_urls"),
    }
    yield {key: value for (_, key), value in saved.items()}
    for (task_id, key), value in saved.items():
        attack.set_xcom(task_id, key, value)


def stored_file(attack: Attack, dag_id: str, run_id: str, task_id: str) -> Path:
    [record] = attack.airflow.xcom(dag_id, run_id, task_id, "downloads")
    return Path(urlsplit(record["path"]).path)


def test_the_outsider_may_edit_their_own_xcoms_but_not_read_the_victims(attack: Attack) -> None:
    victim = f"{PLUGIN}/dags/{VICTIM_DAG}/runs/{attack.victim_run}/tasks/{VICTIM_TASK}/video?map_index=-1&n=0"
    assert attack.as_outsider("GET", victim).status_code == 403
    # The untouched record of their own DAG is served: the rule refuses what it should, not everything.
    own = attack.own_video()
    assert own.status_code == 200, own.text
    assert own.content == stored_file(attack, OWN_DAG, attack.own_run, OWN_SAVE).read_bytes()


def test_tampered_downloads_serve_nothing_and_call_no_one(
    attack: Attack, original_xcoms: dict[str, Any]
) -> None:
    victim_file = stored_file(attack, VICTIM_DAG, attack.victim_run, VICTIM_TASK)
    own_file = stored_file(attack, OWN_DAG, attack.own_run, OWN_SAVE)
    outside = attack.home / "outside.mp4"
    outside.write_bytes(b"not under the destination")
    [record] = original_xcoms["downloads"]
    own_folder = own_file.parent
    link = own_folder / "link-to-victim.mp4"
    link.symlink_to(victim_file)
    dotdot = "/".join([".."] * len(own_folder.relative_to(attack.home).parts))
    forged = {
        "another DAG's video": victim_file.as_uri(),
        "the same as a bare path": str(victim_file),
        "a .. path": f"{own_folder.as_uri()}/{dotdot}/{victim_file.relative_to(attack.home)}",
        "an encoded .. path": f"{own_folder.as_uri()}/%2e%2e/%2e%2e/{victim_file.relative_to(attack.home)}",
        "a file:// path outside the destination": outside.as_uri(),
        "a symlink in the destination to another DAG's video": link.as_uri(),
        "an internal URL with the extension in its query": f"{attack.listener}/secret?x=.mp4",
        "an internal URL ending in .mp4": f"{attack.listener}/secret.mp4",
    }
    refused = {}
    for name, path in forged.items():
        attack.set_xcom(OWN_SAVE, "downloads", [{**record, "path": path}])
        answer = attack.own_video()
        refused[name] = answer.status_code
        assert victim_file.read_bytes() not in answer.content, name
        assert b"internal secret" not in answer.content and b"not under" not in answer.content, name
    assert refused == {name: 404 for name in forged}
    assert attack.listener_seen == []


def test_tampered_result_urls_redirect_only_to_the_allowed_media_host(
    attack: Attack, original_xcoms: dict[str, Any]
) -> None:
    attack.set_xcom(OWN_SAVE, "downloads", [])  # no stored copy: only live links are left
    allowed = f"{ALLOWED_MEDIA}/ok.mp4"
    forged = [
        "https://evil.example/video.mp4",
        f"{attack.listener}/internal.mp4",
        "javascript:alert(document.cookie)",
        "data:video/mp4;base64,AAAA",
        f"//{urlsplit(attack.listener).netloc}/x.mp4",
        f"{ALLOWED_MEDIA}.evil.example/x.mp4",
        allowed,
    ]
    attack.set_xcom(OWN_WAIT, "result_urls", forged)
    page = attack.as_outsider("GET", f"{PLUGIN}/dags/{OWN_DAG}/runs/{quote(attack.own_run, safe='')}")
    count = page.text.count('data-testid="video"')
    assert count >= len(forged), page.text  # every forged link is listed as a video ...
    answers = [attack.own_video(OWN_WAIT, n) for n in range(count)]
    assert {a.status_code for a in answers} <= {307, 404}
    # ... and only the admin-allowed host is redirected to: not the emulator's real link, nor any other.
    assert [a.headers["location"] for a in answers if a.status_code == 307] == [allowed]
    assert attack.listener_seen == []


def test_a_pathological_range_is_answered_at_once_and_health_stays_fast(attack: Attack) -> None:
    """Generous bounds (the machine is shared): the old pattern took 239 s on such a header."""
    header = "bytes=" + " " * 4090 + "-" + " " * 4090 + "x"

    def ranged() -> tuple[int, float]:
        started = time.monotonic()
        answer = attack.own_video(headers={"Range": header})
        return answer.status_code, time.monotonic() - started

    def health() -> float:
        started = time.monotonic()
        requests.get(f"{attack.base_url}/api/v2/monitor/health", timeout=30).raise_for_status()
        return time.monotonic() - started

    with ThreadPoolExecutor(max_workers=6) as pool:
        ranges = [pool.submit(ranged) for _ in range(4)]
        healths = [pool.submit(health) for _ in range(4)]
        answers = [future.result() for future in ranges]
        health_times = [future.result() for future in healths]
    assert {status for status, _ in answers} == {200}  # a Range that does not parse: the whole file
    assert max(seconds for _, seconds in answers) < 5.0, answers
    assert max(health_times) < 5.0, health_times


def test_bad_input_gets_a_clean_4xx(attack: Attack) -> None:
    size = stored_file(attack, OWN_DAG, attack.own_run, OWN_SAVE).stat().st_size
    huge = attack.own_video(headers={"Range": "bytes=" + "9" * 5000 + "-"})
    assert huge.status_code == 416 and huge.headers["content-range"] == f"bytes */{size}"
    huge_end = attack.own_video(headers={"Range": "bytes=0-" + "9" * 5000})
    assert huge_end.status_code == 206 and huge_end.headers["content-length"] == str(size)

    run = quote(attack.own_run, safe="")
    bad = {
        f"{PLUGIN}/?dag_id=%00": "dag_id",
        f"{PLUGIN}/?run_id=%00": "run_id",
        f"{PLUGIN}/dags/%00/runs/{run}": "dag_id",
        f"{PLUGIN}/dags/{OWN_DAG}/runs/a%00b": "run_id",
        f"{PLUGIN}/dags/{OWN_DAG}/runs/{run}/tasks/a%20b": "task_id",
        f"{PLUGIN}/dags/{OWN_DAG}/runs/{run}/tasks/{OWN_SAVE}/video?n=" + "9" * 5000: "n",
        f"{PLUGIN}/dags/{OWN_DAG}/runs/{run}/tasks/{OWN_SAVE}/video?map_index=" + "9" * 30: "map_index",
    }
    answers = {url: attack.as_outsider("GET", url) for url in bad}
    assert {url: a.status_code for url, a in answers.items()} == {url: 422 for url in bad}
    for url, field in bad.items():
        assert field in answers[url].text, (url, answers[url].text)


def test_every_gallery_response_carries_the_security_headers(attack: Attack) -> None:
    run = quote(attack.own_run, safe="")
    for url in (
        f"{PLUGIN}/",
        f"{PLUGIN}/dags/{OWN_DAG}/runs/{run}",
        f"{PLUGIN}/dags/{OWN_DAG}/runs/{run}/tasks/{OWN_SAVE}?map_index=-1",
        f"{PLUGIN}/dags/{OWN_DAG}/runs/{run}/tasks/{OWN_SAVE}/video?map_index=-1&n=0",
        f"{PLUGIN}/static/gallery.css",
        f"{PLUGIN}/?dag_id=%00",
    ):
        answer = attack.as_outsider("GET", url)
        policy = answer.headers.get("content-security-policy", "")
        assert "script-src 'self'" in policy and "frame-ancestors 'self'" in policy, (url, policy)
        assert "default-src 'none'" in policy and "unsafe-inline" not in policy, (url, policy)
        assert answer.headers.get("x-content-type-options") == "nosniff", url
    page = attack.as_outsider("GET", f"{PLUGIN}/dags/{OWN_DAG}/runs/{run}").text
    assert "<style" not in page and "<script>" not in page and " style=" not in page


def test_the_gallery_still_plays_inside_airflows_ui(browser: Any, attack: Attack, artifacts: Path) -> None:
    context = browser.new_context(base_url=attack.base_url, viewport={"width": 1400, "height": 900})
    context.set_default_timeout(UI_TIMEOUT_MS)
    tab = context.new_page()
    violations: list[str] = []
    tab.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    try:
        sign_in(tab, attack.base_url, ADMIN, ADMIN_PASSWORD)
        tab.goto(f"/dags/{VICTIM_DAG}/runs/{attack.victim_run}/plugin/evolink_run_videos")
        # The plugin tab shows the gallery's run page in an iframe of the UI (same origin, so allowed).
        selector = f"iframe[src*='{PLUGIN}/dags/{VICTIM_DAG}/runs/']"
        video = tab.frame_locator(selector).get_by_test_id("video").first
        video.wait_for(state="attached")
        frame = tab.locator(selector).element_handle().content_frame()
        assert frame is not None
        assert_plays(frame, video)
        # The stylesheet came from the gallery, under its policy: the card has its border.
        card = tab.frame_locator(selector).get_by_test_id("generation").first
        border = card.evaluate("e => getComputedStyle(e).borderTopStyle")
        assert border == "solid"
        screenshot(tab, artifacts, "security-gallery-in-airflow-ui", full_page=True)
        assert violations == []
    except Exception:
        screenshot(tab, artifacts, "failed-security-gallery-in-airflow-ui", full_page=True)
        raise
    finally:
        context.close()
