"""Save a finished task's videos from inside a task: what the submit operator, the sensor and the
download operator share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_evolink.core.errors import EvolinkError
from airflow_evolink.links.evolink import EvolinkVideoLink, push_link
from airflow_evolink.storage.checksum import DEFAULT_CHECKSUM
from airflow_evolink.storage.download import DownloadedVideo, download_videos
from airflow_evolink.utils import xcom_keys
from airflow_evolink.utils.failures import raise_airflow_error
from airflow_evolink.version_compat import ObjectStoragePath

if TYPE_CHECKING:
    from airflow_evolink.hooks.evolink import EvolinkHook


def save_videos(
    context: Any,
    hook: EvolinkHook,
    urls: Sequence[str],
    destination: Any,
    task_id: str | None,
    log: Any,
    checksum: str | None = DEFAULT_CHECKSUM,
) -> list[DownloadedVideo]:
    """Download ``urls`` into ``destination``, push what was written (XCom ``downloads``), and return it."""
    folder = (
        destination if isinstance(destination, ObjectStoragePath) else ObjectStoragePath(str(destination))
    )
    try:
        saved = download_videos(
            urls, folder, task_id=task_id, retry_policy=hook.retry_policy, log=log, checksum=checksum
        )
    except EvolinkError as exc:
        raise_airflow_error(exc)
    context["ti"].xcom_push(key=xcom_keys.DOWNLOADS, value=[video.to_xcom() for video in saved])
    if saved:
        push_link(context, EvolinkVideoLink, [video.url for video in saved])
    return saved
