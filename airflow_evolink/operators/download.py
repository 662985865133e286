"""Persist Evolink results: stream the videos to any ``ObjectStoragePath`` and announce them as an Asset."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

from airflow_evolink.core.errors import EvolinkError
from airflow_evolink.hooks.evolink import EvolinkHook
from airflow_evolink.lineage.openlineage import EvolinkLineageMixin, LineageRecord
from airflow_evolink.links.evolink import EvolinkVideoLink
from airflow_evolink.storage.checksum import DEFAULT_CHECKSUM, check_checksum_name
from airflow_evolink.utils.failures import raise_airflow_error
from airflow_evolink.utils.videos import save_videos
from airflow_evolink.version_compat import AirflowFailException, BaseOperator

__all__ = ["EvolinkDownloadVideoOperator", "save_videos"]


class EvolinkDownloadVideoOperator(EvolinkLineageMixin, BaseOperator):
    """Copy the result videos of an Evolink task to durable storage; return the written paths (XCom).

    Evolink's result links expire 24 hours after generation, so a pipeline that keeps only the URLs loses
    its videos. This operator streams each video with constant memory to ``destination`` (a folder given
    as an ``ObjectStoragePath`` or a URL such as ``file:///data/videos``, ``s3://bucket/videos``; templated,
    e.g. per run and map index), writes atomically, records size and checksum (XCom ``downloads``), and
    emits an Asset event so downstream DAGs can be scheduled on new videos. Re-running it keeps files that
    are already complete.

    :param destination: the folder to write into (templated).
    :param evolink_task_id: the task whose results to download (templated; ``sensor.output`` of the
        submit operator works). Files are named ``<task id>.mp4``.
    :param result_urls: or the URLs themselves (templated; ``sensor.output`` works).
    :param asset: the Asset to update (default: ``evolink_videos__<dag id>__<task id>``); pass
        ``outlets=[]`` to emit none.
    :param checksum: what to record for each file: ``"crc32c"`` (default; what GCS and S3 can record),
        ``"sha256"`` (cryptographic, slower than a fast disk), or ``None``. Recorded as
        ``"<algorithm>:<hex>"``.

    With ``apache-airflow-providers-openlineage`` installed, each run reports the stored files as
    output datasets (with their size) and the Evolink task id; the result URLs are not datasets.
    """

    operator_extra_links = (EvolinkVideoLink(),)
    template_fields: Sequence[str] = ("destination", "evolink_task_id", "result_urls", "evolink_conn_id")
    ui_color = "#c9e4de"

    def __init__(
        self,
        *,
        destination: Any,
        evolink_task_id: str | None = None,
        result_urls: Sequence[str] | str | None = None,
        evolink_conn_id: str = EvolinkHook.default_conn_name,
        asset: Any = None,
        checksum: str | None = DEFAULT_CHECKSUM,
        **kwargs: Any,
    ) -> None:
        check_checksum_name(checksum)
        if "outlets" not in kwargs:
            kwargs["outlets"] = [asset if asset is not None else _default_asset(kwargs)]
        super().__init__(**kwargs)
        self.destination = destination
        self.evolink_task_id = evolink_task_id
        self.result_urls = result_urls
        self.evolink_conn_id = evolink_conn_id
        self.checksum = checksum
        self._lineage = LineageRecord()

    @cached_property
    def hook(self) -> EvolinkHook:
        return EvolinkHook(self.evolink_conn_id)

    def execute(self, context: Any) -> list[str]:
        self._lineage = LineageRecord(task_id=str(self.evolink_task_id) if self.evolink_task_id else None)
        try:
            urls = self._urls()
            saved = save_videos(
                context, self.hook, urls, self.destination, self.evolink_task_id, self.log, self.checksum
            )
        except Exception as exc:
            self._lineage.note_failure(exc)
            raise
        self._lineage.note_downloads(saved)
        paths = [video.path for video in saved]
        for outlet in self.outlets:
            try:
                context["outlet_events"][outlet].extra = {
                    "paths": paths,
                    "evolink_task_id": self.evolink_task_id,
                    "checksums": [video.checksum for video in saved],
                }
            except (KeyError, TypeError):  # not an Asset outlet
                continue
        return paths

    def _urls(self) -> list[str]:
        if self.result_urls:
            urls = [self.result_urls] if isinstance(self.result_urls, str) else list(self.result_urls)
            return [str(url) for url in urls]
        if not self.evolink_task_id:
            raise AirflowFailException("EvolinkDownloadVideoOperator needs evolink_task_id or result_urls")
        try:
            task = self.hook.get_task(self.evolink_task_id)
        except EvolinkError as exc:
            raise_airflow_error(exc)
        if not (task.is_success and task.results):
            raise AirflowFailException(
                f"Evolink task {task.id} has no videos to download (status {task.raw_status})"
            )
        return list(task.results)


def _default_asset(kwargs: dict[str, Any]) -> Any:
    from airflow.providers.common.compat.sdk import Asset

    try:
        from airflow.sdk.definitions._internal.contextmanager import DagContext
    except ImportError:  # pragma: no cover - older task SDK layout
        from airflow.sdk.definitions.contextmanager import DagContext  # type: ignore[no-redef]

    dag = kwargs.get("dag") or DagContext.get_current()
    dag_id = getattr(dag, "dag_id", None) or "dag"
    return Asset(name=f"evolink_videos__{dag_id}__{kwargs.get('task_id', 'download')}")
