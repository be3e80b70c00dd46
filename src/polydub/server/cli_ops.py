"""``polydub worker`` (a Celery worker for ``polydub serve --broker``) and ``polydub jobs prune``."""

from __future__ import annotations

from pathlib import Path

import typer

from polydub.server.cli import _task_overrides, default_data_dir

jobs_app = typer.Typer(help="Manage the server's jobs (retention).", no_args_is_help=True)


def worker_command(
    broker: str = typer.Option(..., "--broker", envvar="POLYDUB_BROKER", help="Broker URL (redis://host:6379/0), "
                               "the same as the server's --broker."),
    data_dir: Path = typer.Option(None, "--data-dir", help="The server's data dir (a shared volume on other "
                                  "machines: uploads and results live there)."),
    database_url: str = typer.Option(None, "--database-url", envvar="POLYDUB_DATABASE_URL",
                                     help="The server's job database (default: SQLite in the data dir; "
                                          "use PostgreSQL across machines)."),
    concurrency: int = typer.Option(1, "--concurrency", "-c", help="Jobs at the same time (warm processes)."),
    queues: str = typer.Option("polydub", "--queues", "-Q", help="Comma-separated queues to take jobs from."),
    name: str = typer.Option(None, "--name", help="Worker name (default: polydub); the node is NAME@host."),
    model_idle_s: float = typer.Option(600, "--model-idle-s", help="Release loaded models after this long "
                                       "without a job."),
    heartbeat_s: float = typer.Option(5, "--heartbeat-s", help="How often a running job is marked alive."),
    job_lost_after_s: float = typer.Option(60, "--job-lost-after-s", help="Must match the server's setting."),
    visibility_timeout_s: float = typer.Option(6 * 3600, "--visibility-timeout-s",
                                               help="Must match the server's setting."),
    log_format: str = typer.Option("text", "--log-format", help="text or json."),
    loglevel: str = typer.Option("INFO", "--loglevel", help="DEBUG, INFO, WARNING, ERROR."),
    task: list[str] = typer.Option([], "--task", help="Run jobs of KIND with another function: "
                                   "KIND=module:function (repeat)."),
) -> None:
    """Run jobs for 'polydub serve --broker ...' on this machine (Celery worker, prefork pool)."""
    import logging

    from polydub import telemetry
    from polydub.server.celery_app import configure_worker, create_celery, default_node_name
    from polydub.server.logs import configure_logging
    from polydub.server.settings import Settings
    from polydub.server.store import JobStore

    settings = Settings(data_dir=data_dir or default_data_dir(), database_url=database_url, broker_url=broker,
                        model_idle_s=model_idle_s, heartbeat_s=heartbeat_s, job_lost_after_s=job_lost_after_s,
                        visibility_timeout_s=visibility_timeout_s, log_format=log_format,
                        task_targets=_task_overrides(task))
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    configure_logging(log_format, getattr(logging, loglevel.upper(), logging.INFO))
    telemetry.configure(settings.data_dir / "metrics")
    JobStore(settings.db_url).close()  # create or upgrade the schema before taking jobs
    queue_list = [q.strip() for q in queues.split(",") if q.strip()]
    node = default_node_name(name)
    configure_worker(settings, node, queue_list)
    app = create_celery(settings)
    print(f"polydub worker {node}: {concurrency} process(es), queues {', '.join(queue_list)}, data in "
          f"{settings.data_dir}", flush=True)
    worker = app.Worker(hostname=node, concurrency=concurrency, queues=queue_list, pool="prefork",
                        loglevel=loglevel.upper(), without_gossip=True, without_mingle=True)
    worker.start()
    raise typer.Exit(worker.exitcode or 0)


@jobs_app.command("prune")
def prune_command(
    keep_days: float = typer.Option(..., "--keep-days", help="Delete finished jobs older than this many days."),
    data_dir: Path = typer.Option(None, "--data-dir", help="The server's data dir."),
    database_url: str = typer.Option(None, "--database-url", envvar="POLYDUB_DATABASE_URL",
                                     help="The server's job database (default: SQLite in the data dir)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only list what would be deleted."),
) -> None:
    """Delete finished jobs (done, failed, cancelled) and their files; queued and running ones stay."""
    from polydub.server.retention import prune
    from polydub.server.settings import Settings
    from polydub.server.store import JobStore

    settings = Settings(data_dir=data_dir or default_data_dir(), database_url=database_url)
    store = JobStore(settings.db_url)
    try:
        result = prune(store, settings, keep_days, dry_run=dry_run)
    finally:
        store.close()
    verb = "would delete" if dry_run else "deleted"
    print(f"{verb} {len(result.job_ids)} finished job(s), {result.bytes_freed / 1e6:.1f} MB")
    for job_id in result.job_ids:
        print(f"  {job_id}")
