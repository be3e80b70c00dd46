"""Server settings (one object shared by the app, the store and the runner)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_DUB_TARGET = "polydub.server.worker:pipeline_dub"
DEFAULT_RENDER_TARGET = "polydub.server.worker:pipeline_rerender"
DEFAULT_CLONE_TARGET = "polydub.server.worker:pipeline_clone"


@dataclass
class Settings:
    data_dir: Path = Path("polydub-data")
    database_url: str | None = None  # default: sqlite:///<data_dir>/polydub.db
    workers: int = 1
    token: str | None = None  # when set, every route but /api/health needs "Authorization: Bearer <token>"
    max_upload_mb: float = 2048
    resume_on_start: bool = True  # re-run jobs left running by a previous server (else mark them failed)
    max_resumes: int = 2  # a job interrupted more often than this is failed (no crash loops)
    cancel_grace_s: float = 1.2  # cooperative cancel window before the worker process is terminated
    # "module:function" run in the worker process; tests point these at fakes
    dub_target: str = DEFAULT_DUB_TARGET
    render_target: str = DEFAULT_RENDER_TARGET
    clone_target: str = DEFAULT_CLONE_TARGET  # task "clone": evolve a voice for a profile

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).expanduser().resolve()

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'polydub.db'}"

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    def job_dir(self, job_id: str) -> Path:
        return self.data_dir / "jobs" / job_id

    def input_dir(self, job_id: str) -> Path:
        return self.job_dir(job_id) / "input"

    def out_dir(self, job_id: str) -> Path:
        return self.job_dir(job_id) / "out"
