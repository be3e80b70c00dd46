"""`WS /ws/{connection_id}/{session_id}`: the live protocol of the reference "real-time AI dubbing" design.

JSON only: audio travels base64-encoded in `audio_chunk` messages and comes back in `dubbed_audio`.
The path has two segments, so it never collides with the one-segment job-progress socket
`WS /ws/{job_id}` of the video-translation compatibility routes.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from typing import Any

import numpy as np
from fastapi import APIRouter, WebSocket

from polydub import limits
from polydub.live import LiveEvent, LiveInputError
from polydub.live.pcm import check_rate, pcm16_to_float
from polydub.server.errors import ApiError
from polydub.server.live_socket import LiveSocket

ws_router = APIRouter()
KNOWN = "start_dubbing, audio_chunk, create_voice_clone, stop_dubbing"
# Fields of start_dubbing passed to the session as they are (the rest are the reference's names).
START_OPTIONS = ("sample_rate", "output_sample_rate", "voice", "mt_engine", "tts_engine", "asr_model",
                 "end_pause_s", "max_tempo", "max_lag_s")


def _b64(value: object, field: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise LiveInputError(f"{field} must be a base64 string of 16-bit PCM")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise LiveInputError(f"{field} is not valid base64",
                             "encode the raw 16-bit little-endian PCM bytes with standard base64") from None


class CompatLiveSocket(LiveSocket):
    async def on_text(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "start_dubbing":
            await self._start(message)
        elif kind == "audio_chunk":
            try:
                pcm = _b64(message.get("audio_data"), "audio_data")
            except LiveInputError as exc:
                self.error(exc.message, exc.hint)
                return
            await self.feed(pcm)
        elif kind == "create_voice_clone":
            await self._voice_clone(message)
        elif kind == "stop_dubbing":
            await self.stop_session()  # its `end` event goes out as dubbing_stopped
        else:
            self.error(f"unknown message type {kind!r}", f"known types: {KNOWN}")

    async def _start(self, message: dict[str, Any]) -> None:
        options = {k: message[k] for k in START_OPTIONS if k in message}
        options.update(target_language=message.get("target_language"),
                       source_language=message.get("source_language") or "auto",
                       preserve_voice=bool(message.get("preserve_voice", True)))
        if await self.start_session(options):
            self.queue(LiveEvent("dubbing_started", {
                "session_id": self.session.id, "target_language": self.session.config.target_language,
                "source_language": message.get("source_language") or "auto",
                "sample_rate": self.session.config.sample_rate,
                "output_sample_rate": self.session.config.output_sample_rate}))

    async def _voice_clone(self, message: dict[str, Any]) -> None:
        from polydub.audio import Audio
        from polydub.server.routes_live import enrol_audio

        speaker = message.get("speaker_id")
        samples = message.get("audio_samples")
        try:
            if not isinstance(speaker, str) or not speaker.strip():
                raise LiveInputError("create_voice_clone needs a speaker_id (the profile name)")
            if not isinstance(samples, list) or not samples:
                raise LiveInputError("create_voice_clone needs audio_samples: a list of base64 PCM16 recordings")
            if len(speaker.strip()) > limits.NAME_CHARS or len(samples) > limits.CLONE_SAMPLES:
                raise LiveInputError(f"create_voice_clone takes a speaker_id of at most {limits.NAME_CHARS} "
                                     f"characters and at most {limits.CLONE_SAMPLES} audio_samples")
            rate = check_rate(message.get("sample_rate", self.session.config.sample_rate if self.session else 16000))
            pcm = np.concatenate([pcm16_to_float(_b64(s, "audio_samples[]")) for s in samples])
            language = message.get("language") or (self.session.config.target_language if self.session else None)
            result = await asyncio.to_thread(enrol_audio, Audio(pcm, rate), speaker.strip(), language,
                                             self.hub.engines)
        except LiveInputError as exc:
            self.error(exc.message, exc.hint)
            return
        except ApiError as exc:
            self.error(exc.message)
            return
        self.queue(LiveEvent("voice_clone_created", {"speaker_id": speaker.strip(), **result}))

    async def send_event(self, event: LiveEvent) -> None:
        await self.ws.send_json(shape(event))


def shape(event: LiveEvent) -> dict:
    """A session event in the reference protocol's shape (every field of the v1 event is kept)."""
    data = event.as_dict()
    if event.type == "audio":
        data.update(type="dubbed_audio", audio_data=base64.b64encode(event.pcm or b"").decode("ascii"),
                    source_start=data["start"], source_end=data["end"])
    elif event.type == "speaker":
        data["speaker_id"] = data["speaker"]
    elif event.type == "end":
        data["type"] = "dubbing_stopped"
    return data


@ws_router.websocket("/ws/{connection_id}/{session_id}")
async def live_compat(ws: WebSocket, connection_id: str, session_id: str):
    """The reference design's live socket (see the API description)."""
    await CompatLiveSocket(ws, session_id=session_id).run()
