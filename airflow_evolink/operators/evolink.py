"""Submit an Evolink video generation from a DAG (and optionally wait for it)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import Any

from airflow_evolink.core.account import format_reported
from airflow_evolink.core.errors import EvolinkError, EvolinkNotFoundError, EvolinkValidationError
from airflow_evolink.core.models import VideoRequest, build_video_request
from airflow_evolink.core.money import format_uc
from airflow_evolink.core.polling import PollSchedule
from airflow_evolink.core.status import TaskStatus
from airflow_evolink.core.task import EvolinkTask
from airflow_evolink.hooks.evolink import EvolinkHook
from airflow_evolink.inputs.paths import find_storage_inputs, replace_inputs, with_stand_ins
from airflow_evolink.inputs.resolve import INPUT_MODES, XCOM_KEY, InputLedger, cleanup_uploads, resolve_inputs
from airflow_evolink.lineage.openlineage import EvolinkLineageMixin, LineageRecord
from airflow_evolink.operators.download import EvolinkDownloadVideoOperator, save_videos
from airflow_evolink.operators.links import (
    EvolinkTaskLink,
    push_link,
    task_and_video_links,
    task_link_only,
)
from airflow_evolink.operators.preflight import (
    REQUEST_FIELDS,
    BeforePayment,
    Cap,
    parse_planned,
    request_fields_of,
)
from airflow_evolink.operators.resumable import HAS_TASK_STATE_STORE, ResumableJobMixin
from airflow_evolink.storage.checksum import DEFAULT_CHECKSUM, check_checksum_name
from airflow_evolink.triggers.evolink import EvolinkVideoTrigger
from airflow_evolink.utils import xcom_keys
from airflow_evolink.utils.events import finish_task, log_cost, result_from_event
from airflow_evolink.utils.failures import raise_airflow_error
from airflow_evolink.version_compat import AirflowFailException, BaseOperator, BaseOperatorLink, conf

__all__ = [
    "EvolinkDownloadVideoOperator",
    "EvolinkPlanBudgetOperator",
    "EvolinkSubmitVideoOperator",
    "idempotency_key_for",
]

DEFAULT_TIMEOUT = 2 * 60 * 60
NOT_FOUND = "not_found"

#: State-store key: the Idempotency-Key whose request passed the checks before paying (price, cap, plan,
#: balance), set just before its POST.
CLEARED_KEY = "evolink_cleared_to_pay"
# Templated money fields: a limit or a plan's figure may come from params or an upstream task.
MONEY_FIELDS = ("max_cost_usd", "max_credits", "planned_cost_uc")


class EvolinkSubmitVideoOperator(EvolinkLineageMixin, ResumableJobMixin, BaseOperator):
    """Submit one Evolink video generation and return its task id (XCom ``return_value``).

    The request is validated before anything is sent, so bad input fails the task without spending
    credits. Right after submission the task (no secrets in it), ``credits_reserved`` and
    ``estimated_time`` are pushed to XCom under their own keys and logged.

    The POST carries an ``Idempotency-Key`` derived from the task instance (DAG, task, run, map index),
    so every try of one task instance presents the same key, and Evolink's gateway answers a repeated key
    with the job it already created instead of creating another. A POST whose answer is lost (timeout,
    dropped connection, 5xx) is therefore sent again with the same key; a replayed answer is logged and
    marked ``idempotency_replayed`` in XCom ``evolink_task``. If the outcome is still unknown, the task
    fails with a retryable error naming the key: Airflow's next try presents the same key.

    With ``wait_for_completion=True`` the operator also waits for the video (in the triggerer when
    ``deferrable=True``) and pushes the result URLs under XCom key ``result_urls``.

    :param model: the Evolink model id, e.g. ``kling-v3-image-to-video``.
    :param prompt: what the video shows (templated, like every content field).
    :param image_start: Kling's first-frame URL. :param image_end: Kling's last-frame URL.
    :param image_urls: input images for the other families.
    :param extra: any other request field, passed through untouched.
    :param evolink_conn_id: the Airflow connection of type ``evolink``.
    :param idempotency_key: override the derived key (templated; 16-96 characters of letters, digits
        and ``. _ -``, as the gateway requires).
    :param min_credits: refuse to submit when fewer credits than this can be spent: the account balance,
        capped by the key's own limit when the key has one.
    :param check_request: check the request against the provider's table of model rules before sending
        (default). ``False`` sends the fields as given, for a model whose rules changed faster than the
        provider; the API still rejects invalid input, for free.
    :param wait_for_completion: wait for the video before the task ends.
    :param deferrable: wait in the triggerer instead of a worker slot.
    :param poll_interval: seconds between polls while waiting; ``None`` adapts to progress.
    :param timeout: seconds to wait for the video before failing.
    :param download_to: with ``wait_for_completion``, a folder (``ObjectStoragePath`` or URL, templated)
        to copy the videos into on success; what was written goes to XCom ``downloads``.
    :param download_checksum: the checksum recorded for each downloaded file (``"crc32c"``,
        ``"sha256"`` or ``None``), as ``EvolinkDownloadVideoOperator``'s ``checksum``.
    :param input_mode: how an input given as a storage path (``ObjectStoragePath``, ``s3://``, ``gs://``,
        ``file://`` ...; in ``image_start``, ``image_end``, ``image_urls`` or any ``*_url(s)`` field) reaches
        Evolink: ``"upload"`` (default) streams it to Evolink's file service (72 h, 100 MB each, 100 files
        per account) and sends its ``file_url``; ``"presign"`` sends a presigned URL of its own store
        (S3, GCS). Resolved before the paid POST; what became of each path goes to XCom ``evolink_inputs``.
    :param cleanup_uploads: delete this task's uploads from the file service once it succeeds (needs
        ``wait_for_completion=True``: Evolink reads the inputs while it generates).
    :param max_cost_usd: a hard cap on this request's price in US dollars (templated). The request is
        priced from Evolink's published rules after validation and input resolution, before the balance
        check and the paid POST, and refused (no retry, nothing sent) when the estimate is above the cap
        (compared exactly, in UC), when the estimate is partial (a lower bound) and
        ``allow_partial_estimate`` is not set, or when no price can be read.
    :param max_credits: the same cap in credits (templated); with both, the tighter one holds.
    :param allow_partial_estimate: accept a partial estimate (a lower bound) under the cap or plan.
    :param planned_cost_uc: the price ``EvolinkPlanBudgetOperator`` approved this request at (templated;
        set for you when the submit expands over a plan's output). A request priced differently now is
        refused, so the run's planned total holds.

    Without a cap or plan the request is priced too, for the log and XCom ``evolink_estimate``; when no
    price can be read it is sent anyway, and the log says so.

    With ``apache-airflow-providers-openlineage`` installed, each try reports its input media URLs,
    the stored copies (``download_to``), the Evolink task id and what the generation cost and took
    (see :mod:`airflow_evolink.lineage.openlineage`).
    """

    external_id_key = "evolink_task_id"
    _request: VideoRequest  # set by the validate step (BeforePayment), then by input resolution
    template_fields: Sequence[str] = (
        *REQUEST_FIELDS,
        "extra",
        "evolink_conn_id",
        "idempotency_key",
        "download_to",
        *MONEY_FIELDS,
    )
    template_fields_renderers = {"model_params": "json", "extra": "json", "image_urls": "json"}
    operator_extra_links: tuple[BaseOperatorLink, ...] = task_and_video_links()
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
        check_request: bool = True,
        wait_for_completion: bool = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float | None = None,
        timeout: float | timedelta = DEFAULT_TIMEOUT,
        download_to: Any = None,
        download_checksum: str | None = DEFAULT_CHECKSUM,
        input_mode: str = "upload",
        cleanup_uploads: bool = False,
        max_cost_usd: float | str | None = None,
        max_credits: float | str | None = None,
        allow_partial_estimate: bool = False,
        planned_cost_uc: int | str | None = None,
        **kwargs: Any,
    ) -> None:
        check_checksum_name(download_checksum, "download_checksum")
        if input_mode not in INPUT_MODES:
            raise ValueError(f"input_mode must be one of {', '.join(INPUT_MODES)} (got {input_mode!r})")
        if cleanup_uploads and not wait_for_completion:
            raise ValueError(
                "cleanup_uploads=True needs wait_for_completion=True: Evolink reads the inputs while the "
                "video is generated, so they can only be deleted once it is done"
            )
        if not any(_is_template(value) for value in (max_cost_usd, max_credits)):
            try:
                Cap.of("max_cost_usd", max_cost_usd, "max_credits", max_credits)
            except EvolinkValidationError as exc:
                raise ValueError(str(exc)) from exc
        if not _is_template(planned_cost_uc):
            try:
                parse_planned(planned_cost_uc)
            except EvolinkValidationError as exc:
                raise ValueError(str(exc)) from exc
        super().__init__(**kwargs)
        self.max_cost_usd = max_cost_usd
        self.max_credits = max_credits
        self.allow_partial_estimate = allow_partial_estimate
        self.planned_cost_uc = planned_cost_uc
        self._before_payment: BeforePayment | None = None
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
        self.check_request = check_request
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.timeout = timeout.total_seconds() if isinstance(timeout, timedelta) else float(timeout)
        self.download_to = download_to
        self.download_checksum = download_checksum
        self.input_mode = input_mode
        self.cleanup_uploads = cleanup_uploads
        self._input_ledger: InputLedger | None = None
        if not wait_for_completion:
            # No video comes out of this task: offer only the link that has something behind it.
            self.operator_extra_links = task_link_only()
        self._finished = False
        self._submitted: EvolinkTask | None = None
        self._waited_for: str | None = None
        self._lineage = LineageRecord()

    @cached_property
    def hook(self) -> EvolinkHook:
        return EvolinkHook(self.evolink_conn_id)

    def build_request(self) -> VideoRequest:
        """The validated request from the rendered fields; raises naming the field and the rule.

        A storage path in an input field is validated here as an https stand-in; ``execute`` replaces it
        with the URL it uploads or presigns.
        """
        return build_video_request(with_stand_ins(self._request_fields()), check_rules=self.check_request)

    def _request_fields(self) -> dict[str, Any]:
        return request_fields_of({name: getattr(self, name) for name in (*REQUEST_FIELDS, "extra")})

    def _plain_request_fields(self) -> dict[str, Any]:
        return _plain(self._request_fields())

    def execute(self, context: Any) -> str:
        self._lineage = LineageRecord()  # one record per try
        try:
            return self._execute(context)
        except Exception as exc:
            self._lineage.note_failure(exc)
            raise

    def _execute(self, context: Any) -> str:
        # validate -> resolve inputs here; price -> cap/plan -> balance in submit_job, before the POST.
        self._before_payment = BeforePayment(self, context)
        self._before_payment.prepare()
        if self.wait_for_completion and not self.deferrable:
            result = self.execute_resumable(context)
            # When it reconnects to an earlier try's job, Airflow's mixin (3.3) returns what
            # poll_until_complete returns, which is None, instead of the job's result: the task id.
            return str(result) if result is not None else str(self._waited_for)
        task = self._reuse_or_submit(context)
        if not self.wait_for_completion:
            estimate = self._before_payment.estimate if self._before_payment is not None else None
            log_cost(context, task.to_xcom(), estimate.to_xcom() if estimate is not None else None)
            return task.id
        return self._defer_until_done(context, task)

    def _resolve_inputs(self, context: Any) -> dict[str, Any]:
        """Upload or presign the storage paths of the request (see :mod:`airflow_evolink.inputs`) and put
        their URLs in ``self._request``; returns the body to show, with presigned URLs cut at ``?``."""
        fields = self._request_fields()
        refs = find_storage_inputs(fields)
        if not refs:
            return self._request.payload()
        self._input_ledger = InputLedger(_state_store(context))
        try:
            resolved = resolve_inputs(
                refs,
                mode=self.input_mode,
                client=self.hook.file_service,
                ledger=self._input_ledger,
                log=self.log,
            )
            urls = {ref: url for ref, (url, _) in resolved.items()}
            self._request = build_video_request(replace_inputs(fields, urls), check_rules=self.check_request)
        except EvolinkValidationError as exc:
            raise AirflowFailException(str(exc)) from exc
        except EvolinkError as exc:
            raise_airflow_error(exc)
        records = [record for _, record in resolved.values()]
        context["ti"].xcom_push(key=XCOM_KEY, value=[record.to_xcom() for record in records])
        return replace_inputs(self._request.payload(), {ref: rec.url for ref, (_, rec) in resolved.items()})

    def post_execute(self, context: Any, result: Any = None) -> None:
        super().post_execute(context, result)
        if self.cleanup_uploads:
            ledger = self._input_ledger or InputLedger(_state_store(context))
            if ledger.uploads:
                try:
                    cleanup_uploads(ledger, self.hook.file_service(), self.log)
                except EvolinkError as exc:
                    self.log.warning("Could not delete every upload (they expire after 72 h): %s", exc)

    # ---- ResumableJobMixin: submit once, reconnect on retry ------------------------------------------
    def submit_job(self, context: Any) -> str:
        """Run the checks before paying (:class:`BeforePayment`), send the one paid POST, and record the
        task (XCom, log, extra link)."""
        store = _state_store(context)
        previous = store.get(self.external_id_key) if store is not None else None
        key = self.idempotency_key or idempotency_key_for(
            context, previous_task_id=previous, body=self._request.payload()
        )
        checks = self._checks(context)
        if self._resending(context, store, previous, key):
            # A later try sending the first try's key, which that try cleared, can only get back the job
            # that try may have created (and reserved credits for): a budget check now could strand it.
            self.log.info(
                "Sending the earlier try's Idempotency-Key %s again; its price and budget were checked then",
                key,
            )
        elif self._maybe_resending(context, store, previous):
            # No state store (Airflow < 3.3): this try cannot know whether an earlier one passed its
            # checks. Price, cap and plan run again (re-sending a paid key only returns the same job, so
            # checking is harmless); only the balance check is skipped, as it could strand a paid job.
            checks.clear_to_resend()
        else:
            checks.clear_to_pay()
            if store is not None:
                store.set(CLEARED_KEY, key)  # this key passed the checks: a later try may re-send it
        task = self._post(key)
        if previous is None and not self.idempotency_key and getattr(context["ti"], "try_number", 1) > 1:
            task = self._unless_replayed_failure(context, task)
        self._record_submission(context, task)
        checks.record_submission(task.id)
        self._submitted = task
        return task.id

    def _resending(self, context: Any, store: Any, previous: Any, key: str) -> bool:
        """Whether this try re-sends a key an earlier try cleared, which may already have paid for a job.

        Only a task state store (Airflow 3.3+) can say so: a try that failed before its checks passed
        (refused by its cap, an upload, the balance read) paid for nothing, and a changed request has
        another key, so such a try checks. Without a store this is never known (:meth:`_maybe_resending`).
        """
        if previous is not None or getattr(context["ti"], "try_number", 1) <= 1:
            return False
        return store is not None and store.get(CLEARED_KEY) == key

    @staticmethod
    def _maybe_resending(context: Any, store: Any, previous: Any) -> bool:
        """A later try without a state store: the key may or may not have been paid for by an earlier try."""
        return store is None and previous is None and getattr(context["ti"], "try_number", 1) > 1

    def _checks(self, context: Any) -> BeforePayment:
        if self._before_payment is None:  # submit_job called on its own (Airflow's resumable mixin)
            self._before_payment = BeforePayment(self, context)
            self._before_payment.prepare()
        return self._before_payment

    def _unless_replayed_failure(self, context: Any, task: EvolinkTask) -> EvolinkTask:
        """On a retry without a state store (Airflow < 3.3), the key is the earlier try's: a server that
        honours it hands back that try's job. If that job already failed with a retryable code, this try
        pays for a new one under a key derived from the failed job; a live or finished job is reused."""
        current = self.hook.get_task(task.id)
        if current.is_terminal and not current.is_success and current.failure().retryable:
            self.log.info(
                "Evolink returned earlier failed task %s for this key; submitting a new job", task.id
            )
            # A new job is a new payment: every check runs before it, the cap and plan included.
            self._checks(context).clear_to_pay()
            return self._post(
                idempotency_key_for(context, previous_task_id=task.id, body=self._request.payload())
            )
        return task

    def _post(self, idempotency_key: str) -> EvolinkTask:
        try:
            return self.hook.submit_video(self._request, idempotency_key=idempotency_key)
        except EvolinkError as exc:
            raise_airflow_error(exc)

    def get_job_status(self, external_id: Any, context: Any) -> str:
        try:
            return self.hook.get_task(str(external_id)).raw_status
        except EvolinkNotFoundError:
            return NOT_FOUND
        except EvolinkError as exc:
            raise_airflow_error(exc)

    def is_job_active(self, status: str) -> bool:
        # "not_found" (an expired or unknown id) is no live job: submit afresh rather than wait on it.
        return status != NOT_FOUND and not TaskStatus.parse(status).is_terminal

    def is_job_succeeded(self, status: str) -> bool:
        return TaskStatus.parse(status).is_success

    def poll_until_complete(self, external_id: Any, context: Any) -> None:
        if self._submitted is None:
            # Reconnecting to an earlier try's job: show its link on this try too.
            push_link(context, EvolinkTaskLink)
            self.log.info(
                "Reconnected to Evolink task %s from an earlier try; nothing is paid again", external_id
            )
        try:
            final = self.hook.wait_for_task(
                str(external_id),
                timeout=self.timeout,
                schedule=PollSchedule(poll_interval=self.poll_interval),
                on_poll=self._log_poll,
            )
        except EvolinkError as exc:
            raise_airflow_error(exc)
        self._succeeded(context, self._finish(context, final), final.id, final.to_xcom())
        self._finished = True
        self._waited_for = str(external_id)

    def get_job_result(self, external_id: Any, context: Any) -> str:
        if not self._finished:
            # Reached directly when an earlier try's job had already completed.
            task = self.hook.get_task(str(external_id))
            self._succeeded(context, self._finish(context, task), task.id, task.to_xcom())
        return str(external_id)

    def _reuse_or_submit(self, context: Any) -> EvolinkTask:
        """The no-wait and deferrable paths: reuse a live task from an earlier try, else submit and store."""
        store = _state_store(context)
        previous = store.get(self.external_id_key) if store is not None and self.durable else None
        if previous:
            try:
                task = self.hook.get_task(str(previous))
            except EvolinkNotFoundError:
                task = None
            except EvolinkError as exc:
                raise_airflow_error(exc)
            if task is not None and (task.is_success or not task.is_terminal):
                self.log.info("Reusing Evolink task %s from an earlier try; nothing is paid again", task.id)
                self._record_submission(context, task)
                return task
        self.submit_job(context)
        task = self._submitted
        assert task is not None
        if store is not None and self.durable:
            store.set(self.external_id_key, task.id)
        return task

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> str:
        # Usually a new process after the deferral: what lineage needs comes from XCom and the event.
        if self._lineage.task is None:
            self._lineage.note_task(_submitted_task(context, self.task_id))
        if isinstance(event, dict):
            self._lineage.task_id = str(event.get("evolink_task_id") or "") or self._lineage.task_id
            if isinstance(event.get("task"), dict):
                self._lineage.note_task(event["task"], ended=event.get("status") in ("success", "failed"))
            if event.get("status") != "success":
                self._lineage.note_event_failure(event)
        try:
            urls = result_from_event(context, event, self.hook)
            task_id = str((event or {}).get("evolink_task_id") or "")
            self.log.info("Evolink task %s finished: %s", task_id, ", ".join(urls))
            self._succeeded(context, urls, task_id, (event or {}).get("task"))
        except Exception as exc:
            self._lineage.note_failure(exc)
            raise
        return task_id

    def _lineage_record(self) -> LineageRecord:
        if self._lineage.request is None:
            # At task start, or after a deferral: the request as the rendered fields give it.
            try:
                self._lineage.request = _plain(self._request_fields())
            except Exception:
                extra = self.extra if isinstance(self.extra, dict) else {}
                fields = {name: getattr(self, name) for name in REQUEST_FIELDS}
                self._lineage.request = _plain(
                    {**extra, **{k: v for k, v in fields.items() if v is not None}}
                )
        return self._lineage

    def _finish(self, context: Any, task: EvolinkTask) -> list[str]:
        """``finish_task``, noting the terminal task for lineage first."""
        self._lineage.note_task(task, ended=True)
        return finish_task(context, task)

    def _succeeded(self, context: Any, urls: list[str], task_id: str, task_data: Any) -> None:
        if self.download_to:
            saved = save_videos(
                context, self.hook, urls, self.download_to, task_id, self.log, self.download_checksum
            )
            self._lineage.note_downloads(saved)
        log_cost(context, task_data)  # the last line: what this generation cost

    def _record_submission(self, context: Any, task: EvolinkTask) -> None:
        self._lineage.note_task(task)
        ti = context["ti"]
        ti.xcom_push(key=xcom_keys.EVOLINK_TASK, value=task.to_xcom())
        ti.xcom_push(key=xcom_keys.CREDITS_RESERVED, value=task.credits_reserved)
        ti.xcom_push(key=xcom_keys.ESTIMATED_TIME, value=task.estimated_time)
        if task.idempotency_replayed:
            # Kept apart from evolink_task, which a wait overwrites with the finished task.
            ti.xcom_push(key=xcom_keys.IDEMPOTENCY_REPLAYED, value=True)
        push_link(context, EvolinkTaskLink)
        estimate = self._before_payment.estimate if self._before_payment is not None else None
        priced = (
            f"estimate {format_uc(estimate.uc)}; " if estimate is not None and estimate.uc is not None else ""
        )
        self.log.info(
            "Submitted Evolink task %s (model %s): status %s, %s%s, estimated time %s s",
            task.id,
            task.model or self.model,
            task.raw_status,
            priced,
            format_reported("credits_reserved", task.credits_reserved),
            _fmt(task.estimated_time),
        )

    def _defer_until_done(self, context: Any, task: EvolinkTask) -> str:
        if task.is_terminal:
            self._succeeded(context, self._finish(context, task), task.id, task.to_xcom())
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

    def _log_poll(self, task: EvolinkTask) -> None:
        self.log.info("Evolink task %s is %s: %d%%", task.id, task.raw_status, task.progress)


def _submitted_task(context: Any, task_id: str) -> Any:
    """The task as this try pushed it at submission (XCom ``evolink_task``), or ``None``; for lineage
    after a deferral, so it never raises."""
    ti = context["ti"]
    try:
        return ti.xcom_pull(
            task_ids=task_id, key=xcom_keys.EVOLINK_TASK, map_indexes=getattr(ti, "map_index", -1)
        )
    except Exception:
        return None


def _state_store(context: Any) -> Any:
    """The task-instance state store (Airflow 3.3+), shared by every try of one task instance."""
    return context.get("task_state_store") if HAS_TASK_STATE_STORE else None


def idempotency_key_for(context: Any, previous_task_id: Any = None, body: Any = None) -> str:
    """One key per task instance (DAG, task, run, map index) and request body.

    Every try of one task instance sends the same body under the same key, so Evolink's ledger answers a
    repeated send with the job the first created. A task cleared after its request changed (a new
    prompt) gets a new key: the ledger refuses a known key with another body (``idempotency_conflict``),
    and the user meant a new generation. When an earlier try's job ended and a new one must be paid for
    (a retryable remote failure), that job's id is mixed in too. 48 characters of the gateway's alphabet.
    """
    ti = context["ti"]
    parts = [ti.dag_id, ti.task_id, ti.run_id, str(getattr(ti, "map_index", -1))]
    if body is not None:
        parts.append(json.dumps(body, sort_keys=True, separators=(",", ":"), default=str))
    if previous_task_id:
        parts.append(str(previous_task_id))
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]
    return f"airflow-{digest}"


def _is_template(value: Any) -> bool:
    return isinstance(value, str) and "{{" in value


def _fmt(value: float | None) -> str:
    return "unknown" if value is None else f"{value:g}"


def _plain(fields: dict[str, Any]) -> dict[str, Any]:
    """The fields as JSON values: an ``ObjectStoragePath`` becomes its URL (``s3://bucket/key``)."""
    return json.loads(json.dumps(fields, default=str))


# Exported here too, beside the submit operator it plans for (the README's table of public names).
from airflow_evolink.operators.plan import EvolinkPlanBudgetOperator  # noqa: E402
