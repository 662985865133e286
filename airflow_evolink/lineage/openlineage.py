"""OpenLineage facets for Evolink generations and stored copies.

The operators keep a :class:`LineageRecord` while they run and hand it to :func:`operator_lineage` from
their ``get_openlineage_facets_on_*`` methods. What is emitted:

- inputs: the request's input media URLs (frames, ``image_urls``, ``video_urls``, ``audio_url``...), named
  by :func:`~airflow_evolink.lineage.naming.dataset_name` (no query string, no user info);
- outputs: the stored copies (never Evolink's result URLs, which expire after 24 hours), each with an
  ``outputStatistics`` facet giving its size in bytes;
- run facets: ``externalQuery`` (the Evolink task id, source ``evolink``), ``evolink_generation``
  (:class:`~airflow_evolink.lineage.facets.EvolinkGenerationRunFacet`) and, on failure, ``evolink_error``:
  an ``ErrorMessageRunFacet`` whose ``programmingLanguage`` is ``evolink`` and whose message starts
  with Evolink's error code in brackets (``[content_policy_violation] ...``).

OpenLineage is imported inside :func:`operator_lineage` only. Lineage never fails a task: the operators
catch and log whatever goes wrong here.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_evolink.lineage.naming import DatasetName, dataset_name, input_urls

SOURCE = "evolink"


@dataclass
class LineageRecord:
    """What one try of a task did, as far as lineage cares; kept on the operator while it runs."""

    request: dict[str, Any] | None = None
    #: The Evolink task id, once known.
    task_id: str | None = None
    #: The last task seen, as in XCom ``evolink_task`` (or the trigger event's ``task``).
    task: dict[str, Any] | None = None
    #: When the provider saw the task end (epoch seconds).
    ended_at: float | None = None
    #: ``DownloadedVideo.to_xcom()`` of each stored copy.
    downloads: list[dict[str, Any]] = field(default_factory=list)
    error_code: str | None = None
    error_message: str | None = None

    def note_task(self, task: Any, *, ended: bool = False) -> None:
        """Record a task (an ``EvolinkTask`` or its XCom dict); ``ended`` when it is terminal."""
        data = task.to_xcom() if hasattr(task, "to_xcom") else task
        if not isinstance(data, Mapping):
            return
        # Merged, without empty values: a finished task no longer carries the submission's estimate,
        # and a trigger event's task leaves out empty fields.
        self.task = {**(self.task or {}), **{k: v for k, v in data.items() if v is not None}}
        if data.get("id"):
            self.task_id = str(data["id"])
        if ended and self.ended_at is None:
            self.ended_at = time.time()
        error = data.get("error")
        if isinstance(error, Mapping) and (error.get("code") or error.get("message")):
            self.error_code = _str(error.get("code")) or self.error_code
            self.error_message = _str(error.get("message")) or self.error_message

    def note_downloads(self, saved: Any) -> None:
        self.downloads = [video.to_xcom() if hasattr(video, "to_xcom") else dict(video) for video in saved]

    def note_failure(self, exc: BaseException) -> None:
        """Record why the task failed: Evolink's error when one is in the exception's chain."""
        from airflow_evolink.core.errors import EvolinkError

        seen: set[int] = set()
        current: BaseException | None = exc
        while current is not None and id(current) not in seen:
            seen.add(id(current))
            if isinstance(current, EvolinkError):
                self.error_code = _str(getattr(current, "code", None)) or self.error_code
                self.error_message = (
                    _str(getattr(current, "task_message", None)) or str(current) or self.error_message
                )
                return
            current = current.__cause__ or current.__context__
        if self.error_message is None:
            self.error_message = str(exc) or type(exc).__name__

    def note_event_failure(self, event: Mapping[str, Any]) -> None:
        """Record the failure a trigger event reports (``code`` and ``message``)."""
        self.error_code = _str(event.get("code")) or self.error_code
        task = event.get("task")
        error = task.get("error") if isinstance(task, Mapping) else None
        message = error.get("message") if isinstance(error, Mapping) else None
        self.error_message = _str(message) or _str(event.get("message")) or self.error_message


def operator_lineage(record: LineageRecord, *, failed: bool = False, with_run: bool = True) -> Any:
    """The ``OperatorLineage`` of ``record``. ``with_run=False`` gives the inputs only (task start)."""
    from airflow.providers.openlineage.extractors import OperatorLineage

    return OperatorLineage(
        inputs=input_datasets(record.request or {}),
        outputs=output_datasets(record.downloads),
        run_facets=run_facets(record, failed=failed) if with_run else {},
    )


def input_datasets(request: Mapping[str, Any]) -> list[Any]:
    from openlineage.client.event_v2 import InputDataset

    datasets: list[Any] = []
    seen: set[DatasetName] = set()
    for url in input_urls(request):
        name = dataset_name(url)
        if name is not None and name not in seen:
            seen.add(name)
            datasets.append(InputDataset(namespace=name.namespace, name=name.name))
    return datasets


def output_datasets(downloads: list[dict[str, Any]]) -> list[Any]:
    from openlineage.client.event_v2 import OutputDataset
    from openlineage.client.facet_v2 import output_statistics_output_dataset

    datasets: list[Any] = []
    for video in downloads:
        name = dataset_name(str(video.get("path") or ""))
        if name is None:
            continue
        size = video.get("size")
        statistics = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
            size=int(size) if isinstance(size, (int, float)) else None, fileCount=1
        )
        datasets.append(
            OutputDataset(
                namespace=name.namespace, name=name.name, outputFacets={"outputStatistics": statistics}
            )
        )
    return datasets


def run_facets(record: LineageRecord, *, failed: bool = False) -> dict[str, Any]:
    from openlineage.client.facet_v2 import error_message_run, external_query_run

    from airflow_evolink.lineage.facets import (
        ERROR_FACET_KEY,
        FACET_KEY,
        EvolinkGenerationRunFacet,
    )

    facets: dict[str, Any] = {}
    task = record.task or {}
    request = record.request or {}
    if record.task_id:
        facets["externalQuery"] = external_query_run.ExternalQueryRunFacet(
            externalQueryId=record.task_id, source=SOURCE
        )
    if task or request:
        facets[FACET_KEY] = EvolinkGenerationRunFacet(
            model=_str(task.get("model")) or _str(request.get("model")),
            duration=_number(request.get("duration")),
            quality=_str(request.get("quality")),
            status=_str(task.get("status")),
            creditsReserved=_number(task.get("credits_reserved")),
            creditsUsed=_number(task.get("credits_used")),
            estimatedTime=_number(task.get("estimated_time")),
            generationTime=_generation_time(task, record.ended_at),
            errorCode=record.error_code if failed else None,
        )
    if failed and (record.error_code or record.error_message):
        code = f"[{record.error_code}] " if record.error_code else ""
        facets[ERROR_FACET_KEY] = error_message_run.ErrorMessageRunFacet(
            message=f"{code}{record.error_message or 'no message'}", programmingLanguage=SOURCE
        )
    return facets


def _generation_time(task: Mapping[str, Any], ended_at: float | None) -> float | None:
    created = _number(task.get("created"))
    if created is None or ended_at is None or ended_at < created:
        return None
    return round(ended_at - created, 3)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


class EvolinkLineageMixin:
    """``get_openlineage_facets_on_start/_on_complete/_on_failure`` from the operator's ``_lineage``.

    The OpenLineage listener calls these in the process that ran ``execute`` (or ``execute_complete``
    after a deferral), so the record kept on the instance there is the one to read. An operator using
    this sets ``self._lineage = LineageRecord()`` in ``__init__`` and may override
    :meth:`_lineage_record` to fill in what it knows before ``execute`` (the request at task start).
    """

    _lineage: LineageRecord

    def get_openlineage_facets_on_start(self) -> Any:
        return self._openlineage(with_run=False)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        return self._openlineage()

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        return self._openlineage(failed=True)

    def _lineage_record(self) -> LineageRecord:
        return self._lineage

    def _openlineage(self, **kwargs: Any) -> Any:
        try:
            return operator_lineage(self._lineage_record(), **kwargs)
        except Exception:
            log = getattr(self, "log", None)
            if log is not None:
                log.warning("Could not build the OpenLineage facets of this task", exc_info=True)
            return None
