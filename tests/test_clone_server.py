"""Issue 12 API: voice profiles (enrol, rename, voice per language, preview, delete), evolved voices in
/api/voices, clone requests validated before a job starts, job speakers (list, match again, save)."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from polydub.server.app import create_app
from polydub.server.settings import Settings
from tests.conftest import media_file

pytestmark = pytest.mark.slow


@pytest.fixture
def client(tmp_path, monkeypatch):
    monkeypatch.setenv("POLYDUB_PROFILES_DB", str(tmp_path / "profiles.sqlite"))
    with TestClient(create_app(Settings(data_dir=tmp_path / "data"))) as c:
        yield c


def _enrol(c: TestClient, name: str, clip: str = "audio/st_RD_Radio31_000.wav"):
    with open(media_file(clip), "rb") as fh:
        return c.post("/api/profiles", files={"file": ("sample.wav", fh, "audio/wav")}, data={"name": name})


def test_profiles_crud_preview_and_errors(client) -> None:
    r = _enrol(client, "Ana")
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "Ana" and r.json()["samples"] == 1 and r.json()["voices"] == {}
    listed = client.get("/api/profiles").json()
    assert [p["name"] for p in listed["profiles"]] == ["Ana"] and "es" in listed["clone_languages"]
    r = client.put("/api/profiles/Ana/voices/es", json={"voice": "kokoro:ef_dora"})
    assert r.status_code == 200 and r.json()["voices"]["es"] == {"voice": "kokoro:ef_dora", "source": "stock",
                                                                  "clone": None}
    assert client.put("/api/profiles/Ana/voices/es", json={"voice": "kokoro:nobody"}).status_code == 422
    wav = client.get("/api/profiles/Ana/preview", params={"lang": "es", "text": "Hola, soy Ana."})
    assert wav.status_code == 200 and wav.headers["content-type"] == "audio/wav" and wav.content[:4] == b"RIFF"
    assert len(wav.content) > 24000  # about a second of speech at least
    # A language without a chosen voice gets the matched stock voice, remembered in the profile.
    assert client.get("/api/profiles/Ana/preview", params={"lang": "fr"}).status_code == 200
    assert client.get("/api/profiles").json()["profiles"][0]["voices"]["fr"]["voice"].startswith("kokoro:")
    assert client.get("/api/voices/preview", params={"voice": "kokoro:em_alex"}).content[:4] == b"RIFF"
    assert _enrol(client, "Bob", "video/vr_face_1.mp4").status_code == 201
    assert client.patch("/api/profiles/Ana", json={"name": "Bob"}).status_code == 409
    assert client.patch("/api/profiles/Ana", json={"name": "a@b"}).status_code == 422
    assert client.patch("/api/profiles/Ana", json={"name": "Ana María"}).json()["name"] == "Ana María"
    assert client.delete("/api/profiles/Ana%20Mar%C3%ADa").status_code == 204
    assert client.get("/api/profiles/Ana%20Mar%C3%ADa/preview", params={"lang": "es"}).status_code == 404
    assert [p["name"] for p in client.get("/api/profiles").json()["profiles"]] == ["Bob"]


def test_bad_enrolment_and_clone_requests_are_refused_in_words(client, tmp_path) -> None:
    text = tmp_path / "notes.wav"
    text.write_text("not audio\n" * 20)
    with open(text, "rb") as fh:
        r = client.post("/api/profiles", files={"file": ("notes.wav", fh, "audio/wav")}, data={"name": "X"})
    assert r.status_code == 415 and "not a video or audio file" in r.json()["error"]["message"]
    assert client.get("/api/profiles").json()["profiles"] == []
    r = client.post("/api/voices/clone", json={"profile": "nobody", "language": "es"})
    assert r.status_code == 404 and "nobody" in r.json()["error"]["message"]
    r = client.post("/api/voices/clone", json={"profile": "nobody", "language": "de"})
    assert r.status_code == 422 and "cannot speak 'de'" in r.json()["error"]["message"]
    r = client.post("/api/voices/clone", json={"job_id": "0" * 32, "speaker": "S1", "language": "es"})
    assert r.status_code == 404
    assert client.post("/api/voices/clone", json={"language": "es"}).status_code == 422
    assert client.post("/api/voices/clone", json={"profile": "x", "language": "es", "budget_s": 1}).status_code == 422


def test_evolved_voices_are_listed_resolvable_and_deletable(client) -> None:
    from polydub.speakers.profiles import ProfileStore
    from polydub.voice.registry import get_registry

    assert _enrol(client, "Eva").status_code == 201
    kokoro = get_registry().engine("kokoro")
    # A stored tensor (here a perturbed stock one, for the plumbing only) becomes a voice id at once.
    style = kokoro.style_tensor(get_registry().get_voice("kokoro:ef_dora")) * 1.02
    ProfileStore().set_evolved("Eva", "es", "kokoro", style, {"similarity_evolved": 0.5, "similarity_stock": 0.4,
                                                                "gender": "female", "eq_db": [0.0] * 19})
    voices = {v["id"]: v for v in client.get("/api/voices").json()["voices"]}
    evolved = voices["kokoro-evolved:Eva@es"]
    assert evolved["engine"] == "kokoro-evolved" and evolved["extra"]["evolved"] and evolved["quality"] < 2
    assert "Apache-2.0" in evolved["extra"]["licence"]
    profile = client.get("/api/profiles").json()["profiles"][0]
    assert profile["voices"]["es"]["source"] == "evolved" and profile["voices"]["es"]["clone"]["similarity_evolved"]
    wav = client.get("/api/voices/preview", params={"voice": "kokoro-evolved:Eva@es", "text": "Buenos días."})
    assert wav.status_code == 200 and wav.content[:4] == b"RIFF"
    # Renaming the profile renames its evolved voice; deleting the language's voice removes it.
    assert client.patch("/api/profiles/Eva", json={"name": "Eve"}).json()["voices"]["es"]["voice"] == \
        "kokoro-evolved:Eve@es"
    assert "kokoro-evolved:Eve@es" in {v["id"] for v in client.get("/api/voices").json()["voices"]}
    assert client.delete("/api/profiles/Eve/voices/es").json()["voices"] == {}
    assert not any(v["id"].startswith("kokoro-evolved:") for v in client.get("/api/voices").json()["voices"])
    assert np.allclose(style, kokoro.style_tensor(get_registry().get_voice("kokoro:ef_dora")) * 1.02)
