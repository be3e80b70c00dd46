"""Avatars and lectures through the real server (embedded runner, real voices and portraits).

API v1 (/api/avatars, /api/animations, /api/lectures) and the reference routes (/avatar/*,
/generate, /generate/cancel, /ping, Swagger at /api): face checked at upload, animations as jobs
with a history per avatar, lecture fragments listed as they finish, the path rules of /generate
(traversal, symlinks and paths outside --files-root refused with the reference's error shape), and
a cancel of /generate that answers and takes effect within 2 s.
"""

from __future__ import annotations

import io
import shutil
import threading
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient

from polydub.server.app import create_app
from polydub.server.settings import Settings
from tests.conftest import media_file

pytestmark = pytest.mark.slow
RU = "Добрый день! Сегодня мы откроем новый магазин."


def _png(pixels: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def _wait(c: TestClient, url: str, done=("done", "failed", "cancelled", "completed"), timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = c.get(url).json()
        if body["status"] in done:
            return body
        time.sleep(0.2)
    raise AssertionError(f"{url} did not finish: {body}")


def test_avatars_v1_and_reference_routes(tmp_path) -> None:
    photo = media_file("portrait/st_people_0.png").read_bytes()
    with TestClient(create_app(Settings(data_dir=tmp_path / "data"))) as c:
        r = c.post("/api/avatars", files={"photo": ("anna.png", photo, "image/png")}, data={"name": "Anna"})
        assert r.status_code == 201, r.text
        avatar = r.json()
        assert avatar["faces"] == 1 and (avatar["width"], avatar["height"]) == (474, 474)
        assert c.get(avatar["image_url"]).content == photo
        blank = _png(np.full((200, 200, 3), 180, np.uint8))
        r = c.post("/api/avatars", files={"photo": ("wall.png", blank, "image/png")}, data={"name": "Wall"})
        assert r.status_code == 422 and r.json()["error"]["code"] == "no_usable_face", r.text
        assert "no face found" in r.json()["error"]["message"]
        c.app.state.settings.max_photo_mb = 0.05
        r = c.post("/api/avatars", files={"photo": ("anna.png", photo, "image/png")}, data={"name": "Big"})
        assert r.status_code == 413, r.text
        c.app.state.settings.max_photo_mb = 5.0
        assert [a["id"] for a in c.get("/api/avatars").json()["avatars"]] == [avatar["id"]]

        r = c.post(f"/api/avatars/{avatar['id']}/animations", json={"text": RU})
        assert r.status_code == 201, r.text
        animation = _wait(c, f"/api/animations/{r.json()['id']}")
        assert animation["status"] == "done", animation
        assert animation["language"] == "ru" and animation["voice"].startswith("rhvoice:")
        video = c.get(animation["video_url"], headers={"Range": "bytes=0-99"})
        assert video.status_code == 206 and len(video.content) == 100
        audio = c.get(animation["audio_url"])
        assert audio.status_code == 200 and len(audio.content) > 10000
        events = c.get(f"/api/jobs/{animation['id']}/events").json()["events"]
        assert {"face", "voice", "animate", "done"} <= {e["stage"] for e in events}
        history = c.get(f"/api/avatars/{avatar['id']}/animations").json()["animations"]
        assert [h["id"] for h in history] == [animation["id"]]

        # the reference avatar service
        r = c.post("/avatar/upload", files={"image": ("robot.png", media_file("portrait/st_art_6.png").read_bytes(),
                                                      "image/png")}, data={"name": "Robot", "description": "demo"})
        assert r.status_code == 200, r.text
        up = r.json()
        assert set(up) == {"id", "name", "imageUrl", "message"} and c.get(up["imageUrl"]).status_code == 200
        listed = c.get("/avatar").json()
        assert {a["id"] for a in listed} == {avatar["id"], up["id"]} and listed[0]["createdAt"].endswith("Z")
        r = c.post("/avatar/animate", json={"avatarId": up["id"], "text": RU, "voiceId": None})
        assert r.status_code == 200, r.text
        started = r.json()
        assert set(started) >= {"id", "avatarId", "audioUrl", "videoUrl", "text", "status", "createdAt"}
        assert started["status"] in ("pending", "processing")
        finished = _wait(c, f"/avatar/animations/{started['id']}/status")
        assert finished["status"] == "completed", finished
        assert c.get(finished["videoUrl"]).headers["content-type"] == "video/mp4"
        assert [a["id"] for a in c.get(f"/avatar/{up['id']}/animations").json()] == [started["id"]]
        assert "swagger" in c.get("/api").text.lower()

        assert c.delete(f"/api/avatars/{avatar['id']}").status_code == 204
        assert c.get(f"/api/avatars/{avatar['id']}").status_code == 404
        assert c.get(f"/api/animations/{animation['id']}").status_code == 404


def test_lecture_v1_lists_fragments(tmp_path) -> None:
    face = media_file("portrait/st_happy.png").read_bytes()
    with TestClient(create_app(Settings(data_dir=tmp_path / "data"))) as c:
        r = c.post("/api/lectures", files={"face": ("face.png", face, "image/png")},
                   data={"text": "Первый слайд.\n##\nВторой слайд.", "delimiter": "##"})
        assert r.status_code == 201, r.text
        created = r.json()
        assert (created["slides"], created["fragments"]) == (2, 2)
        lecture = _wait(c, f"/api/lectures/{created['id']}")
        assert lecture["status"] == "done", lecture
        assert lecture["result"] == [[0], [1]]
        assert [f["video"] for f in lecture["fragments"]] == ["video_fragment_0_0_1.mp4", "video_fragment_0_1_1.mp4"]
        assert c.get(lecture["video_url"]).status_code == 200
        assert any(e["stage"] == "fragment" for e in c.get(f"/api/jobs/{created['id']}/events").json()["events"])
        r = c.post("/api/lectures", files={"face": ("face.png", face, "image/png")}, data={"text": " \n"})
        assert r.status_code == 400, r.text


def test_generate_route_paths_result_and_cancel(tmp_path) -> None:
    root = tmp_path / "files"
    (root / "in").mkdir(parents=True)
    face = shutil.copy(media_file("portrait/st_people_0.png"), root / "in" / "face.png")
    voice = shutil.copy(media_file("audio/st_eluosi.wav"), root / "in" / "voice.wav")
    text = root / "in" / "lecture.txt"
    text.write_text("Добро пожаловать.\n---\nЦветы любят воду.\n---\nСпасибо!", encoding="utf-8")
    outside = tmp_path / "secret.txt"
    outside.write_text("x")
    (root / "in" / "link.txt").symlink_to(outside)
    body = {"face_path": str(face), "voice_path": str(voice), "lecture_text_path": str(text),
            "generated_dir_path": str(root / "out"), "id": 7}
    with TestClient(create_app(Settings(data_dir=tmp_path / "data", files_roots=[root]))) as c:
        assert c.get("/ping").json() == {"error": False, "message": "Pong", "result": True}
        assert c.get("/generate/cancel").json()["result"] is False
        for field, bad in (("lecture_text_path", str(outside)),
                           ("lecture_text_path", str(root / "in/../../secret.txt")),
                           ("lecture_text_path", str(root / "in" / "link.txt")), ("face_path", "/etc/passwd"),
                           ("face_path", "in/face.png"), ("generated_dir_path", str(tmp_path / "elsewhere"))):
            r = c.post("/generate", json={**body, field: bad})
            assert r.status_code == 403, (field, bad, r.text)
            assert r.json()["error"] is True and r.json()["result"] is None and field in r.json()["message"]
        assert not (tmp_path / "elsewhere").exists()

        r = c.post("/generate", json=body)
        assert r.status_code == 200, r.text
        assert r.json() == {"error": False, "message": "Lecture generated", "result": [[0], [1], [2]]}
        names = sorted(p.name for p in (root / "out").iterdir())
        assert "video_fragment_7_2_1.mp4" in names and "audio_fragment_7_0.wav" in names and "lecture.json" in names

        answer: list = []
        long_text = root / "in" / "long.txt"
        long_text.write_text("\n---\n".join(["Это довольно длинный слайд о цветах и о воде."] * 4), encoding="utf-8")
        thread = threading.Thread(target=lambda: answer.append(c.post("/generate", json={
            **body, "lecture_text_path": str(long_text), "generated_dir_path": str(root / "out2")})))
        thread.start()
        deadline = time.monotonic() + 120
        while not (root / "out2" / "audio_fragment_7_0.wav").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        asked = time.monotonic()
        cancelled = c.get("/generate/cancel").json()
        thread.join(30)
        took = time.monotonic() - asked
        assert cancelled == {"error": False, "message": "Generation cancelled", "result": True}
        assert answer and answer[0].json() == {"error": True, "message": "Generation cancelled", "result": None}
        assert took <= 2.5, took  # the cancel answers once the job has stopped (<= 2 s) plus one poll
        assert not (root / "out2" / "lecture.mp4").exists()
