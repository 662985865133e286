"""A person approves or rejects each generated video, on Airflow's human-in-the-loop tasks (Airflow 3.1+).

``EvolinkReviewVideoOperator`` is Airflow's ``ApprovalOperator`` with a note: the question is written to
Airflow's HITL tables, answered in Airflow's Required Actions form or in the gallery's review page (which
calls the same HITL API), and a Reject skips the tasks right after it, per map index in a mapped batch.
The Markdown body links to the video and to the gallery's review page, where the video plays; Airflow's
form renders Markdown but plays no media.

Airflow 3.0 has no human-in-the-loop tasks: there the class exists (importing the provider works) but
building one raises an error naming the Airflow version it needs.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import quote, unquote, urlencode, urlsplit

from airflow_evolink.core.account import format_credits
from airflow_evolink.core.videos import VIDEO_SUFFIXES, is_video_name
from airflow_evolink.links.evolink import GALLERY_PREFIX, api_base, gallery_path
from airflow_evolink.utils import xcom_keys
from airflow_evolink.utils.review_terms import (
    APPROVE,
    NOTE_PARAM,
    REJECT,
    REVIEW_KEY,
    REVIEW_OF_KEY,
    REVIEWED_KWARG,
)
from airflow_evolink.version_compat import AIRFLOW_V_3_1_PLUS

__all__ = [
    "APPROVE",
    "DEFAULT_RESPONSE_TIMEOUT",
    "NOTE_PARAM",
    "REJECT",
    "REVIEW_OF_KEY",
    "VIDEO_SUFFIXES",
    "EvolinkReviewVideoOperator",
    "review_decision",
    "staged_videos",
]

#: How long a video waits for a person before ``defaults`` (Reject) is taken; Airflow's scheduler times
#: out a waiting task on 3.3+, the triggerer on 3.1-3.2.
DEFAULT_RESPONSE_TIMEOUT = timedelta(days=3)
REQUIRED_AIRFLOW = "3.1"
#: The default subject; at run time it becomes "Review the Evolink video: <prompt>".
DEFAULT_SUBJECT = "Review the Evolink video"
#: At most this many stored copies are recorded as reviewed (a generation has a handful).
MAX_REVIEWED_PATHS = 100


def missing_hitl_message() -> str:
    from airflow_evolink.version_compat import AIRFLOW_VERSION

    found = ".".join(str(part) for part in AIRFLOW_VERSION)
    return (
        f"EvolinkReviewVideoOperator needs Airflow {REQUIRED_AIRFLOW} or newer (human-in-the-loop tasks, "
        f"from the standard provider's hitl module); this is Airflow {found}. Upgrade Airflow, or publish "
        "without a review step."
    )


def review_page_path(dag_id: str, run_id: str, task_id: str | None = None, map_index: int = -1) -> str:
    """The gallery's review page: every pending review of a run, or the one of a task instance."""
    path = f"{api_base()}{GALLERY_PREFIX}/review"
    if task_id is None:
        return f"{path}?{urlencode({'dag_id': dag_id, 'run_id': run_id})}"
    dag, run, task = (quote(str(p), safe="") for p in (dag_id, run_id, task_id))
    return f"{path}/dags/{dag}/runs/{run}/tasks/{task}?map_index={int(map_index)}"


def staged_videos(paths: Any, staging: str) -> tuple[list[str], list[str]]:
    """The paths that name a video file strictly under the ``staging`` folder (same scheme, same
    connection and bucket, no ``.``/``..`` segment, no query), and the ones refused.

    A publishing task copies only the first list: a review answer names what was reviewed, but the
    copy must never read from outside the run's staging folder or anything that is not a video.
    """
    folder = _location(staging)
    accepted: list[str] = []
    refused: list[str] = []
    for path in paths if isinstance(paths, list) else []:
        location = _location(path)
        ok = (
            folder is not None
            and location is not None
            and location[:2] == folder[:2]
            and len(location[2]) > len(folder[2])
            and location[2][: len(folder[2])] == folder[2]
            and is_video_name(location[2][-1])
        )
        (accepted if ok else refused).append(str(path))
    return accepted, refused


def _location(text: Any) -> tuple[str, str, tuple[str, ...]] | None:
    """Scheme (lowercase), netloc (as written: connection ids are case-sensitive) and path segments."""
    if not isinstance(text, str) or not text or len(text) > 4096 or "?" in text or "#" in text:
        return None
    if any(ord(c) < 32 or c in "\\\x7f" for c in text):
        return None
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme in ("", "local"):
        scheme = "file"
    if (
        scheme in ("http", "https")
        or len(scheme) == 1
        or (scheme == "file" and parts.netloc not in ("", "localhost"))
    ):
        return None
    if not parts.path.startswith("/"):
        return None
    segments = []
    for raw in parts.path.split("/")[1:]:
        decoded = unquote(raw)
        if decoded in (".", "..") or "/" in decoded or "\\" in decoded:
            return None
        if raw:
            segments.append(decoded)
    return scheme, "" if scheme == "file" else parts.netloc, tuple(segments)


def review_decision(answer: Any) -> dict[str, Any]:
    """``approved`` and ``note`` from a review task's return value (Airflow's HITL answer)."""
    if not isinstance(answer, dict):
        return {"approved": False, "note": ""}
    chosen = answer.get("chosen_options") or []
    params = answer.get("params_input") or {}
    note = params.get(NOTE_PARAM) if isinstance(params, dict) else None
    return {"approved": list(chosen) == [APPROVE], "note": str(note or "")}


if AIRFLOW_V_3_1_PLUS:
    from airflow.providers.standard.operators.hitl import ApprovalOperator, HITLOperator
    from airflow.sdk import Param
    from airflow.sdk.definitions.param import ParamsDict
    from airflow.sdk.exceptions import TaskDeferred

    try:  # Airflow 3.3+ parks a waiting question instead of deferring it
        from airflow.sdk.exceptions import TaskAwaitingInput

        _PARKED: tuple[type[BaseException], ...] = (TaskDeferred, TaskAwaitingInput)
    except ImportError:
        _PARKED = (TaskDeferred,)

    #: Older standard providers took the wait from ``execution_timeout``; newer ones from ``response_timeout``.
    _HAS_RESPONSE_TIMEOUT = "response_timeout" in inspect.signature(HITLOperator.__init__).parameters

    class EvolinkReviewVideoOperator(ApprovalOperator):
        """Ask a person to approve or reject one generated video; Reject skips the tasks right after it.

        Map it over a batch (``.partial(...).expand(...)``) to get one question per video; each map index
        reviews the video of the same map index of ``video_task_id`` (or ``video_map_index``). The answer
        is Airflow's (XCom ``return_value``: ``chosen_options``, ``params_input`` with the ``note``,
        ``responded_by_user``, ``responded_at``); XCom ``evolink_review`` repeats it as ``approved``,
        ``note`` and the files reviewed, for a DAG that publishes or regenerates with the note.

        :param video_task_id: the task that made or stored the video (a submit operator with
            ``download_to``, a sensor, or a download task); templated.
        :param video_map_index: its map index; by default this task instance's own.
        :param subject: the headline in Airflow's form (templated).
        :param body: Markdown shown above the links to the video and to the review page (templated).
        :param response_timeout: how long to wait for a person (default 3 days); then ``defaults``
            (Reject) is taken, so nothing unreviewed is published. ``None`` waits forever.
        :param form_params: more fields for the form (Airflow ``Param``s), besides the ``note``.
        :param defaults: the answer taken on timeout (``"Reject"``, ``"Approve"`` or ``None`` to fail).
        :param assigned_users: who may answer (``{"id": ..., "name": ...}`` or a list); anyone with the
            permission when unset. :param notifiers: Airflow notifiers, called when the question is asked.
        Other arguments are ``ApprovalOperator``'s.
        """

        template_fields: Sequence[str] = (
            *ApprovalOperator.template_fields,
            "video_task_id",
            "evolink_task_id",
        )
        ui_color = "#f6e3b4"

        def __init__(
            self,
            *,
            video_task_id: str,
            evolink_task_id: str | None = None,
            video_map_index: int | None = None,
            subject: str = DEFAULT_SUBJECT,
            body: str | None = None,
            response_timeout: timedelta | None = DEFAULT_RESPONSE_TIMEOUT,
            defaults: str | None = REJECT,
            form_params: dict[str, Any] | None = None,
            params: Any = None,
            **kwargs: Any,
        ) -> None:
            # ``params`` is not the form: a mapped task gets its DAG's params merged in there, and
            # Airflow checks an answer against every param of the form. The form is the note and
            # ``form_params``, nothing else.
            if form_params and NOTE_PARAM in form_params:
                raise ValueError(
                    f"form_params must not define {NOTE_PARAM!r}: the operator adds the note itself"
                )
            note = Param(
                "",
                type=["string", "null"],
                title="Note",
                description="Why, or what to change on the next attempt (kept in XCom).",
            )
            if _HAS_RESPONSE_TIMEOUT:
                kwargs["response_timeout"] = response_timeout
            else:
                kwargs.setdefault("execution_timeout", response_timeout)
            super().__init__(
                subject=subject,
                body=body,
                defaults=defaults,
                params={**(form_params or {}), NOTE_PARAM: note},
                **kwargs,
            )
            own = {NOTE_PARAM, *(form_params or {})}
            self.params = ParamsDict({key: self.params.get_param(key) for key in self.params if key in own})
            self.video_task_id = video_task_id
            self.evolink_task_id = evolink_task_id
            self.video_map_index = video_map_index

        def execute(self, context: Any) -> Any:
            ti = context["ti"]
            map_index = self.video_map_index if self.video_map_index is not None else ti.map_index
            request = _pull(ti, self.video_task_id, xcom_keys.EVOLINK_REQUEST, map_index)
            task = _pull(ti, self.video_task_id, xcom_keys.EVOLINK_TASK, map_index)
            downloads = _pull(ti, self.video_task_id, xcom_keys.DOWNLOADS, map_index)
            recorded = task.get("id") if isinstance(task, dict) else None
            evolink_task_id = self.evolink_task_id or recorded
            paths = [
                d["path"]
                for d in (downloads if isinstance(downloads, list) else [])
                if isinstance(d, dict) and isinstance(d.get("path"), str) and d["path"]
            ][:MAX_REVIEWED_PATHS]
            of = {
                "task_id": self.video_task_id,
                "map_index": map_index,
                "evolink_task_id": evolink_task_id if isinstance(evolink_task_id, str) else None,
                "paths": paths,
            }
            # The XCom marks the question as an Evolink review for the gallery; XCom is editable through
            # the public API while the question waits, so what counts is the copy the task resumes with.
            ti.xcom_push(key=REVIEW_OF_KEY, value=of)
            if self.subject == DEFAULT_SUBJECT and isinstance(request, dict) and request.get("prompt"):
                prompt = _one_line(request["prompt"])
                self.subject = f"{DEFAULT_SUBJECT}: {prompt[:77] + '...' if len(prompt) > 80 else prompt}"
            # ``body`` is rendered by now: the user's text goes above what the operator adds.
            self.body = self.review_body(
                ti.dag_id, ti.run_id, ti.task_id, ti.map_index, map_index, request, task, intro=self.body
            )
            try:
                return super().execute(context)
            except _PARKED as parked:
                parked.kwargs = {**(parked.kwargs or {}), REVIEWED_KWARG: of}  # type: ignore[attr-defined]
                raise

        def review_body(
            self,
            dag_id: str,
            run_id: str,
            task_id: str,
            map_index: int,
            video_map_index: int,
            request: Any,
            task: Any,
            intro: str | None = None,
        ) -> str:
            """Markdown for Airflow's form: the user's text, what was asked, and where to watch it."""
            request = request if isinstance(request, dict) else {}
            task = task if isinstance(task, dict) else {}
            lines = [intro.strip(), ""] if intro else []
            if request.get("prompt"):
                lines += [f"> {markdown_text(request['prompt'])}", ""]
            facts = [
                f"Model: {_code(task.get('model') or request.get('model') or 'unknown')}",
                f"Evolink task: {_code(task.get('id') or 'unknown')}",
            ]
            used = task.get("credits_used", task.get("credits_reserved"))
            if isinstance(used, (int, float)) and not isinstance(used, bool):
                facts.append(f"Cost: {format_credits(used)}")
            lines += [" · ".join(facts), ""]
            video = gallery_path(dag_id, run_id, self.video_task_id, video_map_index, video=True)
            review = review_page_path(dag_id, run_id, task_id, map_index)
            lines += [
                f"[▶ Watch the video]({video}) · [Review it in the gallery, with the player]({review})",
                "",
                f"**{APPROVE}** lets the next task publish it; **{REJECT}** skips that (add a note to say why).",
            ]
            return "\n".join(lines)

        def execute_complete(
            self, context: Any, event: dict[str, Any], reviewed: dict[str, Any] | None = None
        ) -> Any:
            # Recorded before Airflow's ApprovalOperator raises to skip what follows a Reject. What was
            # reviewed comes from the resume kwargs (written by the worker when it asked), never from the
            # ``evolink_review_of`` XCom, which anyone with XCom edit rights can change meanwhile.
            answer = {
                "chosen_options": event.get("chosen_options"),
                "params_input": event.get("params_input"),
            }
            ti = context["ti"]
            of = reviewed if isinstance(reviewed, dict) else {}
            if not of:
                self.log.warning("No record of the reviewed video came with the answer: nothing to publish")
            review: dict[str, Any] = {}
            if "error" not in event:
                decision = review_decision(answer)
                responded_by = event.get("responded_by_user") or {}
                review = {
                    **decision,
                    "reviewer": responded_by.get("name") if isinstance(responded_by, dict) else None,
                    "video_task_id": of.get("task_id"),
                    "video_map_index": of.get("map_index"),
                    "evolink_task_id": of.get("evolink_task_id"),
                    "paths": of.get("paths") or [],
                }
                ti.xcom_push(key=REVIEW_KEY, value=review)
                self.log.info(
                    "Review of %s: %s%s",
                    of.get("evolink_task_id") or "the video",
                    APPROVE if decision["approved"] else REJECT,
                    f" (note: {decision['note']})" if decision["note"] else "",
                )
            answered = super().execute_complete(context, event)
            return {**answered, **review}

else:

    class EvolinkReviewVideoOperator:  # type: ignore[no-redef]
        """Stands in on Airflow 3.0, which has no human-in-the-loop tasks: building one says so."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise RuntimeError(missing_hitl_message())

        @classmethod
        def partial(cls, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError(missing_hitl_message())


def _pull(ti: Any, task_id: str, key: str, map_index: int) -> Any:
    try:
        return ti.xcom_pull(task_ids=task_id, key=key, map_indexes=map_index)
    except Exception:  # a missing upstream value leaves the body without that fact, never fails the ask
        return None


def _one_line(value: Any) -> str:
    """Text on one line: no newlines (Markdown blocks) and no backticks (code spans)."""
    return " ".join(str(value).split()).replace("`", "'")


#: Every ASCII punctuation character, all of which CommonMark lets a backslash make literal.
_MARKDOWN_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def markdown_text(value: Any) -> str:
    """A value from XCom as literal Markdown text on one line: no link, image, HTML, emphasis or
    autolink can come out of it (every ASCII punctuation character is backslash-escaped)."""
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", " ".join(str(value).split()))


def _code(value: Any) -> str:
    """A value from XCom in a code span (rendered literally); backticks cannot close it early."""
    return f"`{_one_line(value) or ' '}`"
