"""Logging for the server and workers: plain text, or one JSON object per line (``--log-format json``).

Every record carries the id of the job it belongs to (set with ``job_context``), so the logs of a
job can be followed across the server and the workers that ran its attempts.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
import time
from collections.abc import Iterator

_job_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("polydub_job_id", default=None)
_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "job_id"}


@contextlib.contextmanager
def job_context(job_id: str) -> Iterator[None]:
    token = _job_id.set(job_id)
    try:
        yield
    finally:
        _job_id.reset(token)


class JobIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "job_id", None):
            record.job_id = _job_id.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"ts": round(record.created, 3),
                 "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                 + f".{int(record.msecs):03d}Z",
                 "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        if getattr(record, "job_id", None):
            entry["job_id"] = record.job_id
        entry.update({k: v for k, v in vars(record).items() if k not in _RESERVED and not k.startswith("_")})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        job = getattr(record, "job_id", None)
        return f"{line} [job {job}]" if job else line


def formatter(fmt: str) -> logging.Formatter:
    return JsonFormatter() if fmt == "json" else TextFormatter()


def configure_logging(fmt: str = "text", level: int = logging.INFO) -> None:
    """Route polydub's, uvicorn's and celery's loggers through one handler in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(fmt))
    handler.addFilter(JobIdFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "celery", "celery.worker", "celery.app.trace"):
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True


def uvicorn_log_config(fmt: str) -> dict:
    """uvicorn's own dictConfig, with our formatter (uvicorn replaces handlers given to it otherwise)."""
    return {
        "version": 1, "disable_existing_loggers": False,
        "filters": {"job": {"()": JobIdFilter}},
        "formatters": {"polydub": {"()": JsonFormatter if fmt == "json" else TextFormatter}},
        "handlers": {"default": {"class": "logging.StreamHandler", "formatter": "polydub", "filters": ["job"],
                                 "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["default"], "level": "INFO"},
        "loggers": {"uvicorn": {"level": "INFO"}, "uvicorn.error": {"level": "INFO"},
                    "uvicorn.access": {"level": "INFO"}},
    }
