"""The gallery plugin in Airflow's real api-server app, over DAG runs made by ``dag.test()`` against the
emulator. The app is built once per module by ``airflow.api_fastapi.app.create_app()``, which loads the
plugin through the provider info, the way an api-server does.
"""

from __future__ import annotations

import itertools
import json
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from airflow_evolink.version_compat import AIRFLOW_V_3_1_PLUS
from tests.plugins.app_client import api_server_client

pytestmark = [
    pytest.mark.skipif(not AIRFLOW_V_3_1_PLUS, reason="the gallery needs Airflow 3.1+"),
    pytest.mark.usefixtures("airflow_db"),
]

TEST_DAGS = Path(__file__).resolve().parents[1] / "dags"
PERSIST_RUN = "gallery_persist_run"
MAPPED_RUN = "gallery_mapped_run"
AUTH_ENV = {
    "AIRFLOW__CORE__AUTH_MANAGER": "tests.plugins.restricted_auth.RestrictedSimpleAuthManager",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,viewer:viewer,outsider:viewer",
    "AIRFLOW__API_AUTH__JWT_SECRET": uuid.uuid4().hex,
}


def xcom(dag_id: str, run_id: str, task_id: str, key: str, map_index: int = -1) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        row = session.execute(
            select(XComModel.value).where(
                XComModel.dag_id == dag_id,
                XComModel.run_id == run_id,
                XComModel.task_id == task_id,
                XComModel.key == key,
                XComModel.map_index == map_index,
            )
        ).one()
        return XComModel.deserialize_value(row)


@pytest.fixture(scope="module")
def runs(emulator, airflow_db, tmp_path_factory) -> dict[str, Any]:
    """One run that stores its video (submit, sensor, download) and one mapped run that does not."""
    from tests.airflow_helpers import dag_bag

    emulator.state.reset()
    bag = dag_bag(TEST_DAGS)
    destination = tmp_path_factory.mktemp("gallery-videos")
    persist = bag.get_dag("gallery_persist").test(
        run_conf={"destination": destination.as_uri()}, logical_date=None
    )
    assert persist.state == "success"
    mapped = bag.get_dag("gallery_mapped").test(logical_date=None)
    assert mapped.state == "success"
    return {"persist": persist.run_id, "mapped": mapped.run_id, "destination": destination}


@pytest.fixture(scope="module")
def client(runs) -> Iterator[Any]:
    """Airflow's whole api-server app, with provider plugins loaded, and the restricted auth manager."""
    with api_server_client(AUTH_ENV) as test_client:
        yield test_client


def token(username: str, role: str) -> str:
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    return get_auth_manager().generate_jwt(SimpleAuthManagerUser(username=username, role=role))


@pytest.fixture(scope="module")
def admin(client) -> dict[str, str]:
    return {"Authorization": f"Bearer {token('admin', 'admin')}"}


@pytest.fixture(scope="module")
def viewer_cookie(client) -> dict[str, str]:
    """The UI's iframes send no Authorization header, only the ``_token`` cookie."""
    return {"Cookie": f"_token={token('viewer', 'viewer')}"}


@pytest.fixture(scope="module")
def outsider(client) -> dict[str, str]:
    return {"Authorization": f"Bearer {token('outsider', 'viewer')}"}


def task_url(run_id: str, task_id: str, dag_id: str = "gallery_persist") -> str:
    return f"/evolink/dags/{dag_id}/runs/{run_id}/tasks/{task_id}"


def cards(html: str) -> list[str]:
    return re.findall(r'data-testid="generation" data-evolink-task-id="([^"]+)"', html)


def gallery_ids(runs: dict[str, Any]) -> set[str]:
    """The Evolink task ids of this module's runs (other test modules share the metadata DB)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(XComModel.value).where(
                XComModel.run_id.in_([runs["persist"], runs["mapped"]]),
                XComModel.key == "evolink_task",
            )
        ).all()
    return {XComModel.deserialize_value(row)["id"] for row in rows}


def our_cards(html: str, runs: dict[str, Any]) -> list[str]:
    ids = gallery_ids(runs)
    return [card for card in cards(html) if card in ids]


def stored_file(runs: dict[str, Any]) -> bytes:
    [record] = xcom("gallery_persist", runs["persist"], "save", "downloads")
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath(record["path"]).read_bytes()


def test_the_api_server_lists_the_plugin_with_its_views(client, admin):
    plugins = client.get("/api/v2/plugins", headers=admin).json()["plugins"]
    # Loaded from the provider info here (lazy discovery off); the entry point stands aside.
    [plugin] = [p for p in plugins if p["name"] == "evolink_gallery"]
    # (Other providers' plugins may report their own import errors; none is ours.)
    errors = client.get("/api/v2/plugins/importErrors", headers=admin).json()["import_errors"]
    assert [e for e in errors if "evolink" in json.dumps(e).lower()] == [], errors
    assert [a["url_prefix"] for a in plugin["fastapi_apps"]] == ["/evolink"]
    views = {v["url_route"]: v for v in plugin["external_views"]}
    assert views["evolink_run_videos"]["destination"] == "dag_run"
    assert views["evolink_task_video"]["href"].endswith("/tasks/{TASK_ID}?map_index={MAP_INDEX}")
    assert views["evolink_gallery"]["destination"] == "nav"


def test_the_run_page_shows_the_generation_merged_from_its_three_tasks(client, runs, viewer_cookie):
    task = xcom("gallery_persist", runs["persist"], "wait", "evolink_task")
    response = client.get(f"/evolink/dags/gallery_persist/runs/{runs['persist']}", headers=viewer_cookie)
    assert response.status_code == 200
    html = response.text
    assert cards(html) == [task["id"]]
    # The prompt is shown, escaped (it came from a task, not from the gallery).
    assert "A &lt;b&gt;lighthouse&lt;/b&gt; at dawn" in html and "<b>lighthouse" not in html
    assert 'data-testid="model">kling-v3-image-to-video<' in html
    assert 'data-testid="quality">1080p<' in html
    assert 'data-testid="duration">5 s<' in html
    assert 'data-testid="status">completed<' in html
    assert 'src="https://example.com/lighthouse.png"' in html and 'data-testid="input-image"' in html
    assert f'data-testid="evolink-task-id">{task["id"]}<' in html
    # What Evolink charged is in credits, a certain unit: shown with its dollar figure.
    assert re.search(r'data-testid="credits-used">[\d,.]+ credits \(~\$', html)
    assert 'data-testid="video-source">stored copy<' in html
    run_segment = quote(runs["persist"], safe="")
    src = f"/evolink/dags/gallery_persist/runs/{run_segment}/tasks/submit/video?map_index=-1&amp;n=0"
    assert f'src="{src}" data-testid="video"' in html
    assert 'data-testid="link-expiry"' not in html  # a stored copy does not expire
    assert "sk-test" not in html


@pytest.mark.parametrize("task_id", ["submit", "wait", "save"])
def test_each_task_page_shows_the_same_generation(client, runs, viewer_cookie, task_id):
    task = xcom("gallery_persist", runs["persist"], "wait", "evolink_task")
    response = client.get(f"{task_url(runs['persist'], task_id)}?map_index=-1", headers=viewer_cookie)
    assert response.status_code == 200
    assert cards(response.text) == [task["id"]]
    assert 'data-testid="video"' in response.text


def test_the_video_is_the_stored_copy_whole_or_by_range(client, runs, viewer_cookie):
    content = stored_file(runs)
    size = len(content)
    assert size > 200
    url = f"{task_url(runs['persist'], 'save')}/video?map_index=-1&n=0"

    whole = client.get(url, headers=viewer_cookie)
    assert whole.status_code == 200
    assert whole.content == content
    assert whole.headers["content-type"] == "video/mp4"
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-length"] == str(size)

    first = client.get(url, headers={**viewer_cookie, "Range": "bytes=0-99"})
    assert first.status_code == 206
    assert first.content == content[:100]
    assert first.headers["content-range"] == f"bytes 0-99/{size}"
    assert first.headers["content-length"] == "100"

    tail = client.get(url, headers={**viewer_cookie, "Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == content[-10:]
    assert tail.headers["content-range"] == f"bytes {size - 10}-{size - 1}/{size}"

    beyond = client.get(url, headers={**viewer_cookie, "Range": f"bytes={size}-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{size}"

    # The submit task's page links the same video: the stored copy is found through the merge.
    via_submit = client.get(
        url.replace("/save/", "/submit/"), headers={**viewer_cookie, "Range": "bytes=0-99"}
    )
    assert via_submit.status_code == 206 and via_submit.content == content[:100]


def test_without_a_stored_copy_the_video_redirects_to_the_live_link(
    client, runs, viewer_cookie, emulator, monkeypatch
):
    [url] = xcom("gallery_mapped", runs["mapped"], "generate", "result_urls", map_index=1)
    # Redirects go only to media hosts the admin allowed; here the emulator stands in for Evolink's.
    monkeypatch.setenv("AIRFLOW__EVOLINK__GALLERY_MEDIA_HOSTS", emulator.base_url)
    response = client.get(
        f"{task_url(runs['mapped'], 'generate', 'gallery_mapped')}/video?map_index=1&n=0",
        headers=viewer_cookie,
        follow_redirects=False,
    )
    assert response.status_code == 307
    assert response.headers["location"] == url


@pytest.mark.parametrize(
    "query", ["map_index=-1&n=1", "map_index=-1&n=99", "map_index=3&n=0", "map_index=-1&n=-1"]
)
def test_a_video_that_was_not_recorded_is_not_found(client, runs, viewer_cookie, query):
    response = client.get(f"{task_url(runs['persist'], 'save')}/video?{query}", headers=viewer_cookie)
    assert response.status_code in (404, 422)
    assert response.status_code == 404 or query.endswith("n=-1")


def test_a_mapped_task_shows_each_index_or_all_of_them(client, runs, viewer_cookie):
    base = task_url(runs["mapped"], "generate", "gallery_mapped")
    every = client.get(base, headers=viewer_cookie).text
    first = client.get(f"{base}?map_index=0", headers=viewer_cookie).text
    second = client.get(f"{base}?map_index=1", headers=viewer_cookie).text
    assert len(cards(every)) == 2
    assert cards(first) + cards(second) == cards(every)
    assert "first shot" in first and "second shot" not in first
    assert 'data-testid="video-source">live Evolink link<' in second
    assert re.search(r'data-testid="link-expiry" data-expired="false">\s*\d{4}-\d\d-\d\d', second)
    run_page = client.get(f"/evolink/dags/gallery_mapped/runs/{runs['mapped']}", headers=viewer_cookie)
    assert sorted(cards(run_page.text)) == sorted(cards(every))


def test_the_gallery_lists_recent_generations_with_credits_per_dag_and_day(client, runs, viewer_cookie):
    html = client.get("/evolink/", headers=viewer_cookie).text
    assert len(our_cards(html, runs)) == 3
    assert 'data-testid="credits-per-dag"' in html and 'data-testid="credits-per-day"' in html
    assert 'data-testid="credits-per-dag-row" data-key="gallery_mapped"' in html
    assert 'data-testid="credits-per-dag-row" data-key="gallery_persist"' in html
    assert re.search(r'data-testid="credits-per-day-row" data-key="\d{4}-\d\d-\d\d"', html)

    only_mapped = client.get("/evolink/?dag_id=gallery_mapped", headers=viewer_cookie).text
    assert len(cards(only_mapped)) == 2 and "gallery_persist" not in only_mapped
    one_run = client.get("/evolink/", params={"run_id": runs["persist"]}, headers=viewer_cookie).text
    assert len(cards(one_run)) == 1
    assert len(cards(client.get("/evolink/?limit=1", headers=viewer_cookie).text)) == 1
    failed = client.get("/evolink/?status=failed", headers=viewer_cookie).text
    assert our_cards(failed, runs) == []
    none_failed = client.get("/evolink/?status=failed&dag_id=gallery_mapped", headers=viewer_cookie).text
    assert 'data-testid="no-generations"' in none_failed


def all_routes(runs: dict[str, Any]) -> list[str]:
    return [
        "/evolink/",
        f"/evolink/dags/gallery_persist/runs/{runs['persist']}",
        f"{task_url(runs['persist'], 'submit')}?map_index=-1",
        f"{task_url(runs['persist'], 'save')}/video?map_index=-1&n=0",
    ]


def test_every_route_refuses_a_request_without_login(client, runs):
    task_id = xcom("gallery_persist", runs["persist"], "wait", "evolink_task")["id"]
    for url in all_routes(runs):
        for headers in ({}, {"Cookie": "_token=not-a-token"}, {"Authorization": "Bearer nope"}):
            response = client.get(url, headers=headers, follow_redirects=False)
            assert response.status_code in (401, 403), (url, headers, response.status_code)
            assert task_id not in response.text


def test_a_user_who_may_not_read_the_dag_is_refused_and_does_not_see_it(client, runs, outsider):
    for url in all_routes(runs)[1:]:
        assert client.get(url, headers=outsider).status_code == 403, url
    html = client.get("/evolink/", headers=outsider).text
    assert "gallery_persist" not in html
    assert len(our_cards(html, runs)) == 2
    mapped = client.get(f"/evolink/dags/gallery_mapped/runs/{runs['mapped']}", headers=outsider)
    assert mapped.status_code == 200


def test_a_recorded_file_that_is_not_a_video_is_never_served(client, runs, viewer_cookie, tmp_path):
    """Anyone who may edit XComs can write a ``downloads`` record; it must not expose server files."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import update

    task_id = xcom("gallery_persist", runs["persist"], "wait", "evolink_task")["id"]
    original = xcom("gallery_persist", runs["persist"], "save", "downloads")
    secret = tmp_path / f"{task_id}-2.cfg"  # named like the task's second video, so the record matches
    secret.write_text("jwt_secret = do-not-serve")
    planted = [*original, {"url": None, "path": secret.as_uri(), "size": 25, "checksum": None}]

    def set_downloads(value: list) -> None:
        with create_session() as session:
            session.execute(
                update(XComModel)
                .where(
                    XComModel.dag_id == "gallery_persist",
                    XComModel.run_id == runs["persist"],
                    XComModel.task_id == "save",
                    XComModel.key == "downloads",
                )
                .values(value=XComModel.serialize_value(value))
            )

    set_downloads(planted)
    try:
        page = client.get(f"{task_url(runs['persist'], 'save')}?map_index=-1", headers=viewer_cookie).text
        assert page.count('data-testid="video"') == 2  # the planted record is listed ...
        response = client.get(
            f"{task_url(runs['persist'], 'save')}/video?map_index=-1&n=1", headers=viewer_cookie
        )
        assert response.status_code == 404  # ... but not served
        assert "do-not-serve" not in response.text
    finally:
        set_downloads(original)


# ---- the top page's pages, the credits window, and the authorization filter across pages -------------


@pytest.fixture(scope="module")
def page_runs(client, emulator) -> list[str]:
    """Two runs of ``gallery_pages``, three generations each (the client is up first: it sets the env).

    Each has its own logical date: ``dag.test()`` replaces the DAG's runs of the same logical date."""
    from tests.airflow_helpers import dag_bag

    dag = dag_bag(TEST_DAGS).get_dag("gallery_pages")
    run_ids = []
    for minutes in (20, 10):
        run = dag.test(logical_date=_minutes_ago(minutes))
        assert run.state == "success"
        run_ids.append(run.run_id)
    return run_ids


def _minutes_ago(minutes: int) -> Any:
    from datetime import datetime, timedelta, timezone

    return datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=minutes)


def page_ids(run_ids: list[str], dag_id: str = "gallery_pages") -> list[str]:
    """The Evolink task ids of these runs, newest run first, in each run by map index."""
    ids = []
    for run_id in reversed(run_ids):
        ids += [xcom(dag_id, run_id, "generate", "evolink_task", map_index=i)["id"] for i in range(3)]
    return ids


def link(html: str, name: str) -> str | None:
    found = re.search(rf'href="([^"]+)" rel="(?:next|prev)" data-testid="{name}"', html)
    return found.group(1).replace("&amp;", "&") if found else None


def flat(pages: Any) -> list[str]:
    return list(itertools.chain.from_iterable(pages))


def walk(client, headers, url: str | None, direction: str) -> list[list[str]]:
    pages = []
    while url:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        pages.append(cards(response.text))
        url = link(response.text, direction)
        assert len(pages) < 500  # a guard against a link loop; other modules' runs share this database
    return pages


def test_older_and_newer_links_page_through_every_generation_once(client, page_runs, viewer_cookie):
    expected = page_ids(page_runs)
    assert len(set(expected)) == 6
    whole = cards(client.get("/evolink/?dag_id=gallery_pages&limit=500", headers=viewer_cookie).text)
    assert whole == expected  # newest run first; in a run, map index order

    # Pages of 4 split the older run: the boundary sits inside it, nothing is repeated or skipped.
    older = walk(client, viewer_cookie, "/evolink/?dag_id=gallery_pages&limit=4", "older")
    assert [len(p) for p in older] == [4, 2]
    assert flat(older) == expected
    first = client.get("/evolink/?dag_id=gallery_pages&limit=4", headers=viewer_cookie).text
    assert link(first, "newer") is None

    # From the last page back with "newer": the same pages, in reverse.
    last = client.get(link(first, "older"), headers=viewer_cookie).text
    assert link(last, "older") is None
    newer = walk(client, viewer_cookie, link(last, "newer"), "newer")
    assert flat(reversed(newer)) + cards(last) == expected

    # Pages of 1 and of 5: still every generation once.
    assert flat(walk(client, viewer_cookie, "/evolink/?dag_id=gallery_pages&limit=1", "older")) == expected
    assert flat(walk(client, viewer_cookie, "/evolink/?dag_id=gallery_pages&limit=5", "older")) == expected


def test_a_run_added_meanwhile_does_not_shift_the_older_pages(client, page_runs, viewer_cookie):
    from tests.airflow_helpers import dag_bag

    first = client.get("/evolink/?dag_id=gallery_pages&limit=2", headers=viewer_cookie).text
    shown = cards(first)
    newest = dag_bag(TEST_DAGS).get_dag("gallery_pages").test(logical_date=_minutes_ago(0))
    assert newest.state == "success"
    later = walk(client, viewer_cookie, link(first, "older"), "older")
    assert shown + flat(later) == page_ids(page_runs)  # as if the new run were not there
    # The top page now starts with the new run, and "newer" from the old first page finds it.
    assert cards(
        client.get("/evolink/?dag_id=gallery_pages&limit=3", headers=viewer_cookie).text
    ) == page_ids([newest.run_id])
    second = client.get(link(first, "older"), headers=viewer_cookie).text
    back = client.get(link(second, "newer"), headers=viewer_cookie).text
    assert cards(back) == shown  # the two just before the second page
    new_ids = page_ids([newest.run_id])
    newer_again = client.get(link(back, "newer"), headers=viewer_cookie).text
    assert cards(newer_again) == new_ids[1:]
    top = client.get(link(newer_again, "newer"), headers=viewer_cookie).text
    assert cards(top) == new_ids[:1] and link(top, "newer") is None
    page_runs.append(newest.run_id)


@pytest.mark.parametrize("query", ["older=abc", "newer=1.2", "older=1.2.3&newer=1.2.3", "older=1.2.9999999"])
def test_a_malformed_position_is_refused_naming_the_field(client, viewer_cookie, query):
    response = client.get(f"/evolink/?{query}", headers=viewer_cookie)
    assert response.status_code == 400
    field = "older, newer" if "&" in query else query.split("=")[0]
    assert response.json()["detail"].startswith(f"{field}:")


def test_the_credit_totals_cover_a_stated_window_of_days(client, page_runs, viewer_cookie):
    from datetime import datetime, timedelta, timezone

    from airflow.utils.session import create_session

    from airflow_evolink.plugins.credits import DailyCredits

    html = client.get("/evolink/", headers=viewer_cookie).text
    today = datetime.now(timezone.utc).date()
    start = today - timedelta(days=29)
    assert f'data-start="{start.isoformat()}" data-end="{today.isoformat()}"' in html
    assert "Credits over the last 30 days" in html

    used = sum(
        xcom("gallery_pages", run_id, "generate", "evolink_task", map_index=i)["credits_used"]
        for run_id in page_runs
        for i in range(3)
    )
    totals = DailyCredits()
    with create_session() as session:
        now = totals.window(session, lambda dag: True, dag_id="gallery_pages", today=today)
        [line] = now.per_dag
        assert (line.label, line.generations, line.charged) == ("gallery_pages", 3 * len(page_runs), used)
        assert [day.label for day in now.per_day] == [today.isoformat()]
        assert line.charged_text.endswith(")") and "credits (~$" in line.charged_text
        # Forty days later the runs are out of the window; a window that ends the day before has none either.
        later = totals.window(
            session, lambda dag: True, dag_id="gallery_pages", today=today + timedelta(days=40)
        )
        before = totals.window(
            session, lambda dag: True, dag_id="gallery_pages", today=today - timedelta(days=1)
        )
        assert later.per_dag == [] and before.per_dag == []
        # A shorter window that still holds today counts the same; a DAG the viewer may not read is left out.
        short = totals.window(session, lambda dag: True, dag_id="gallery_pages", days=1, today=today)
        assert short.per_dag[0].charged == used
        hidden = totals.window(session, lambda dag: dag != "gallery_pages", today=today)
        assert "gallery_pages" not in {line.label for line in hidden.per_dag}


def test_a_user_kept_out_of_a_dag_sees_none_of_it_on_any_page(client, runs, page_runs, outsider, admin):
    hidden = gallery_ids(runs) - {
        xcom("gallery_mapped", runs["mapped"], "generate", "evolink_task", map_index=i)["id"]
        for i in range(2)
    }
    assert hidden  # the persist run's generation
    seen_by_admin = flat(walk(client, admin, "/evolink/?limit=2", "older"))
    assert hidden <= set(seen_by_admin)
    pages = []
    url: str | None = "/evolink/?limit=2"
    while url:
        html = client.get(url, headers=outsider).text
        assert "gallery_persist" not in html  # neither a card nor a credits row
        pages.append(cards(html))
        url = link(html, "older")
    seen = flat(pages)
    assert not hidden & set(seen)
    # The same cards as the admin's walk, each as often, less the hidden ones: the outsider's pages neither
    # repeat nor skip a card. (Compared as multisets: two runs of other modules' DAGs sharing this database
    # can hold the same Evolink task id, from emulators restarted with the same seed in the same second.)
    assert Counter(seen) == Counter(card for card in seen_by_admin if card not in hidden)
    # Asking for the hidden DAG by name shows nothing either.
    named = client.get("/evolink/?dag_id=gallery_persist", headers=outsider).text
    assert cards(named) == [] and "credits-per-dag-row" not in named
