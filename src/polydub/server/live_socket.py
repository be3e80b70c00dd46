"""One WebSocket driving one live session at a time: receive loop, a single sender, clean-up.

Everything sent goes through one queue and one sender task, so a JSON `audio` header and the binary
frame that follows it are never split by another message. Bad input gets an `error` message and the
connection stays usable, except for an oversized frame (closed with 1009) and a client that keeps
sending garbage (closed with 1008 after `MAX_ERRORS`). When the socket closes for any reason the
session is closed and forgotten (its summary stays at GET /api/sessions/{id}).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from polydub import limits
from polydub.errors import PolydubError
from polydub.live import LiveConfig, LiveEvent, LiveInputError, LiveSession
from polydub.server.deps import websocket_token_ok
from polydub.server.live_hub import EventPipe, LiveHub

log = logging.getLogger("polydub.server.live")
MAX_BINARY_BYTES = limits.LIVE_BINARY_BYTES
MAX_TEXT_BYTES = limits.LIVE_TEXT_BYTES
MAX_ERRORS = 50
_CLOSE = object()


class LiveSocket:
    """Base of the v1 and the compatible protocols; subclasses parse messages and shape events."""

    def __init__(self, ws: WebSocket, session_id: str | None = None) -> None:
        self.ws = ws
        self.hub: LiveHub = ws.app.state.live
        self.session: LiveSession | None = None
        self.session_id = session_id
        self.pipe: EventPipe | None = None
        self.errors = 0
        self.closing = False

    # -- to override ---------------------------------------------------------------------------
    async def on_text(self, message: dict[str, Any]) -> None:
        raise NotImplementedError

    async def on_binary(self, data: bytes) -> None:
        self.error("binary frames are not part of this protocol", "send audio as JSON audio_chunk messages")

    async def send_event(self, event: LiveEvent) -> None:
        raise NotImplementedError

    # -- the connection ------------------------------------------------------------------------
    async def run(self) -> None:
        if not websocket_token_ok(self.ws):
            # Accepted first: a browser only sees the code and reason of a close after the handshake
            # (a refused handshake is reported to page scripts as a bare 1006).
            await self.ws.accept()
            await self.ws.close(code=4401, reason="unauthorized: this server needs ?token=<token>")
            return
        await self.ws.accept()
        self.pipe = EventPipe(asyncio.get_running_loop())
        sender = asyncio.create_task(self._sender())
        try:
            while not self.closing:
                msg = await self.ws.receive()
                if msg["type"] == "websocket.disconnect":
                    break
                if msg.get("bytes") is not None:
                    await self._binary(msg["bytes"])
                elif msg.get("text") is not None:
                    await self._text(msg["text"])
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            await self.drop_session()
            self.pipe.queue.put_nowait(None)
            try:
                await asyncio.wait_for(sender, 5.0)
            except (asyncio.TimeoutError, Exception):
                sender.cancel()

    async def _sender(self) -> None:
        while True:
            event = await self.pipe.queue.get()
            if event is None:
                return
            try:
                if isinstance(event, tuple) and event[0] is _CLOSE:
                    await self.ws.close(code=event[1], reason=event[2][:120])
                    return
                await self.send_event(event)
                if self.pipe.overflowed:
                    await self.ws.close(code=1008, reason="the client is not reading its messages")
                    return
            except (WebSocketDisconnect, RuntimeError):
                return
            except Exception:  # noqa: BLE001 - one unserialisable event must not kill the socket
                log.exception("could not send a live event")

    def queue(self, event: LiveEvent) -> None:
        self.pipe.queue.put_nowait(event)

    def error(self, message: str, hint: str | None = None, fatal_code: int | None = None) -> None:
        """Send `{"type": "error", ...}`; with fatal_code, close the socket after it."""
        self.errors += 1
        data = {"message": message}
        if hint:
            data["hint"] = hint
        if self.session is not None:
            data["session_id"] = self.session.id
        if fatal_code is None and self.errors >= MAX_ERRORS:
            fatal_code, data["message"] = 1008, f"{message} (too many errors: closing the connection)"
        data["fatal"] = fatal_code is not None
        self.queue(LiveEvent("error", data))
        if fatal_code is not None:
            self.closing = True
            self.close_after_sent(fatal_code, data["message"])

    def close_after_sent(self, code: int, reason: str) -> None:
        """Close the socket once everything queued before has been sent."""
        self.pipe.queue.put_nowait((_CLOSE, code, reason))

    async def _binary(self, data: bytes) -> None:
        if len(data) > MAX_BINARY_BYTES:
            self.error(f"a binary frame of {len(data) / 1e6:.1f} MB is larger than the "
                       f"{MAX_BINARY_BYTES >> 20} MB limit", "send audio in chunks of 10-1000 ms", fatal_code=1009)
            return
        await self.on_binary(data)

    async def _text(self, text: str) -> None:
        if len(text) > MAX_TEXT_BYTES:
            self.error(f"a message of {len(text) / 1e6:.1f} MB is larger than the {MAX_TEXT_BYTES >> 20} MB limit",
                       "send audio in chunks of 10-1000 ms", fatal_code=1009)
            return
        try:
            message = json.loads(text)
        except ValueError as exc:
            self.error(f"malformed JSON: {exc}", 'send one JSON object per message, e.g. {"type": "stop"}')
            return
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            self.error("a message must be a JSON object with a string 'type'")
            return
        await self.on_text(message)

    # -- the session ---------------------------------------------------------------------------
    async def start_session(self, options: dict[str, Any]) -> bool:
        if self.session is not None:
            self.error("a live session is already running on this connection", "stop it before starting another")
            return False
        try:
            config = LiveConfig.from_dict(options)
            await asyncio.to_thread(self.hub.warm_up, config)
            self.session = await asyncio.to_thread(self.hub.open, config, self.pipe.put, self.session_id)
        except TypeError as exc:
            self.error(f"invalid session options: {exc}")
            return False
        except PolydubError as exc:
            self.error(exc.message, exc.hint)
            return False
        return True

    async def feed(self, pcm: bytes) -> None:
        if self.session is None:
            self.error("audio arrived before the session was started", "send the start message first")
            return
        try:
            await asyncio.to_thread(self.session.feed, pcm)
        except LiveInputError as exc:
            self.error(exc.message, exc.hint)

    async def stop_session(self) -> dict | None:
        """Dub what is pending, then forget the session (its `end` event goes out first)."""
        session, self.session = self.session, None
        if session is None:
            self.error("no live session is running", "start one first")
            return None
        return await asyncio.to_thread(self.hub.end, session, True)

    async def drop_session(self) -> None:
        session, self.session = self.session, None
        if session is not None:
            await asyncio.to_thread(self.hub.end, session, False)

    @property
    def open(self) -> bool:
        return self.ws.client_state == WebSocketState.CONNECTED
