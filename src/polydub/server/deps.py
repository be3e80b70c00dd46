"""Request dependencies: the app's services and the optional bearer-token check."""

from __future__ import annotations

import hmac

from fastapi import Request
from starlette.websockets import WebSocket

from polydub.server.errors import ApiError
from polydub.server.services import JobService


def get_service(request: Request) -> JobService:
    return request.app.state.service


def token_ok(expected: str | None, authorization: str | None, query_token: str | None) -> bool:
    if not expected:
        return True
    given = None
    if authorization and authorization.lower().startswith("bearer "):
        given = authorization[7:].strip()
    elif query_token:  # for <video src>, <a download> and WebSockets, which cannot send headers
        given = query_token
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def require_token(request: Request) -> None:
    expected = request.app.state.settings.token
    if not token_ok(expected, request.headers.get("authorization"), request.query_params.get("token")):
        raise ApiError(401, "unauthorized", "This server needs an API token: send 'Authorization: Bearer <token>'.")


def websocket_token_ok(ws: WebSocket) -> bool:
    expected = ws.app.state.settings.token
    return token_ok(expected, ws.headers.get("authorization"), ws.query_params.get("token"))
