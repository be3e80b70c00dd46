"""`commercial_safe` on POST /api/jobs: the server's default (`serve --commercial-safe`), a request's own
choice, and a clear 422 for a non-commercial voice or engine asked for in commercial-safe mode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from polydub.server.app import create_app
from polydub.server.settings import Settings
from polydub.voice.registry import get_registry
from tests import test_server_api as api

tiny_mp4 = api.tiny_mp4  # the same session fixture (a 1 s mp4 made with ffmpeg)


def _settings(tmp_path: Path, **kw) -> Settings:
    return api.make_settings(tmp_path, **kw)


def _post(client: TestClient, media: Path, **fields):
    with open(media, "rb") as fh:
        return client.post("/api/jobs", files={"file": (media.name, fh, "video/mp4")},
                           data={"target_language": "de", **fields})


def test_server_default_and_request_choice(tmp_path: Path, tiny_mp4: Path) -> None:
    with TestClient(create_app(_settings(tmp_path, commercial_safe=True))) as client:
        default = _post(client, tiny_mp4)
        opted_out = _post(client, tiny_mp4, commercial_safe="false")
        assert default.status_code == opted_out.status_code == 201
        assert client.get(f"/api/jobs/{default.json()['id']}").json()["options"]["commercial_safe"] is True
        assert client.get(f"/api/jobs/{opted_out.json()['id']}").json()["options"]["commercial_safe"] is False
    with TestClient(create_app(_settings(tmp_path / "plain"))) as client:
        job = _post(client, tiny_mp4).json()
        assert client.get(f"/api/jobs/{job['id']}").json()["options"]["commercial_safe"] is False


def test_non_commercial_voice_is_refused(tmp_path: Path, tiny_mp4: Path) -> None:
    if "mbrola" not in {e.name for e in get_registry().available_engines()}:
        pytest.skip("MBROLA not installed")
    with TestClient(create_app(_settings(tmp_path))) as client:
        for fields in ({"voices": json.dumps({"S1": "mbrola:mb-de7"})}, {"tts_engine": "mbrola"}):
            refused = _post(client, tiny_mp4, commercial_safe="true", **fields)
            assert refused.status_code == 422, refused.text
            error = refused.json()["error"]
            assert error["code"] == "non_commercial_voice" and "non-commercial" in error["message"]
        assert client.get("/api/jobs").json()["jobs"] == []  # nothing was created or left behind
        jobs_dir = tmp_path / "data" / "jobs"
        assert not jobs_dir.exists() or not any(jobs_dir.iterdir())
        allowed = _post(client, tiny_mp4, voices=json.dumps({"S1": "mbrola:mb-de7"}))  # not commercial-safe
        assert allowed.status_code == 201
