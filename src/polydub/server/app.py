"""The FastAPI application: ``create_app(settings)`` wires store, runner, routes and the studio."""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

import polydub
from polydub import limits, telemetry
from polydub.server import (
    compat,
    compat_avatar,
    compat_live,
    routes_avatar,
    routes_live,
    routes_meta,
    routes_metrics,
    routes_speakers,
    routes_v1,
    routes_voices,
)
from polydub.server.avatars import AvatarService
from polydub.server.errors import install_error_handlers
from polydub.server.guards import BodyLimit
from polydub.server.live_hub import LiveHub
from polydub.server.models import API_ERRORS
from polydub.server.retention import RetentionLoop
from polydub.server.runner import JobRunner
from polydub.server.services import JobService
from polydub.server.settings import Settings
from polydub.server.store import JobStore

STATIC = Path(__file__).parent / "static"

DESCRIPTION = """Offline AI dubbing: upload a video, follow progress, review and edit lines, download.

Errors always answer `{"error": {"code": ..., "message": ...}}`. When the server has a token,
send `Authorization: Bearer <token>` (or `?token=` for media URLs and WebSockets) on every route
except `/api/health`. Progress: `WS /api/jobs/{id}/events` replays past events, then live ones."""


def make_runner(settings: Settings, store: JobStore):
    """The embedded pool by default; Celery workers when a broker is configured."""
    if settings.broker_url:
        from polydub.server.celery_runner import CeleryRunner

        return CeleryRunner(settings, store)
    return JobRunner(settings, store)


def create_app(settings: Settings | None = None, runner=None) -> FastAPI:
    settings = settings or Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    telemetry.configure(settings.data_dir / "metrics")
    store = JobStore(settings.db_url)  # creates or upgrades the schema (polydub.server.schema)
    runner = runner or make_runner(settings, store)
    service = JobService(settings, store, runner)
    retention = RetentionLoop(store, settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        runner.start()
        retention.start()
        try:
            yield
        finally:
            app.state.live.close_all()
            retention.stop()
            runner.stop()
            store.close()

    app = FastAPI(title="polydub", version=polydub.__version__, lifespan=lifespan, docs_url=None,
                  description=DESCRIPTION + routes_live.OPENAPI_DESCRIPTION)
    _offline_docs(app)
    app.state.settings, app.state.store, app.state.runner, app.state.service = settings, store, runner, service
    app.state.live = LiveHub(settings.max_live_sessions)
    app.state.avatars = AvatarService(service)
    install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=limits.JSON_BODY_BYTES)
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["*"],
                           allow_headers=["Authorization", "Content-Type", "Range"], allow_credentials=False,
                           expose_headers=["Content-Range", "Accept-Ranges", "Retry-After"])
    app.include_router(routes_meta.public, responses=API_ERRORS)
    app.include_router(routes_metrics.router, responses=API_ERRORS)
    app.include_router(routes_meta.router, responses=API_ERRORS)
    app.include_router(routes_v1.router, responses=API_ERRORS)
    app.include_router(routes_v1.ws_router)
    app.include_router(routes_voices.router, responses=API_ERRORS)
    app.include_router(routes_speakers.router, responses=API_ERRORS)
    app.include_router(compat.router, responses=API_ERRORS)
    app.include_router(compat.ws_router)
    app.include_router(routes_live.router, responses=API_ERRORS)
    app.include_router(routes_live.ws_router)
    app.include_router(compat_live.ws_router)
    app.include_router(routes_avatar.router, responses=API_ERRORS)
    app.include_router(compat_avatar.router, responses=API_ERRORS)
    # the studio's static files hold no data, so they are public; the page asks for the token if needed
    app.mount("/", StaticFiles(directory=STATIC, html=True), name="studio")
    return app


def _offline_docs(app: FastAPI) -> None:
    """/docs from the Swagger UI files in the swagger-ui-bundle package: FastAPI's default page loads
    them from a CDN, which an offline machine cannot reach."""
    from fastapi.openapi.docs import get_swagger_ui_html

    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:  # not installed: fall back to FastAPI's CDN page
        swagger_ui_path = None
    if swagger_ui_path:
        app.mount("/docs-assets", StaticFiles(directory=swagger_ui_path), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    @app.get("/api", include_in_schema=False)  # where the reference avatar service serves its Swagger UI
    async def docs():
        if not swagger_ui_path:
            return get_swagger_ui_html(openapi_url="/openapi.json", title="polydub API")
        return get_swagger_ui_html(openapi_url="/openapi.json", title="polydub API",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css",
                                   swagger_favicon_url="/docs-assets/favicon-32x32.png")
