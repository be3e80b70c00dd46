"""The Celery runner (``polydub serve --broker redis://...``): same interface as the embedded
JobRunner, but jobs run in ``polydub worker`` processes on any machine that shares the data
directory and the job database.

A monitor thread in the server does what the broker cannot know about:
- dispatch: queued jobs not yet sent (new, re-rendered, or the broker was down) are sent;
- forced cancel: a job still running ``cancel_grace_s`` after the cancel request (the worker's
  watch thread sets the cooperative flag within 0.2 s) is revoked with terminate, which kills the
  pool process and its process group; the job is marked cancelled at once;
- lost workers: a running attempt without a heartbeat for ``job_lost_after_s`` (its worker was
  killed or its machine went away) is queued again as a new attempt on another worker; stage
  caching in the job folder makes it resume at its last finished stage. The old attempt's
  message, if the broker ever redelivers it, is skipped by ``JobStore.claim``.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from polydub import telemetry
from polydub.server.celery_app import TASK_NAME, create_celery
from polydub.server.runner import SupervisedRunner, recover_interrupted
from polydub.server.settings import Settings
from polydub.server.store import JobStore

log = logging.getLogger("polydub.server.celery_runner")


def task_id(job_id: str, attempt: int) -> str:
    return f"{job_id}-{attempt}"


def redact(url: str | None) -> str | None:
    """The broker URL without its password (for /api/health and logs)."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.password:
        netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts)


class CeleryRunner(SupervisedRunner):
    kind = "celery"

    def __init__(self, settings: Settings, store: JobStore) -> None:
        super().__init__(settings, store)
        self.app = create_celery(settings)
        self._revoked: set[str] = set()
        self._broker: tuple[float, str | None] = (0.0, None)

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        self._start_supervisor()

    def stop(self) -> None:
        """Jobs keep running on the workers; a restarted server picks up where this one left."""
        self._stop_supervisor()

    # -- API ----------------------------------------------------------------------------------
    @property
    def running(self) -> dict[str, Any]:
        return {j.id: j for j in self.store.list(statuses=["running"], limit=10_000)}

    def cancel(self, job_id: str) -> str | None:
        job = self.store.get(job_id)
        if job is None:
            return None
        if self._cancel_queued(job):
            self._revoke(job.id, job.attempt, terminate=False)
            return "cancelled"
        if job.status == "running":
            self.store.request_cancel(job_id)
            self._wake.set()
            return "running"
        return job.status

    def broker_error(self) -> str | None:
        """None when the broker answers (checked at most every 2 s)."""
        checked, error = self._broker
        if time.monotonic() - checked < 2.0:
            return error
        try:
            with self.app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0.2, timeout=2)
            error = None
        except Exception as exc:  # noqa: BLE001 - reported in /api/health
            error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
        self._broker = (time.monotonic(), error)
        return error

    def status(self) -> dict[str, Any]:
        error = self.broker_error()
        return {"runner": "celery", "broker": {"url": redact(self.settings.broker_url), "ok": error is None,
                                               "error": error}}

    # -- monitor ------------------------------------------------------------------------------
    def _tick(self) -> None:
        now = time.time()
        for job in self.store.cancelling():
            if now - (job.cancel_requested_at or now) > self.settings.cancel_grace_s:
                # The store says cancelled first (the API answers now); the attempt guard keeps any late
                # write of the stopped process from undoing it, and the revoke stops the process.
                self.store.transition(job.id, from_status=("running",), attempt=job.attempt, status="cancelled",
                                      message="Cancelled (worker process stopped; a fresh one replaces it)",
                                      error_code="cancelled", error_message="Cancelled by the user",
                                      finished_at=time.time())
                self._revoke(job.id, job.attempt, terminate=True)
        lost = [j for j in self.store.lost(now - self.settings.job_lost_after_s) if not j.cancel_requested_at]
        for job in lost:
            log.warning("job %s: worker %s stopped beating; re-queuing it", job.id, job.worker)
            telemetry.observe_requeued(job.task)
        recover_interrupted(self.store, self.settings, lost, cause="its worker stopped answering")
        for job in self.store.undispatched():
            if self._stop.is_set() or not self._send(job):
                break

    def _send(self, job) -> bool:
        try:
            self.app.send_task(TASK_NAME, args=[job.id, job.attempt], task_id=task_id(job.id, job.attempt),
                               queue=self.settings.queue_for(job.task))
        except Exception as exc:  # noqa: BLE001 - broker down: the job waits, the monitor retries
            log.warning("could not send job %s to the broker (%s); will retry", job.id, exc)
            self._wake.wait(2.0)
            return False
        self.store.mark_dispatched(job.id, job.attempt)
        return True

    def _revoke(self, job_id: str, attempt: int, terminate: bool) -> None:
        tid = task_id(job_id, attempt)
        if tid in self._revoked and not terminate:
            return
        self._revoked.add(tid)
        try:
            self.app.control.revoke(tid, terminate=terminate, signal="SIGTERM")
        except Exception:  # noqa: BLE001 - the store already says cancelled; claim() skips it anyway
            log.warning("could not revoke %s", tid, exc_info=True)
