"""The gallery's pages against a growing history on PostgreSQL, against Airflow's own DAG-run list.

    python benchmarks/bench_gallery.py              # 1,000 / 10,000 / 100,000 runs (builds in minutes)
    python benchmarks/bench_gallery.py --quick      # 1,000 / 4,000 runs, for CI
    python benchmarks/bench_gallery.py --explain    # also prints EXPLAIN ANALYZE of the top page's queries

It builds its own database (``evolink_bench_gallery`` on 127.0.0.1:5432, user postgres; ``--dsn`` to
change), migrated by Airflow, with real serialized DAGs: three Evolink example DAGs (the main one,
``example_evolink_image_to_video``, gets N runs, the two others N/10 each) and ten unrelated DAGs with
many more XCom rows per run (``--unrelated-runs`` x N runs each). Rows are written with COPY, oldest runs
added at each size so the newest stay the same while the history grows. Runs are 10 minutes apart, so at
100,000 the main DAG spans about two years.

At each size it calls, in-process through Airflow's real api-server app (gallery plugin loaded, a JWT of
an authenticated user), and reports the median time of: Airflow's ``GET /api/v2/dags/{dag}/dagRuns
?limit=50`` (the baseline), the gallery's top page (default limit 50), its second page (the "older"
link), ``?limit=500``, a run page and a task page. Checks: at the largest size each gallery page costs
at most 2x its cost at the smallest, the top page at most 2x the baseline, and ``limit=500`` under 1 s.
The credit totals are kept per day in the process; their first (cold) computation is timed apart.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

MAIN_DAG = "example_evolink_image_to_video"
OTHER_EVOLINK = ("example_evolink_text_to_video", "example_evolink_persist_videos")
UNRELATED = tuple(f"bench_unrelated_{n:02d}" for n in range(10))
UNRELATED_TASKS = 4
UNRELATED_KEYS_PER_TASK = 6  # return_value and five others: ~10x the Evolink DAGs' XCom rows
SPACING = timedelta(minutes=10)
NOW = datetime.now(timezone.utc).replace(microsecond=0)
EPOCH = NOW - timedelta(minutes=1)  # the newest run of every DAG


# ---- environment ----------------------------------------------------------------------------------------


def prepare_env(dsn: str) -> Path:
    """Airflow's configuration for this process; call before anything imports airflow."""
    home = Path(tempfile.mkdtemp(prefix="evolink-bench-gallery-"))
    dags = home / "dags"
    dags.mkdir()
    for name in (MAIN_DAG, *OTHER_EVOLINK):
        (dags / f"{name}.py").write_text((REPO / "dags" / f"{name}.py").read_text())
    for dag_id in UNRELATED:
        (dags / f"{dag_id}.py").write_text(_UNRELATED_DAG.format(dag_id=dag_id, tasks=UNRELATED_TASKS))
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": dsn,
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "viewer:viewer",
            "AIRFLOW__API_AUTH__JWT_SECRET": uuid.uuid4().hex * 2,
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        }
    )
    return dags


_UNRELATED_DAG = """
from airflow.sdk import DAG, task

with DAG(dag_id="{dag_id}", schedule=None, catchup=False, tags=["bench"]):
    for n in range({tasks}):
        @task(task_id=f"step_{{n}}")
        def step() -> dict:
            return {{}}
        step()
"""


def recreate_database(dsn: str) -> None:
    import psycopg2
    from psycopg2 import sql

    name = dsn.rsplit("/", 1)[1]
    admin = psycopg2.connect(dsn.rsplit("/", 1)[0].replace("postgresql+psycopg2", "postgresql") + "/postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    admin.close()


def migrate_and_serialize(dags: Path) -> None:
    """``airflow db migrate``, then the DAGs' serialized form, as the DAG processor would write it."""
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    from airflow.models.dagbundle import DagBundleModel
    from airflow.utils import db
    from airflow.utils.session import create_session

    db.initdb()
    with create_session() as session:
        if session.get(DagBundleModel, "bench") is None:
            session.add(DagBundleModel(name="bench"))
    bag = DagBag(dag_folder=str(dags), bundle_path=dags, bundle_name="bench")
    assert not bag.import_errors, bag.import_errors
    sync_bag_to_db(bag, "bench", None)


# ---- the synthetic history -------------------------------------------------------------------------------


def evolink_run_rows(dag_id: str, n: int, when: datetime) -> tuple[list[tuple], list[tuple]]:
    """One run's task instances and XComs, shaped like a real run of the image-to-video example."""
    run_id = f"scheduled__{when.isoformat()}"
    task_id = f"task-unified-{abs(hash((dag_id, n))) % 10**12:012d}-{n}"
    created = int((when + timedelta(seconds=5)).timestamp())
    url = f"https://files.example.com/videos/{task_id}.mp4"
    request = {
        "model": "kling-v3-image-to-video",
        "prompt": f"The person in the scene slowly turns their head and smiles (take {n})",
        "image_start": "https://example.com/portrait.jpg",
        "duration": 5,
        "quality": "720p",
        "sound": "off",
    }
    submitted = {
        "id": task_id,
        "status": "pending",
        "progress": 0,
        "model": request["model"],
        "created": created,
    }
    final = {**submitted, "status": "completed", "progress": 100, "results": [url], "video_duration": 5}
    estimate = {
        "status": "estimated",
        "uc": 270_000,
        "credits": "27",
        "usd": "0.397059",
        "model": request["model"],
    }
    failed = n % 17 == 0
    if failed:
        final = {
            **final,
            "status": "failed",
            "results": [],
            "error": {"code": "content_policy", "message": "x"},
        }
    xcoms: dict[str, dict[str, Any]] = {
        "submit_video": {
            "evolink_request": request,
            "evolink_task": submitted,
            "return_value": task_id,
            "credits_reserved": 27,
            "estimated_time": 120,
            "evolink_estimate": estimate,
            "idempotency_replayed": False,
        },
        "wait_for_video": {
            "evolink_task": final,
            "return_value": [] if failed else [url],
            **({} if failed else {"result_urls": [url], "credits_used": 27}),
        },
        "use_videos": {} if failed else {"return_value": 1},
    }
    return _rows(dag_id, run_id, when, xcoms)


def unrelated_run_rows(dag_id: str, n: int, when: datetime) -> tuple[list[tuple], list[tuple]]:
    run_id = f"scheduled__{when.isoformat()}"
    xcoms = {
        f"step_{t}": {
            "return_value": {"rows": n * 7 + t, "path": f"s3://lake/{dag_id}/{n}/{t}.parquet"},
            **{f"metric_{k}": {"value": n + k, "unit": "rows"} for k in range(UNRELATED_KEYS_PER_TASK - 1)},
        }
        for t in range(UNRELATED_TASKS)
    }
    return _rows(dag_id, run_id, when, xcoms)


def _rows(dag_id: str, run_id: str, when: datetime, xcoms: dict[str, dict[str, Any]]) -> tuple[list, list]:
    tis: list[tuple] = []
    values: list[tuple] = []
    for offset, (task_id, pushed) in enumerate(xcoms.items()):
        start = when + timedelta(seconds=2 + 40 * offset)
        tis.append((dag_id, run_id, task_id, start, start + timedelta(seconds=30)))
        values.extend(
            (dag_id, run_id, task_id, key, value, start + timedelta(seconds=20))
            for key, value in pushed.items()
        )
    return tis, values


class History:
    """Appends older runs to the bench database with COPY (foreign key triggers off while it does)."""

    def __init__(self, dsn: str) -> None:
        import psycopg2

        self.conn = psycopg2.connect(dsn.replace("postgresql+psycopg2", "postgresql"))
        self.built: dict[str, int] = {}
        with self.conn.cursor() as cursor:
            cursor.execute("SELECT dag_id, count(*) FROM dag_run GROUP BY dag_id")
            self.built = dict(cursor.fetchall())
            cursor.execute("SELECT dag_id, id FROM dag_version ORDER BY created_at")
            self.versions = dict(cursor.fetchall())

    def grow(self, main_runs: int, unrelated_ratio: float) -> None:
        plan: list[tuple[str, int, int, Callable[..., tuple[list, list]]]] = [
            (MAIN_DAG, main_runs, 1, evolink_run_rows)
        ]
        plan += [(dag_id, main_runs // 10, 10, evolink_run_rows) for dag_id in OTHER_EVOLINK]
        plan += [(dag_id, int(main_runs * unrelated_ratio), 3, unrelated_run_rows) for dag_id in UNRELATED]
        for dag_id, wanted, every, make in plan:
            have = self.built.get(dag_id, 0)
            for start in range(have, wanted, 20_000):
                self._append(dag_id, range(start, min(wanted, start + 20_000)), every, make)
            self.built[dag_id] = max(have, wanted)
        with self.conn.cursor() as cursor:
            cursor.execute("ANALYZE dag_run; ANALYZE task_instance; ANALYZE xcom")
        self.conn.commit()

    def _append(
        self, dag_id: str, numbers: range, every: int, make: Callable[..., tuple[list, list]]
    ) -> None:
        runs, tis, xcoms = io.StringIO(), io.StringIO(), io.StringIO()
        version = self.versions[dag_id]
        for n in numbers:
            when = (
                EPOCH
                - SPACING * every * n
                - timedelta(seconds=UNRELATED.index(dag_id) + 1 if dag_id in UNRELATED else 0)
            )
            run_tis, run_xcoms = make(dag_id, n, when)
            run_id = run_tis[0][1]
            _line(
                runs,
                dag_id,
                run_id,
                when,
                when,
                "success",
                "scheduled",
                when,
                when + timedelta(minutes=3),
                version,
                0,
                "{}",
            )
            for ti in run_tis:
                _line(
                    tis,
                    uuid.uuid4(),
                    ti[0],
                    ti[2],
                    ti[1],
                    -1,
                    "success",
                    ti[3],
                    ti[4],
                    1,
                    1,
                    "default_pool",
                    1,
                    "PythonOperator",
                    version,
                    "default",
                    "default",
                    "{}",
                )
            for x in run_xcoms:
                _line(xcoms, x[0], x[1], x[2], -1, x[3], json.dumps(json.dumps(x[4])), x[5])
        with self.conn.cursor() as cursor:
            cursor.execute("SET session_replication_role = replica")
            cursor.copy_expert(
                "COPY dag_run (dag_id, run_id, logical_date, run_after, state, run_type, start_date, end_date,"
                " created_dag_version_id, clear_number, conf) FROM STDIN",
                _rewind(runs),
            )
            cursor.copy_expert(
                "COPY task_instance (id, dag_id, task_id, run_id, map_index, state, start_date, end_date,"
                " try_number, max_tries, pool, pool_slots, operator, dag_version_id, queue, hostname,"
                " executor_config) FROM STDIN",
                _rewind(tis),
            )
            # xcom.dag_run_id comes from dag_run's unique (dag_id, run_id), as Airflow writes it.
            cursor.execute(
                "CREATE TEMP TABLE IF NOT EXISTS xcom_in (dag_id text, run_id text, task_id text,"
                " map_index int, key text, value jsonb, timestamp timestamptz)"
            )
            cursor.execute("TRUNCATE xcom_in")
            cursor.copy_expert("COPY xcom_in FROM STDIN", _rewind(xcoms))
            cursor.execute(
                "INSERT INTO xcom (dag_run_id, task_id, map_index, key, dag_id, run_id, value, timestamp)"
                " SELECT r.id, x.task_id, x.map_index, x.key, x.dag_id, x.run_id, x.value, x.timestamp"
                " FROM xcom_in x JOIN dag_run r ON r.dag_id = x.dag_id AND r.run_id = x.run_id"
            )
            cursor.execute("SET session_replication_role = DEFAULT")
        self.conn.commit()


def _line(buffer: io.StringIO, *fields: Any) -> None:
    def text(value: Any) -> str:
        if value is None:
            return r"\N"
        if isinstance(value, datetime):
            return value.isoformat()
        return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")

    buffer.write("\t".join(text(f) for f in fields) + "\n")


def _rewind(buffer: io.StringIO) -> io.StringIO:
    buffer.seek(0)
    return buffer


# ---- timing ----------------------------------------------------------------------------------------------


@contextlib.contextmanager
def api_client() -> Iterator[Any]:
    from airflow import plugins_manager, settings
    from airflow.api_fastapi import app as api_app
    from fastapi.testclient import TestClient

    settings.LAZY_LOAD_PROVIDERS = False  # provider plugins load only when providers are not lazy
    plugins_manager._get_plugins.cache_clear()
    api_app.purge_cached_app()
    with TestClient(api_app.create_app(), base_url="http://127.0.0.1") as client:
        yield client


def bearer() -> dict[str, str]:
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    token = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="viewer", role="viewer"))
    return {"Authorization": f"Bearer {token}"}


def newest_main_run(client: Any) -> str:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return session.scalars(
            select(DagRun.run_id).where(DagRun.dag_id == MAIN_DAG).order_by(DagRun.run_after.desc()).limit(1)
        ).one()


def timed_ms(client: Any, url: str, headers: dict[str, str]) -> float:
    started = time.perf_counter()
    response = client.get(url, headers=headers)
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, (url, response.status_code, response.text[:300])
    return elapsed


def measure(client: Any, headers: dict[str, str], repeats: int) -> dict[str, Any]:
    """Median ms per page; the pages are called in turns, round after round, so a burst of load from
    elsewhere on the machine falls on all of them alike."""
    from airflow_evolink.plugins import credits

    run_id = newest_main_run(client)
    credits.DAILY.clear()
    cold = timed_ms(client, "/evolink/", headers)
    top = client.get("/evolink/", headers=headers).text
    cards = len(re.findall(r'data-testid="generation"', top))
    older = re.search(r'href="([^"]+)" rel="next" data-testid="older"', top)
    assert cards == 50 and older, (cards, older)
    urls = {
        "baseline": f"/api/v2/dags/{MAIN_DAG}/dagRuns?limit=50",
        "top": "/evolink/",
        "older": older.group(1).replace("&amp;", "&"),
        "limit500": "/evolink/?limit=500",
        "run": f"/evolink/dags/{MAIN_DAG}/runs/{run_id}",
        "task": f"/evolink/dags/{MAIN_DAG}/runs/{run_id}/tasks/wait_for_video?map_index=-1",
    }
    for name in ("run", "task"):  # a page that found nothing would be fast for the wrong reason
        assert 'data-testid="generation"' in client.get(urls[name], headers=headers).text, urls[name]
    times: dict[str, list[float]] = {name: [] for name in urls}
    for round_ in range(repeats + 1):
        for name, url in urls.items():
            elapsed = timed_ms(client, url, headers)
            if round_:  # the first round warms up
                times[name].append(elapsed)
    figures: dict[str, Any] = {name: statistics.median(values) for name, values in times.items()}
    figures["totals_cold"] = cold
    return figures


# ---- EXPLAIN ---------------------------------------------------------------------------------------------


def explain_top_page(client: Any, headers: dict[str, str], url: str) -> None:
    """EXPLAIN ANALYZE of each statement a top-page request sends (the totals are warm)."""
    from airflow.settings import engine
    from sqlalchemy import event

    statements: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    client.get(url, headers=headers)
    event.listen(engine, "before_cursor_execute", record)
    try:
        client.get(url, headers=headers)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert engine is not None
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for statement, parameters in statements:
            if not re.search(r"FROM (dag_run|xcom|task_instance|rendered_task_instance_fields)\b", statement):
                continue
            print("\n-- " + " ".join(statement.split())[:300])
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + statement, parameters)
            for (line,) in cursor.fetchall():
                print("   " + line)
    finally:
        raw.close()


# ---- main ------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="1,000 and 4,000 runs (CI)")
    parser.add_argument("--sizes", type=int, nargs="+", help="runs of the main DAG, ascending")
    parser.add_argument(
        "--unrelated-runs", type=float, default=0.3, help="runs of each unrelated DAG per main run"
    )
    parser.add_argument("--repeats", type=int, help="rounds of calls per size (default 15, 7 with --quick)")
    parser.add_argument(
        "--dsn", default="postgresql+psycopg2://postgres@127.0.0.1:5432/evolink_bench_gallery"
    )
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE at the largest size")
    parser.add_argument(
        "--keep", action="store_true", help="reuse the database as it is, adding only the runs it lacks"
    )
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    sizes = args.sizes or ([1_000, 4_000] if args.quick else [1_000, 10_000, 100_000])
    args.repeats = args.repeats or (7 if args.quick else 15)
    dags = prepare_env(args.dsn)
    if not args.keep:
        recreate_database(args.dsn)
    migrate_and_serialize(dags)
    history = History(args.dsn)
    results: dict[int, dict[str, Any]] = {}
    with api_client() as client:
        return _measure_sizes(args, sizes, history, client, results)


def _measure_sizes(
    args: argparse.Namespace,
    sizes: list[int],
    history: History,
    client: Any,
    results: dict[int, dict[str, Any]],
) -> int:
    headers = bearer()
    for size in sizes:
        started = time.monotonic()
        history.grow(size, args.unrelated_runs)
        built = time.monotonic() - started
        counts = _counts(history)
        results[size] = measure(client, headers, args.repeats)
        results[size]["build_s"] = built
        print(
            f"built {size:,} main-DAG runs in {built:.0f} s: {counts['dag_run']:,} DAG runs, "
            f"{counts['task_instance']:,} task instances, {counts['xcom']:,} XCom rows",
            flush=True,
        )
        _print_row(size, results[size])
    if args.explain:
        run_id = newest_main_run(client)
        for url in ("/evolink/", "/evolink/?limit=500", f"/evolink/dags/{MAIN_DAG}/runs/{run_id}"):
            print(f"\n==== EXPLAIN ANALYZE of the queries of {url}")
            explain_top_page(client, headers, url)
    return _verdict(sizes, results)


def _counts(history: History) -> dict[str, int]:
    with history.conn.cursor() as cursor:
        counts = {}
        for table in ("dag_run", "task_instance", "xcom"):
            cursor.execute(f"SELECT reltuples::bigint FROM pg_class WHERE relname = '{table}'")
            counts[table] = int(cursor.fetchone()[0])
    return counts


COLUMNS = ("baseline", "top", "older", "limit500", "run", "task", "totals_cold")


def _print_row(size: int, figures: dict[str, Any]) -> None:
    if not hasattr(_print_row, "header"):
        _print_row.header = True  # type: ignore[attr-defined]
        print("median ms  | runs    | " + " | ".join(f"{c:>11}" for c in COLUMNS) + " | top/baseline")
    cells = " | ".join(f"{figures[c]:>11.1f}" for c in COLUMNS)
    print(f"median ms  | {size:>7,} | {cells} | {figures['top'] / figures['baseline']:>11.2f}", flush=True)


def _verdict(sizes: list[int], results: dict[int, dict[str, Any]]) -> int:
    small, large = results[sizes[0]], results[sizes[-1]]
    checks = [
        (f"{page}: {sizes[-1]:,} runs vs {sizes[0]:,}", large[page] / small[page], 2.0)
        for page in ("top", "older", "limit500", "run", "task")
    ]
    checks.append(
        (f"top page vs Airflow's dagRuns?limit=50 at {sizes[-1]:,}", large["top"] / large["baseline"], 2.0)
    )
    checks.append((f"limit=500 at {sizes[-1]:,} (s)", large["limit500"] / 1000, 1.0))
    failed = 0
    print()
    for name, value, target in checks:
        ok = value <= target
        failed += not ok
        print(f"{'ok  ' if ok else 'MISS'} {name}: {value:.2f} (target <= {target})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(run(parse_args()))
