"""Job store: SQLAlchemy (SQLite in the data directory by default, any database_url otherwise).

Two tables: ``jobs`` (one row per dub, its status, progress and results) and ``events`` (every
progress event of every job, in order, so clients can replay them).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, Text, create_engine, event, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

TERMINAL = ("done", "failed", "cancelled")
ACTIVE = ("queued", "running")


class Base(DeclarativeBase):
    pass


class JobRow(Base):
    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    started_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # queued running done failed cancelled
    task: Mapped[str] = mapped_column(String(16), default="dub")  # dub | render | clone
    input_name: Mapped[str] = mapped_column(String(255))
    input_path: Mapped[str] = mapped_column(Text)
    out_dir: Mapped[str] = mapped_column(Text)
    options: Mapped[dict] = mapped_column(JSON, default=dict)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    stage: Mapped[str | None] = mapped_column(String(32), nullable=True)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    stage_seconds: Mapped[dict] = mapped_column(JSON, default=dict)
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    report: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    resumes: Mapped[int] = mapped_column(Integer, default=0)


class EventRow(Base):
    __tablename__ = "events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(32), ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    ts: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16))
    stage: Mapped[str | None] = mapped_column(String(32), nullable=True)
    percent: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    stage_seconds: Mapped[dict] = mapped_column(JSON, default=dict)


@dataclass
class Job:
    """A detached snapshot of a job row (safe to pass between threads)."""

    id: str
    created_at: float
    updated_at: float
    started_at: float | None
    finished_at: float | None
    status: str
    task: str
    input_name: str
    input_path: str
    out_dir: str
    options: dict
    progress: float
    stage: str | None
    message: str | None
    stage_seconds: dict
    error_code: str | None
    error_message: str | None
    report: dict | None
    resumes: int

    @classmethod
    def of(cls, row: JobRow) -> Job:
        return cls(**{f: getattr(row, f) for f in cls.__dataclass_fields__})


def _event_dict(row: EventRow) -> dict[str, Any]:
    return {"id": row.id, "job_id": row.job_id, "ts": row.ts, "status": row.status, "stage": row.stage,
            "percent": row.percent, "message": row.message, "stage_seconds": row.stage_seconds or {}}


class JobStore:
    def __init__(self, url: str) -> None:
        kwargs: dict[str, Any] = {}
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
        Base.metadata.create_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # -- jobs ---------------------------------------------------------------------------------
    def create(self, *, input_name: str, input_path: str, out_dir: str, options: dict,
               job_id: str | None = None, task: str = "dub") -> Job:
        now = time.time()
        row = JobRow(id=job_id or uuid.uuid4().hex, created_at=now, updated_at=now, status="queued",
                     task=task, input_name=input_name, input_path=input_path, out_dir=out_dir,
                     options=options, progress=0.0, stage_seconds={}, resumes=0)
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
        with Session(self.engine) as s:
            q = select(JobRow).where(JobRow.status == "queued").order_by(JobRow.updated_at)
            for row in s.scalars(q):
                if row.id not in set(exclude):
                    return Job.of(row)
        return None

    def count(self, status: str) -> int:
        with Session(self.engine) as s:
            return len(s.scalars(select(JobRow.id).where(JobRow.status == status)).all())

    def update(self, job_id: str, **fields: Any) -> Job | None:
        with Session(self.engine) as s:
            row = s.get(JobRow, job_id)
            if row is None:
                return None
            for k, v in fields.items():
                setattr(row, k, v)
            row.updated_at = time.time()
            s.commit()
            return Job.of(row)

    def delete(self, job_id: str) -> bool:
        with Session(self.engine) as s:
            row = s.get(JobRow, job_id)
            if row is None:
                return False
            for ev in s.scalars(select(EventRow).where(EventRow.job_id == job_id)):
                s.delete(ev)
            s.delete(row)
            s.commit()
            return True

    # -- events -------------------------------------------------------------------------------
    def add_event(self, job_id: str, *, status: str, stage: str | None = None, percent: float | None = None,
                  message: str | None = None, stage_seconds: dict | None = None, **job_fields: Any) -> None:
        """Store one event and mirror it onto the job row (status, stage, progress, timings)."""
        now = time.time()
        with Session(self.engine) as s:
            row = s.get(JobRow, job_id)
            if row is None:
                return
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

    def events(self, job_id: str, after_id: int = 0) -> list[dict[str, Any]]:
        with Session(self.engine) as s:
            q = (select(EventRow).where(EventRow.job_id == job_id, EventRow.id > after_id)
                 .order_by(EventRow.id))
            return [_event_dict(r) for r in s.scalars(q)]
