"""Server and worker settings (one object shared by the app, the store, the runners and workers)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from polydub.server.tasks import resolve


@dataclass
class Settings:
    data_dir: Path = Path("polydub-data")
    database_url: str | None = None  # default: sqlite:///<data_dir>/polydub.db
    workers: int = 1  # embedded runner: jobs at once (one warm worker process each)
    token: str | None = None  # when set, every route but /api/health needs "Authorization: Bearer <token>"
    max_upload_mb: float = 2048
    resume_on_start: bool = True  # re-run jobs left running by a previous server (else mark them failed)
    max_resumes: int = 2  # a job interrupted more often than this is failed (no crash loops)
    cancel_grace_s: float = 0.8  # cooperative cancel window before the worker process is killed
    # job kind -> "module:function", over polydub.server.tasks.TASKS (tests point kinds at fakes)
    task_targets: dict[str, str] = field(default_factory=dict)
    # -- scale-out ------------------------------------------------------------------------------
    broker_url: str | None = None  # set: jobs go to Celery workers through this broker (redis://...)
    queue: str = "polydub"  # Celery queue for jobs; task_queues routes some kinds elsewhere
    task_queues: dict[str, str] = field(default_factory=dict)
    visibility_timeout_s: float = 6 * 3600  # Redis redelivers an unacked job after this: > longest job
    heartbeat_s: float = 5.0  # a running job's worker marks it alive this often
    job_lost_after_s: float = 60.0  # no heartbeat for this long: the worker is gone, the job is re-queued
    model_idle_s: float = 600.0  # a worker that ran no job for this long releases its loaded models
    # -- operations -----------------------------------------------------------------------------
    metrics_public: bool = False  # /metrics without the token
    cors_origins: list[str] = field(default_factory=list)
    upload_rate_per_min: float = 30.0  # uploads per token (or client IP) per minute; 0 = unlimited
    upload_burst: int = 10
    keep_days: float | None = None  # delete finished jobs (and their files) older than this
    min_free_mb: float = 1024.0  # refuse uploads (507) when the data dir's disk has less free space
    log_format: str = "text"  # or "json"
    max_live_sessions: int = 16  # live dubbing sessions at once (they share the loaded models)
    # Jobs that do not say otherwise use only voices licensed for commercial use (`serve --commercial-safe`).
    commercial_safe: bool = False
    # -- avatars and lectures -------------------------------------------------------------------
    max_photo_mb: float = 5.0  # largest avatar photo accepted
    # Folders the reference lecture route (POST /generate, which takes server paths) may read and
    # write under; none: that route refuses every path.
    files_roots: list[Path] = field(default_factory=list)
    # Refuse a job at submission when this machine's engines cannot run it (languages, engines, voices).
    # Turn off when the server has no engines installed and only Celery workers elsewhere do.
    check_engines_at_submit: bool = True

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).expanduser().resolve()
        self.files_roots = [Path(p).expanduser().resolve() for p in self.files_roots]

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'polydub.db'}"

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    def target_for(self, kind: str) -> str:
        return resolve(kind, self.task_targets)

    def queue_for(self, kind: str) -> str:
        return self.task_queues.get(kind, self.queue)

    def job_dir(self, job_id: str) -> Path:
        return self.data_dir / "jobs" / job_id

    def input_dir(self, job_id: str) -> Path:
        return self.job_dir(job_id) / "input"

    def out_dir(self, job_id: str) -> Path:
        return self.job_dir(job_id) / "out"
