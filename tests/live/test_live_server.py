"""Live dubbing through the real server: both WebSocket protocols, sessions, voice enrolment, and bad
input on the socket (each answered with a clear error, the server unaffected, the session freed)."""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from polydub.live.pcm import float_to_pcm16
from polydub.media.decode import decode_audio, decode_for_asr
from tests.conftest import media_file
from tests.live.conftest import get_json, wait_for

pytestmark = pytest.mark.slow
REALTIME_OFF = {"max_lag_s": 600}  # streamed faster than real time: never abandon lines in these tests


def ws(base: str, path: str):
    return connect(base.replace("http", "ws", 1) + path, max_size=None, open_timeout=30, close_timeout=10)


def recv_json(sock, timeout: float = 300.0) -> dict:
    while True:
        msg = sock.recv(timeout=timeout)
        if isinstance(msg, str):
            return json.loads(msg)


def chunks(pcm: bytes, rate: int, seed: int):
    rng = np.random.default_rng(seed)
    i = 0
    while i < len(pcm):
        n = 2 * int(rng.integers(rate // 100, rate))  # 10-1000 ms, whole samples
        yield pcm[i:i + n]
        i += n


def v1_session(base: str, pcm: bytes, options: dict, seed: int = 0) -> tuple[dict, list[dict], dict[int, bytes]]:
    """Stream `pcm`, stop, and collect every event; audio PCM by the event's index."""
    events, audio = [], {}
    with ws(base, "/api/live") as sock:
        sock.send(json.dumps({"type": "start", **options}))
        ready = recv_json(sock)
        assert ready["type"] == "ready", ready
        for chunk in chunks(pcm, options.get("sample_rate", 16000), seed):
            sock.send(chunk)
        sock.send(json.dumps({"type": "stop"}))
        try:
            while True:
                msg = sock.recv(timeout=600)
                if isinstance(msg, bytes):
                    audio[len(events) - 1] = msg
                    continue
                events.append(json.loads(msg))
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 1000
    return ready, events, audio


def health(base: str) -> dict:
    return get_json(base + "/api/health")


def test_v1_protocol_streams_lines_with_their_audio_and_metrics(live_server):
    base, _ = live_server
    clip = decode_audio(media_file("video/vr_face_2.mp4"), rate=48000, channels=1)
    ready, events, audio = v1_session(base, float_to_pcm16(clip.samples),
                                      {"target_language": "es", "source_language": "en", "sample_rate": 48000,
                                       **REALTIME_OFF}, seed=1)
    kinds = [e["type"] for e in events]
    assert {"speaker", "transcript", "translation", "audio", "metrics"} <= set(kinds), kinds
    assert kinds[-1] == "end" and "error" not in kinds
    for i, event in enumerate(events):
        if event["type"] == "audio":  # every audio header is followed by exactly its PCM
            assert len(audio[i]) == event["bytes"] == 2 * event["samples"] and event["sample_rate"] == 24000
    text = " ".join(e["text"] for e in events if e["type"] == "transcript").lower()
    assert "california" in text or "congressional" in text
    metrics = [e for e in events if e["type"] == "metrics"]
    assert all(m["first_audio_ms"] >= m["mt_done_ms"] >= m["asr_done_ms"] >= 0 for m in metrics)
    state = get_json(f"{base}/api/sessions/{ready['session_id']}")
    assert state["state"] == "finished" and state["lines"] == len(metrics) >= 1
    assert state["speakers"][0]["voice"].startswith("kokoro:")
    assert health(base)["live_sessions"] == 0


def test_compatible_protocol_end_to_end(live_server):
    base, _ = live_server
    pcm = float_to_pcm16(decode_for_asr(media_file("audio/fw_jfk.flac")).samples[: 16000 * 5])
    replies = []
    with ws(base, "/ws/conn-1/compat-session") as sock:
        sock.send(json.dumps({"type": "start_dubbing", "target_language": "es", "source_language": "auto",
                              "preserve_voice": True, **REALTIME_OFF}))
        assert recv_json(sock)["type"] == "dubbing_started"
        for chunk in chunks(pcm, 16000, 2):
            sock.send(json.dumps({"type": "audio_chunk", "audio_data": base64.b64encode(chunk).decode()}))
        sock.send(json.dumps({"type": "stop_dubbing"}))
        while not replies or replies[-1]["type"] != "dubbing_stopped":
            replies.append(recv_json(sock))
        sock.send(json.dumps({"type": "ping-me"}))  # the socket stays open after a stop
        assert "unknown message type" in recv_json(sock)["message"]
    kinds = {r["type"] for r in replies}
    assert {"transcript", "translation", "dubbed_audio", "speaker", "metrics"} <= kinds, kinds
    for r in replies:
        if r["type"] == "dubbed_audio":
            pcm_back = base64.b64decode(r["audio_data"])
            assert len(pcm_back) % 2 == 0 and r["sample_rate"] == 24000
            assert r["source_start"] <= r["source_end"] and np.abs(np.frombuffer(pcm_back, "<i2")).max() > 1000
        if r["type"] == "transcript":
            assert {"text", "speaker", "start", "end"} <= set(r)
    assert any("fellow americans" in r["text"].lower() for r in replies if r["type"] == "transcript")
    assert get_json(f"{base}/api/sessions/compat-session")["state"] == "finished"
    request = urllib.request.Request(f"{base}/api/sessions/compat-session", method="DELETE")
    assert urllib.request.urlopen(request).status == 204
    with pytest.raises(urllib.error.HTTPError) as gone:
        get_json(f"{base}/api/sessions/compat-session")
    assert gone.value.code == 404


def _multipart(fields: dict[str, str], filename: str, data: bytes) -> tuple[bytes, str]:
    boundary = "polydubtestboundary"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                 f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _post(url: str, body: bytes, ctype: str) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": ctype}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=300) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_enrolled_voices_are_used_by_live_sessions(live_server):
    base, _ = live_server
    katie = media_file("video/st_ref_KatieHill_000.mp4")
    status, body = _post(base + "/api/upload-audio", *_multipart({"speaker_id": "katie", "language": "es"},
                                                                  katie.name, katie.read_bytes()))
    assert status == 200, body
    voice = body["voice"]["id"]
    assert body["profile"]["name"] == "katie" and body["profile"]["voices"]["es"] == voice
    assert any(p["name"] == "katie" for p in get_json(base + "/api/voices")["profiles"])
    # not audio, and audio without speech: clear errors
    status, body = _post(base + "/api/upload-audio", *_multipart({"speaker_id": "x"}, "notes.txt", b"hello " * 50))
    assert status == 415 and "not a video or audio file" in body["error"]["message"]
    silent = np.zeros(16000 * 3, dtype=np.float32)
    import io

    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, silent, 16000, format="WAV", subtype="PCM_16")
    status, body = _post(base + "/api/upload-audio", *_multipart({"speaker_id": "x"}, "quiet.wav", buf.getvalue()))
    assert status == 422 and "no speech" in body["error"]["message"]

    jfk = decode_for_asr(media_file("audio/fw_jfk.flac")).samples
    speech = decode_for_asr(katie).samples
    with ws(base, "/ws/conn-2/profile-session") as sock:
        sock.send(json.dumps({"type": "create_voice_clone", "speaker_id": "jfk", "language": "es",
                              "audio_samples": [base64.b64encode(float_to_pcm16(jfk)).decode()]}))
        clone = recv_json(sock)
        assert clone["type"] == "voice_clone_created" and clone["voice"]["id"], clone
        sock.send(json.dumps({"type": "start_dubbing", "target_language": "es", "source_language": "en",
                              "preserve_voice": True, **REALTIME_OFF}))
        assert recv_json(sock)["type"] == "dubbing_started"
        pcm = float_to_pcm16(speech[: 16000 * 5])
        for chunk in chunks(pcm, 16000, 3):
            sock.send(json.dumps({"type": "audio_chunk", "audio_data": base64.b64encode(chunk).decode()}))
        sock.send(json.dumps({"type": "stop_dubbing"}))
        replies = []
        while not replies or replies[-1]["type"] != "dubbing_stopped":
            replies.append(recv_json(sock))
    speaker = next(r for r in replies if r["type"] == "speaker")
    assert speaker["voice_source"] == "profile" and speaker["profile"] == "katie" and speaker["voice"] == voice


# -- bad input ----------------------------------------------------------------------------------------
def _error(sock) -> dict:
    msg = recv_json(sock, timeout=60)
    assert msg["type"] == "error", msg
    return msg


def _still_usable(sock) -> None:
    sock.send(json.dumps({"type": "ping"}))
    assert recv_json(sock, 30)["type"] == "pong"


def test_malformed_json_unknown_types_and_audio_before_start_get_clear_errors(live_server):
    base, _ = live_server
    with ws(base, "/api/live") as sock:
        assert "malformed JSON" in _error(sock if sock.send("{not json") is None else sock)["message"]
        _still_usable(sock)
        sock.send(json.dumps({"type": "dance"}))
        assert "unknown message type 'dance'" in _error(sock)["message"]
        sock.send(json.dumps(["start"]))
        assert "JSON object" in _error(sock)["message"]
        sock.send(b"\0\0" * 800)
        assert "before the session was started" in _error(sock)["message"]
        _still_usable(sock)
    with ws(base, "/ws/c/bad-compat") as sock:
        sock.send(json.dumps({"type": "audio_chunk", "audio_data": base64.b64encode(b"\0\0" * 100).decode()}))
        assert "before the session was started" in _error(sock)["message"]
        sock.send(json.dumps({"type": "dance"}))
        assert "start_dubbing" in _error(sock)["hint"]
    assert health(base)["live_sessions"] == 0


def test_bad_audio_and_absurd_sample_rates_are_refused(live_server):
    base, _ = live_server
    with ws(base, "/api/live") as sock:
        sock.send(json.dumps({"type": "start", "target_language": "es", "sample_rate": 10_000_000}))
        err = _error(sock)
        assert "sample_rate 10000000 Hz is outside" in err["message"] and not err["fatal"]
        assert health(base)["live_sessions"] == 0  # nothing was started
        sock.send(json.dumps({"type": "start", "target_language": "xx"}))
        assert "no installed voice speaks" in _error(sock)["message"]
        sock.send(json.dumps({"type": "start", "target_language": "es", "volume": 11}))
        assert "unknown session option(s): volume" in _error(sock)["message"]
        sock.send(json.dumps({"type": "start", "target_language": "es", "source_language": "en"}))
        assert recv_json(sock)["type"] == "ready"
        sock.send(b"\x01\x02\x03")
        assert "odd number of bytes" in _error(sock)["message"]
        _still_usable(sock)
    with ws(base, "/ws/c/b64-session") as sock:
        sock.send(json.dumps({"type": "start_dubbing", "target_language": "es", "source_language": "en"}))
        assert recv_json(sock)["type"] == "dubbing_started"
        sock.send(json.dumps({"type": "audio_chunk", "audio_data": "%%% not base64 %%%"}))
        assert "not valid base64" in _error(sock)["message"]
        sock.send(json.dumps({"type": "audio_chunk", "audio_data": base64.b64encode(b"\1\2\3").decode()}))
        assert "odd number of bytes" in _error(sock)["message"]
        sock.send(json.dumps({"type": "create_voice_clone", "speaker_id": "nobody", "audio_samples": ["!!"]}))
        assert "not valid base64" in _error(sock)["message"]
    assert wait_for(lambda: health(base)["live_sessions"] == 0, 20)
    assert get_json(f"{base}/api/sessions/b64-session")["state"] == "closed"


def test_oversized_frames_close_the_socket_and_free_the_session(live_server):
    base, _ = live_server
    with ws(base, "/api/live") as sock:
        sock.send(json.dumps({"type": "start", "target_language": "es", "source_language": "en"}))
        session = recv_json(sock)["session_id"]
        sock.send(b"\0" * (2 << 20))  # 2 MB: over the server's 1 MiB frame limit
        err = _error(sock)
        assert "larger than the 1 MB limit" in err["message"] and err["fatal"]
        with pytest.raises(ConnectionClosed) as closed:
            sock.recv(timeout=30)
        assert closed.value.rcvd.code == 1009
    # the session closes once the server's receive loop sees the error (later on a busy machine)
    assert wait_for(lambda: get_json(f"{base}/api/sessions/{session}")["state"] == "closed", 20)
    with ws(base, "/api/live") as sock:
        sock.send(json.dumps({"type": "start", "target_language": "es", "source_language": "en"}))
        session = recv_json(sock)["session_id"]
        with pytest.raises(ConnectionClosed) as closed:
            sock.send(b"\0" * (50 << 20))  # 50 MB: refused by the WebSocket layer before it is buffered
            sock.recv(timeout=30)
        assert closed.value.rcvd.code == 1009 and "exceeds limit" in closed.value.rcvd.reason
    assert wait_for(lambda: get_json(f"{base}/api/sessions/{session}")["state"] == "closed", 20)
    assert health(base)["live_sessions"] == 0
    _, events, _ = v1_session(base, b"\0\0" * 1600, {"target_language": "es", "source_language": "en"})
    assert events[-1]["type"] == "end"  # and the server goes on serving


def test_minutes_of_silence_stream_fast_and_dub_nothing(live_server):
    base, _ = live_server
    rng = np.random.default_rng(0)
    quiet = float_to_pcm16((0.001 * rng.standard_normal(16000 * 180)).astype(np.float32))  # 3 minutes, faint hiss
    started = time.monotonic()
    with ws(base, "/api/live") as sock:
        sock.send(json.dumps({"type": "start", "target_language": "es", "source_language": "en"}))
        assert recv_json(sock)["type"] == "ready"
        for i in range(0, len(quiet), 32000):
            sock.send(quiet[i:i + 32000])
        sock.send(json.dumps({"type": "stop"}))
        end = recv_json(sock, 120)
    assert end["type"] == "end" and end["audio_seconds"] == pytest.approx(180, abs=0.1)
    assert end["utterances"] == 0 and end["lines"] == 0 and end["abandoned"] == 0
    assert time.monotonic() - started < 60


def test_client_disconnecting_mid_utterance_frees_the_session(live_server):
    base, _ = live_server
    speech = float_to_pcm16(decode_for_asr(media_file("audio/st_RD_Radio31_000.wav")).samples[: 16000 * 3])
    with ws(base, "/api/live") as sock:
        sock.send(json.dumps({"type": "start", "target_language": "es", "source_language": "en"}))
        session = recv_json(sock)["session_id"]
        for i in range(0, len(speech), 3200):
            sock.send(speech[i:i + 3200])
        sock.socket.close()  # gone without a close frame, in the middle of a sentence
    assert wait_for(lambda: get_json(f"{base}/api/sessions/{session}")["state"] == "closed", 30)
    assert health(base)["live_sessions"] == 0


def test_ten_concurrent_sessions_all_get_their_dub(live_server):
    base, _ = live_server
    line = decode_for_asr(media_file("audio/fw_jfk.flac")).samples[: int(16000 * 2.5)]
    pcm = float_to_pcm16(np.concatenate([line, np.zeros(16000, dtype=np.float32)]))
    results: dict[int, list[dict]] = {}
    errors: list[BaseException] = []

    def one(n: int) -> None:
        try:
            results[n] = v1_session(base, pcm, {"target_language": "es", "source_language": "en", **REALTIME_OFF},
                                    seed=n)[1]
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(10)]
    for t in threads:
        t.start()
    assert wait_for(lambda: health(base)["live_sessions"] >= 5, 60)
    for t in threads:
        t.join(600)
    assert not errors, errors
    assert len(results) == 10
    for events in results.values():
        kinds = [e["type"] for e in events]
        assert "audio" in kinds and kinds[-1] == "end" and "error" not in kinds
        assert any("fellow" in e["text"].lower() for e in events if e["type"] == "transcript")
    assert health(base)["live_sessions"] == 0


def test_tokens_guard_the_live_routes_and_the_job_socket_keeps_its_path(tmp_path):
    from fastapi.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

    from polydub.server.app import create_app
    from polydub.server.settings import Settings

    with TestClient(create_app(Settings(data_dir=tmp_path, token="s3cret"))) as client:
        for path in ("/api/live", "/ws/conn/sess"):
            with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect(path) as sock:
                sock.receive_json()
            assert refused.value.code == 4401
        with client.websocket_connect("/api/live?token=s3cret") as sock:
            sock.send_json({"type": "ping"})
            assert sock.receive_json()["type"] == "pong"
        assert client.post("/api/upload-audio").status_code == 401
        assert client.get("/api/sessions/x").status_code == 401
        assert client.get("/api/sessions/x", headers={"Authorization": "Bearer s3cret"}).status_code == 404
        spec = client.get("/openapi.json", headers={"Authorization": "Bearer s3cret"}).json()
        assert "WS /api/live" in spec["info"]["description"] and "/api/upload-audio" in spec["paths"]
        # WS /ws/{job_id} (one segment) is still the job-progress socket beside /ws/{connection}/{session}
        with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect("/ws/no-such-job?token=s3cret") \
                as sock:
            sock.receive_json()
        assert refused.value.code == 4404
