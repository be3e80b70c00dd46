"""GET /metrics: Prometheus text format.

Samples written by every process (server, embedded worker processes, Celery workers) come from the
multiprocess directory (polydub.telemetry); gauges of the present state (jobs per state, workers
and their heartbeats, disk) are read from the job store at scrape time, so they are right whichever
process or machine changed them. Token-protected when the server has a token, unless the server
runs with ``--metrics-public`` (e.g. for a Prometheus on a private network).
"""

from __future__ import annotations

import shutil
import time

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

import polydub
from polydub import telemetry
from polydub.server.deps import require_token

router = APIRouter(tags=["operations"])


class StoreCollector:
    """Scrape-time gauges from the job store (shared by every server and worker)."""

    def __init__(self, app_state) -> None:
        self.state = app_state

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily

        settings, store = self.state.settings, self.state.store
        now = time.time()
        info = InfoMetricFamily("polydub_build", "polydub version and job runner")
        info.add_metric([], {"version": polydub.__version__, "runner": getattr(self.state.runner, "kind", "?"),
                             "database": store.dialect})
        yield info
        jobs = GaugeMetricFamily("polydub_jobs", "Jobs in the store by state", labels=["state"])
        for state, n in store.counts().items():
            jobs.add_metric([state], n)
        yield jobs
        oldest = min((j.queued_at or j.created_at for j in store.list(statuses=["queued"], limit=10_000)),
                     default=None)
        yield GaugeMetricFamily("polydub_queue_oldest_wait_seconds", "How long the oldest queued job has waited",
                                value=(now - oldest) if oldest else 0.0)
        alive_after = now - 3 * settings.heartbeat_s
        workers = store.workers(forget_before=now - 86400)
        by_state = GaugeMetricFamily("polydub_workers", "Worker processes by state (alive: heartbeat within "
                                     "3 intervals)", labels=["kind", "state"])
        counts: dict[tuple[str, str], int] = {}
        for w in workers:
            state = ("busy" if w.job_id else "idle") if w.heartbeat_at >= alive_after else "lost"
            counts[(w.kind, state)] = counts.get((w.kind, state), 0) + 1
        for (kind, state), n in sorted(counts.items()):
            by_state.add_metric([kind, state], n)
        yield by_state
        age = GaugeMetricFamily("polydub_worker_heartbeat_age_seconds", "Seconds since each worker process "
                                "last reported", labels=["worker", "kind"])
        loaded = GaugeMetricFamily("polydub_worker_models_loaded", "1 when the worker process holds loaded "
                                   "models (warm)", labels=["worker", "kind"])
        done = GaugeMetricFamily("polydub_worker_jobs_done", "Jobs run by each worker process",
                                 labels=["worker", "kind"])
        for w in workers:
            age.add_metric([w.name, w.kind], max(0.0, now - w.heartbeat_at))
            loaded.add_metric([w.name, w.kind], 1.0 if w.models_loaded else 0.0)
            done.add_metric([w.name, w.kind], w.jobs_done)
        yield age
        yield loaded
        yield done
        yield GaugeMetricFamily("polydub_disk_free_bytes", "Free space on the data directory's disk",
                                value=shutil.disk_usage(settings.data_dir).free)


def render_metrics(app_state) -> bytes:
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    directory = telemetry.directory()
    if directory is not None:
        MultiProcessCollector(registry, path=str(directory))
    registry.register(StoreCollector(app_state))
    return generate_latest(registry)


@router.get("/metrics", summary="Prometheus metrics (polydub_*)", response_class=Response,
            responses={200: {"content": {"text/plain": {}}}})
async def metrics(request: Request) -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST

    if not request.app.state.settings.metrics_public:
        require_token(request)
    body = await run_in_threadpool(render_metrics, request.app.state)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
