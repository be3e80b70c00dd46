"""Job store: SQLAlchemy (SQLite in the data directory by default, PostgreSQL or any database_url otherwise).

Three tables: ``jobs`` (one row per job: status, progress, results, which attempt runs where),
``events`` (every progress event of every job, in order, so clients can replay them) and
``workers`` (one row per worker process with its heartbeat). The store is the one place the
server, the embedded pool's worker processes and Celery workers on other machines share: workers
write progress and outcomes here, the server reads them for the API and the WebSocket.

Delivery is at-least-once, so every write of a running job names its ``attempt``: a job that was
re-queued (worker lost), cancelled or re-rendered has moved on to a newer attempt, and late writes
of an old one are dropped instead of overwriting the truth.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import create_engine, delete, event, func, or_, select, text, update
from sqlalchemy.orm import Session

from polydub.server.records import (  # noqa: F401 - re-exported: the store's public names
    ACTIVE,
    TERMINAL,
    Base,
    EventRow,
    Job,
    JobRow,
    WorkerInfo,
    WorkerRow,
    event_dict,
)


def normalize_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` mean psycopg 3 here (the driver polydub installs)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


class JobStore:
    def __init__(self, url: str, migrate: bool = True) -> None:
        url = normalize_url(url)
        self.url = url
        kwargs: dict[str, Any] = {"pool_pre_ping": True}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        self.engine = create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            @event.listens_for(self.engine, "connect")
            def _pragmas(conn, _record):  # noqa: ANN001 - DB-API connection
                cur = conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.close()
        if migrate:
            from polydub.server.schema import migrate as run_migrations

            run_migrations(self.engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    def ping(self) -> str | None:
        """None when the database answers, else what went wrong (for /api/health)."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return None
        except Exception as exc:  # noqa: BLE001 - reported, never raised
            return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"

    def revision(self) -> str | None:
        try:
            with self.engine.connect() as conn:
                return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except Exception:  # noqa: BLE001
            return None

    # -- jobs ---------------------------------------------------------------------------------
    def create(self, *, input_name: str, input_path: str, out_dir: str, options: dict,
               job_id: str | None = None, task: str = "dub") -> Job:
        now = time.time()
        row = JobRow(id=job_id or uuid.uuid4().hex, created_at=now, updated_at=now, status="queued",
                     task=task, input_name=input_name, input_path=input_path, out_dir=out_dir,
                     options=options, progress=0.0, stage_seconds={}, resumes=0, attempt=1, queued_at=now)
        with Session(self.engine) as s:
            s.add(row)
            s.flush()
            s.add(EventRow(job_id=row.id, ts=now, status="queued", stage=None, percent=0.0,
                           message="Queued", stage_seconds={}))
            s.commit()
            return Job.of(row)

    def get(self, job_id: str) -> Job | None:
        with Session(self.engine) as s:
            row = s.get(JobRow, job_id)
            return Job.of(row) if row else None

    def list(self, statuses: Iterable[str] | None = None, limit: int = 200) -> list[Job]:
        with Session(self.engine) as s:
            q = select(JobRow).order_by(JobRow.created_at.desc()).limit(limit)
            if statuses:
                q = q.where(JobRow.status.in_(list(statuses)))
            return [Job.of(r) for r in s.scalars(q)]

    def next_queued(self, exclude: Iterable[str] = ()) -> Job | None:
        excluded = set(exclude)
        with Session(self.engine) as s:
            q = select(JobRow).where(JobRow.status == "queued").order_by(JobRow.queued_at, JobRow.updated_at)
            for row in s.scalars(q):
                if row.id not in excluded:
                    return Job.of(row)
        return None

    def count(self, status: str) -> int:
        with Session(self.engine) as s:
            return int(s.scalar(select(func.count()).select_from(JobRow).where(JobRow.status == status)) or 0)

    def counts(self) -> dict[str, int]:
        """Jobs per status (every status present, zero when none)."""
        with Session(self.engine) as s:
            rows = s.execute(select(JobRow.status, func.count()).group_by(JobRow.status)).all()
        counts = {status: 0 for status in (*ACTIVE, *TERMINAL)}
        counts.update({status: int(n) for status, n in rows})
        return counts

    def update(self, job_id: str, **fields: Any) -> Job | None:
        with Session(self.engine) as s:
            row = s.get(JobRow, job_id)
            if row is None:
                return None
            row.updated_at = time.time()
            for k, v in fields.items():
                setattr(row, k, v)
            s.commit()
            return Job.of(row)

    def delete(self, job_id: str) -> bool:
        with Session(self.engine) as s:
            row = s.get(JobRow, job_id)
            if row is None:
                return False
            s.execute(delete(EventRow).where(EventRow.job_id == job_id))
            s.delete(row)
            s.commit()
            return True

    def finished_before(self, cutoff: float, limit: int = 1000) -> list[Job]:
        """Finished jobs (done, failed, cancelled) last updated before ``cutoff`` (for retention)."""
        with Session(self.engine) as s:
            q = (select(JobRow).where(JobRow.status.in_(TERMINAL), JobRow.updated_at < cutoff)
                 .order_by(JobRow.updated_at).limit(limit))
            return [Job.of(r) for r in s.scalars(q)]

    # -- the life of an attempt ----------------------------------------------------------------
    def enqueue(self, job_id: str, *, message: str, task: str | None = None, resumed: bool = False,
                **fields: Any) -> Job | None:
        """Queue the job again as a new attempt (re-render, resume, worker lost)."""
        now = time.time()
        with Session(self.engine) as s:
            row = s.get(JobRow, job_id)
            if row is None:
                return None
            row.attempt = (row.attempt or 1) + 1
            row.status, row.queued_at, row.updated_at = "queued", now, now
            row.dispatched_at = row.cancel_requested_at = row.heartbeat_at = None
            row.error_code = row.error_message = None
            row.message = message
            if task:
                row.task = task
            if resumed:
                row.resumes = (row.resumes or 0) + 1
            for k, v in fields.items():
                setattr(row, k, v)
            s.add(EventRow(job_id=job_id, ts=now, status="queued", stage=row.stage if resumed else None,
                           percent=row.progress, message=message, stage_seconds={}))
            s.commit()
            return Job.of(row)

    def claim(self, job_id: str, attempt: int, worker: str, lost_after_s: float) -> Job | None:
        """Atomically make ``worker`` the runner of this attempt; None when someone else has it, it
        was cancelled, or it moved on to a newer attempt (a redelivered duplicate is skipped here)."""
        now = time.time()
        stale = now - lost_after_s
        with Session(self.engine) as s:
            result = s.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.attempt == attempt, JobRow.cancel_requested_at.is_(None),
                       or_(JobRow.status == "queued",
                           (JobRow.status == "running") & or_(JobRow.heartbeat_at.is_(None),
                                                               JobRow.heartbeat_at < stale)))
                .values(status="running", worker=worker, heartbeat_at=now, started_at=now, updated_at=now,
                        error_code=None, error_message=None, finished_at=None)
            )
            if result.rowcount != 1:
                s.rollback()
                return None
            row = s.get(JobRow, job_id)
            s.add(EventRow(job_id=job_id, ts=now, status="running", stage=row.stage, percent=row.progress,
                           message="Re-rendering changed lines" if row.task == "render" else "Started",
                           stage_seconds={}))
            s.commit()
            return Job.of(row)

    def heartbeat(self, job_id: str, attempt: int) -> tuple[bool, bool]:
        """Mark the attempt alive; returns (still ours, cancel requested)."""
        now = time.time()
        with Session(self.engine) as s:
            s.execute(update(JobRow).where(JobRow.id == job_id, JobRow.attempt == attempt,
                                           JobRow.status == "running").values(heartbeat_at=now))
            row = s.execute(select(JobRow.attempt, JobRow.status, JobRow.cancel_requested_at)
                            .where(JobRow.id == job_id)).first()
            s.commit()
        if row is None:
            return False, True
        ours = row.attempt == attempt and row.status == "running"
        return ours, row.cancel_requested_at is not None

    def cancel_requested(self, job_id: str, attempt: int) -> bool:
        with Session(self.engine) as s:
            row = s.execute(select(JobRow.attempt, JobRow.status, JobRow.cancel_requested_at)
                            .where(JobRow.id == job_id)).first()
        return row is None or row.attempt != attempt or row.cancel_requested_at is not None \
            or row.status != "running"

    def request_cancel(self, job_id: str) -> Job | None:
        """Flag the running attempt; the worker's watch thread sees it within a fraction of a second."""
        now = time.time()
        with Session(self.engine) as s:
            row = s.get(JobRow, job_id)
            if row is None:
                return None
            if row.status == "running" and row.cancel_requested_at is None:
                row.cancel_requested_at, row.updated_at, row.message = now, now, "Cancelling…"
                s.add(EventRow(job_id=job_id, ts=now, status="running", stage=row.stage, percent=row.progress,
                               message="Cancelling…", stage_seconds={}))
            s.commit()
            return Job.of(row)

    def transition(self, job_id: str, *, from_status: Iterable[str], attempt: int | None = None,
                   status: str, **event_fields: Any) -> bool:
        """add_event, but only when the job is in one of ``from_status`` (and at ``attempt``)."""
        return self.add_event(job_id, status=status, only_from=tuple(from_status), attempt=attempt, **event_fields)

    def mark_dispatched(self, job_id: str, attempt: int) -> None:
        with Session(self.engine) as s:
            s.execute(update(JobRow).where(JobRow.id == job_id, JobRow.attempt == attempt)
                      .values(dispatched_at=time.time()))
            s.commit()

    def undispatched(self) -> list[Job]:
        with Session(self.engine) as s:
            q = (select(JobRow).where(JobRow.status == "queued", JobRow.dispatched_at.is_(None))
                 .order_by(JobRow.queued_at))
            return [Job.of(r) for r in s.scalars(q)]

    def lost(self, heartbeat_before: float) -> list[Job]:
        """Running attempts whose worker stopped beating (killed, machine gone)."""
        with Session(self.engine) as s:
            q = select(JobRow).where(JobRow.status == "running",
                                     or_(JobRow.heartbeat_at.is_(None), JobRow.heartbeat_at < heartbeat_before))
            return [Job.of(r) for r in s.scalars(q)]

    def cancelling(self) -> list[Job]:
        with Session(self.engine) as s:
            q = select(JobRow).where(JobRow.status == "running", JobRow.cancel_requested_at.is_not(None))
            return [Job.of(r) for r in s.scalars(q)]

    # -- events -------------------------------------------------------------------------------
    def add_event(self, job_id: str, *, status: str, stage: str | None = None, percent: float | None = None,
                  message: str | None = None, stage_seconds: dict | None = None, attempt: int | None = None,
                  only_from: tuple[str, ...] | None = None, **job_fields: Any) -> bool:
        """Store one event and mirror it onto the job row (status, stage, progress, timings).

        With ``attempt`` (or ``only_from``) the write happens only while the job is still at that
        attempt (in one of those statuses); returns whether it was written."""
        now = time.time()
        with Session(self.engine) as s:
            q = select(JobRow).where(JobRow.id == job_id)
            if self.dialect == "postgresql":
                q = q.with_for_update()  # read-modify-write of progress/stage_seconds: one writer at a time
            row = s.scalars(q).first()
            if row is None or (attempt is not None and row.attempt != attempt) \
                    or (only_from is not None and row.status not in only_from):
                return False
            pct = row.progress if percent is None else float(percent)
            row.status, row.progress, row.updated_at = status, pct, now
            if stage is not None:
                row.stage = stage
            if message is not None:
                row.message = message
            if stage_seconds:
                row.stage_seconds = {**(row.stage_seconds or {}), **stage_seconds}
            for k, v in job_fields.items():
                setattr(row, k, v)
            s.add(EventRow(job_id=job_id, ts=now, status=status, stage=row.stage, percent=pct,
                           message=message, stage_seconds=stage_seconds or {}))
            s.commit()
            return True

    def events(self, job_id: str, after_id: int = 0) -> list[dict[str, Any]]:
        with Session(self.engine) as s:
            q = (select(EventRow).where(EventRow.job_id == job_id, EventRow.id > after_id)
                 .order_by(EventRow.id))
            return [event_dict(r) for r in s.scalars(q)]

    # -- workers ------------------------------------------------------------------------------
    def worker_beat(self, name: str, *, kind: str, hostname: str, pid: int, queues: list[str],
                    job_id: str | None, jobs_done: int, models_loaded: bool) -> None:
        now = time.time()
        with Session(self.engine) as s:
            row = s.get(WorkerRow, name)
            if row is None:
                row = WorkerRow(name=name, kind=kind, hostname=hostname, pid=pid, queues=queues,
                                started_at=now, heartbeat_at=now)
                s.add(row)
            row.heartbeat_at, row.job_id, row.jobs_done, row.models_loaded = now, job_id, jobs_done, models_loaded
            row.pid, row.queues = pid, queues
            s.commit()

    def worker_gone(self, name: str) -> None:
        with Session(self.engine) as s:
            s.execute(delete(WorkerRow).where(WorkerRow.name == name))
            s.commit()

    def workers(self, forget_before: float | None = None) -> list[WorkerInfo]:
        """Known worker processes; rows silent since ``forget_before`` are deleted first."""
        with Session(self.engine) as s:
            if forget_before is not None:
                s.execute(delete(WorkerRow).where(WorkerRow.heartbeat_at < forget_before))
                s.commit()
            return [WorkerInfo.of(r) for r in s.scalars(select(WorkerRow).order_by(WorkerRow.name))]
