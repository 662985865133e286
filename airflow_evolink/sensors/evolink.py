"""Wait for an Evolink video: deferred to the triggerer by default, or poking from a worker."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import Any

from airflow_evolink.core.errors import EvolinkError
from airflow_evolink.core.task import EvolinkTask, UnlistedStatusWarning
from airflow_evolink.hooks.evolink import EvolinkHook
from airflow_evolink.links.evolink import EvolinkTaskLink, push_link, task_and_video_links
from airflow_evolink.storage.checksum import DEFAULT_CHECKSUM, check_checksum_name
from airflow_evolink.triggers.evolink import EvolinkVideoTrigger
from airflow_evolink.utils.events import finish_task, log_cost, result_from_event
from airflow_evolink.utils.failures import raise_airflow_error
from airflow_evolink.utils.videos import save_videos
from airflow_evolink.version_compat import BaseSensorOperator, PokeReturnValue

DEFAULT_TIMEOUT = 2 * 60 * 60
DEFAULT_POKE_INTERVAL = 15.0


class EvolinkVideoSensor(BaseSensorOperator):
    """Wait until an Evolink task ends; return its result URLs (XCom ``return_value``).

    A video takes minutes, so by default the sensor defers to the triggerer and frees its worker slot.
    Set ``deferrable=False`` on deployments without a triggerer: it then pokes every ``poll_interval``
    seconds (15 by default). The whole task is pushed under XCom key ``evolink_task``.

    A failure whose Evolink code says retrying cannot help (``content_policy_violation``, ...) fails the
    task without Airflow retries; transient codes (``service_error``, ...) raise a normal error.

    :param evolink_task_id: the task to wait for (templated; ``submit.output`` works).
    :param evolink_conn_id: the Airflow connection of type ``evolink``.
    :param poll_interval: seconds between polls; ``None`` adapts to the reported progress when deferred.
    :param timeout: seconds to wait before failing (default two hours).
    :param deferrable: wait in the triggerer (default ``True``).
    :param download_to: a folder (``ObjectStoragePath`` or URL, templated) to copy the videos into on
        success, as ``EvolinkDownloadVideoOperator`` does; what was written goes to XCom ``downloads``.
    :param download_checksum: the checksum recorded for each downloaded file (``"crc32c"``,
        ``"sha256"`` or ``None``), as ``EvolinkDownloadVideoOperator``'s ``checksum``.
    """

    template_fields: Sequence[str] = ("evolink_task_id", "evolink_conn_id", "download_to")
    operator_extra_links = task_and_video_links()
    ui_color = "#e8dff5"

    def __init__(
        self,
        *,
        evolink_task_id: str,
        evolink_conn_id: str = EvolinkHook.default_conn_name,
        poll_interval: float | None = None,
        timeout: float | timedelta = DEFAULT_TIMEOUT,
        deferrable: bool = True,
        download_to: Any = None,
        download_checksum: str | None = DEFAULT_CHECKSUM,
        **kwargs: Any,
    ) -> None:
        check_checksum_name(download_checksum, "download_checksum")
        kwargs.setdefault(
            "poke_interval", poll_interval if poll_interval is not None else DEFAULT_POKE_INTERVAL
        )
        super().__init__(timeout=timeout, **kwargs)
        self.evolink_task_id = evolink_task_id
        self.evolink_conn_id = evolink_conn_id
        self.poll_interval = poll_interval
        self.deferrable = deferrable
        self.download_to = download_to
        self.download_checksum = download_checksum
        self._link_pushed = False
        self._unlisted: UnlistedStatusWarning | None = None

    @cached_property
    def hook(self) -> EvolinkHook:
        return EvolinkHook(self.evolink_conn_id)

    def execute(self, context: Any) -> Any:
        if not self.deferrable:
            return super().execute(context)
        task = self._get_task(context)
        if task.is_terminal:
            return self._succeeded(context, finish_task(context, task))
        self._log_progress(task)
        self.defer(
            trigger=EvolinkVideoTrigger(
                evolink_task_id=task.id,
                evolink_conn_id=self.evolink_conn_id,
                poll_interval=self.poll_interval,
                deadline=time.time() + float(self.timeout),
                retry_policy=self.hook.retry_policy.to_dict(),
            ),
            method_name="execute_complete",
        )

    def poke(self, context: Any) -> PokeReturnValue | bool:
        task = self._get_task(context)
        self._log_progress(task)
        if not task.is_terminal:
            return False
        urls = self._succeeded(context, finish_task(context, task))
        log_cost(context, task.to_xcom())
        return PokeReturnValue(is_done=True, xcom_value=urls)

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> list[str]:
        urls = result_from_event(context, event, self.hook)
        self.log.info("Evolink task %s finished: %s", self.evolink_task_id, ", ".join(urls))
        self._succeeded(context, urls)
        log_cost(context, (event or {}).get("task"))
        return urls

    def _succeeded(self, context: Any, urls: list[str]) -> list[str]:
        if self.download_to:
            save_videos(
                context,
                self.hook,
                urls,
                self.download_to,
                self.evolink_task_id,
                self.log,
                self.download_checksum,
            )
        return urls

    def _get_task(self, context: Any) -> EvolinkTask:
        try:
            task = self.hook.get_task(self.evolink_task_id)
        except EvolinkError as exc:
            raise_airflow_error(exc)
        if not self._link_pushed:
            push_link(context, EvolinkTaskLink)
            self._link_pushed = True
        if self._unlisted is None:
            self._unlisted = UnlistedStatusWarning(self.log)
        self._unlisted.check(task)
        return task

    def _log_progress(self, task: EvolinkTask) -> None:
        self.log.info("Evolink task %s is %s: %d%%", task.id, task.raw_status, task.progress)
