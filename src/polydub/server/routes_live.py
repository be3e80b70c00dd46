"""Live dubbing over HTTP and WebSockets: `WS /api/live` (v1), sessions, voice enrolment."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request, WebSocket
from fastapi.responses import Response

from polydub import limits
from polydub.errors import PolydubError
from polydub.live import LiveEvent
from polydub.server.deps import require_token
from polydub.server.errors import ApiError
from polydub.server.live_socket import LiveSocket
from polydub.server.upload import receive_upload, sniff_media

router = APIRouter(prefix="/api", tags=["live"], dependencies=[Depends(require_token)])
ws_router = APIRouter()

OPENAPI_DESCRIPTION = """

### Live dubbing: `WS /api/live` (protocol `polydub-live/1`)
Connect (with `?token=` when the server has one), then send JSON control messages and binary audio:
1. `{"type": "start", "target_language": "es", "source_language": "auto", "sample_rate": 16000}` (optional:
   `output_sample_rate` (24000), `preserve_voice` (true), `voice`, `asr_model`, `mt_engine` ("whisper" = Whisper's
   own speech translation, to English), `tts_engine`, `end_pause_s` (0.5), `max_tempo` (1.3), `max_lag_s` (12),
   `session_id`) → `{"type": "ready", "session_id": ...}`.
2. Binary frames: 16-bit little-endian mono PCM at `sample_rate`, any size from 10 to 1000 ms (≤ 1 MiB).
3. `{"type": "stop"}`: the rest is dubbed, then `{"type": "end", ...summary}` and the server closes the socket.

The server sends JSON events per utterance: `speaker` (a new voice), `transcript` {text, speaker, start, end,
speech_end}, `translation` {text, source_text}, `audio` {sample_rate, samples, chunk, last, plays_at, start, end}
**followed by one binary frame with that PCM (16-bit mono)**, `metrics` {vad_ms, asr_ms, mt_ms, tts_first_ms,
asr_done_ms, mt_done_ms, first_audio_ms (from the end of the speech), lag_s, tempo}, `skipped` {reason, abandoned},
and `error` {message, hint, fatal}. Times are seconds of the input stream.

### Compatible live routes (reference "real-time AI dubbing" design)
`WS /ws/{connection_id}/{session_id}`: JSON only. Send `start_dubbing` {target_language, source_language ("auto" or a
code), preserve_voice, sample_rate}, `audio_chunk` {audio_data: base64 PCM16}, `create_voice_clone` {speaker_id,
audio_samples: [base64 PCM16, …]}, `stop_dubbing`. Replies: `dubbing_started`, `transcript`, `translation`,
`dubbed_audio` {audio_data: base64 PCM16, sample_rate, start, end, source_start, source_end}, `speaker`, `metrics`,
`voice_clone_created`, `dubbing_stopped`, `error` {message}. `GET/DELETE /api/sessions/{session_id}`: session state.
`POST /api/upload-audio`: enrol a voice profile from a recording."""


class LiveSocketV1(LiveSocket):
    async def on_text(self, message: dict[str, Any]) -> None:
        kind = message.pop("type")
        if kind == "start":
            self.session_id = message.pop("session_id", None) or self.session_id
            if await self.start_session(message):
                self.queue(LiveEvent("ready", {"protocol": "polydub-live/1", **self.session.describe(),
                                               "sample_rate": self.session.config.sample_rate,
                                               "output_sample_rate": self.session.config.output_sample_rate}))
        elif kind == "stop":
            if await self.stop_session() is not None:
                self.closing = True
                self.close_after_sent(1000, "session ended")
        elif kind == "ping":
            self.queue(LiveEvent("pong", {}))
        else:
            self.error(f"unknown message type {kind!r}", "this protocol knows: start, stop, ping (audio is binary)")

    async def on_binary(self, data: bytes) -> None:
        await self.feed(data)

    async def send_event(self, event: LiveEvent) -> None:
        if event.pcm is not None:
            await self.ws.send_json(event.as_dict() | {"bytes": len(event.pcm)})
            await self.ws.send_bytes(event.pcm)
        else:
            await self.ws.send_json(event.as_dict())


@ws_router.websocket("/api/live")
async def live_v1(ws: WebSocket):
    """Live dubbing, protocol polydub-live/1 (see the API description)."""
    await LiveSocketV1(ws).run()


@router.get("/sessions/{session_id}", summary="Live session state: speakers, voices, utterances, latency")
def get_session(session_id: str, request: Request) -> dict:
    state = request.app.state.live.get(session_id)
    if state is None:
        raise ApiError(404, "not_found", f"No live session {session_id!r} (it never ran, or was deleted).")
    return state


@router.delete("/sessions/{session_id}", status_code=204, response_class=Response,
               summary="Stop a live session (if running) and forget it")
async def delete_session(session_id: str, request: Request):
    found = await asyncio.to_thread(request.app.state.live.delete, session_id)
    if not found:
        raise ApiError(404, "not_found", f"No live session {session_id!r}.")
    return Response(status_code=204)


UPLOAD_AUDIO_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary", "description": "a recording of one person (audio or video)"},
        "speaker_id": {"type": "string", "maxLength": limits.NAME_CHARS,
                       "description": "profile name; a new one is created, an existing one extended"},
        "language": {"type": "string", "maxLength": limits.LANGUAGE_CHARS,
                     "description": "also choose (and save) the voice for this language"}}}}}}}


@router.post("/upload-audio", openapi_extra=UPLOAD_AUDIO_BODY,
             summary="Enrol a voice profile from a recording, or extend one (the offline 'voice clone')")
async def upload_audio(request: Request) -> dict:
    settings = request.app.state.settings
    folder = settings.data_dir / "uploads" / uuid.uuid4().hex
    try:
        path, name, fields = await receive_upload(request, folder, min(settings.max_upload_bytes, 200 << 20))
        sniff_media(path)
        speaker = (fields.get("speaker_id") or fields.get("name") or Path(name).stem[:limits.NAME_CHARS]).strip()
        language = (fields.get("language") or "").strip() or None
        if len(speaker) > limits.NAME_CHARS or len(language or "") > limits.LANGUAGE_CHARS:
            raise ApiError(422, "invalid_request", f"speaker_id has at most {limits.NAME_CHARS} characters, "
                                                   f"language at most {limits.LANGUAGE_CHARS}.")
        return await asyncio.to_thread(enrol_file, path, speaker, language, request.app.state.live.engines)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def enrol_file(path, speaker: str, language: str | None, engines) -> dict:
    from polydub.media.decode import decode_for_asr

    return enrol_audio(decode_for_asr(path), speaker, language, engines, sample=path)


def enrol_audio(audio, speaker: str, language: str | None, engines, sample=None) -> dict:
    """Add a recording to the profile `speaker` (created if new); with a language, the voice it uses."""
    from polydub.languages import normalize_language
    from polydub.speakers.enrol import speech_embedding
    from polydub.voice.matching import profile_voice

    if not speaker:
        raise ApiError(422, "invalid_request", "speaker_id is required (the name of the voice profile).")
    try:
        embedding, seconds = speech_embedding(audio, engines.embedder, f"the recording for {speaker!r}")
        store = engines.profiles
        profile = store.add(speaker, [embedding], samples=[sample] if sample else [], embedder=engines.embedder.name)
        voice = None
        if language:
            language = normalize_language(language)
            voice = profile_voice(store, profile, language, engines.voices, engines.embedder)
            profile = store.get(speaker)
    except PolydubError as exc:
        raise ApiError(422, "no_speech", str(exc)) from None
    return {"profile": profile_summary(profile), "speech_seconds": round(seconds, 2),
            "voice": {"language": language, "id": voice.id, "engine": voice.engine} if voice else None,
            "method": "voice profile: the installed voice most like this person is chosen and kept for them"}


def profile_summaries(engines) -> list[dict]:
    try:
        return [profile_summary(p) for p in engines.profiles.list()]
    except Exception:  # noqa: BLE001 - a broken profile database must not break the voice list
        return []


def profile_summary(profile) -> dict:
    return {"name": profile.name, "embeddings": int(len(profile.embeddings)), "samples": len(profile.samples),
            "voices": dict(profile.voices), "embedder": profile.embedder,
            "created": profile.created.isoformat() if profile.created else None,
            "updated": profile.updated.isoformat() if profile.updated else None}
