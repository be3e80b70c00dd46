"""One attempt of one job, run the same way by the embedded pool's worker processes and by Celery
workers: claim it in the store, run its kind's target (polydub.server.tasks), write progress and
the outcome to the store, watch for a cancel request and keep the attempt's heartbeat going.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

from polydub import telemetry
from polydub.server.logs import job_context
from polydub.server.settings import Settings
from polydub.server.store import JobStore
from polydub.server.tasks import load_target

log = logging.getLogger("polydub.server.execution")
CANCEL_POLL_S = 0.2


class StoreProgress:
    """Writes progress events of one attempt to the store, dropping near-duplicates."""

    def __init__(self, store: JobStore, job_id: str, attempt: int, cancel: threading.Event) -> None:
        self.store, self.job_id, self.attempt, self.cancel = store, job_id, attempt, cancel
        self.last: tuple[str, float, float] = ("", -10.0, 0.0)

    def __call__(self, ev: Any) -> None:
        if self.cancel.is_set():
            if threading.current_thread() is threading.main_thread():
                # Stop right here, inside long loops (Whisper's segments, synthesis) that only
                # report progress: far sooner than the next stage boundary.
                from polydub.errors import JobCancelledError

                raise JobCancelledError("the job was cancelled", "start it again to resume from the last stage")
            return
        stage = getattr(ev, "stage", None) or "working"
        pct = float(getattr(ev, "percent", 0.0) or 0.0)
        now = time.monotonic()
        last_stage, last_pct, last_t = self.last
        if stage == last_stage and stage != "done" and pct - last_pct < 0.5 and now - last_t < 2.0:
            return
        self.last = (stage, pct, now)
        try:
            self.store.add_event(self.job_id, status="running", stage=stage, percent=pct,
                                 message=getattr(ev, "message", "") or "", attempt=self.attempt,
                                 stage_seconds=dict(getattr(ev, "stage_seconds", None) or {}))
        except Exception:  # noqa: BLE001 - a busy or unreachable database must not fail the dub itself
            log.warning("job %s: progress event not stored (database busy?)", self.job_id, exc_info=True)


class AttemptWatch:
    """Background thread: turns a cancel request in the store into ``cancel.set()`` within
    CANCEL_POLL_S, and marks the attempt alive every ``heartbeat_s``."""

    def __init__(self, store: JobStore, job_id: str, attempt: int, cancel: threading.Event,
                 heartbeat_s: float) -> None:
        self.store, self.job_id, self.attempt, self.cancel = store, job_id, attempt, cancel
        self.heartbeat_s = heartbeat_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"polydub-watch-{job_id[:8]}", daemon=True)

    def start(self) -> AttemptWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def _run(self) -> None:
        last_beat = time.monotonic()
        while not self._stop.wait(CANCEL_POLL_S):
            try:
                if time.monotonic() - last_beat >= self.heartbeat_s:
                    ours, cancelled = self.store.heartbeat(self.job_id, self.attempt)
                    last_beat = time.monotonic()
                    if not ours or cancelled:
                        self.cancel.set()
                elif self.store.cancel_requested(self.job_id, self.attempt):
                    self.cancel.set()
            except Exception:  # noqa: BLE001 - a database hiccup must not kill the job
                log.warning("job %s: store unreachable from the watch thread", self.job_id, exc_info=True)


def execute(store: JobStore, settings: Settings, job_id: str, attempt: int, worker: str,
            target: str | None = None, on_start=None) -> str:
    """Run one attempt; returns its end status, or "skipped" when the attempt is not ours to run."""
    job = store.claim(job_id, attempt, worker, settings.job_lost_after_s)
    if job is None:
        log.info("job %s attempt %s: not claimed (cancelled, taken, or superseded)", job_id, attempt)
        return "skipped"
    with job_context(job_id):
        if on_start is not None:
            on_start(job)
        telemetry.observe_queue_wait(job.task, (job.started_at or time.time()) - (job.queued_at or job.created_at))
        log.info("job %s (%s) attempt %s started on %s", job.id, job.task, attempt, worker)
        cancel = threading.Event()
        watch = AttemptWatch(store, job.id, attempt, cancel, settings.heartbeat_s).start()
        began = time.perf_counter()
        try:
            status, fields = _run(job, target or settings.target_for(job.task), store, attempt, cancel)
        finally:
            watch.stop()
        total = time.perf_counter() - began
        if status == "cancelled" or (status != "done" and cancel.is_set()):
            status = "cancelled"
            fields = {"message": "Cancelled (stopped cooperatively)", "error_code": "cancelled",
                      "error_message": "Cancelled by the user"}
        written = _with_retries(lambda: store.transition(job.id, from_status=("running",), attempt=attempt,
                                                         status=status, finished_at=time.time(), **fields))
        if written:
            report = fields.get("report") or {}
            timing = report.get("timing") if isinstance(report.get("timing"), dict) else {}
            telemetry.observe_job(job.task, status, stage_seconds=fields.get("stage_seconds"),
                                  media_seconds=timing.get("media_seconds"), total_seconds=total,
                                  error_code=fields.get("error_code"))
        log.info("job %s attempt %s ended: %s%s", job.id, attempt, status, "" if written else " (superseded)")
        return status if written else "superseded"


def _with_retries(write, attempts: int = 6, first_wait_s: float = 0.5):
    """The outcome of minutes of work is not lost to a database that is busy for a moment: retried with
    growing waits (~30 s in all, on top of the driver's own busy timeout)."""
    wait = first_wait_s
    for attempt in range(attempts):
        try:
            return write()
        except Exception:  # noqa: BLE001 - OperationalError of any driver
            if attempt == attempts - 1:
                raise
            log.warning("store write failed; retrying in %.1f s", wait, exc_info=True)
            time.sleep(wait)
            wait *= 2


def _run(job, target: str, store: JobStore, attempt: int, cancel: threading.Event) -> tuple[str, dict]:
    if job.input_path and not Path(job.input_path).exists():
        message = ("The uploaded file is no longer on the server (it was deleted while the job waited); "
                   "upload it again.")
        return "failed", {"message": message, "error_code": "input_missing", "error_message": message}
    try:
        fn = load_target(target)
        Path(job.out_dir).mkdir(parents=True, exist_ok=True)
        report = _jsonable(fn(job.input_path, job.out_dir, dict(job.options),
                              StoreProgress(store, job.id, attempt, cancel), cancel) or {})
    except BaseException as exc:  # noqa: BLE001 - every failure becomes the job's error
        code = type(exc).__name__
        if code == "JobCancelledError":
            return "cancelled", {}
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        hint = getattr(exc, "hint", None)
        message = getattr(exc, "message", None) or str(exc) or code
        if hint:
            message = f"{message} ({hint})"
        if not hasattr(exc, "hint"):
            log.exception("job %s failed", job.id)
        return "failed", {"message": message, "error_code": code, "error_message": message}
    timing = report.get("timing") if isinstance(report.get("timing"), dict) else {}
    stage_seconds = timing.get("stages") or report.get("stage_seconds") or {}
    return "done", {"stage": "done", "percent": 100.0, "report": report,
                    "message": "Re-render done" if job.task == "render" else "Done",
                    "stage_seconds": stage_seconds if isinstance(stage_seconds, dict) else {}}


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
