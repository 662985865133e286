"""The gallery's FastAPI app, mounted by Airflow's api-server under ``/evolink``.

Every route needs a logged-in Airflow user (a bearer token or the UI's ``_token`` cookie, so the pages
work inside the UI's iframes) and read access to the XComs of the DAG it shows, checked by Airflow's
auth manager. The app never reads connections, so the Evolink API key cannot reach a browser. Only files
a task recorded in its ``downloads`` XCom are served, addressed by their position in that record, and
only when their name is a video's.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Annotated

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from airflow_evolink.compat import ObjectStoragePath
from airflow_evolink.core.status import TaskStatus
from airflow_evolink.plugins import records, views
from airflow_evolink.plugins import review as _review
from airflow_evolink.plugins.credits import credits_by
from airflow_evolink.plugins.generations import Generation, build_generations
from airflow_evolink.plugins.streaming import file_response, is_video_name

#: The top page reads up to this many recent DAG runs per generation it shows (every run read holds at
#: least one), so a status filter still finds enough; credits are summed over the runs read.
RUNS_PER_GENERATION = 4
MAX_RUNS = 2000

_can_read_dag_xcoms = Depends(requires_access_dag("GET", DagAccessEntity.XCOM))
MapIndex = Annotated[int | None, Query(ge=-1)]


def create_app() -> FastAPI:
    app = FastAPI(title="Evolink gallery", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/", response_class=HTMLResponse, name="evolink_gallery")
    def gallery(
        request: Request,
        user: GetUserDep,
        session: SessionDep,
        dag_id: Annotated[str | None, Query()] = None,
        run_id: Annotated[str | None, Query()] = None,
        status: Annotated[str | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> HTMLResponse:
        """Recent generations in the DAGs the user may read, with credits per DAG and per day."""
        dag_ids = get_auth_manager().get_authorized_dag_ids(user=user, method="GET")
        runs = records.recent_runs(
            session,
            dag_ids,
            dag_id=dag_id or None,
            run_id=run_id or None,
            limit=min(limit * RUNS_PER_GENERATION, MAX_RUNS),
        )
        readable = _dags_with_readable_xcoms({dag for dag, _ in runs}, user)
        runs = [run for run in runs if run[0] in readable]
        generations = build_generations(records.load_runs(session, runs))
        if status:
            generations = [g for g in generations if g.status == status]
        generations.sort(key=_newest_first)
        links = views.Links(request.scope.get("root_path", ""))
        shown = generations[:limit]
        html = views.render(
            "gallery.html",
            home=links.home(),
            filters={"dag_id": dag_id, "run_id": run_id, "status": status, "limit": limit},
            statuses=[s.value for s in TaskStatus if s is not TaskStatus.UNKNOWN],
            per_dag=credits_by(generations, "dag"),
            per_day=credits_by(generations, "day"),
            total=len(generations),
            runs=len(runs),
            cards=_cards(shown, generations, links),
            reviews_pending=_review.pending_count(session, user),
            review_link=f"{links.home().rstrip('/')}/review",
        )
        return HTMLResponse(html)

    @app.get(
        "/dags/{dag_id}/runs/{run_id}",
        response_class=HTMLResponse,
        name="evolink_run_videos",
        dependencies=[_can_read_dag_xcoms],
    )
    def run_videos(request: Request, dag_id: str, run_id: str, session: SessionDep) -> HTMLResponse:
        """Every generation of one DAG run, each map index included."""
        generations = _run_generations(session, dag_id, run_id)
        links = views.Links(request.scope.get("root_path", ""))
        html = views.render(
            "generations.html",
            dag_id=dag_id,
            run_id=run_id,
            heading=f"Evolink videos of {dag_id} / {run_id}",
            empty="This DAG run has no Evolink generations.",
            home=links.home(),
            cards=_cards(generations, generations, links),
        )
        return HTMLResponse(html)

    @app.get(
        "/dags/{dag_id}/runs/{run_id}/tasks/{task_id}",
        response_class=HTMLResponse,
        name="evolink_task_video",
        dependencies=[_can_read_dag_xcoms],
    )
    def task_videos(
        request: Request,
        dag_id: str,
        run_id: str,
        task_id: str,
        session: SessionDep,
        map_index: MapIndex = None,
    ) -> HTMLResponse:
        """The generation(s) of one task instance; every map index when none is given."""
        in_run = _run_generations(session, dag_id, run_id)
        generations = [g for g in in_run if g.belongs_to(task_id, map_index)]
        links = views.Links(request.scope.get("root_path", ""))
        label = task_id if map_index is None or map_index < 0 else f"{task_id}[{map_index}]"
        html = views.render(
            "generations.html",
            dag_id=dag_id,
            run_id=run_id,
            heading=f"Evolink video of {label} in {dag_id} / {run_id}",
            empty="This task instance has no Evolink generation.",
            home=links.home(),
            cards=_cards(generations, in_run, links),
        )
        return HTMLResponse(html)

    @app.get(
        "/dags/{dag_id}/runs/{run_id}/tasks/{task_id}/video",
        name="evolink_video_file",
        dependencies=[_can_read_dag_xcoms],
        response_model=None,
    )
    def video(
        request: Request,
        dag_id: str,
        run_id: str,
        task_id: str,
        session: SessionDep,
        map_index: Annotated[int, Query(ge=-1)] = -1,
        n: Annotated[int, Query(ge=0)] = 0,
    ) -> Response:
        """The n-th video of a task instance: its stored copy (with Range support), else the live link."""
        in_run = _run_generations(session, dag_id, run_id)
        numbered = views.task_instance_videos(in_run, task_id, map_index)
        if n >= len(numbered):
            raise HTTPException(404, "This task instance recorded no such video")
        _, recorded = numbered[n]
        if recorded.path:
            path = ObjectStoragePath(recorded.path)
            if is_video_name(path.name) and path.is_file():
                return file_response(path, request.headers.get("range"))
        if recorded.url and recorded.url.startswith(("https://", "http://")):
            return RedirectResponse(recorded.url, status_code=307)
        raise HTTPException(404, "The stored copy is gone and there is no live link")

    _review.mount(app)  # the review pages (plugins/review.py)
    return app


def _run_generations(session: Session, dag_id: str, run_id: str) -> list[Generation]:
    return build_generations(records.load_runs(session, [(dag_id, run_id)]))


def _dags_with_readable_xcoms(dag_ids: set[str], user: BaseUser) -> set[str]:
    """The DAGs (among those listed) whose XComs the user may read, as the per-DAG pages require."""
    manager = get_auth_manager()
    return {
        dag_id
        for dag_id in dag_ids
        if manager.is_authorized_dag(
            method="GET", access_entity=DagAccessEntity.XCOM, details=DagDetails(id=dag_id), user=user
        )
    }


def _cards(
    shown: Sequence[Generation], context: Sequence[Generation], links: views.Links
) -> list[dict[str, object]]:
    by_run: dict[tuple[str, str], list[Generation]] = {}
    for generation in context:
        by_run.setdefault((generation.dag_id, generation.run_id), []).append(generation)
    return [views.card(g, by_run[(g.dag_id, g.run_id)], links) for g in shown]


def _newest_first(generation: Generation) -> float:
    when = generation.created or generation.started or datetime.min.replace(tzinfo=timezone.utc)
    return -when.timestamp()
