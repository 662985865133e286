"""Everything one emulator instance remembers, behind one lock.

The aiohttp handlers run on the server's own thread while tests call the Python API from theirs; a single
re-entrant lock keeps both sides consistent and is cheap because each hold is a few dict operations.
"""

from __future__ import annotations

import threading
from typing import Any

from airflow_evolink.emulator.billing import Credits, Ledger
from airflow_evolink.emulator.clock import Clock
from airflow_evolink.emulator.config import EmulatorConfig, check_pricing_status, check_receipts_status
from airflow_evolink.emulator.faults import FaultPlan, Faults
from airflow_evolink.emulator.filestore import UploadStore
from airflow_evolink.emulator.idempotency import IdempotencyLedger
from airflow_evolink.emulator.jobs import JobStore
from airflow_evolink.emulator.pricing import PricingRoutes
from airflow_evolink.emulator.ratelimit import TokenBucket
from airflow_evolink.emulator.recorder import Recorder


class EmulatorState:
    def __init__(self, config: EmulatorConfig, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or Clock()
        self.lock = threading.RLock()
        self.ledger = Ledger(config.credits, config.token_credits, config.token_unlimited)
        self.jobs = JobStore(config, self.clock)
        self.plan = FaultPlan()
        self.faults = Faults(self.lock, self.plan, self.jobs)
        self.recorder = Recorder(config.request_log_limit)
        self.idempotency = IdempotencyLedger()
        self.bucket = self._new_bucket()
        self.uploads = UploadStore(config.upload_receipts_status)
        self.pricing = PricingRoutes(status=config.pricing_status)

    def settle(self) -> None:
        """Refund every task that has ended failed or cancelled since the last call (caller holds the lock).

        Called before credits are read or charged and before a task is shown, so the balance is right
        whenever anyone can see it, with nothing running in the background.
        """
        for job in self.jobs.settle_due(self.clock.now()):
            if not job.charged:
                self.ledger.refund(job.uc)

    def _new_bucket(self) -> TokenBucket | None:
        rate = self.config.rate_limit
        if rate is None:
            return None
        burst = self.config.rate_burst or max(1, int(rate))
        return TokenBucket(rate, burst, self.clock.now())

    def reset(self) -> None:
        """Back to a fresh start: no tasks, faults, log or replays; full credits; clock offset 0."""
        with self.lock:
            self.clock.reset()
            self.ledger.reset()
            self.jobs.clear()
            self.plan.rules.clear()
            self.recorder.clear()
            self.idempotency.clear()
            self.uploads.clear()
            self.pricing = PricingRoutes(status=self.config.pricing_status)
            self.bucket = self._new_bucket()


class StateView:
    """Read access for tests (`EmulatorServer.state`); every method returns plain copies."""

    def __init__(self, state: EmulatorState) -> None:
        self._state = state

    def requests(self) -> list[dict[str, Any]]:
        with self._state.lock:
            return [record.to_dict() for record in self._state.recorder.records]

    def stats(self) -> dict[str, Any]:
        with self._state.lock:
            return self._state.recorder.stats()

    def credits(self) -> dict[str, Any]:
        """The GET /v1/credits body."""
        with self._state.lock:
            self._state.settle()
            return self._state.ledger.view()

    def set_credits(
        self,
        remaining: Credits | None = None,
        *,
        user: Credits | None = None,
        token: Credits | None = None,
        unlimited: bool | None = None,
    ) -> None:
        """Set the account balance (`user`), the key's figure (`token`) and whether the key is unlimited.

        `remaining` sets both figures at once (unless `user`/`token` are given too); what was used so
        far stays. E.g. the docs' example: `set_credits(user=1095.3996, token=99416.4429, unlimited=True)`.
        """
        if remaining is not None:
            user = remaining if user is None else user
            token = remaining if token is None else token
        with self._state.lock:
            self._state.ledger.set(user=user, token=token, unlimited=unlimited)

    def set_pricing_routes(self, status: int | None = None, *, revision: int | None = None) -> dict[str, int]:
        """Make the pricing routes answer normally (200), 404 or a 5xx; ``revision`` publishes a new
        version of the same figures (a new ETag). Returns the routes' settings."""
        if status is not None:
            check_pricing_status(status)
        if revision is not None and (
            isinstance(revision, bool) or not isinstance(revision, int) or revision < 1
        ):
            raise ValueError("revision must be a positive integer")
        with self._state.lock:
            routes = self._state.pricing
            if status is not None:
                routes.status = status
            if revision is not None:
                routes.revision = revision
            return {"status": routes.status, "revision": routes.revision}

    def tasks(self) -> list[dict[str, Any]]:
        """Every task with what the emulator recorded about it (including its callback_url)."""
        with self._state.lock:
            self._state.settle()
            now = self._state.clock.now()
            return [
                {
                    "id": job.id,
                    "model": job.model,
                    "status": job.status_at(now)[0],
                    "final_status": job.final_status,
                    "duration": job.duration,
                    "credits_reserved": job.uc,  # as the task shows it (the doc page's figure, in UC)
                    "uc": job.uc,
                    "credits": job.credits,
                    "charge_status": (None if not job.settled else "charged" if job.charged else "refunded"),
                    "callback_url": job.callback_url,
                    "api_key": job.api_key,
                }
                for job in self._state.jobs.jobs.values()
            ]

    def uploads(self) -> dict[str, Any]:
        """The file service: how many uploads it accepted and deleted, and the files it holds now."""
        with self._state.lock:
            store = self._state.uploads
            files = [
                {
                    "file_id": f.file_id,
                    "name": f.name,
                    "size": f.size,
                    "mime_type": f.mime_type,
                    "upload_id": f.upload_id,
                }
                for f in store.files.values()
            ]
            receipts = [
                {"upload_id": r.upload_id, "state": r.state, "file_id": r.file_id}
                for r in store.receipts.values()
            ]
            return {
                "uploads": store.uploads,
                "deleted": store.deleted,
                "files": files,
                "upload_ids": list(store.upload_ids),
                "receipts": receipts,
                "receipts_status": store.receipts_status,
            }

    def set_upload_receipts(self, status: int) -> int:
        """Make the receipts route answer normally (200) or as an older file service without it (404,
        405); ``reset()`` restores the config's setting."""
        check_receipts_status(status)
        with self._state.lock:
            self._state.uploads.receipts_status = status
        return status

    def uploaded_bytes(self, file_id: str) -> bytes:
        """The bytes the file service holds for ``file_id`` (KeyError when it holds none)."""
        with self._state.lock:
            path = self._state.uploads.files[file_id].path
        return path.read_bytes()

    def reset(self) -> None:
        self._state.reset()
