"""Extra links in the Airflow UI: the Evolink task and its result video.

The URLs are pushed to XCom right after submission (and when the video is ready), under both the
source key and the link's own ``xcom_key``, so the UI shows them even for tasks that later fail.
"""

from __future__ import annotations

from typing import Any, ClassVar

from airflow_evolink.compat import BaseOperatorLink
from airflow_evolink.utils import xcom_keys

LINKS_ATTRIBUTE = "_evolink_link_urls"


class _XComLink(BaseOperatorLink):
    source_key: ClassVar[str]

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        # Airflow calls this in the worker when the task ends, and stores the result under
        # ``xcom_key`` for the UI. The URL was recorded on the operator when it was pushed, which
        # avoids a lookup of an XCom that may not exist (the video link of a task still waiting).
        return str(getattr(operator, LINKS_ATTRIBUTE, {}).get(self.name, ""))

    @staticmethod
    def url_from(value: Any) -> str:
        if isinstance(value, list):
            value = value[0] if value else None
        return value if isinstance(value, str) else ""


class EvolinkTaskLink(_XComLink):
    """The task's resource on the Evolink API (read it with the connection's key)."""

    name = "Evolink Task"
    source_key = xcom_keys.EVOLINK_TASK_URL


class EvolinkVideoLink(_XComLink):
    """The first result video. Evolink's result links expire 24 hours after generation."""

    name = "Evolink Video"
    source_key = xcom_keys.RESULT_URLS


def push_link(context: Any, link: type[_XComLink], value: Any) -> None:
    """Push a link's URL early, under its own key and the key the UI reads."""
    ti = context["ti"]
    url = link.url_from(value)
    ti.xcom_push(key=link.source_key, value=value)
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
