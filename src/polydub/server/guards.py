"""Admission checks before an upload is accepted: a rate limit per client and a free-disk guard."""

from __future__ import annotations

import hashlib
import math
import shutil
import threading
import time
from pathlib import Path

from starlette.requests import Request

from polydub import telemetry
from polydub.server.errors import ApiError


class RateLimiter:
    """Token bucket per key: ``burst`` uploads at once, refilled at ``per_minute`` per minute.

    Held in the server's memory (one server process; behind several, put the limit in the proxy)."""

    def __init__(self, per_minute: float, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = max(1, burst)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Take one token; returns 0 when allowed, else the seconds until one is available."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                if len(self._buckets) > 10_000:  # forget full buckets (clients that went quiet)
                    self._buckets = {k: v for k, v in self._buckets.items() if v[0] < self.burst - 1e-9}
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate


def client_key(request: Request) -> str:
    """The API token when one is sent (hashed: keys are kept in memory), else the client's address
    (behind a reverse proxy, uvicorn's --forwarded-allow-ips makes this the real client)."""
    auth = request.headers.get("authorization") or ""
    token = auth[7:].strip() if auth.lower().startswith("bearer ") else request.query_params.get("token")
    if token:
        return "token:" + hashlib.sha256(token.encode()).hexdigest()[:16]
    return "ip:" + (request.client.host if request.client else "unknown")


def check_rate(limiter: RateLimiter, request: Request) -> None:
    wait = limiter.take(client_key(request))
    if wait > 0:
        telemetry.observe_rejected_upload("rate_limited")
        raise ApiError(429, "rate_limited", f"Too many uploads; try again in {math.ceil(wait)} s.",
                       headers={"Retry-After": str(math.ceil(wait))})


def check_disk(data_dir: Path, min_free_mb: float, incoming_bytes: int = 0) -> None:
    """507 when accepting ``incoming_bytes`` would leave less than ``min_free_mb`` free."""
    if min_free_mb <= 0 and incoming_bytes <= 0:
        return
    free = shutil.disk_usage(data_dir).free
    if free - incoming_bytes < min_free_mb * 1024 * 1024:
        telemetry.observe_rejected_upload("disk_full")
        raise ApiError(507, "insufficient_storage",
                       f"The server is low on disk space ({free / 1024 / 1024:.0f} MB free, keeps at least "
                       f"{min_free_mb:.0f} MB); no new uploads until jobs are deleted or pruned "
                       "(polydub jobs prune).")


DRAIN_BYTES = 32 << 20  # past this an oversized body is not read at all: the connection is closed


class BodyLimit:
    """ASGI middleware: a request body that is not a multipart upload (those stream to disk under
    their own limit, polydub.server.upload) may hold at most ``limits.JSON_BODY_BYTES``; past it the
    answer is 413 before any route parses it (a 2 MB "translation" never reaches a worker)."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if headers.get(b"content-type", b"").lower().startswith(b"multipart/form-data"):
            await self.app(scope, receive, send)
            return
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send, more=int(declared) <= DRAIN_BYTES)
            return
        chunks, size, more = [], 0, True
        while more:  # bounded bodies are read whole here, then replayed to the route
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send, more)
                return
        body, replayed = b"".join(chunks), False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope, receive, send, more: bool = True) -> None:
        """413, after reading (and dropping) the rest of a body of up to DRAIN_BYTES: a client still
        sending when the server closes gets a connection reset instead of the answer."""
        from polydub.server.errors import error_response

        drained = 0
        while more and drained < DRAIN_BYTES:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            drained += len(message.get("body", b""))
            more = message.get("more_body", False)
        response = error_response(413, "too_large", f"The request body is larger than the limit of "
                                                    f"{self.max_bytes // 1024} KB.")
        await response(scope, receive, send)
