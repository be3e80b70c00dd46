"""``polydub serve``: run the API, the job runner and the studio in one process."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Run the polydub web studio and HTTP API.")


def serve(host: str = "127.0.0.1", port: int = 8000, data_dir: Path | None = None, workers: int = 1,
          database_url: str | None = None, token: str | None = None, max_upload_mb: float = 2048,
          max_live_sessions: int = 16, commercial_safe: bool = False) -> None:
    import uvicorn

    from polydub.server.app import create_app
    from polydub.server.settings import Settings

    if data_dir is None:
        from polydub.paths import data_dir as default_data_dir

        data_dir = default_data_dir() / "server"
    settings = Settings(data_dir=data_dir, database_url=database_url, workers=workers, token=token,
                        max_upload_mb=max_upload_mb, max_live_sessions=max_live_sessions,
                        commercial_safe=commercial_safe)
    print(f"polydub studio on http://{host}:{port}/  (API docs /docs, data in {settings.data_dir})")
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


@app.command("serve")
def serve_command(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on (0.0.0.0 for all)."),
    port: int = typer.Option(8000, help="TCP port."),
    data_dir: Path = typer.Option(None, "--data-dir", help="Uploads, results and the job database."),
    workers: int = typer.Option(1, help="Dubbing jobs run at the same time (one process each)."),
    database_url: str = typer.Option(None, "--database-url", help="SQLAlchemy URL (default: SQLite in data dir)."),
    token: str = typer.Option(None, envvar="POLYDUB_TOKEN", help="Require 'Authorization: Bearer <token>'."),
    max_upload_mb: float = typer.Option(2048, "--max-upload-mb", help="Largest accepted upload."),
    max_live_sessions: int = typer.Option(16, "--max-live-sessions", help="Live dubbing sessions at once."),
    commercial_safe: bool = typer.Option(False, "--commercial-safe",
                                         help="Jobs use only commercially licensed voices unless they say otherwise."),
) -> None:
    """Start the server: studio at /, API docs at /docs."""
    serve(host, port, data_dir, workers, database_url, token, max_upload_mb, max_live_sessions, commercial_safe)


if __name__ == "__main__":
    app()
