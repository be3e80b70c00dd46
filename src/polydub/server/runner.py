"""Embedded job runner: a pool of ``workers`` slots, each job in its own spawned worker process.

Progress and outcome travel back on a per-job multiprocessing queue (a worker that has to be
terminated can only corrupt its own queue) and are written to the job store by the supervisor
thread. Cancel = cooperative ``cancel`` event first, then SIGTERM/SIGKILL of the worker's process
group after ``cancel_grace_s``; the slot is free again as soon as the process is gone.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import queue as queue_mod
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from polydub.server.settings import Settings
from polydub.server.store import JobStore
from polydub.server.worker import child_main

log = logging.getLogger("polydub.server.runner")


@dataclass
class _Running:
    job_id: str
    task: str
    process: Any
    queue: Any
    cancel: Any
    started: float = field(default_factory=time.monotonic)
    cancel_at: float | None = None
    killed: bool = False
    outcome: tuple[str, dict] | None = None


class JobRunner:
    def __init__(self, settings: Settings, store: JobStore) -> None:
        self.settings, self.store = settings, store
        self.ctx = mp.get_context("spawn")
        self.running: dict[str, _Running] = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        self.recover()
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="polydub-runner", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the supervisor and the workers; their jobs stay 'running' and are recovered on next start."""
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=5)
        with self._lock:
            for r in list(self.running.values()):
                self._kill(r, signal.SIGKILL)
                r.process.join(timeout=2)
            self.running.clear()

    def recover(self) -> None:
        """Jobs a previous server left running are re-queued (finished stages are cached) or failed."""
        s = self.settings
        for job in self.store.list(statuses=["running"], limit=10_000):
            if not s.resume_on_start:
                reason = "resuming is turned off"
            elif job.resumes >= s.max_resumes:
                reason = f"it was already interrupted {job.resumes} times"
            elif not Path(job.input_path).exists():
                reason = "its uploaded input file is gone"
            else:
                self.store.add_event(job.id, status="queued", message="Resumed after a server restart "
                                     "(finished stages are reused)", resumes=job.resumes + 1)
                continue
            self.store.add_event(job.id, status="failed", message="Interrupted by a server restart",
                                 error_code="interrupted", finished_at=time.time(),
                                 error_message=f"The server stopped while this job was running and it was "
                                               f"not resumed because {reason}. Submit it again.")

    # -- API ----------------------------------------------------------------------------------
    def wake(self) -> None:
        self._wake.set()

    def queue_length(self) -> int:
        return self.store.count("queued")

    def cancel(self, job_id: str) -> str | None:
        """Request cancellation; returns the job's status right after the request."""
        with self._lock:
            r = self.running.get(job_id)
            if r is not None:
                if r.cancel_at is None:
                    r.cancel_at = time.monotonic()
                    r.cancel.set()
                    self.store.add_event(job_id, status="running", message="Cancelling…")
                self._wake.set()
                return "running"
        job = self.store.get(job_id)
        if job and job.status == "queued":
            self.store.add_event(job_id, status="cancelled", message="Cancelled before it started",
                                 error_code="cancelled", error_message="Cancelled by the user",
                                 finished_at=time.time())
            return "cancelled"
        return job.status if job else None

    # -- supervisor ---------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._tick()
            except Exception:  # noqa: BLE001 - the supervisor must never die
                log.exception("runner tick failed")
            self._wake.wait(0.1)
            self._wake.clear()

    def _tick(self) -> None:
        with self._lock:
            for r in list(self.running.values()):
                self._drain(r)
                if not r.process.is_alive():
                    r.process.join(timeout=1)
                    self._drain(r)
                    self._finish(r)
                elif r.cancel_at is not None:
                    waited = time.monotonic() - r.cancel_at
                    if waited > self.settings.cancel_grace_s + 0.5:
                        self._kill(r, signal.SIGKILL)
                    elif waited > self.settings.cancel_grace_s and not r.killed:
                        self._kill(r, signal.SIGTERM)
            while len(self.running) < max(1, self.settings.workers) and not self._stop.is_set():
                job = self.store.next_queued(exclude=self.running)
                if job is None:
                    break
                self._launch(job)

    def _launch(self, job) -> None:
        target = {"render": self.settings.render_target, "clone": self.settings.clone_target}.get(
            job.task, self.settings.dub_target)
        q, cancel = self.ctx.Queue(), self.ctx.Event()
        Path(job.out_dir).mkdir(parents=True, exist_ok=True)
        proc = self.ctx.Process(target=child_main, name=f"polydub-job-{job.id[:8]}", daemon=True,
                                args=(target, job.id, job.input_path, job.out_dir, dict(job.options), q, cancel))
        verb = {"render": "Re-rendering changed lines", "clone": "Cloning a voice"}.get(job.task, "Started")
        self.store.add_event(job.id, status="running", percent=0.0, message=verb, stage="media",
                             started_at=time.time(), error_code=None, error_message=None, finished_at=None)
        proc.start()
        self.running[job.id] = _Running(job.id, job.task, proc, q, cancel)

    def _drain(self, r: _Running) -> None:
        while True:
            try:
                kind, _job_id, payload = r.queue.get_nowait()
            except (queue_mod.Empty, EOFError, OSError, ValueError):
                return
            except Exception:  # noqa: BLE001 - a queue broken by terminate() is simply abandoned
                return
            if kind == "progress":
                if r.cancel_at is None:
                    self.store.add_event(r.job_id, status="running", stage=payload["stage"],
                                         percent=payload["percent"], message=payload["message"],
                                         stage_seconds=payload["stage_seconds"])
            else:
                r.outcome = (kind, payload)

    def _finish(self, r: _Running) -> None:
        self.running.pop(r.job_id, None)
        now = time.time()
        kind, payload = r.outcome or ("", {})
        if r.cancel_at is not None and kind != "done":
            how = "stopped cooperatively" if not r.killed else "worker process terminated"
            self.store.add_event(r.job_id, status="cancelled", message=f"Cancelled ({how})",
                                 error_code="cancelled", error_message="Cancelled by the user", finished_at=now)
        elif kind == "done":
            summary = _summary(payload)
            self.store.add_event(r.job_id, status="done", stage="done", percent=100.0,
                                 message={"render": "Re-render done", "clone": "Voice cloned"}.get(r.task, "Done"),
                                 stage_seconds=summary.get("stage_seconds") or None,
                                 report=payload, finished_at=now)
        elif kind in ("error", "cancelled"):
            status = "cancelled" if kind == "cancelled" else "failed"
            self.store.add_event(r.job_id, status=status, message=payload.get("message"),
                                 error_code=payload.get("code"), error_message=payload.get("message"),
                                 finished_at=now)
        else:
            code = r.process.exitcode
            self.store.add_event(r.job_id, status="failed", message="The worker process died",
                                 error_code="worker_crashed", finished_at=now,
                                 error_message=f"The worker process exited unexpectedly (exit code {code}); "
                                               "it may have run out of memory.")
        with contextlib.suppress(Exception):
            r.queue.close()
        self._wake.set()

    def _kill(self, r: _Running, sig: int) -> None:
        r.killed = True
        pid = r.process.pid
        if pid is None:
            return
        try:
            if hasattr(os, "killpg"):
                os.killpg(pid, sig)
            else:
                r.process.terminate()
        except (ProcessLookupError, PermissionError, OSError):
            with contextlib.suppress(Exception):
                r.process.kill() if sig == getattr(signal, "SIGKILL", None) else r.process.terminate()


def _summary(report: dict) -> dict:
    timing = report.get("timing") if isinstance(report.get("timing"), dict) else {}
    timings = timing.get("stages") or report.get("stage_seconds") or {}
    return {"stage_seconds": timings if isinstance(timings, dict) else {}}
