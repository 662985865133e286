"""The gallery's FastAPI app, mounted by Airflow's api-server under ``/evolink``.

Every route needs a logged-in Airflow user (a bearer token or the UI's ``_token`` cookie, so the pages
work inside the UI's iframes) and read access to the XComs of the DAG it shows, checked by Airflow's
auth manager. The app never reads connections, so the Evolink API key cannot reach a browser. Only files
a task recorded in its ``downloads`` XCom are served, addressed by their position in that record, and
only when :mod:`~airflow_evolink.plugins.trust` finds them under the destination Airflow rendered for that
task instance; a live link is followed only to an admin-allowed media host. Every response carries the
headers of :mod:`~airflow_evolink.plugins.security`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Annotated

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import Session

from airflow_evolink.core.status import TaskStatus
from airflow_evolink.plugins import credits, paging, records, security, trust, views
from airflow_evolink.plugins import review as _review
from airflow_evolink.plugins.generations import Generation, TaskInstanceXComs, build_generations
from airflow_evolink.plugins.review import MAX_MAP_INDEX
from airflow_evolink.plugins.streaming import file_response
from airflow_evolink.utils import xcom_keys
from airflow_evolink.version_compat import ObjectStoragePath

#: Generations on one page of the top page, by default and at most.
DEFAULT_LIMIT = 50
MAX_LIMIT = 500

_can_read_dag_xcoms = Depends(requires_access_dag("GET", DagAccessEntity.XCOM))
#: Bounds on the numbers in a query, checked before any lookup (the map index: review.MAX_MAP_INDEX).
MAX_VIDEO_NUMBER = 10_000
MapIndex = Annotated[int | None, Query(ge=-1, le=MAX_MAP_INDEX)]


def create_app() -> FastAPI:
    app = FastAPI(
        title="Evolink gallery",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(security.check_identifiers)],
    )
    app.add_middleware(security.SecurityHeadersMiddleware)
    # The pages' stylesheet (and any script) is a file of the package, so the policy can forbid inline code.
    app.mount("/static", StaticFiles(packages=[("airflow_evolink.plugins", "static")]), name="static")

    @app.get("/", response_class=HTMLResponse, name="evolink_gallery")
    def gallery(
        request: Request,
        user: GetUserDep,
        session: SessionDep,
        dag_id: Annotated[str | None, Query()] = None,
        run_id: Annotated[str | None, Query()] = None,
        status: Annotated[str | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        older: Annotated[str | None, Query()] = None,
        newer: Annotated[str | None, Query()] = None,
    ) -> HTMLResponse:
        """A page of recent generations in the DAGs the user may read, with "older"/"newer" links keyed
        on the runs' positions, and credits per DAG and per day over the last days."""
        older_than, newer_than = _boundary("older", older), _boundary("newer", newer)
        if older_than and newer_than:
            raise HTTPException(400, "older, newer: give one of them, not both")
        may_read = _xcom_reader(user)
        dag_ids = get_auth_manager().get_authorized_dag_ids(user=user, method="GET")
        filters = {"dag_id": dag_id or None, "run_id": run_id or None, "status": status or None}
        page = paging.read_page(
            session,
            dag_ids,
            limit=limit,
            older_than=older_than,
            newer_than=newer_than,
            may_read=may_read,
            **filters,
        )
        totals = credits.DAILY.window(
            session, lambda dag: dag in dag_ids and may_read(dag), dag_id=filters["dag_id"]
        )
        links = views.Links(request.scope.get("root_path", ""))
        kept = {**filters, "limit": limit if limit != DEFAULT_LIMIT else None}
        html = views.render(
            "gallery.html",
            home=links.home(),
            filters={**filters, "limit": limit},
            statuses=[s.value for s in TaskStatus if s is not TaskStatus.UNKNOWN],
            totals=totals,
            runs=page.runs_read,
            older_link=links.home(**kept, older=page.older.encode()) if page.older else None,
            newer_link=links.home(**kept, newer=page.newer.encode()) if page.newer else None,
            cards=_cards([item.generation for item in page.shown], page.context, links),
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
        return _generations_page(
            request,
            dag_id,
            run_id,
            heading=f"Evolink videos of {dag_id} / {run_id}",
            empty="This DAG run has no Evolink generations.",
            shown=generations,
            in_run=generations,
        )

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
        label = task_id if map_index is None or map_index < 0 else f"{task_id}[{map_index}]"
        return _generations_page(
            request,
            dag_id,
            run_id,
            heading=f"Evolink video of {label} in {dag_id} / {run_id}",
            empty="This task instance has no Evolink generation.",
            shown=generations,
            in_run=in_run,
        )

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
        map_index: Annotated[int, Query(ge=-1, le=MAX_MAP_INDEX)] = -1,
        n: Annotated[int, Query(ge=0, le=MAX_VIDEO_NUMBER)] = 0,
    ) -> Response:
        """The n-th video of a task instance: its stored copy (with Range support), else the live link.

        A stored copy is read only when it lies under the destination Airflow rendered for a task
        instance that recorded it; a live link is redirected to only on an allowed media host. Both are
        decided before any store is touched or any request sent.
        """
        run_records = records.load_runs(session, [(dag_id, run_id)])
        numbered = views.task_instance_videos(build_generations(run_records), task_id, map_index)
        if n >= len(numbered):
            raise HTTPException(404, "This task instance recorded no such video")
        _, recorded = numbered[n]
        # A refused record answers as a missing one does: whether a path exists is nobody's business.
        if recorded.path:
            stored = _trusted_copy(session, dag_id, run_id, run_records, recorded.path)
            if stored is not None and stored.is_file():
                return file_response(stored, request.headers.get("range"))
        target = trust.allowed_redirect(recorded.url, trust.configured_media_hosts())
        if target is not None:
            return RedirectResponse(target, status_code=307)
        raise HTTPException(
            404,
            "No stored copy under the task's rendered destination, and no live link on a host allowed "
            "by [evolink] gallery_media_hosts",
        )

    _review.mount(app)  # the review pages (plugins/review.py)
    return app


def _trusted_copy(
    session: Session, dag_id: str, run_id: str, run_records: Sequence[TaskInstanceXComs], path: str
) -> ObjectStoragePath | None:
    """The stored copy to read, when a task instance that recorded it rendered a destination above it
    (a local file must stay inside that folder once symlinks are resolved)."""
    location = trust.parse_location(path)
    if location is None:
        return None  # refused on its face: no database read, no store touched
    recorders = [record.key for record in run_records if path in _recorded_paths(record)]
    for fields in records.rendered_fields(session, dag_id, run_id, recorders).values():
        destination = trust.trusted_store_path(path, trust.destinations_of(fields))
        if destination is None:
            continue
        stored = ObjectStoragePath(path)
        if location.scheme == "file" and not trust.local_file_is_inside(
            stored.path, ObjectStoragePath(destination).path
        ):
            continue
        return stored
    return None


def _recorded_paths(record: TaskInstanceXComs) -> set[str]:
    downloads = record.get(xcom_keys.DOWNLOADS)
    if not isinstance(downloads, list):
        return set()
    return {d["path"] for d in downloads if isinstance(d, dict) and isinstance(d.get("path"), str)}


def _generations_page(
    request: Request,
    dag_id: str,
    run_id: str,
    *,
    heading: str,
    empty: str,
    shown: Sequence[Generation],
    in_run: Sequence[Generation],
) -> HTMLResponse:
    """The run page and the task page: the cards of ``shown``, each read beside its run (``in_run``)."""
    links = views.Links(request.scope.get("root_path", ""))
    html = views.render(
        "generations.html",
        dag_id=dag_id,
        run_id=run_id,
        heading=heading,
        empty=empty,
        home=links.home(),
        cards=_cards(shown, in_run, links),
    )
    return HTMLResponse(html)


def _run_generations(session: Session, dag_id: str, run_id: str) -> list[Generation]:
    return build_generations(records.load_runs(session, [(dag_id, run_id)]))


def _xcom_reader(user: BaseUser) -> Callable[[str], bool]:
    """Whether the user may read a DAG's XComs, as the per-DAG pages require; asked once per DAG."""
    manager = get_auth_manager()

    @functools.cache
    def may_read(dag_id: str) -> bool:
        return manager.is_authorized_dag(
            method="GET", access_entity=DagAccessEntity.XCOM, details=DagDetails(id=dag_id), user=user
        )

    return may_read


def _boundary(name: str, text: str | None) -> paging.Boundary | None:
    if not text:
        return None
    try:
        return paging.Boundary.decode(text)
    except ValueError as error:
        raise HTTPException(400, f"{name}: {error}") from error


def _cards(
    shown: Sequence[Generation], context: Sequence[Generation], links: views.Links
) -> list[dict[str, object]]:
    by_run: dict[tuple[str, str], list[Generation]] = {}
    for generation in context:
        by_run.setdefault((generation.dag_id, generation.run_id), []).append(generation)
    return [views.card(g, by_run[(g.dag_id, g.run_id)], links) for g in shown]
