"""Turn the XComs of a DAG run's task instances into generations (one per Evolink task id).

Several task instances speak about one generation: the submit task holds the request, a sensor holds the
final task, a download task holds the stored copies. This module merges them, and does no I/O, so the
rules are tested without a database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import unquote, urlsplit

from airflow_evolink.core.money import format_known_credits
from airflow_evolink.core.status import TaskStatus
from airflow_evolink.core.task import charged_credits_of
from airflow_evolink.utils import xcom_keys

#: The request body the submit operator sent; runs from before it was pushed fall back to rendered fields.
EVOLINK_REQUEST = xcom_keys.EVOLINK_REQUEST
#: The task id under its own key, as earlier provider versions pushed it (now ``return_value``).
TASK_ID_KEY = "evolink_task_id"
RETURN_VALUE = "return_value"

#: The keys the gallery reads; ``return_value`` only for task instances that also carry one of these.
#: What became of each storage-path input (``{field, source, url, ...}``), pushed by the submit operator.
EVOLINK_INPUTS = "evolink_inputs"

GALLERY_KEYS: tuple[str, ...] = (
    EVOLINK_REQUEST,
    EVOLINK_INPUTS,
    xcom_keys.EVOLINK_TASK,
    TASK_ID_KEY,
    xcom_keys.CREDITS_RESERVED,
    xcom_keys.CREDITS_USED,
    xcom_keys.ESTIMATED_TIME,
    xcom_keys.RESULT_URLS,
    xcom_keys.DOWNLOADS,
    xcom_keys.EVOLINK_ESTIMATE,
)
#: Keys that say a task instance submitted or watched an Evolink task (not only downloaded one).
_TASK_KEYS = (xcom_keys.EVOLINK_TASK, TASK_ID_KEY, EVOLINK_REQUEST)

#: At most this many result URLs and stored copies are read from one task instance's XComs. XCom is user
#: input (anyone with XCom edit rights can write a list of any length); a generation has a handful of
#: videos, so the cap never hides a real one, and the page says so when it cut a list short.
MAX_ITEMS_PER_TASK_INSTANCE = 100

#: Evolink result links stop serving the video 24 hours after the task was created.
RESULT_LINK_LIFETIME = timedelta(hours=24)


@dataclass(frozen=True)
class TaskInstanceInfo:
    """What the gallery shows of one task instance row."""

    task_id: str
    map_index: int = -1
    state: str | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    rendered_map_index: str | None = None


@dataclass
class TaskInstanceXComs:
    """The gallery's XComs of one task instance: key -> (value, time it was written)."""

    dag_id: str
    run_id: str
    ti: TaskInstanceInfo
    values: dict[str, tuple[Any, datetime | None]] = field(default_factory=dict)

    def get(self, key: str) -> Any:
        entry = self.values.get(key)
        return entry[0] if entry else None

    def written(self, key: str) -> datetime | None:
        entry = self.values.get(key)
        return entry[1] if entry else None

    @property
    def key(self) -> tuple[str, int]:
        return self.ti.task_id, self.ti.map_index


@dataclass(frozen=True)
class Video:
    """One video of a generation: its stored copy when one was recorded, else only the live link."""

    url: str | None
    path: str | None = None
    size: int | None = None


@dataclass
class Generation:
    """One Evolink task, as every task instance of its DAG run reports it."""

    evolink_task_id: str
    dag_id: str
    run_id: str
    task_instances: list[TaskInstanceInfo] = field(default_factory=list)
    #: The task instances that submitted or watched the task (not those that only copied its video).
    watchers: list[TaskInstanceInfo] = field(default_factory=list)
    request: dict[str, Any] = field(default_factory=dict)
    #: Storage paths given as inputs and the URLs they became (uploaded or presigned).
    inputs: list[dict[str, Any]] = field(default_factory=list)
    task: dict[str, Any] = field(default_factory=dict)
    result_urls: list[str] = field(default_factory=list)
    downloads: list[dict[str, Any]] = field(default_factory=list)
    credits_reserved: float | None = None
    credits_used: float | None = None
    estimated_time: float | None = None
    #: The price from Evolink's published rules before the paid POST (``CostEstimate.to_xcom()``).
    estimate: dict[str, Any] = field(default_factory=dict)
    #: Whether a task instance's result URLs or stored copies were cut to ``MAX_ITEMS_PER_TASK_INSTANCE``.
    truncated: bool = False
    # Sets mirroring ``result_urls`` and the downloads' paths: merging stays linear in what is read.
    _url_set: set[str] = field(default_factory=set, repr=False, compare=False)
    _path_set: set[str] = field(default_factory=set, repr=False, compare=False)

    # ---- what the page shows ------------------------------------------------------------------
    @property
    def owner(self) -> TaskInstanceInfo:
        """The task instance the generation belongs to: the first one that submitted or watched it."""
        return self.task_instances[0]

    @property
    def status(self) -> str:
        status = self.task.get("status")
        return str(status) if status else "unknown"

    @property
    def is_terminal(self) -> bool:
        return TaskStatus.parse(self.status).is_terminal

    @property
    def model(self) -> str | None:
        return _text(self.task.get("model")) or _text(self.request.get("model"))

    @property
    def prompt(self) -> str | None:
        return _text(self.request.get("prompt"))

    @property
    def duration(self) -> Any:
        return self.request.get("duration") or self.task.get("video_duration")

    @property
    def quality(self) -> str | None:
        return _text(self.request.get("quality"))

    @property
    def input_images(self) -> list[str]:
        """Input images from the request, in order, without duplicates; only http(s) links."""
        found: list[str] = []
        candidates: list[Any] = [self.request.get("image_start"), self.request.get("image_end")]
        image_urls = self.request.get("image_urls")
        if isinstance(image_urls, list):
            candidates.extend(image_urls)
        for value in candidates:
            if isinstance(value, str) and value.startswith(("https://", "http://")) and value not in found:
                found.append(value)
        return found

    @property
    def input_sources(self) -> list[dict[str, str]]:
        """Each storage path the user gave, with the field it filled and the URL Evolink fetched."""
        return [
            {
                "field": str(item.get("field") or ""),
                "source": str(item["source"]),
                "url": str(item.get("url") or ""),
            }
            for item in self.inputs
            if isinstance(item, dict) and item.get("source")
        ]

    @property
    def error(self) -> dict[str, Any]:
        error = self.task.get("error")
        return error if isinstance(error, dict) else {}

    @property
    def created(self) -> datetime | None:
        created = self.task.get("created")
        if isinstance(created, (int, float)) and not isinstance(created, bool):
            try:
                return datetime.fromtimestamp(created, tz=timezone.utc)
            except (OverflowError, OSError, ValueError):
                return None
        return None

    @property
    def started(self) -> datetime | None:
        dates = [ti.start_date for ti in self.watchers if ti.start_date]
        return min(dates) if dates else None

    @property
    def ended(self) -> datetime | None:
        dates = [ti.end_date for ti in self.watchers if ti.end_date]
        return max(dates) if dates else None

    @property
    def time_taken(self) -> timedelta | None:
        """From the submission's start to the end of the last task that watched it, once it has ended;
        copying the video afterwards does not count."""
        start, end = self.started, self.ended
        if start is None or end is None or not self.is_terminal:
            return None
        return max(end - start, timedelta(0))

    @property
    def day(self) -> str | None:
        when = self.created or self.started
        return when.date().isoformat() if when else None

    @property
    def credits(self) -> tuple[float | None, bool]:
        """Credits this generation counts for, and whether the figure is only the reservation."""
        if self.credits_used is not None:
            return self.credits_used, False
        return self.credits_reserved, self.credits_reserved is not None

    @property
    def estimated_credits(self) -> str | None:
        """The estimate's credits (a decimal string, unit certain), when the estimate has an amount."""
        credits = self.estimate.get("credits")
        if self.estimate.get("status") == "unavailable" or not isinstance(credits, (str, int, float)):
            return None
        return str(credits) if not isinstance(credits, bool) else None

    @property
    def credits_used_text(self) -> str:
        """What Evolink charged, in credits with dollars (the unit of ``credits_used`` is certain)."""
        return format_known_credits(self.credits_used)

    @property
    def credits_reserved_text(self) -> str:
        """The reservation as Evolink reports it: its unit is not settled, so no dollar figure."""
        if self.credits_reserved is None:
            return "unknown"
        return f"{self.credits_reserved:,.4f}".rstrip("0").rstrip(".") + " (as reported)"

    @property
    def estimate_text(self) -> str | None:
        """The estimate with its unit and status (``partial`` is a lower bound), if there is one."""
        credits = self.estimated_credits
        if credits is None:
            return None
        try:
            text = format_known_credits(credits)
        except ArithmeticError:
            return None
        return f"{text}, {self.estimate.get('status') or 'estimated'}"

    def link_expiry(self) -> datetime | None:
        """When the live result links stop working (24 h after creation), if that can be known."""
        start = self.created or self.started
        return start + RESULT_LINK_LIFETIME if start else None

    @property
    def videos(self) -> list[Video]:
        """Each result link with its stored copy, then stored copies whose link is not a result."""
        stored = {d["url"]: d for d in self.downloads if isinstance(d.get("url"), str)}
        videos = []
        for url in self.result_urls:
            record = stored.pop(url, None)
            videos.append(_video(url, record))
        videos.extend(_video(url, record) for url, record in stored.items())
        videos.extend(_video(None, d) for d in self.downloads if not isinstance(d.get("url"), str))
        return videos

    @property
    def has_stored_copy(self) -> bool:
        return any(video.path for video in self.videos)

    def belongs_to(self, task_id: str, map_index: int | None) -> bool:
        """Whether the task instance (any map index when ``None``) reported this generation."""
        return any(
            ti.task_id == task_id and (map_index is None or ti.map_index == map_index)
            for ti in self.task_instances
        )


def build_generations(records: Iterable[TaskInstanceXComs]) -> list[Generation]:
    """Merge the task instances of one or more DAG runs into generations, in the order first seen."""
    records = list(records)
    generations: dict[tuple[str, str, str], Generation] = {}
    chosen_task_time: dict[tuple[str, str, str], tuple[int, int, float]] = {}
    download_only: list[TaskInstanceXComs] = []

    for record in records:
        task_id = _evolink_task_id(record)
        if task_id is None:
            if record.get(xcom_keys.DOWNLOADS):
                download_only.append(record)
            continue
        key = (record.dag_id, record.run_id, task_id)
        generation = generations.get(key)
        if generation is None:
            generation = generations[key] = Generation(task_id, record.dag_id, record.run_id)
        _merge(generation, record, chosen_task_time)

    for record in download_only:
        for generation in generations.values():
            if (generation.dag_id, generation.run_id) != (record.dag_id, record.run_id):
                continue
            if _matching_downloads(generation, record.get(xcom_keys.DOWNLOADS)):
                _add_downloads(generation, record.get(xcom_keys.DOWNLOADS), only_matching=True)
                generation.task_instances.append(record.ti)
    return list(generations.values())


def _evolink_task_id(record: TaskInstanceXComs) -> str | None:
    task = record.get(xcom_keys.EVOLINK_TASK)
    if isinstance(task, dict) and isinstance(task.get("id"), str) and task["id"]:
        return str(task["id"])
    task_id = record.get(TASK_ID_KEY)
    if isinstance(task_id, str) and task_id:
        return task_id
    if any(record.values.get(k) for k in _TASK_KEYS):
        value = record.get(RETURN_VALUE)
        if isinstance(value, str) and value:
            return value
    return None


def _merge(
    generation: Generation,
    record: TaskInstanceXComs,
    chosen_task_time: dict[tuple[str, str, str], tuple[int, int, float]],
) -> None:
    generation.task_instances.append(record.ti)
    generation.watchers.append(record.ti)
    request = record.get(EVOLINK_REQUEST)
    if isinstance(request, dict) and not generation.request:
        generation.request = request
    inputs = record.get(EVOLINK_INPUTS)
    if isinstance(inputs, list) and not generation.inputs:
        generation.inputs = inputs
    task = record.get(xcom_keys.EVOLINK_TASK)
    if isinstance(task, dict):
        # Copies disagree while a task runs: keep the terminal one, then the furthest along, then the newest.
        written = record.written(xcom_keys.EVOLINK_TASK)
        progress = task.get("progress")
        rank = (
            1 if TaskStatus.parse(task.get("status")).is_terminal else 0,
            progress if isinstance(progress, int) else 0,
            written.timestamp() if written else 0.0,
        )
        key = (generation.dag_id, generation.run_id, generation.evolink_task_id)
        if key not in chosen_task_time or rank >= chosen_task_time[key]:
            chosen_task_time[key] = rank
            generation.task = task
    urls = _urls(task.get("results") if isinstance(task, dict) else None) + _urls(
        record.get(xcom_keys.RESULT_URLS)
    )
    if len(urls) > MAX_ITEMS_PER_TASK_INSTANCE:
        urls = urls[:MAX_ITEMS_PER_TASK_INSTANCE]
        generation.truncated = True
    for url in urls:
        if url not in generation._url_set:
            generation._url_set.add(url)
            generation.result_urls.append(url)
    _add_downloads(generation, record.get(xcom_keys.DOWNLOADS), only_matching=False)
    generation.credits_reserved = _pick(
        generation.credits_reserved,
        record.get(xcom_keys.CREDITS_RESERVED),
        generation.task.get("credits_reserved"),
    )
    generation.credits_used = _pick(
        generation.credits_used, record.get(xcom_keys.CREDITS_USED), charged_credits_of(generation.task)
    )
    estimate = record.get(xcom_keys.EVOLINK_ESTIMATE)
    if isinstance(estimate, dict) and not generation.estimate:
        generation.estimate = estimate
    generation.estimated_time = _pick(
        generation.estimated_time,
        record.get(xcom_keys.ESTIMATED_TIME),
        generation.task.get("estimated_time"),
    )


def _matching_downloads(generation: Generation, downloads: Any) -> bool:
    return any(_download_matches(generation, d) for d in _download_records(downloads)[0])


def _download_matches(generation: Generation, record: Mapping[str, Any]) -> bool:
    """A stored copy is this generation's when its URL is a result URL, or its file is named after the
    task id (the download operator names files ``<evolink task id>[-n].<ext>``)."""
    if record.get("url") in generation._url_set:
        return True
    name = unquote(urlsplit(str(record.get("path") or "")).path.rsplit("/", 1)[-1])
    stem = name.rsplit(".", 1)[0]
    return stem == generation.evolink_task_id or stem.startswith(f"{generation.evolink_task_id}-")


def _add_downloads(generation: Generation, downloads: Any, *, only_matching: bool) -> None:
    records, truncated = _download_records(downloads)
    generation.truncated = generation.truncated or truncated
    for record in records:
        if only_matching and not _download_matches(generation, record):
            continue
        if record["path"] not in generation._path_set:
            generation._path_set.add(record["path"])
            generation.downloads.append(record)


def _download_records(downloads: Any) -> tuple[list[dict[str, Any]], bool]:
    """The well-formed stored-copy records of one task instance (at most ``MAX_ITEMS_PER_TASK_INSTANCE``),
    and whether the list was cut short."""
    if not isinstance(downloads, list):
        return [], False
    records: list[dict[str, Any]] = []
    for d in downloads:
        if isinstance(d, dict) and isinstance(d.get("path"), str) and d["path"]:
            if len(records) == MAX_ITEMS_PER_TASK_INSTANCE:
                return records, True
            records.append(d)
    return records, False


def _video(url: str | None, record: Mapping[str, Any] | None) -> Video:
    if record is None:
        return Video(url=url)
    size = record.get("size")
    return Video(url=url, path=str(record["path"]), size=size if isinstance(size, int) else None)


def _urls(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return []
    # Read one past the cap so the caller can tell the list was cut short.
    found: list[str] = []
    for url in value:
        if isinstance(url, str) and url:
            found.append(url)
            if len(found) > MAX_ITEMS_PER_TASK_INSTANCE:
                break
    return found


def _pick(current: float | None, *candidates: Any) -> float | None:
    """The first number among the candidates (newest first), else what was known before."""
    for value in candidates:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return current


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None
