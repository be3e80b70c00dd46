"""polydub HTTP server: REST API v1, WebSocket progress, embedded job runner and the browser studio."""

from polydub.server.settings import Settings

__all__ = ["Settings", "create_app"]


def create_app(settings: Settings | None = None, runner=None):
    from polydub.server.app import create_app as _create

    return _create(settings, runner=runner)
