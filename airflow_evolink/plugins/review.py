"""The gallery's review pages: each video waiting for a person, playing, with Approve / Reject and a note.

There is no approval store here: the questions are Airflow's human-in-the-loop rows (written by
``EvolinkReviewVideoOperator``), and an answer goes through Airflow's own HITL route function, the one
behind ``PATCH /api/v2/.../hitlDetails`` that Airflow's Required Actions form calls, for the logged-in user
and with Airflow's checks: the auth manager's permission to answer HITL tasks of that DAG, the task's
assigned users, one answer only. So the gallery and Airflow's UI always show the same answers.

The answer route changes state, so it takes JSON only and is refused across sites: the request must carry
the page's CSRF token (an HMAC of the user and a time, under the api-server's JWT secret) in the
``X-Evolink-CSRF`` header, which a cross-site form cannot set, and an ``Origin``, when sent, must be the
api-server's own. Pages and answers need a login (401 otherwise), like every gallery route.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from airflow.models.hitl import HITLDetail
from airflow.models.taskinstance import TaskInstance
from airflow.models.xcom import XComModel
from fastapi import Depends, FastAPI, Header, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import exists, select, tuple_
from sqlalchemy.orm import Session

from airflow_evolink.plugins import records, views
from airflow_evolink.plugins.generations import Generation, build_generations
from airflow_evolink.utils.review_terms import APPROVE, NOTE_PARAM, REJECT, REVIEW_OF_KEY, REVIEWED_KWARG

#: States of a task instance whose question still waits (3.3+ parks it; 3.1-3.2 defer it).
WAITING_STATES = ("awaiting_input", "deferred")
CSRF_HEADER = "X-Evolink-CSRF"
#: How long a page's CSRF token is accepted; a page open longer is reloaded by the reviewer.
CSRF_LIFETIME = 12 * 60 * 60
STATIC_FILES = {"review.js": "text/javascript", "review.css": "text/css"}
MAX_REVIEWS = 200
#: Map indexes are PostgreSQL INTEGERs (Airflow's own map index is an int32): every gallery route bounds
#: them by this.
MAX_MAP_INDEX = 2**31 - 1
#: The CSRF token's time: a Unix time in seconds, in ASCII digits.
_MAX_CSRF_DIGITS = 12
MapIndexQuery = Annotated[int | None, Query(ge=-1, le=MAX_MAP_INDEX)]

_can_answer = Depends(requires_access_dag("PUT", DagAccessEntity.HITL_DETAIL))
_can_read = Depends(requires_access_dag("GET", DagAccessEntity.HITL_DETAIL))


class Answer(BaseModel):
    """What the review page's buttons send."""

    decision: Literal["Approve", "Reject"]
    note: str = Field(default="", max_length=4000)


@dataclass
class Review:
    """One question of an ``EvolinkReviewVideoOperator`` task instance, with the video it asks about."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    state: str | None
    subject: str
    created_at: datetime | None
    assigned: list[str]
    chosen: list[str] | None
    note: str
    responded_by: str | None
    responded_at: datetime | None
    video_task_id: str
    video_map_index: int
    generation: Generation | None = None
    card: dict[str, Any] = field(default_factory=dict)

    @property
    def pending(self) -> bool:
        return self.chosen is None and self.state in WAITING_STATES

    @property
    def decision(self) -> str | None:
        return self.chosen[0] if self.chosen else None


# ---- reading the questions -----------------------------------------------------------------------------
def load_reviews(
    session: Session,
    user: BaseUser,
    *,
    dag_id: str | None = None,
    run_id: str | None = None,
    task_id: str | None = None,
    map_index: int | None = None,
    pending_only: bool = True,
    with_videos: bool = True,
) -> list[Review]:
    """The Evolink review questions the user may answer (pending ones unless ``pending_only=False``)."""
    manager = get_auth_manager()
    readable = manager.get_authorized_dag_ids(user=user, method="GET")
    if dag_id is not None:
        readable = readable & {dag_id}
    # Only DAGs whose questions the user may answer and whose videos the user may see, decided before the
    # query so its limit counts only questions the user will be shown.
    allowed = sorted(
        dag
        for dag in readable
        if manager.is_authorized_dag(
            method="PUT", access_entity=DagAccessEntity.HITL_DETAIL, details=DagDetails(id=dag), user=user
        )
        and manager.is_authorized_dag(
            method="GET", access_entity=DagAccessEntity.XCOM, details=DagDetails(id=dag), user=user
        )
    )
    if not allowed:
        return []
    ti = TaskInstance
    # An Evolink review question is one whose task instance pushed the ``evolink_review_of`` marker.
    is_evolink_review = exists().where(
        XComModel.dag_id == ti.dag_id,
        XComModel.run_id == ti.run_id,
        XComModel.task_id == ti.task_id,
        XComModel.map_index == ti.map_index,
        XComModel.key == REVIEW_OF_KEY,
    )
    query = (
        select(
            ti.dag_id,
            ti.run_id,
            ti.task_id,
            ti.map_index,
            ti.state,
            HITLDetail.subject,
            HITLDetail.created_at,
            HITLDetail.assignees,
            HITLDetail.chosen_options,
            HITLDetail.params_input,
            HITLDetail.responded_by,
            HITLDetail.responded_at,
            ti.next_kwargs,
        )
        .join(HITLDetail, HITLDetail.ti_id == ti.id)
        .where(ti.dag_id.in_(allowed), is_evolink_review)
        .order_by(HITLDetail.created_at.desc())
        .limit(MAX_REVIEWS)
    )
    if run_id is not None:
        query = query.where(ti.run_id == run_id)
    if task_id is not None:
        query = query.where(ti.task_id == task_id)
    if map_index is not None:
        query = query.where(ti.map_index == map_index)
    if pending_only:
        # As Airflow's own pending filter: a question re-asked after a clear has chosen_options JSON null.
        query = query.where(HITLDetail.responded_at.is_(None), ti.state.in_(WAITING_STATES))
    rows = session.execute(query).all()
    if not rows:
        return []
    review_of = _review_targets(session, [(r.dag_id, r.run_id, r.task_id, r.map_index) for r in rows])
    reviews = []
    for row in rows:
        state = str(row.state) if row.state is not None else None
        # What the question asks about: the copy the task resumes with (written by the worker, never by
        # the public API) while it waits; the XCom only once it is over (shown, no longer answerable).
        of = _reviewed(row.next_kwargs)
        if of is None and state not in WAITING_STATES:
            of = review_of.get((row.dag_id, row.run_id, row.task_id, row.map_index))
        video_task_id = of.get("task_id") if of else None
        video_map_index = _map_index(of.get("map_index", row.map_index)) if of else None
        if not isinstance(video_task_id, str) or not video_task_id or video_map_index is None:
            continue  # no trustworthy record of the video (or a tampered one): nothing to show
        assigned = [str(a.get("id")) for a in row.assignees or [] if isinstance(a, dict)]
        if assigned and not manager.is_authorized_hitl_task(assigned_users=set(assigned), user=user):
            continue
        params = row.params_input if isinstance(row.params_input, dict) else {}
        responded = row.responded_by if isinstance(row.responded_by, dict) else {}
        reviews.append(
            Review(
                dag_id=row.dag_id,
                run_id=row.run_id,
                task_id=row.task_id,
                map_index=row.map_index,
                state=state,
                subject=row.subject,
                created_at=row.created_at,
                assigned=[str(a.get("name") or a.get("id")) for a in row.assignees or []],
                chosen=list(row.chosen_options) if row.chosen_options else None,
                note=str(params.get(NOTE_PARAM) or ""),
                responded_by=responded.get("name"),
                responded_at=row.responded_at,
                video_task_id=video_task_id,
                video_map_index=video_map_index,
            )
        )
    if with_videos:
        _attach_generations(session, reviews)
    return reviews


def _reviewed(next_kwargs: Any) -> dict[str, Any] | None:
    """The reviewed video from a waiting review task's resume kwargs, if they hold one."""
    if not isinstance(next_kwargs, dict):
        return None
    try:
        from airflow.models.trigger import _decode_next_kwargs

        decoded = _decode_next_kwargs(next_kwargs)
    except Exception:  # another encoding (or an older Airflow): the plain JSON dict, as stored
        decoded = next_kwargs
    reviewed = decoded.get(REVIEWED_KWARG) if isinstance(decoded, dict) else None
    return reviewed if isinstance(reviewed, dict) else None


def _map_index(value: Any) -> int | None:
    """A map index from a record, or ``None`` when it is no integer in Airflow's range."""
    if isinstance(value, bool) or not isinstance(value, int) or not -1 <= value <= MAX_MAP_INDEX:
        return None
    return value


def _review_targets(
    session: Session, keys: list[tuple[str, str, str, int]]
) -> dict[tuple[str, str, str, int], dict[str, Any]]:
    """``evolink_review_of`` of each task instance that has one: the video it asks about."""
    query = select(
        XComModel.dag_id,
        XComModel.run_id,
        XComModel.task_id,
        XComModel.map_index,
        XComModel.value,
    ).where(
        tuple_(XComModel.dag_id, XComModel.run_id, XComModel.task_id, XComModel.map_index).in_(keys),
        XComModel.key == REVIEW_OF_KEY,
    )
    found = {}
    for row in session.execute(query):
        value = XComModel.deserialize_value(row)
        if isinstance(value, dict) and value.get("task_id"):
            found[(row.dag_id, row.run_id, row.task_id, row.map_index)] = value
    return found


def _attach_generations(session: Session, reviews: list[Review]) -> None:
    runs = list(dict.fromkeys((r.dag_id, r.run_id) for r in reviews))
    generations = build_generations(records.load_runs(session, runs))
    for review in reviews:
        review.generation = next(
            (
                g
                for g in generations
                if (g.dag_id, g.run_id) == (review.dag_id, review.run_id)
                and g.belongs_to(review.video_task_id, review.video_map_index)
            ),
            None,
        )


# ---- answering -----------------------------------------------------------------------------------------
def answer_review(
    session: Session,
    user: BaseUser,
    *,
    dag_id: str,
    run_id: str,
    task_id: str,
    map_index: int,
    decision: str,
    note: str = "",
) -> dict[str, Any]:
    """Answer one question through Airflow's own HITL route function, as the given user.

    The caller has checked the permission to answer HITL tasks of the DAG (as Airflow's route does with
    its dependency); Airflow's function checks the assigned users, refuses a second answer (409) and an
    option the question does not offer (400), and resumes the waiting task.
    """
    from airflow.api_fastapi.core_api.datamodels.hitl import UpdateHITLDetailPayload
    from airflow.api_fastapi.core_api.routes.public.hitl import update_hitl_detail

    if decision not in (APPROVE, REJECT):
        raise HTTPException(400, f"decision must be {APPROVE!r} or {REJECT!r}")
    params = session.scalar(
        select(HITLDetail.params)
        .join(TaskInstance, HITLDetail.ti_id == TaskInstance.id)
        .where(
            TaskInstance.dag_id == dag_id,
            TaskInstance.run_id == run_id,
            TaskInstance.task_id == task_id,
            TaskInstance.map_index == map_index,
        )
    )
    params_input = {NOTE_PARAM: note.strip() or None} if NOTE_PARAM in (params or {}) else {}
    response = update_hitl_detail(
        dag_id=dag_id,
        dag_run_id=run_id,
        task_id=task_id,
        update_hitl_detail_payload=UpdateHITLDetailPayload(
            chosen_options=[decision], params_input=params_input
        ),
        user=user,
        session=session,
        map_index=map_index,
    )
    return response.model_dump(mode="json")


# ---- cross-site request protection -----------------------------------------------------------------------
@cache
def _csrf_secret() -> bytes:
    """The api-server's JWT secret (shared by its workers); a per-process one when none is configured."""
    from airflow.configuration import conf

    configured = conf.get("api_auth", "jwt_secret", fallback="") or conf.get("api", "secret_key", fallback="")
    return hashlib.sha256(b"evolink-review-csrf\0" + (configured or secrets.token_hex(32)).encode()).digest()


def _user_key(user: BaseUser) -> str:
    return f"{user.get_id()}\0{user.get_name()}"


def csrf_token(user: BaseUser, now: float | None = None) -> str:
    issued = int(now if now is not None else time.time())
    mac = hmac.new(_csrf_secret(), f"{_user_key(user)}\0{issued}".encode(), hashlib.sha256).hexdigest()
    return f"{issued}.{mac}"


def check_csrf(user: BaseUser, token: str | None, now: float | None = None) -> bool:
    if not token or "." not in token:
        return False
    issued_text, _, mac = token.partition(".")
    # ``isdigit`` alone accepts "²" and any length; int() of those raises.
    if not (issued_text.isascii() and issued_text.isdigit()) or len(issued_text) > _MAX_CSRF_DIGITS:
        return False
    issued = int(issued_text)
    current = now if now is not None else time.time()
    if not (current - CSRF_LIFETIME <= issued <= current + 60):
        return False
    expected = csrf_token(user, issued).partition(".")[2]
    return hmac.compare_digest(expected, mac)


def _allowed_origins(request: Request) -> set[str]:
    from airflow.configuration import conf

    origins = {f"{request.url.scheme}://{request.url.netloc}"}
    base = urlsplit(conf.get("api", "base_url", fallback="") or "")
    if base.scheme and base.netloc:
        origins.add(f"{base.scheme}://{base.netloc}")
    return origins


def refuse_cross_site(request: Request, user: BaseUser, token: str | None) -> None:
    """403 unless the request comes from the gallery's own page: its token, and no foreign Origin."""
    origin = request.headers.get("origin")
    if origin is not None and origin not in _allowed_origins(request):
        raise HTTPException(403, "Cross-site request refused: the Origin is not this Airflow's")
    if request.headers.get("sec-fetch-site") == "cross-site":
        raise HTTPException(403, "Cross-site request refused")
    if not check_csrf(user, token):
        raise HTTPException(403, f"Missing or invalid {CSRF_HEADER} header: reload the review page")


# ---- routes --------------------------------------------------------------------------------------------
def mount(app: FastAPI) -> None:
    """Add the review pages, the answer route and their static files to the gallery's app."""

    @app.get("/review", response_class=HTMLResponse, name="evolink_review")
    def review_page(
        request: Request,
        user: GetUserDep,
        session: SessionDep,
        dag_id: Annotated[str | None, Query()] = None,
        run_id: Annotated[str | None, Query()] = None,
    ) -> HTMLResponse:
        """Videos waiting for the user's review; with a run, its answered ones too."""
        reviews = load_reviews(
            session, user, dag_id=dag_id or None, run_id=run_id or None, pending_only=not run_id
        )
        heading = "Videos waiting for your review"
        if dag_id and run_id:
            heading = f"Review of {dag_id} / {run_id}"
        return _page(request, user, reviews, heading, "No video waits for your review.")

    @app.get(
        "/review/dags/{dag_id}/runs/{run_id}/tasks/{task_id}",
        response_class=HTMLResponse,
        name="evolink_review_task",
        dependencies=[_can_read],
    )
    def review_task_page(
        request: Request,
        dag_id: str,
        run_id: str,
        task_id: str,
        user: GetUserDep,
        session: SessionDep,
        map_index: MapIndexQuery = None,
    ) -> HTMLResponse:
        """The review of one task instance (every map index when none is given), answered or not."""
        reviews = load_reviews(
            session,
            user,
            dag_id=dag_id,
            run_id=run_id,
            task_id=task_id,
            map_index=map_index,
            pending_only=False,
        )
        label = task_id if map_index is None or map_index < 0 else f"{task_id}[{map_index}]"
        return _page(
            request, user, reviews, f"Review of {label} in {dag_id} / {run_id}", "No Evolink review here."
        )

    @app.post(
        "/review/dags/{dag_id}/runs/{run_id}/tasks/{task_id}/{map_index}/answer",
        name="evolink_review_answer",
        dependencies=[_can_answer],
    )
    def answer(
        request: Request,
        dag_id: str,
        run_id: str,
        task_id: str,
        map_index: Annotated[int, Path(ge=-1, le=MAX_MAP_INDEX)],
        body: Answer,
        user: GetUserDep,
        session: SessionDep,
        csrf: Annotated[str | None, Header(alias=CSRF_HEADER)] = None,
    ) -> JSONResponse:
        """Approve or reject, through Airflow's HITL API logic; refused across sites."""
        refuse_cross_site(request, user, csrf)
        result = answer_review(
            session,
            user,
            dag_id=dag_id,
            run_id=run_id,
            task_id=task_id,
            map_index=map_index,
            decision=body.decision,
            note=body.note,
        )
        return JSONResponse(result, headers={"Cache-Control": "no-store"})

    @app.get("/review/static/{name}", name="evolink_review_static")
    def static(name: str, user: GetUserDep) -> Response:
        media_type = STATIC_FILES.get(name)
        if media_type is None:
            raise HTTPException(404, "No such file")
        return Response(_static(name), media_type=media_type, headers={"Cache-Control": "no-cache"})


@cache
def _static(name: str) -> bytes:
    return resources.files("airflow_evolink.plugins").joinpath("static", name).read_bytes()


def _page(request: Request, user: BaseUser, reviews: list[Review], heading: str, empty: str) -> HTMLResponse:
    links = views.Links(request.scope.get("root_path", ""))
    for review in reviews:
        if review.generation is not None:
            review.card = views.card(review.generation, [review.generation], links)
    html = views.render(
        "review.html",
        heading=heading,
        empty=empty,
        reviews=reviews,
        home=links.home(),
        static=links.home().rstrip("/") + "/review/static",
        answer_base=links.home().rstrip("/") + "/review/dags",
        csrf=csrf_token(user),
        csrf_header=CSRF_HEADER,
        approve=APPROVE,
        reject=REJECT,
    )
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


def pending_count(session: Session, user: BaseUser) -> int:
    """How many videos wait for this user's review (the gallery's top page links to them)."""
    try:
        return len(load_reviews(session, user, with_videos=False))
    except Exception:  # the top page never fails for want of a count
        return 0
