"""Submit an Evolink video generation from a DAG (and optionally wait for it)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import Any

from airflow_evolink.compat import AirflowFailException, BaseOperator, conf
from airflow_evolink.core.errors import EvolinkError, EvolinkValidationError
from airflow_evolink.core.models import VideoRequest, build_video_request
from airflow_evolink.core.polling import PollSchedule
from airflow_evolink.core.task import EvolinkTask
from airflow_evolink.hooks.evolink import EvolinkHook
from airflow_evolink.operators.links import EvolinkTaskLink, EvolinkVideoLink, push_link
from airflow_evolink.triggers.evolink import EvolinkVideoTrigger
from airflow_evolink.utils import xcom_keys
from airflow_evolink.utils.events import finish_task, result_from_event
from airflow_evolink.utils.failures import raise_airflow_error

DEFAULT_TIMEOUT = 2 * 60 * 60

# The named request fields, in the order they are documented.
REQUEST_FIELDS = (
    "model",
    "prompt",
    "negative_prompt",
    "image_start",
    "image_end",
    "image_urls",
    "duration",
    "aspect_ratio",
    "quality",
    "sound",
    "model_params",
    "callback_url",
)


class EvolinkSubmitVideoOperator(BaseOperator):
    """Submit one Evolink video generation and return its task id (XCom ``return_value``).

    The request is validated before anything is sent, so bad input fails the task without spending
    credits. Right after submission the task (no secrets in it), ``credits_reserved`` and
    ``estimated_time`` are pushed to XCom under their own keys and logged.

    The POST carries an ``Idempotency-Key`` derived from the task instance (DAG, task, run, map index),
    so every try of one task instance presents the same key. A POST whose outcome is unknown (timeout,
    connection dropped, 500/502/504 after sending) is never re-sent: the task fails without retries and
    says so.

    With ``wait_for_completion=True`` the operator also waits for the video (in the triggerer when
    ``deferrable=True``) and pushes the result URLs under XCom key ``result_urls``.

    :param model: the Evolink model id, e.g. ``kling-v3-image-to-video``.
    :param prompt: what the video shows (templated, like every content field).
    :param image_start: Kling's first-frame URL. :param image_end: Kling's last-frame URL.
    :param image_urls: input images for the other families.
    :param extra: any other request field, passed through untouched.
    :param evolink_conn_id: the Airflow connection of type ``evolink``.
    :param idempotency_key: override the derived key (templated).
    :param min_credits: refuse to submit when the account has fewer remaining credits than this.
    :param wait_for_completion: wait for the video before the task ends.
    :param deferrable: wait in the triggerer instead of a worker slot.
    :param poll_interval: seconds between polls while waiting; ``None`` adapts to progress.
    :param timeout: seconds to wait for the video before failing.
    """

    template_fields: Sequence[str] = (*REQUEST_FIELDS, "extra", "evolink_conn_id", "idempotency_key")
    template_fields_renderers = {"model_params": "json", "extra": "json", "image_urls": "json"}
    operator_extra_links = (EvolinkTaskLink(), EvolinkVideoLink())
    ui_color = "#d5c6f0"

    def __init__(
        self,
        *,
        model: str,
        prompt: str | None = None,
        negative_prompt: str | None = None,
        image_start: str | None = None,
        image_end: str | None = None,
        image_urls: list[str] | None = None,
        duration: int | str | None = None,
        aspect_ratio: str | None = None,
        quality: str | None = None,
        sound: str | bool | None = None,
        model_params: dict[str, Any] | None = None,
        callback_url: str | None = None,
        extra: dict[str, Any] | None = None,
        evolink_conn_id: str = EvolinkHook.default_conn_name,
        idempotency_key: str | None = None,
        min_credits: float | None = None,
        wait_for_completion: bool = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float | None = None,
        timeout: float | timedelta = DEFAULT_TIMEOUT,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.model = model
        self.prompt = prompt
        self.negative_prompt = negative_prompt
        self.image_start = image_start
        self.image_end = image_end
        self.image_urls = image_urls
        self.duration = duration
        self.aspect_ratio = aspect_ratio
        self.quality = quality
        self.sound = sound
        self.model_params = model_params
        self.callback_url = callback_url
        self.extra = extra
        self.evolink_conn_id = evolink_conn_id
        self.idempotency_key = idempotency_key
        self.min_credits = min_credits
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.timeout = timeout.total_seconds() if isinstance(timeout, timedelta) else float(timeout)

    @cached_property
    def hook(self) -> EvolinkHook:
        return EvolinkHook(self.evolink_conn_id)

    def build_request(self) -> VideoRequest:
        """The validated request from the rendered fields; raises naming the field and the rule."""
        fields: dict[str, Any] = {}
        extra = self.extra or {}
        if not isinstance(extra, dict):
            raise EvolinkValidationError("extra", "must be a dict of additional request fields", extra)
        for name in REQUEST_FIELDS:
            value = getattr(self, name)
            if value is not None and name in extra:
                raise EvolinkValidationError(name, "is given both as an argument and in 'extra'", value)
        fields.update(extra)
        fields.update(
            {name: getattr(self, name) for name in REQUEST_FIELDS if getattr(self, name) is not None}
        )
        return build_video_request(fields)

    def execute(self, context: Any) -> str:
        try:
            request = self.build_request()
        except EvolinkValidationError as exc:
            raise AirflowFailException(str(exc)) from exc
        self._check_budget()
        key = self.idempotency_key or idempotency_key_for(context)
        try:
            task = self.hook.submit_video(request, idempotency_key=key)
        except EvolinkError as exc:
            raise_airflow_error(exc)
        self._record_submission(context, task)
        if not self.wait_for_completion:
            return task.id
        return self._wait(context, task)

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> str:
        urls = result_from_event(context, event, self.hook)
        task_id = str((event or {}).get("evolink_task_id") or "")
        self.log.info("Evolink task %s finished: %s", task_id, ", ".join(urls))
        return task_id

    def _check_budget(self) -> None:
        if self.min_credits is None:
            return
        try:
            credits = self.hook.get_credits()
        except EvolinkError as exc:
            raise_airflow_error(exc)
        remaining = credits.remaining_credits
        if not credits.unlimited and remaining is not None and remaining < self.min_credits:
            raise AirflowFailException(
                f"Not submitting: the Evolink account has {remaining:g} credits left, "
                f"below min_credits={self.min_credits:g}. Top up or lower min_credits."
            )

    def _record_submission(self, context: Any, task: EvolinkTask) -> None:
        ti = context["ti"]
        ti.xcom_push(key=xcom_keys.EVOLINK_TASK_ID, value=task.id)
        ti.xcom_push(key=xcom_keys.EVOLINK_TASK, value=task.to_xcom())
        ti.xcom_push(key=xcom_keys.CREDITS_RESERVED, value=task.credits_reserved)
        ti.xcom_push(key=xcom_keys.ESTIMATED_TIME, value=task.estimated_time)
        push_link(context, EvolinkTaskLink, self.hook.task_url(task.id))
        self.log.info(
            "Submitted Evolink task %s (model %s): status %s, credits reserved %s, estimated time %s s",
            task.id,
            task.model or self.model,
            task.raw_status,
            _fmt(task.credits_reserved),
            _fmt(task.estimated_time),
        )

    def _wait(self, context: Any, task: EvolinkTask) -> str:
        if self.deferrable:
            if task.is_terminal:
                finish_task(context, task)
                return task.id
            self.defer(
                trigger=EvolinkVideoTrigger(
                    evolink_task_id=task.id,
                    evolink_conn_id=self.evolink_conn_id,
                    poll_interval=self.poll_interval,
                    deadline=time.time() + self.timeout,
                    retry_policy=self.hook.retry_policy.to_dict(),
                ),
                method_name="execute_complete",
            )
        try:
            final = self.hook.wait_for_task(
                task.id,
                timeout=self.timeout,
                schedule=PollSchedule(poll_interval=self.poll_interval),
                on_poll=lambda t: self.log.info(
                    "Evolink task %s is %s: %d%%", t.id, t.raw_status, t.progress
                ),
            )
        except EvolinkError as exc:
            raise_airflow_error(exc)
        finish_task(context, final)
        return task.id


def idempotency_key_for(context: Any) -> str:
    """One key per task instance (DAG, task, run, map index): every try of it presents the same key."""
    ti = context["ti"]
    parts = [ti.dag_id, ti.task_id, ti.run_id, str(getattr(ti, "map_index", -1))]
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]
    return f"airflow-{digest}"


def _fmt(value: float | None) -> str:
    return "unknown" if value is None else f"{value:g}"
