"""Retention: finished jobs older than ``keep_days`` are deleted with their files.

Run by the server every hour when ``--keep-days`` is set, and by ``polydub jobs prune``.
Queued and running jobs are never touched.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from dataclasses import dataclass

from polydub.server.settings import Settings
from polydub.server.store import JobStore

log = logging.getLogger("polydub.server.retention")
PRUNE_EVERY_S = 3600.0


@dataclass
class Pruned:
    job_ids: list[str]
    bytes_freed: int


def _size(path) -> int:
    total = 0
    for p in path.rglob("*") if path.exists() else ():
        try:
            if p.is_file():
                total += p.stat().st_size
        except OSError:
            pass
    return total


def prune(store: JobStore, settings: Settings, keep_days: float, dry_run: bool = False) -> Pruned:
    cutoff = time.time() - keep_days * 86400
    ids, freed = [], 0
    while True:
        batch = [j for j in store.finished_before(cutoff, limit=500) if j.id not in ids]
        if not batch:
            break
        for job in batch:
            folder = settings.job_dir(job.id)
            freed += _size(folder)
            ids.append(job.id)
            if not dry_run:
                store.delete(job.id)
                shutil.rmtree(folder, ignore_errors=True)
        if dry_run:
            break
    if ids and not dry_run:
        log.info("retention: deleted %d finished jobs older than %s days (%.1f MB)", len(ids), keep_days,
                 freed / 1e6)
    return Pruned(ids, freed)


class RetentionLoop:
    def __init__(self, store: JobStore, settings: Settings) -> None:
        self.store, self.settings = store, settings
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.settings.keep_days is None:
            return
        self._thread = threading.Thread(target=self._loop, name="polydub-retention", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                prune(self.store, self.settings, float(self.settings.keep_days or 0))
            except Exception:  # noqa: BLE001 - try again next time
                log.exception("retention run failed")
            self._stop.wait(PRUNE_EVERY_S)
