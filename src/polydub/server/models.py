"""Pydantic models for every request and response of API v1."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from polydub import limits


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorDetail


# Answers any route may give (auth, body limit, validation, rate and disk guards, database down).
API_ERRORS: dict[int | str, dict] = {c: {"model": ErrorResponse}
                                     for c in (400, 401, 404, 409, 413, 415, 422, 429, 503, 507)}


class Limits(BaseModel):
    limits: dict[str, Any] = Field(description="every bound on a field, by name (see polydub/limits.py)")


class JobCreated(BaseModel):
    id: str
    status: str


class JobSummary(BaseModel):
    id: str
    status: str = Field(description="queued | running | done | failed | cancelled")
    task: str = Field(description="dub, or render after an edit")
    input_name: str
    target_language: str | None = None
    source_language: str | None = None
    progress: float
    stage: str | None = None
    message: str | None = None
    created_at: float
    updated_at: float


class JobError(BaseModel):
    code: str | None = None
    message: str | None = None


class JobDetail(JobSummary):
    options: dict[str, Any]
    stage_seconds: dict[str, float]
    started_at: float | None = None
    finished_at: float | None = None
    engines: dict[str, Any] = Field(default_factory=dict)
    error: JobError | None = None
    summary: dict[str, Any] = Field(default_factory=dict, description="Headline numbers from report.json")
    output: str | None = Field(None, description="File name of the dubbed media (see /files/{name})")
    has_report_html: bool = False
    resumes: int = 0
    attempt: int = Field(1, description="Runs of this job so far (re-render, resumed after a lost worker)")
    worker: str | None = Field(None, description="The worker process that runs or ran the latest attempt")


class JobList(BaseModel):
    jobs: list[JobSummary]


class Event(BaseModel):
    id: int
    job_id: str
    ts: float
    status: str
    stage: str | None = None
    percent: float
    message: str | None = None
    stage_seconds: dict[str, float] = Field(default_factory=dict)


class EventList(BaseModel):
    events: list[Event]


class SegmentOut(BaseModel):
    index: int
    id: int
    start: float
    end: float
    text: str
    translation: str | None = None
    speaker: str
    voice: str | None = None
    audio: str | None = None
    dub_start: float | None = None
    dub_end: float | None = None
    tempo: float | None = Field(None, description="Speed-up applied to fit the line (1 = none)")
    overflow: float | None = Field(None, description="Seconds the dub runs past its slot")
    metrics: dict[str, Any] = Field(default_factory=dict)
    changed: bool = Field(False, description="Edited since its audio was last rendered")


class SegmentList(BaseModel):
    segments: list[SegmentOut]
    source_language: str | None = None
    target_language: str | None = None


class SegmentPatch(BaseModel):
    text: limits.LineText | None = None
    translation: limits.LineText | None = None
    speaker: limits.Name | None = None
    voice: limits.VoiceId | None = Field(None, description="a voice id for this line only; empty clears it")


class FileInfo(BaseModel):
    name: str
    size: int
    kind: str = Field(description="media | subtitles | report | project | line_audio | other")
    url: str


class FileList(BaseModel):
    files: list[FileInfo]


class Health(BaseModel):
    status: str = Field(description="ok | degraded (no broker or no live worker) | down (no database: HTTP 503)")
    version: str
    workers: int = Field(description="Embedded: worker processes configured; Celery: worker processes alive")
    queue_length: int
    running: int
    engines: dict[str, Any]
    auth: bool
    live_sessions: int = Field(0, description="live dubbing sessions running now")
    runner: str = Field("embedded", description="embedded | celery")
    database: dict[str, Any] = Field(default_factory=dict, description="ok, kind, schema revision, error")
    broker: dict[str, Any] | None = Field(None, description="Celery runner: ok, url (no password), error")
    worker_status: dict[str, int] = Field(default_factory=dict,
                                          description="Worker processes: alive, busy, lost (no heartbeat)")


class Languages(BaseModel):
    source: list[dict[str, Any]]
    target: list[dict[str, Any]]
    pairs: list[dict[str, Any]]
    engines: list[dict[str, Any]] = Field(default_factory=list)
    note: str | None = None


class Voices(BaseModel):
    voices: list[dict[str, Any]]
    note: str | None = None
    profiles: list[dict[str, Any]] = Field(
        default_factory=list, description="saved voice profiles (people) and the voice each uses per language")
