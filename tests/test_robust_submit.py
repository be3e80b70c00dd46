"""Early validation and limits at submission (issue 15): every refusal is answered before any work
starts (no job row, no job folder), with a status, an error code and a message naming the problem.

The server runs real worker processes with the fake pipeline (tests/test_server_fakes.py); what is
refused is decided by the real engine registries (languages, engines and voices installed here).
Each case here is one row of the README's "Bad-input catalogue".
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from polydub import limits
from polydub.server.app import create_app
from polydub.server.settings import Settings
from tests.helpers import tiny_video

FAKES = "tests.test_server_fakes"


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("robust-media")
    tiny = folder / "tiny.mp4"
    tiny_video(tiny)
    mute = folder / "mute.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "color=size=64x64:duration=1:rate=10",
                    "-c:v", "libx264", str(mute)], check=True)
    text = folder / "notes.mp4"
    text.write_text("not a video\n" * 100)
    empty = folder / "empty.mp4"
    empty.write_bytes(b"")
    return {"tiny": tiny, "mute": mute, "text": text, "empty": empty}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    data = tmp_path_factory.mktemp("robust-data")
    settings = Settings(data_dir=data, task_targets={"dub": f"{FAKES}:fake_dub", "render": f"{FAKES}:fake_rerender"},
                        upload_rate_per_min=0, min_free_mb=0)
    with TestClient(create_app(settings)) as c:
        yield c


def job_ids(c: TestClient) -> set[str]:
    return {j["id"] for j in c.get("/api/jobs").json()["jobs"]}


def submit(c: TestClient, media: Path, fields: dict, url: str = "/api/jobs"):
    before = job_ids(c)
    with open(media, "rb") as fh:
        response = c.post(url, files={"file": (media.name, fh, "video/mp4")}, data=fields)
    response.jobs_before = before  # what assert_refused compares with
    return response


def assert_refused(c: TestClient, response, status: int, code: str, *words: str) -> None:
    """Refused with this status/code, the message names the problem, and nothing was started."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    for word in words:
        assert word.lower() in error["message"].lower(), error
    assert "Traceback" not in error["message"]
    known = job_ids(c)
    assert known == response.jobs_before, known - response.jobs_before  # no job row was made
    jobs_dir: Path = c.app.state.settings.data_dir / "jobs"
    leftovers = [p for p in jobs_dir.iterdir()] if jobs_dir.exists() else []
    assert all(p.name in known for p in leftovers), leftovers  # and no job folder


SUBMISSIONS = [
    # (case, form fields, status, code, words in the message)
    ("unknown target language", {"target_language": "xx"}, 422, "unsupported_language", ["xx"]),
    ("target language is not a code", {"target_language": "es!"}, 422, "unsupported_language",
     ["not a language code"]),
    ("target language missing", {}, 422, "invalid_request", ["target_language"]),
    ("target language too long", {"target_language": "e" * (limits.LANGUAGE_CHARS + 1)}, 422, "invalid_request",
     ["target_language", str(limits.LANGUAGE_CHARS)]),
    ("unknown source language", {"target_language": "es", "source_language": "zz"}, 422, "unsupported_language",
     ["zz"]),
    ("language pair not installed", {"target_language": "eo", "source_language": "en"}, 422,
     "unsupported_language", ["en->eo"]),
    ("voice engine not installed", {"target_language": "es", "tts_engine": "xtts"}, 422, "engine_not_installed",
     ["xtts"]),
    ("translation engine not installed", {"target_language": "es", "mt_engine": "deepl"}, 422,
     "engine_not_installed", ["deepl"]),
    ("unknown voice id", {"target_language": "es", "voices": json.dumps({"S1": "kokoro:nobody"})}, 422,
     "invalid_option", ["kokoro:nobody", "S1"]),
    ("voices not JSON", {"target_language": "es", "voices": "{S1: dora"}, 422, "invalid_request", ["json"]),
    ("too many speaker voices", {"target_language": "es",
                                 "voices": json.dumps({f"S{i}": "kokoro:ef_dora" for i in range(40)})},
     422, "invalid_request", ["voices", str(limits.VOICES_PER_JOB)]),
    ("voice-over level out of range", {"target_language": "es", "original_voice_db": "12"}, 422,
     "invalid_request", ["original_voice_db"]),
    ("audio track out of range", {"target_language": "es", "audio_track": "-1"}, 422, "invalid_request",
     ["audio_track"]),
    ("form field too large", {"target_language": "es", "voices": "x" * (limits.FORM_FIELD_BYTES + 10)}, 413,
     "field_too_large", ["voices"]),
    ("non-commercial voice in commercial-safe mode",
     {"target_language": "de", "commercial_safe": "true", "voices": json.dumps({"S1": "mbrola:de6"})}, 422,
     "non_commercial_voice", ["non-commercial"]),
]


@pytest.mark.parametrize("case,fields,status,code,words", SUBMISSIONS, ids=[s[0] for s in SUBMISSIONS])
def test_submission_refused_before_any_work(client, media, case, fields, status, code, words):
    began = time.monotonic()
    r = submit(client, media["tiny"], fields)
    assert_refused(client, r, status, code, *words)
    assert time.monotonic() - began < 20  # answered at once, not after a worker tried


@pytest.mark.parametrize("case,file,status,code,word", [
    ("text file named .mp4", "text", 415, "unsupported_media", "not a video or audio file"),
    ("video without sound", "mute", 415, "no_audio", "no audio track"),
    ("empty file", "empty", 400, "empty_file", "empty"),
], ids=lambda v: v if isinstance(v, str) and " " in v else None)
def test_bad_media_refused(client, media, case, file, status, code, word):
    assert_refused(client, submit(client, media[file], {"target_language": "es"}), status, code, word)


def test_compat_upload_validates_too(client, media):
    r = submit(client, media["tiny"], {"language": "xx"}, url="/upload")
    assert_refused(client, r, 422, "unsupported_language", "xx")


def test_not_multipart(client):
    r = client.post("/api/jobs", json={"target_language": "es"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request"
    assert "multipart/form-data" in r.json()["error"]["message"]


def test_limits_route_and_schema(client):
    got = client.get("/api/limits").json()["limits"]
    assert got["line_text_chars"] == limits.LINE_TEXT_CHARS and got["upload_bytes"] > 0
    schema = client.get("/openapi.json").json()
    patch = schema["components"]["schemas"]["SegmentPatch"]["properties"]
    assert patch["translation"]["anyOf"][0]["maxLength"] == limits.LINE_TEXT_CHARS
    upload = schema["paths"]["/api/jobs"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert upload["properties"]["target_language"]["maxLength"] == limits.LANGUAGE_CHARS
    assert "413" in schema["paths"]["/api/jobs/{job_id}/segments/{index}"]["patch"]["responses"]


@pytest.fixture(scope="module")
def done_job(client, media) -> str:
    r = submit(client, media["tiny"], {"target_language": "es"})
    assert r.status_code == 201, r.text
    job_id = r.json()["id"]
    deadline = time.monotonic() + 60
    while client.get(f"/api/jobs/{job_id}").json()["status"] != "done":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return job_id


def test_edit_limits(client, done_job):
    url = f"/api/jobs/{done_job}/segments/0"
    # a 2 MB translation never reaches a worker: refused by the body limit before parsing
    r = client.patch(url, json={"translation": "a" * 2_000_000})
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
    r = client.patch(url, json={"translation": "a" * (limits.LINE_TEXT_CHARS + 1)})
    assert r.status_code == 422 and "translation" in r.json()["error"]["message"]
    r = client.patch(url, json={"speaker": "S" * (limits.NAME_CHARS + 1)})
    assert r.status_code == 422 and "speaker" in r.json()["error"]["message"]
    r = client.patch(url, json={"translation": "a" * limits.LINE_TEXT_CHARS})  # at the limit: accepted
    assert r.status_code == 200 and len(r.json()["translation"]) == limits.LINE_TEXT_CHARS
    r = client.patch(url, json={"voice": "kokoro:nobody"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_voice"


def test_other_text_limits(client):
    r = client.get("/api/voices/preview", params={"voice": "kokoro:ef_dora", "text": "a" * 501})
    assert r.status_code == 422 and "text" in r.json()["error"]["message"]
    r = client.patch("/api/profiles/nobody", json={"name": "n" * (limits.NAME_CHARS + 1)})
    assert r.status_code == 422 and "name" in r.json()["error"]["message"]
    r = client.post("/api/voices/clone", json={"language": "es", "profile": "p" * 100})
    assert r.status_code == 422 and "profile" in r.json()["error"]["message"]
