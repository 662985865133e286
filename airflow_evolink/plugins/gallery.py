"""The ``AirflowPlugin`` that mounts the gallery app and adds its views to the Airflow 3.1+ UI.

The UI fills ``{DAG_ID}``, ``{RUN_ID}``, ``{TASK_ID}`` and ``{MAP_INDEX}`` in each ``href`` and shows the
page in an iframe on the page named by ``destination``; the iframe sends the UI's ``_token`` cookie,
which the gallery's routes accept as the login.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/evolink"
_ICON = (
    "data:image/svg+xml;utf8,"
    "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 24 24' fill='none' stroke='%23888' "
    "stroke-width='2'><rect x='2' y='5' width='14' height='14' rx='2'/><path d='M16 10l6-4v12l-6-4z'/></svg>"
)


class _LazyApps:
    """``fastapi_apps`` that builds the gallery's app when Airflow first reads it (on the class or an
    instance: Airflow keeps provider plugins as classes)."""

    def __get__(self, instance: Any, owner: Any = None) -> list[dict[str, Any]]:
        return [{"app": _app(), "url_prefix": URL_PREFIX, "name": "Evolink gallery"}]


class EvolinkGalleryPlugin(AirflowPlugin):
    """Generated videos per DAG run and task instance, and a gallery page with credits spent."""

    name = "evolink_gallery"

    # Built on first read, in the api-server: with lazy provider discovery off, workers and the scheduler
    # load this plugin too, and importing the app (Airflow's API modules) costs seconds.
    fastapi_apps = _LazyApps()  # type: ignore[assignment]
    external_views: list[Any] = [
        {
            "name": "Evolink videos",
            "href": f"{URL_PREFIX}/dags/{{DAG_ID}}/runs/{{RUN_ID}}",
            "destination": "dag_run",
            "url_route": "evolink_run_videos",
            "icon": _ICON,
        },
        {
            "name": "Evolink video",
            "href": f"{URL_PREFIX}/dags/{{DAG_ID}}/runs/{{RUN_ID}}/tasks/{{TASK_ID}}?map_index={{MAP_INDEX}}",
            "destination": "task_instance",
            "url_route": "evolink_task_video",
            "icon": _ICON,
        },
        {
            "name": "Evolink review",
            "href": f"{URL_PREFIX}/review/dags/{{DAG_ID}}/runs/{{RUN_ID}}/tasks/{{TASK_ID}}?map_index={{MAP_INDEX}}",
            "destination": "task_instance",
            "url_route": "evolink_review_task",
            "icon": _ICON,
        },
        {
            "name": "Evolink gallery",
            "href": f"{URL_PREFIX}/",
            "destination": "nav",
            "url_route": "evolink_gallery",
            "icon": _ICON,
        },
    ]


@cache
def _app() -> Any:
    from airflow_evolink.plugins.app import create_app

    return create_app()
