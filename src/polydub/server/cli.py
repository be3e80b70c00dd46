"""``polydub serve``: the API, the studio and a job runner (embedded pool, or Celery with --broker)."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Run the polydub web studio and HTTP API.")


def default_data_dir() -> Path:
    from polydub.paths import data_dir

    return data_dir() / "server"


def serve(host: str = "127.0.0.1", port: int = 8000, data_dir: Path | None = None, workers: int = 1,
          database_url: str | None = None, token: str | None = None, max_upload_mb: float = 2048,
          ssl_certfile: Path | None = None, ssl_keyfile: Path | None = None,
          forwarded_allow_ips: str | None = None, **settings_fields) -> None:
    import uvicorn

    from polydub.server.app import create_app
    from polydub.server.logs import configure_logging, uvicorn_log_config
    from polydub.server.settings import Settings

    settings = Settings(data_dir=data_dir or default_data_dir(), database_url=database_url, workers=workers,
                        token=token, max_upload_mb=max_upload_mb, **settings_fields)
    configure_logging(settings.log_format)
    scheme = "https" if ssl_certfile else "http"
    runner = f"Celery via {settings.broker_url}" if settings.broker_url else f"{settings.workers} embedded worker(s)"
    print(f"polydub studio on {scheme}://{host}:{port}/  (API docs /docs, metrics /metrics, data in "
          f"{settings.data_dir}, jobs run on {runner})", flush=True)
    uvicorn.run(create_app(settings), host=host, port=port, log_config=uvicorn_log_config(settings.log_format),
                ssl_certfile=str(ssl_certfile) if ssl_certfile else None,
                ssl_keyfile=str(ssl_keyfile) if ssl_keyfile else None,
                proxy_headers=True, forwarded_allow_ips=forwarded_allow_ips or "127.0.0.1")


def _task_overrides(task: list[str] | None) -> dict[str, str]:
    from polydub.errors import PolydubError
    from polydub.server.tasks import parse_overrides

    try:
        return parse_overrides(task)
    except ValueError as exc:
        raise PolydubError(str(exc), "e.g. --task dub=polydub.server.worker:pipeline_dub") from None


@app.command("serve")
def serve_command(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on (0.0.0.0 for all)."),
    port: int = typer.Option(8000, help="TCP port."),
    data_dir: Path = typer.Option(None, "--data-dir", help="Uploads, results and the job database."),
    workers: int = typer.Option(1, help="Embedded runner: jobs at the same time (one warm process each)."),
    database_url: str = typer.Option(None, "--database-url", envvar="POLYDUB_DATABASE_URL",
                                     help="SQLAlchemy URL, e.g. postgresql+psycopg://user:pw@host/db "
                                          "(default: SQLite in the data dir). The schema is created/upgraded."),
    token: str = typer.Option(None, envvar="POLYDUB_TOKEN", help="Require 'Authorization: Bearer <token>'."),
    max_upload_mb: float = typer.Option(2048, "--max-upload-mb", help="Largest accepted upload."),
    max_live_sessions: int = typer.Option(16, "--max-live-sessions", help="Live dubbing sessions at once."),
    commercial_safe: bool = typer.Option(False, "--commercial-safe",
                                         help="Jobs use only commercially licensed voices unless they say otherwise."),
    broker: str = typer.Option(None, "--broker", envvar="POLYDUB_BROKER",
                               help="Run jobs on Celery workers through this broker (redis://host:6379/0); "
                                    "start them with 'polydub worker'."),
    queue: str = typer.Option("polydub", "--queue", help="Celery queue the jobs go to."),
    ssl_certfile: Path = typer.Option(None, "--ssl-certfile", help="Serve HTTPS with this certificate (PEM)."),
    ssl_keyfile: Path = typer.Option(None, "--ssl-keyfile", help="The certificate's private key (PEM)."),
    cors_origin: list[str] = typer.Option([], "--cors-origin", help="Allow browser calls from this origin "
                                          "(repeat; '*' for any)."),
    forwarded_allow_ips: str = typer.Option("127.0.0.1", "--forwarded-allow-ips",
                                            help="Reverse proxies whose X-Forwarded-For/-Proto are trusted."),
    upload_rate: float = typer.Option(30, "--upload-rate", help="Uploads per minute per token or client IP "
                                      "(0: no limit); over it: HTTP 429."),
    upload_burst: int = typer.Option(10, "--upload-burst", help="Uploads allowed at once before the rate applies."),
    keep_days: float = typer.Option(None, "--keep-days", help="Delete finished jobs and their files after "
                                    "this many days (checked hourly)."),
    min_free_mb: float = typer.Option(1024, "--min-free-mb", help="Refuse uploads (HTTP 507) when the data "
                                      "dir's disk has less free space."),
    metrics_public: bool = typer.Option(False, "--metrics-public", help="Serve /metrics without the token."),
    log_format: str = typer.Option("text", "--log-format", help="text or json (one object per line, with "
                                   "job ids)."),
    model_idle_s: float = typer.Option(600, "--model-idle-s", help="Embedded workers release loaded models "
                                       "after this long without a job."),
    job_lost_after_s: float = typer.Option(60, "--job-lost-after-s", help="Celery: re-queue a running job "
                                           "whose worker sent no heartbeat for this long."),
    visibility_timeout_s: float = typer.Option(6 * 3600, "--visibility-timeout-s",
                                               help="Celery/Redis: redeliver an unacknowledged job after this "
                                                    "long (longer than the longest job)."),
    task: list[str] = typer.Option([], "--task", help="Run jobs of KIND with another function: "
                                   "KIND=module:function (repeat)."),
    files_root: list[Path] = typer.Option([], "--files-root", help="Folder the reference lecture route "
                                          "(POST /generate, which takes server paths) may read and write under "
                                          "(repeat). Without it that route refuses every path."),
    max_photo_mb: float = typer.Option(5, "--max-photo-mb", help="Largest avatar photo accepted."),
    no_engine_checks: bool = typer.Option(False, "--no-engine-checks",
                                          help="Do not refuse jobs at submission for languages, engines or voices "
                                               "this machine lacks (when only remote Celery workers have them)."),
) -> None:
    """Start the server: studio at /, API docs at /docs, Prometheus metrics at /metrics."""
    if (ssl_certfile is None) != (ssl_keyfile is None):
        from polydub.errors import PolydubError

        raise PolydubError("--ssl-certfile and --ssl-keyfile go together", "give both PEM files, or neither")
    serve(host, port, data_dir, workers, database_url, token, max_upload_mb, ssl_certfile, ssl_keyfile,
          forwarded_allow_ips, broker_url=broker, queue=queue, cors_origins=list(cors_origin),
          upload_rate_per_min=upload_rate, upload_burst=upload_burst, keep_days=keep_days, min_free_mb=min_free_mb,
          metrics_public=metrics_public, log_format=log_format, model_idle_s=model_idle_s,
          job_lost_after_s=job_lost_after_s, visibility_timeout_s=visibility_timeout_s,
          task_targets=_task_overrides(task), files_roots=list(files_root), max_photo_mb=max_photo_mb,
          check_engines_at_submit=not no_engine_checks)


if __name__ == "__main__":
    app()
