"""Celery for polydub: the app (settings for long CPU jobs and at-least-once delivery) and the one
task, ``polydub.run_job(job_id, attempt)``, which runs any job kind of the task registry.

The broker only carries "run attempt N of job X"; everything else (inputs, options, progress,
outcomes, cancel requests) lives in the job store and the shared data directory, so a message
delivered twice is harmless: ``JobStore.claim`` lets exactly one worker run an attempt.

Worker side: ``polydub worker`` (polydub.server.cli_ops) builds the app with ``create_celery`` and
starts a prefork pool; each pool process is a warm worker (models stay loaded between jobs,
released after ``model_idle_s`` idle), in its own process group so a forced stop (the server's
``revoke(terminate=True)`` after the cancel grace time) also ends the ffmpeg processes it started.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
from dataclasses import dataclass

from polydub import resident
from polydub.server.settings import Settings

log = logging.getLogger("polydub.server.celery")
TASK_NAME = "polydub.run_job"


def create_celery(settings: Settings):
    from celery import Celery

    if not settings.broker_url:
        raise ValueError("a broker URL is needed for the Celery runner")
    app = Celery("polydub", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        # At-least-once: the message is acknowledged only after the job ran, and given back to the
        # broker when the process running it dies, so no job is lost with a worker.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        # Jobs take minutes of CPU: a worker process reserves one at a time, never a batch that
        # would wait behind a long job while another worker sits idle.
        worker_prefetch_multiplier=1,
        # Redis gives an unacknowledged message to another worker after this long: it must be
        # longer than the longest job, or a job still running would start a second time.
        broker_transport_options={"visibility_timeout": int(settings.visibility_timeout_s)},
        task_default_queue=settings.queue,
        task_ignore_result=True,  # outcomes live in the job store; no result backend
        task_serializer="json", accept_content=["json"],
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.5,
                                   "interval_max": 1},
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_max_tasks_per_child=None,  # warm workers: a pool process keeps its models
        worker_send_task_events=False,
        worker_enable_remote_control=True,  # revoke(terminate=True) for the forced stop of a cancel
    )
    app.task(name=TASK_NAME, acks_late=True, reject_on_worker_lost=True)(run_job)
    return app


# -- inside a worker ------------------------------------------------------------------------------
@dataclass
class _WorkerContext:
    settings: Settings
    node: str
    queues: list[str]
    pid: int = 0
    store: object = None
    presence: object = None


_context: _WorkerContext | None = None


def configure_worker(settings: Settings, node: str, queues: list[str]) -> None:
    """Called by ``polydub worker`` before the pool starts; pool processes inherit it."""
    global _context
    _context = _WorkerContext(settings, node, queues)
    from celery import signals

    signals.worker_process_init.connect(_process_init, weak=False)
    signals.worker_process_shutdown.connect(_process_shutdown, weak=False)


def _process_init(**_kwargs) -> None:
    if hasattr(os, "setpgrp"):
        os.setpgrp()
        # The server's forced stop sends SIGTERM to this process: take the whole group down with it.
        signal.signal(signal.SIGTERM, lambda *_: os.killpg(os.getpgrp(), signal.SIGKILL))
    from polydub.server.presence import die_with_parent

    die_with_parent()
    _ensure_process_state()


def _ensure_process_state() -> _WorkerContext:
    """Per pool process: its own database connections (never shared across fork) and presence row."""
    ctx = _context
    if ctx is None:
        raise RuntimeError("polydub worker is not configured (start it with 'polydub worker')")
    if ctx.pid != os.getpid():
        from polydub.server.presence import WorkerPresence
        from polydub.server.store import JobStore

        ctx.pid = os.getpid()
        ctx.store = JobStore(ctx.settings.db_url, migrate=False)
        idle = resident.IdleRelease(ctx.settings.model_idle_s).start()
        ctx.presence = WorkerPresence(ctx.store, f"{ctx.node}/{ctx.pid}", "celery", ctx.queues,
                                      ctx.settings.heartbeat_s, idle).start()
    return ctx


def _process_shutdown(**_kwargs) -> None:
    ctx = _context
    if ctx is not None and ctx.pid == os.getpid() and ctx.presence is not None:
        ctx.presence.stop()


def run_job(job_id: str, attempt: int) -> str:
    """The Celery task: one attempt of one job (any registered kind)."""
    from polydub.server.execution import execute

    ctx = _ensure_process_state()
    ctx.presence.job_started(job_id)
    try:
        return execute(ctx.store, ctx.settings, job_id, int(attempt), ctx.presence.name)
    finally:
        ctx.presence.job_finished()


def default_node_name(name: str | None = None) -> str:
    return f"{name or 'polydub'}@{socket.gethostname()}"
