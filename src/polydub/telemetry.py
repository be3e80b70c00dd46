"""Prometheus metrics (names prefixed ``polydub_``) and the hooks that feed them.

Jobs run in other processes than the one that serves ``/metrics`` (embedded worker processes,
Celery workers on other machines), so prometheus-client runs in multiprocess mode: each process
writes its samples to files in one shared directory (``PROMETHEUS_MULTIPROC_DIR``, by default
``<data dir>/metrics``, on the volume workers already share) named by host and pid so machines
never collide, and the server sums them at scrape time. Gauges that describe the present (jobs per
state, workers alive) are read from the job store at scrape time instead (polydub.server.metrics).

Hooks other code calls (cheap no-ops until ``configure`` ran in the process):
``observe_live_latency(stage, seconds)`` for live dubbing, ``observe_upload(nbytes)``,
``observe_queue_wait(kind, seconds)``, ``observe_job(...)``.
"""

from __future__ import annotations

import os
import re
import socket
import threading
from pathlib import Path
from typing import Any

ENV = "PROMETHEUS_MULTIPROC_DIR"
STAGE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 3600)
WAIT_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
RTF_BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10)
LIVE_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10)

_lock = threading.Lock()
_metrics: dict[str, Any] | None = None
_written_to: str | None = None  # the directory this process's own sample files are in
_generation = 0  # bumped when those files are gone: prometheus-client then opens new ones


def _process_id() -> str:
    host = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:60] or "host"
    return f"{host}-{os.getpid()}" + (f"-{_generation}" if _generation else "")


def configure(default_dir: Path | str | None = None) -> Path | None:
    """Turn on multiprocess metrics in this process (and the processes it starts afterwards).

    An existing ``PROMETHEUS_MULTIPROC_DIR`` wins; otherwise ``default_dir`` is used. Returns the
    directory, or None when there is none."""
    global _metrics, _written_to, _generation
    with _lock:
        directory = os.environ.get(ENV) or (str(default_dir) if default_dir else None)
        if not directory:
            return None
        # This process's samples were written to a directory that has since been deleted (a
        # data folder removed while the process lives on, as a test's temporary one is). Its
        # files are unlinked, and a scrape would never see what this process counts next.
        # A new process id makes prometheus-client open fresh files in the directory now in use.
        gone = _written_to is not None and not Path(_written_to).is_dir()
        Path(directory).mkdir(parents=True, exist_ok=True)
        os.environ[ENV] = directory
        if _metrics is None:
            from prometheus_client import values

            values.ValueClass = values.MultiProcessValue(process_identifier=_process_id)
            _metrics = _create()
        elif gone or _written_to != directory:
            _generation += 1
        _written_to = directory
        return Path(directory)


def directory() -> Path | None:
    return Path(os.environ[ENV]) if _metrics is not None and os.environ.get(ENV) else None


def _create() -> dict[str, Any]:
    from prometheus_client import Counter, Histogram

    return {
        "queue_wait": Histogram("polydub_queue_wait_seconds", "Time jobs waited in the queue before a worker "
                                "started them", ["task"], buckets=WAIT_BUCKETS),
        "stage": Histogram("polydub_stage_duration_seconds", "Wall time of each pipeline stage of finished jobs",
                           ["task", "stage"], buckets=STAGE_BUCKETS),
        "rtf": Histogram("polydub_stage_rtf", "Real-time factor of each stage (stage seconds / media seconds)",
                         ["task", "stage"], buckets=RTF_BUCKETS),
        "job_rtf": Histogram("polydub_job_rtf", "Real-time factor of whole jobs", ["task"], buckets=RTF_BUCKETS),
        "jobs": Counter("polydub_jobs_finished", "Jobs that reached an end state", ["task", "status"]),
        "failures": Counter("polydub_job_failures", "Failed jobs by error code", ["task", "code"]),
        "requeued": Counter("polydub_jobs_requeued", "Jobs re-queued because their worker was lost", ["task"]),
        "uploads": Counter("polydub_uploads", "Accepted uploads"),
        "upload_bytes": Counter("polydub_upload_bytes", "Bytes of accepted uploads"),
        "rejected": Counter("polydub_uploads_rejected", "Uploads refused before any work", ["reason"]),
        "live": Histogram("polydub_live_latency_seconds", "Live dubbing latency, speech in to dub out, by stage",
                          ["stage"], buckets=LIVE_BUCKETS),
    }


def _get(name: str):
    return _metrics[name] if _metrics is not None else None


def observe_queue_wait(task: str, seconds: float) -> None:
    if (m := _get("queue_wait")) is not None:
        m.labels(task).observe(max(0.0, seconds))


def observe_job(task: str, status: str, *, stage_seconds: dict | None = None, media_seconds: float | None = None,
                total_seconds: float | None = None, error_code: str | None = None) -> None:
    if _metrics is None:
        return
    _metrics["jobs"].labels(task, status).inc()
    if status == "failed":
        _metrics["failures"].labels(task, error_code or "unknown").inc()
    if status != "done":
        return
    for stage, seconds in (stage_seconds or {}).items():
        try:
            secs = float(seconds)
        except (TypeError, ValueError):
            continue
        _metrics["stage"].labels(task, stage).observe(secs)
        if media_seconds:
            _metrics["rtf"].labels(task, stage).observe(secs / media_seconds)
    if media_seconds and total_seconds:
        _metrics["job_rtf"].labels(task).observe(total_seconds / media_seconds)


def observe_requeued(task: str) -> None:
    if (m := _get("requeued")) is not None:
        m.labels(task).inc()


def observe_upload(nbytes: int) -> None:
    if _metrics is not None:
        _metrics["uploads"].inc()
        _metrics["upload_bytes"].inc(max(0, int(nbytes)))


def observe_rejected_upload(reason: str) -> None:
    if (m := _get("rejected")) is not None:
        m.labels(reason).inc()


def observe_live_latency(stage: str, seconds: float) -> None:
    """For live dubbing: seconds from speech heard to dub played, per stage (asr, translate, tts, total)."""
    if (m := _get("live")) is not None:
        m.labels(stage).observe(max(0.0, seconds))
