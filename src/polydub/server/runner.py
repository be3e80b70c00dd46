"""Job runners. The server, the API and the studio see one interface::

    start() / stop()        with the app's lifespan
    submit(job_id)          a job was queued (new upload, re-render): get it run
    cancel(job_id)          cooperative flag first, a forced stop after ``cancel_grace_s``
    queue_length(), running (dict job id -> anything), status() (for /api/health)

Two implementations: ``JobRunner`` here (embedded, the zero-set-up default: a pool of warm worker
processes beside the server) and ``polydub.server.celery_runner.CeleryRunner`` (``--broker``: jobs
go to ``polydub worker`` processes on any machine). Both run a job the same way
(polydub.server.execution) and look up what to run in the task registry (polydub.server.tasks).

Embedded pool: ``workers`` long-lived processes, each in its own process group; a job is handed to
an idle one over its own queue, and the process keeps its models loaded for the next job (released
after ``model_idle_s`` idle). Progress and outcomes go straight to the store. A worker that does
not stop cooperatively within the grace time is killed with its process group (ffmpeg & co.) and
replaced by a fresh (cold) process; a worker that dies fails its job with ``worker_crashed``.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import queue as queue_mod
import signal
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from polydub.server.settings import Settings
from polydub.server.store import ACTIVE, JobStore
from polydub.server.tasks import UnknownTaskError

log = logging.getLogger("polydub.server.runner")


def recover_interrupted(store: JobStore, settings: Settings, jobs, cause: str = "the server stopped") -> None:
    """Jobs whose worker is gone are re-queued (finished stages are cached) or failed."""
    for job in jobs:
        if not settings.resume_on_start:
            reason = "resuming is turned off"
        elif job.resumes >= settings.max_resumes:
            reason = f"it was already interrupted {job.resumes} times"
        elif not Path(job.input_path).exists():
            reason = "its uploaded input file is gone"
        else:
            store.enqueue(job.id, message=f"Resumed: {cause} while it ran (finished stages are reused)",
                          resumed=True)
            continue
        store.transition(job.id, from_status=("running",), attempt=job.attempt, status="failed",
                         message=f"Interrupted: {cause}", error_code="interrupted", finished_at=time.time(),
                         error_message=f"{cause[0].upper()}{cause[1:]} while this job was running and it was "
                                       f"not resumed because {reason}. Submit it again.")


class SupervisedRunner:
    """What both runners share: a supervisor thread that ticks every 0.1 s (and at once on submit),
    the queue length, and cancelling a job that has not started."""

    kind = "?"

    def __init__(self, settings: Settings, store: JobStore) -> None:
        self.settings, self.store = settings, store
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def _start_supervisor(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=f"polydub-{self.kind}-runner", daemon=True)
        self._thread.start()

    def _stop_supervisor(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=5)

    def submit(self, job_id: str) -> None:
        self._wake.set()  # the supervisor picks it up: a request never waits on a worker or a broker

    wake = submit

    def queue_length(self) -> int:
        return self.store.count("queued")

    def _cancel_queued(self, job) -> bool:
        return job.status == "queued" and self.store.transition(
            job.id, from_status=("queued",), status="cancelled", message="Cancelled before it started",
            error_code="cancelled", error_message="Cancelled by the user", finished_at=time.time())

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._tick()
            except Exception:  # noqa: BLE001 - the supervisor must never die
                log.exception("%s runner tick failed", self.kind)
            self._wake.wait(0.1)
            self._wake.clear()

    def _tick(self) -> None:
        raise NotImplementedError


@dataclass
class _Slot:
    index: int
    name: str
    process: Any = None
    inbox: Any = None
    outbox: Any = None
    job_id: str | None = None
    attempt: int = 0
    cancel_at: float | None = None
    killed: bool = False


class JobRunner(SupervisedRunner):
    """The embedded runner (see the module docstring)."""

    kind = "embedded"

    def __init__(self, settings: Settings, store: JobStore) -> None:
        super().__init__(settings, store)
        self.ctx = mp.get_context("spawn")
        self.host = socket.gethostname()
        self.slots = [_Slot(i, f"embedded@{self.host}/{os.getpid()}.{i}") for i in range(max(1, settings.workers))]
        self._lock = threading.RLock()

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        self.recover()
        with self._lock:
            for slot in self.slots:
                self._spawn(slot)
        self._start_supervisor()

    def stop(self) -> None:
        """Stop the supervisor and the workers; their jobs stay 'running' and are recovered on next start."""
        self._stop_supervisor()
        with self._lock:
            for slot in self.slots:
                if slot.process is not None and slot.process.is_alive():
                    if slot.job_id is None:
                        with contextlib.suppress(Exception):
                            slot.inbox.put(None)
                        slot.process.join(timeout=1)
                    self._kill(slot, signal.SIGKILL)
                    slot.process.join(timeout=2)

    def recover(self) -> None:
        """Jobs a previous server on this host left running are re-queued or failed."""
        mine = f"embedded@{self.host}/"
        stale = time.time() - self.settings.job_lost_after_s
        jobs = [j for j in self.store.list(statuses=["running"], limit=10_000)
                if not j.worker or j.worker.startswith(mine) or (j.heartbeat_at or 0) < stale]
        recover_interrupted(self.store, self.settings, jobs)

    # -- API ----------------------------------------------------------------------------------
    @property
    def running(self) -> dict[str, _Slot]:
        """Jobs on a worker now (a job whose worker is being stopped after a cancel is not running)."""
        with self._lock:
            return {s.job_id: s for s in self.slots if s.job_id and not s.killed}

    def status(self) -> dict[str, Any]:
        with self._lock:
            alive = sum(1 for s in self.slots if s.process is not None and s.process.is_alive())
        return {"runner": "embedded", "broker": None, "processes": alive}

    def cancel(self, job_id: str) -> str | None:
        """Request cancellation; returns the job's status right after the request."""
        job = self.store.get(job_id)
        if job is None:
            return None
        if self._cancel_queued(job):
            return "cancelled"
        if job.status == "running":
            self.store.request_cancel(job_id)
            with self._lock:
                for slot in self.slots:
                    if slot.job_id == job_id and slot.cancel_at is None:
                        slot.cancel_at = time.monotonic()
            self._wake.set()
            return "running"
        return job.status

    # -- supervisor ---------------------------------------------------------------------------
    def _tick(self) -> None:
        with self._lock:
            for slot in self.slots:
                self._drain(slot)
                if not slot.process.is_alive():
                    slot.process.join(timeout=1)
                    self._drain(slot)
                    self._worker_died(slot)
                    if not self._stop.is_set():
                        self._spawn(slot)
                elif slot.job_id and slot.cancel_at is not None:
                    waited = time.monotonic() - slot.cancel_at
                    if waited > self.settings.cancel_grace_s + 0.5:
                        self._kill(slot, signal.SIGKILL)
                    elif waited > self.settings.cancel_grace_s and not slot.killed:
                        # The store says cancelled now (the API answers at once); the attempt guard keeps
                        # the dying process from writing anything after it.
                        self.store.transition(slot.job_id, from_status=ACTIVE, attempt=slot.attempt,
                                              status="cancelled", error_code="cancelled",
                                              message="Cancelled (worker process stopped; a fresh one "
                                                      "replaces it)",
                                              error_message="Cancelled by the user", finished_at=time.time())
                        self._kill(slot, signal.SIGTERM)
            for slot in self.slots:
                if self._stop.is_set() or slot.job_id or not slot.process.is_alive():
                    continue
                job = self.store.next_queued(exclude=self.running)
                if job is None:
                    break
                self._dispatch(slot, job)

    def _dispatch(self, slot: _Slot, job) -> None:
        try:
            target = self.settings.target_for(job.task)
        except UnknownTaskError as exc:
            self.store.transition(job.id, from_status=("queued",), status="failed", message=str(exc),
                                  error_code="unknown_task", error_message=str(exc), finished_at=time.time())
            return
        slot.job_id, slot.attempt, slot.cancel_at, slot.killed = job.id, job.attempt, None, False
        slot.inbox.put((job.id, job.attempt, target))

    def _drain(self, slot: _Slot) -> None:
        while True:
            try:
                msg = slot.outbox.get_nowait()
            except (queue_mod.Empty, EOFError, OSError, ValueError):
                return
            except Exception:  # noqa: BLE001 - a queue broken by a kill is simply abandoned
                return
            if msg[0] == "finished" and msg[1] == slot.job_id:
                if msg[3] == "error":  # the attempt could not even report its end: do it for it
                    self.store.transition(msg[1], from_status=ACTIVE, attempt=msg[2], status="failed",
                                          message="The worker could not run the job", error_code="worker_error",
                                          error_message="The worker could not run the job (see the server log).",
                                          finished_at=time.time())
                slot.job_id, slot.cancel_at = None, None
                self._wake.set()

    def _worker_died(self, slot: _Slot) -> None:
        job_id, attempt, cancel_at, killed = slot.job_id, slot.attempt, slot.cancel_at, slot.killed
        slot.job_id, slot.cancel_at = None, None
        if job_id is None:
            if not self._stop.is_set():
                log.warning("idle worker %s exited (code %s); starting a new one", slot.name, slot.process.exitcode)
            return
        now = time.time()
        if cancel_at is not None:
            how = "stopped cooperatively" if not killed else "worker process stopped; a fresh one replaces it"
            self.store.transition(job_id, from_status=ACTIVE, attempt=attempt, status="cancelled",
                                  message=f"Cancelled ({how})", error_code="cancelled",
                                  error_message="Cancelled by the user", finished_at=now)
        else:
            code = slot.process.exitcode
            self.store.transition(job_id, from_status=ACTIVE, attempt=attempt, status="failed",
                                  message="The worker process died", error_code="worker_crashed", finished_at=now,
                                  error_message=f"The worker process exited unexpectedly (exit code {code}); "
                                                "it may have run out of memory.")
        with contextlib.suppress(Exception):
            self.store.worker_gone(slot.name)

    def _spawn(self, slot: _Slot) -> None:
        from polydub.server.pool import embedded_worker_main

        for q in (slot.inbox, slot.outbox):
            if q is not None:
                with contextlib.suppress(Exception):
                    q.close()
        slot.inbox, slot.outbox = self.ctx.Queue(), self.ctx.Queue()
        slot.killed = False
        slot.process = self.ctx.Process(target=embedded_worker_main, name=f"polydub-worker-{slot.index}",
                                        args=(self.settings, slot.name, slot.inbox, slot.outbox), daemon=True)
        slot.process.start()

    def _kill(self, slot: _Slot, sig: int) -> None:
        slot.killed = True
        pid = slot.process.pid if slot.process is not None else None
        if pid is None:
            return
        try:
            if hasattr(os, "killpg"):
                os.killpg(pid, sig)
            else:
                slot.process.terminate()
        except (ProcessLookupError, PermissionError, OSError):
            with contextlib.suppress(Exception):
                slot.process.kill() if sig == getattr(signal, "SIGKILL", None) else slot.process.terminate()


EmbeddedRunner = JobRunner
