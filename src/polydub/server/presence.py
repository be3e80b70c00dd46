"""What every worker process does besides running jobs, under either runner: announce itself with a
heartbeat in the store (``/api/health``, ``/metrics``), release idle models, and die with its parent."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time

from polydub import resident
from polydub.server.store import JobStore

log = logging.getLogger("polydub.server.presence")


class WorkerPresence:
    def __init__(self, store: JobStore, name: str, kind: str, queues: list[str], every_s: float,
                 idle: resident.IdleRelease) -> None:
        self.store, self.name, self.kind, self.queues, self.every_s, self.idle = \
            store, name, kind, queues, every_s, idle
        self.job_id: str | None = None
        self.jobs_done = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="polydub-presence", daemon=True)

    def start(self) -> WorkerPresence:
        self.beat()
        self._thread.start()
        return self

    def beat(self) -> None:
        try:
            self.store.worker_beat(self.name, kind=self.kind, hostname=socket.gethostname(), pid=os.getpid(),
                                   queues=self.queues, job_id=self.job_id, jobs_done=self.jobs_done,
                                   models_loaded=bool(resident.loaded()))
        except Exception:  # noqa: BLE001 - the store may be briefly unreachable
            log.warning("worker %s: heartbeat failed", self.name, exc_info=True)

    def job_started(self, job_id: str) -> None:
        self.job_id = job_id
        self.idle.job_started()
        self.beat()

    def job_finished(self) -> None:
        self.job_id = None
        self.jobs_done += 1
        self.idle.job_finished()
        self.beat()

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(Exception):
            self.store.worker_gone(self.name)

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            self.beat()


def die_with_parent() -> None:
    """If the parent dies (even by SIGKILL), end this process and everything it started: the job
    it ran is then re-queued by whoever notices (a restarted server, or the lost-job monitor)."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                if hasattr(os, "killpg") and os.getpgrp() == os.getpid():
                    os.killpg(os.getpgrp(), signal.SIGKILL)
                os._exit(1)

    threading.Thread(target=watch, name="polydub-parent-watch", daemon=True).start()
