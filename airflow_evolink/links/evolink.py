"""Extra links in the Airflow UI: pages a person can open, never the raw API (which needs the key).

On Airflow 3.1+ both links lead to the provider's gallery plugin: "Evolink Task" to the task instance's
generation (prompt, status, cost, the player) and "Evolink Video" to its video, the stored copy first and
the live result link otherwise. On 3.0, which has no plugin pages, "Evolink Video" is the live result
link and "Evolink Task" is not shown.

A link's URL is pushed under its ``xcom_key`` as soon as it exists (at submission, when the video is
ready), so the UI shows it while the task waits and after it fails. Airflow pushes ``get_link()`` again
when the try ends, so that value must be the same.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

from airflow_evolink.version_compat import AIRFLOW_V_3_1_PLUS, BaseOperatorLink

LINKS_ATTRIBUTE = "_evolink_link_urls"
#: Where the gallery plugin's FastAPI app is mounted on the api-server.
GALLERY_PREFIX = "/evolink"
#: Plugin pages exist only where Airflow has plugin FastAPI apps and external views.
GALLERY_AVAILABLE = AIRFLOW_V_3_1_PLUS


def gallery_path(
    dag_id: str, run_id: str, task_id: str, map_index: int | None, *, video: bool = False
) -> str:
    """The gallery's page (or video) for one task instance, under the api-server's base URL."""
    parts = (quote(str(part), safe="") for part in (dag_id, run_id, task_id))
    path = "{}{}/dags/{}/runs/{}/tasks/{}".format(api_base(), GALLERY_PREFIX, *parts)
    if video:
        path += "/video"
    return f"{path}?map_index={-1 if map_index is None else int(map_index)}"


def api_base() -> str:
    """``[api] base_url`` without its trailing slash; a path alone when only a path is configured."""
    try:
        from airflow.configuration import conf

        base = conf.get("api", "base_url", fallback="") or ""
    except Exception:
        base = ""
    base = base.rstrip("/")
    return base if urlsplit(base).scheme in ("http", "https") or base.startswith("/") else ""


def _ti_path(ti: Any, *, video: bool) -> str:
    return gallery_path(ti.dag_id, ti.run_id, ti.task_id, getattr(ti, "map_index", -1), video=video)


class _RecordedLink(BaseOperatorLink):
    """A link whose URL is recorded on the operator when it is pushed."""

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        # Airflow calls this in the worker when the try ends and stores the result under ``xcom_key``;
        # reading what was recorded avoids an XCom look-up that may not exist yet.
        return str(getattr(operator, LINKS_ATTRIBUTE, {}).get(self.name, ""))

    def url_for(self, ti: Any, value: Any) -> str:
        raise NotImplementedError


class EvolinkTaskLink(_RecordedLink):
    """The task instance's generation in the gallery: prompt, status, credits, the player."""

    name = "Evolink Task"

    def url_for(self, ti: Any, value: Any) -> str:
        return _ti_path(ti, video=False) if GALLERY_AVAILABLE else ""


class EvolinkVideoLink(_RecordedLink):
    """The video: the stored copy when one was saved, else the live result link (it expires after 24 h)."""

    name = "Evolink Video"

    def url_for(self, ti: Any, value: Any) -> str:
        if GALLERY_AVAILABLE:
            return _ti_path(ti, video=True)
        if isinstance(value, list):
            value = value[0] if value else None
        return value if isinstance(value, str) else ""


def task_and_video_links() -> tuple[BaseOperatorLink, ...]:
    """The links of a task that makes a video; on Airflow 3.0 only the video (there is no task page)."""
    return (EvolinkTaskLink(), EvolinkVideoLink()) if GALLERY_AVAILABLE else (EvolinkVideoLink(),)


def task_link_only() -> tuple[BaseOperatorLink, ...]:
    """The links of a task that only submits: its page in the gallery, where there is one."""
    return (EvolinkTaskLink(),) if GALLERY_AVAILABLE else ()


def push_link(context: Any, link: type[_RecordedLink], value: Any = None) -> None:
    """Show a link now: push its URL under the key the UI reads, and record it for ``get_link``."""
    ti = context["ti"]
    url = link().url_for(ti, value)
    if not url:
        return
    ti.xcom_push(key=link().xcom_key, value=url)
    # Airflow reads get_link() from the task object when the try ends; depending on the version that is
    # the context's task or the task instance's (rendered) copy, so both carry the URL.
    ti_task = getattr(ti, "task", None)
    for operator in {id(o): o for o in (context.get("task"), ti_task) if o is not None}.values():
        urls = getattr(operator, LINKS_ATTRIBUTE, None)
        if urls is None:
            urls = {}
            object.__setattr__(operator, LINKS_ATTRIBUTE, urls)
        urls[link.name] = url
