"""Inside an embedded worker process (spawned by polydub.server.runner.JobRunner; light imports here).

The process lives as long as the server: it takes one job at a time from its inbox, runs it with
polydub.server.execution and reports back on its outbox. Models stay loaded between jobs.
"""

from __future__ import annotations

import logging
import os

from polydub import resident, telemetry
from polydub.server.execution import execute
from polydub.server.logs import configure_logging
from polydub.server.presence import WorkerPresence, die_with_parent
from polydub.server.settings import Settings
from polydub.server.store import JobStore

log = logging.getLogger("polydub.server.pool")


def embedded_worker_main(settings: Settings, name: str, inbox, outbox) -> None:
    if hasattr(os, "setpgrp"):
        os.setpgrp()  # own process group: a forced stop also ends ffmpeg & co. started by the pipeline
    die_with_parent()
    configure_logging(settings.log_format, logging.WARNING if settings.log_format == "text" else logging.INFO)
    telemetry.configure(settings.data_dir / "metrics")
    store = JobStore(settings.db_url, migrate=False)
    idle = resident.IdleRelease(settings.model_idle_s).start()
    presence = WorkerPresence(store, name, "embedded", [], settings.heartbeat_s, idle).start()
    try:
        while True:
            msg = inbox.get()
            if msg is None:
                break
            job_id, attempt, target = msg
            presence.job_started(job_id)
            try:
                status = execute(store, settings, job_id, attempt, name, target)
            except Exception:  # noqa: BLE001 - e.g. the store vanished; the parent decides what next
                log.exception("job %s: the worker could not run it", job_id)
                status = "error"
            finally:
                presence.job_finished()
            outbox.put(("finished", job_id, attempt, status))
    finally:
        presence.stop()
        store.close()
