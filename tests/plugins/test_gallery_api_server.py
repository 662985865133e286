"""The gallery served by a real ``airflow api-server`` process on PostgreSQL, logged in the way the UI
logs in (``POST /auth/token``, then the ``_token`` cookie the UI's iframes send), over a run made by the
``airflow dags test`` command against the emulator.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_evolink.version_compat import AIRFLOW_V_3_1_PLUS
from tests.e2e.cluster import AirflowCluster, PostgresDatabase

pytestmark = pytest.mark.skipif(not AIRFLOW_V_3_1_PLUS, reason="the gallery needs Airflow 3.1+")

PASSWORD = "viewer-password-1"
RUN_ID = "gallery_e2e"


@pytest.fixture(scope="module")
def server(emulator: Any) -> Iterator[tuple[AirflowCluster, Path, PostgresDatabase]]:
    database = PostgresDatabase()
    database.create()
    home = Path(tempfile.mkdtemp(prefix="evolink-gallery-e2e-"))
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps({"viewer": PASSWORD}))
    videos = home / "videos"
    cluster = AirflowCluster(
        home=home,
        db_url=database.url,
        extra_env={
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "viewer:viewer",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        },
    )
    try:
        cluster.start_all(components=("api-server",))
        conf = json.dumps({"destination": videos.as_uri()})
        cluster.airflow("dags", "test", "gallery_persist", "--conf", conf, timeout=300)
        yield cluster, videos, database
    finally:
        cluster.stop()
        database.drop()
        shutil.rmtree(home, ignore_errors=True)


def test_a_real_api_server_serves_the_gallery_to_a_logged_in_user_only(server):
    cluster, videos, _ = server
    base = cluster.base_url
    login = requests.post(f"{base}/auth/token", json={"username": "viewer", "password": PASSWORD}, timeout=30)
    assert login.status_code in (200, 201), login.text
    cookie = {"_token": login.json()["access_token"]}

    # Airflow's default (lazy provider discovery) skips provider-info plugins: the gallery comes in through
    # the airflow.plugins entry point, registered once, with no plugin import error.
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    plugins = requests.get(f"{base}/api/v2/plugins", headers=headers, timeout=30).json()["plugins"]
    assert [p["name"] for p in plugins].count("evolink_gallery") == 1
    errors = requests.get(f"{base}/api/v2/plugins/importErrors", headers=headers, timeout=30).json()
    # Other providers' plugins may report their own import errors; none is ours.
    assert [e for e in errors["import_errors"] if "evolink" in json.dumps(e).lower()] == [], errors

    assert requests.get(f"{base}/evolink/", timeout=30).status_code == 401
    gallery = requests.get(f"{base}/evolink/", cookies=cookie, timeout=30)
    assert gallery.status_code == 200
    [task_id] = re.findall(r'data-testid="generation" data-evolink-task-id="([^"]+)"', gallery.text)
    assert 'data-testid="credits-per-dag-row" data-key="gallery_persist"' in gallery.text

    run_ids = re.findall(
        r'href="/evolink/dags/gallery_persist/runs/([^"]+)" data-testid="run-link"', gallery.text
    )
    video = f"{base}/evolink/dags/gallery_persist/runs/{run_ids[0]}/tasks/wait/video?map_index=-1&n=0"
    assert requests.get(video, timeout=30).status_code == 401
    [stored] = list(videos.rglob(f"{task_id}*"))
    content = stored.read_bytes()
    partial = requests.get(video, cookies=cookie, headers={"Range": "bytes=0-99"}, timeout=30)
    assert partial.status_code == 206
    assert partial.content == content[:100]
    assert partial.headers["Content-Range"] == f"bytes 0-99/{len(content)}"


#: The README's query for credits per DAG and per day (PostgreSQL metadata DB).
COSTS_SQL = """
SELECT dag_id, date_trunc('day', timestamp)::date AS day, sum((value #>> '{}')::numeric) AS credits_used
FROM xcom WHERE key = 'credits_used'
GROUP BY dag_id, day ORDER BY day, dag_id
"""


def test_the_readme_cost_queries_agree(server):
    cluster, _, database = server
    rows = database.query(COSTS_SQL)
    [(dag_id, _day, from_sql)] = rows
    base = cluster.base_url
    login = requests.post(f"{base}/auth/token", json={"username": "viewer", "password": PASSWORD}, timeout=30)
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    api = f"{base}/api/v2/dags"
    entries = requests.get(
        f"{api}/~/dagRuns/~/taskInstances/~/xcomEntries",
        params={"xcom_key": "credits_used"},
        headers=headers,
        timeout=30,
    ).json()["xcom_entries"]
    # The list names the entries; each value is read on its own, as the README says.
    from_rest = sum(
        float(
            requests.get(
                f"{api}/{e['dag_id']}/dagRuns/{e['run_id']}/taskInstances/{e['task_id']}/xcomEntries/credits_used",
                params={"map_index": e["map_index"], "deserialize": "true"},
                headers=headers,
                timeout=30,
            ).json()["value"]
        )
        for e in entries
        if e["dag_id"] == dag_id
    )
    assert dag_id == "gallery_persist"
    assert float(from_sql) == from_rest > 0
