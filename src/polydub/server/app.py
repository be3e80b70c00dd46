"""The FastAPI application: ``create_app(settings)`` wires store, runner, routes and the studio."""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

import polydub
from polydub.server import compat, routes_meta, routes_v1
from polydub.server.errors import install_error_handlers
from polydub.server.runner import JobRunner
from polydub.server.services import JobService
from polydub.server.settings import Settings
from polydub.server.store import JobStore

STATIC = Path(__file__).parent / "static"

DESCRIPTION = """Offline AI dubbing: upload a video, follow progress, review and edit lines, download.

Errors always answer `{"error": {"code": ..., "message": ...}}`. When the server has a token,
send `Authorization: Bearer <token>` (or `?token=` for media URLs and WebSockets) on every route
except `/api/health`. Progress: `WS /api/jobs/{id}/events` replays past events, then live ones."""


def create_app(settings: Settings | None = None, runner: JobRunner | None = None) -> FastAPI:
    settings = settings or Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = JobStore(settings.db_url)
    runner = runner or JobRunner(settings, store)
    service = JobService(settings, store, runner)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        runner.start()
        try:
            yield
        finally:
            runner.stop()
            store.close()

    app = FastAPI(title="polydub", version=polydub.__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.settings, app.state.store, app.state.runner, app.state.service = settings, store, runner, service
    install_error_handlers(app)
    app.include_router(routes_meta.public)
    app.include_router(routes_meta.router)
    app.include_router(routes_v1.router)
    app.include_router(routes_v1.ws_router)
    app.include_router(compat.router)
    app.include_router(compat.ws_router)
    # the studio's static files hold no data, so they are public; the page asks for the token if needed
    app.mount("/", StaticFiles(directory=STATIC, html=True), name="studio")
    return app
