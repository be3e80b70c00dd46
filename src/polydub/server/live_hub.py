"""Live sessions of this server process, and the bridge from a session's worker thread to a WebSocket.

Sessions run inside the server process: the models (Whisper, Kokoro, the embedder) are loaded once
and shared by every session, and `LiveEngines.compute` lets the oldest pending line go first. A
session is forgotten when its socket closes; its final state stays readable at
`GET /api/sessions/{id}` until it is deleted or pushed out by newer ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from polydub.live import LiveConfig, LiveEvent, LiveInputError, LiveSession, shared_engines

log = logging.getLogger("polydub.server.live")
KEEP_ENDED = 200
MAX_QUEUED_EVENTS = 2000  # a client that stops reading is disconnected rather than buffered forever


class LiveHub:
    def __init__(self, max_sessions: int = 16, engines_factory: Callable = shared_engines) -> None:
        self.max_sessions = max_sessions
        self._engines_factory = engines_factory
        self._engines = None
        self.active: dict[str, LiveSession] = {}
        self.ended: OrderedDict[str, dict] = OrderedDict()
        self._lock = threading.Lock()
        self._warm = threading.Lock()
        self._warmed = False

    @property
    def engines(self):
        if self._engines is None:
            self._engines = self._engines_factory()
        return self._engines

    def warm_up(self, config: LiveConfig) -> None:
        """Load the models before the first session's first line, not during it (blocking)."""
        with self._warm:
            if not self._warmed:
                started = time.monotonic()
                self.engines.warm_up(("base", "tiny.en"), config.target_language)
                self._warmed = True
                log.info("live models loaded in %.1f s", time.monotonic() - started)

    def open(self, config: LiveConfig, on_event: Callable[[LiveEvent], None],
             session_id: str | None = None) -> LiveSession:
        with self._lock:
            if len(self.active) >= self.max_sessions:
                raise LiveInputError(f"this server already runs {len(self.active)} live sessions (its limit)",
                                     "try again later, or start the server with a higher --max-live-sessions")
            if session_id is not None and session_id in self.active:
                raise LiveInputError(f"live session {session_id!r} is already running",
                                     "use another session id, or stop the running one first")
            # Reserve the slot before the (slow) constructor runs, so concurrent opens respect the limit.
            self.active[session_id or f"pending-{id(on_event)}"] = None  # type: ignore[assignment]
        key = session_id or f"pending-{id(on_event)}"
        try:
            session = LiveSession(config, on_event, self.engines, session_id=session_id)
        except BaseException:
            with self._lock:
                self.active.pop(key, None)
            raise
        with self._lock:
            self.active.pop(key, None)
            self.active[session.id] = session
            self.ended.pop(session.id, None)
        return session

    def end(self, session: LiveSession, finish: bool, timeout: float | None = None) -> dict:
        """Finish (dub what is pending) or close (drop it) a session, and keep its final state."""
        try:
            summary = session.finish(timeout) if finish else (session.close() or session.describe())
        finally:
            with self._lock:
                if self.active.get(session.id) is session:
                    del self.active[session.id]
                self.ended[session.id] = session.describe()
                while len(self.ended) > KEEP_ENDED:
                    self.ended.popitem(last=False)
        return summary

    def get(self, session_id: str) -> dict | None:
        with self._lock:
            session = self.active.get(session_id)
            if session is not None:
                return session.describe()
            return self.ended.get(session_id)

    def delete(self, session_id: str) -> bool:
        with self._lock:
            session = self.active.get(session_id)
            found = self.ended.pop(session_id, None) is not None or session is not None
        if session is not None:
            self.end(session, finish=False)
            with self._lock:
                self.ended.pop(session_id, None)
        return found

    @property
    def count(self) -> int:
        with self._lock:
            return sum(1 for s in self.active.values() if s is not None)

    def close_all(self) -> None:
        with self._lock:
            sessions = [s for s in self.active.values() if s is not None]
        for session in sessions:
            self.end(session, finish=False)


class EventPipe:
    """Hands events from a session's worker thread to the event loop that owns the WebSocket."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[LiveEvent | None] = asyncio.Queue()
        self.overflowed = False

    def put(self, event: LiveEvent | None) -> None:
        def deliver() -> None:
            if self.queue.qsize() >= MAX_QUEUED_EVENTS:
                self.overflowed = True
                return
            self.queue.put_nowait(event)

        with contextlib.suppress(RuntimeError):  # the loop is closed: the server is shutting down
            self.loop.call_soon_threadsafe(deliver)
