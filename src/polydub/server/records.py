"""Rows of the job store (SQLAlchemy models of the head schema; migrations in migrations/) and the
detached snapshots (``Job``, ``WorkerInfo``) the rest of the server passes around."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

TERMINAL = ("done", "failed", "cancelled")
ACTIVE = ("queued", "running")


class Base(DeclarativeBase):
    pass


class JobRow(Base):
    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[float] = mapped_column(Float, index=True)
    updated_at: Mapped[float] = mapped_column(Float)
    started_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # queued running done failed cancelled
    task: Mapped[str] = mapped_column(String(64), default="dub")  # a kind of polydub.server.tasks.TASKS
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
    # scale-out (migration 0002)
    attempt: Mapped[int] = mapped_column(Integer, default=1)  # bumped whenever the job is (re)queued
    queued_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    worker: Mapped[str | None] = mapped_column(String(200), nullable=True)  # who runs/ran the attempt
    heartbeat_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    cancel_requested_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    dispatched_at: Mapped[float | None] = mapped_column(Float, nullable=True)  # sent to the broker


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


class WorkerRow(Base):
    __tablename__ = "workers"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # embedded | celery
    hostname: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    queues: Mapped[list] = mapped_column(JSON, default=list)
    started_at: Mapped[float] = mapped_column(Float)
    heartbeat_at: Mapped[float] = mapped_column(Float)
    job_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    jobs_done: Mapped[int] = mapped_column(Integer, default=0)
    models_loaded: Mapped[bool] = mapped_column(Boolean, default=False)


class AvatarRow(Base):
    """An uploaded portrait (migration 0003); its animations are jobs of kind "animate"."""

    __tablename__ = "avatars"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    image_name: Mapped[str] = mapped_column(String(255))
    image_path: Mapped[str] = mapped_column(Text)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    faces: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[float] = mapped_column(Float, index=True)
    updated_at: Mapped[float] = mapped_column(Float)


@dataclass
class Avatar:
    id: str
    name: str
    description: str
    image_name: str
    image_path: str
    width: int
    height: int
    faces: int
    created_at: float
    updated_at: float

    @classmethod
    def of(cls, row: AvatarRow) -> Avatar:
        return cls(**{f: getattr(row, f) for f in cls.__dataclass_fields__})


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
    attempt: int = 1
    queued_at: float | None = None
    worker: str | None = None
    heartbeat_at: float | None = None
    cancel_requested_at: float | None = None
    dispatched_at: float | None = None

    @classmethod
    def of(cls, row: JobRow) -> Job:
        return cls(**{f: getattr(row, f) for f in cls.__dataclass_fields__})


@dataclass
class WorkerInfo:
    name: str
    kind: str
    hostname: str
    pid: int
    queues: list
    started_at: float
    heartbeat_at: float
    job_id: str | None
    jobs_done: int
    models_loaded: bool

    @classmethod
    def of(cls, row: WorkerRow) -> WorkerInfo:
        return cls(**{f: getattr(row, f) for f in cls.__dataclass_fields__})


def event_dict(row: EventRow) -> dict[str, Any]:
    return {"id": row.id, "job_id": row.job_id, "ts": row.ts, "status": row.status, "stage": row.stage,
            "percent": row.percent, "message": row.message, "stage_seconds": row.stage_seconds or {}}
