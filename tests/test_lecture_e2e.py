"""Lecture videos on a real portrait and a real voice sample: the reference's files, map and joined video.

A three-slide Russian lecture (as in the reference) read with the voice closest to a shared
Russian recording: fragment files with the reference's names, `lecture.json` = `result` shape,
lecture.mp4 as long as its fragments with one chapter per slide and a subtitle track; a cancel in
the middle takes effect within 2 s and leaves no joined lecture; slides from a PDF fill the frame
with the talking head in a corner.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time

import numpy as np
import pytest

from polydub.avatar import LectureRequest, make_lecture, split_lecture
from polydub.errors import InputMediaError, JobCancelledError
from polydub.face.video import read_frames
from tests.conftest import media_file
from tests.helpers import ffprobe_json

LECTURE = """Добро пожаловать на лекцию. Сегодня мы узнаем, как ухаживать за цветами.
---
Первое правило: цветы любят свежую воду. Меняйте её каждый день.
Второе правило: держите букеты подальше от прямого солнца.
---
Спасибо за внимание!
"""


def test_split_lecture_by_delimiter_and_sentences() -> None:
    assert split_lecture(LECTURE) == [
        ["Добро пожаловать на лекцию. Сегодня мы узнаем, как ухаживать за цветами."],
        ["Первое правило: цветы любят свежую воду. Меняйте её каждый день. Второе правило: держите букеты "
         "подальше от прямого солнца."],
        ["Спасибо за внимание!"]]
    short = split_lecture(LECTURE, max_chars=70)
    assert [len(s) for s in short] == [2, 2, 1] and all(len(f) <= 70 for s in short for f in s)
    assert short[1][0] == "Первое правило: цветы любят свежую воду. Меняйте её каждый день."
    assert split_lecture("One. ## Two. ## ## Three.", "##") == [["One."], ["Two."], ["Three."]]
    with pytest.raises(InputMediaError, match="empty"):
        split_lecture(" --- \n---\n")


@pytest.mark.slow
def test_lecture_with_a_voice_sample(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("POLYDUB_PROFILES_DB", str(tmp_path / "profiles.db"))
    face = media_file("portrait/st_people_0.png")
    sample = media_file("audio/st_eluosi.wav")
    out = tmp_path / "out"
    seen = []
    summary = make_lecture(face, LECTURE, out, LectureRequest(voice_sample=sample, lecture_id="42",
                                                              max_fragment_chars=70),
                           on_fragment=seen.append)
    result = [[0, 1], [2, 3], [4]]
    assert summary["result"] == result and json.loads((out / "lecture.json").read_text()) == result
    assert [f["n"] for f in seen] == [0, 1, 2, 3, 4]  # reported as each one finished
    assert summary["voice"]["source"] == "sample" and summary["language"] == "ru"
    for n in range(5):
        assert (out / f"audio_fragment_42_{n}.wav").is_file()
        assert (out / f"video_fragment_42_{n}_1.mp4").is_file()
    fragments = [float(ffprobe_json(out / f"video_fragment_42_{n}_1.mp4")["format"]["duration"]) for n in range(5)]
    probe = ffprobe_json(out / "lecture.mp4")
    kinds = [s["codec_type"] for s in probe["streams"]]
    assert kinds[:3] == ["video", "audio", "subtitle"], kinds
    video = next(s for s in probe["streams"] if s["codec_type"] == "video")
    assert abs(float(video["duration"]) - sum(fragments)) <= 0.1, (video["duration"], fragments)
    chapters = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_chapters", str(out / "lecture.mp4")],
        capture_output=True, text=True, check=True).stdout)["chapters"]
    assert len(chapters) == 3 and chapters[1]["tags"]["title"].startswith("Slide 2: Первое правило")
    srt = (out / "lecture.srt").read_text(encoding="utf-8")
    assert "Меняйте её каждый день." in srt and "Спасибо за внимание!" in srt
    assert not list(out.glob(".*partial*"))


@pytest.mark.slow
def test_cancel_in_the_middle_stops_within_two_seconds(tmp_path) -> None:
    face = media_file("portrait/st_happy.png")
    text = "Первый слайд.\n---\nВторой слайд, он немного длиннее первого и говорит дольше.\n---\nТретий."
    cancel = threading.Event()
    asked: list[float] = []
    outcome: list[object] = []

    def progress(stage: str, fraction: float, message: str) -> None:
        if stage == "animate" and message == "fragment 2" and not cancel.is_set():
            asked.append(time.perf_counter())
            cancel.set()

    def run() -> None:
        try:
            outcome.append(make_lecture(face, text, tmp_path, LectureRequest(language="ru"), progress=progress,
                                        cancel=cancel))
        except JobCancelledError as exc:
            outcome.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(120)
    stopped = time.perf_counter()
    assert asked and isinstance(outcome[0], JobCancelledError), outcome
    assert stopped - asked[0] <= 2.0, stopped - asked[0]
    assert (tmp_path / "video_fragment_0_0_1.mp4").is_file()  # the finished fragment stays
    assert not (tmp_path / "video_fragment_0_1_1.mp4").exists()  # the cancelled one was never presented
    assert not (tmp_path / "lecture.mp4").exists() and not (tmp_path / "lecture.json").exists()
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


@pytest.mark.slow
def test_slides_fill_the_frame_with_the_head_in_a_corner(tmp_path) -> None:
    from PIL import Image, ImageDraw

    pages = []
    for colour in ("#1f4e79", "#7a2e2e"):
        page = Image.new("RGB", (1600, 900), colour)
        ImageDraw.Draw(page).rectangle((100, 100, 700, 400), fill="white")
        pages.append(page)
    deck = tmp_path / "deck.pdf"
    pages[0].save(deck, save_all=True, append_images=pages[1:])
    face = media_file("portrait/st_art_0.png")
    with pytest.raises(InputMediaError, match="2 slide"):
        make_lecture(face, "Один.\n---\nДва.\n---\nТри.", tmp_path / "bad", LectureRequest(slides=deck))
    out = tmp_path / "out"
    summary = make_lecture(face, "Первый слайд.\n---\nВторой слайд.", out, LectureRequest(slides=deck))
    assert summary["with_slides"] and summary["result"] == [[0], [1]]
    streams = ffprobe_json(out / "lecture.mp4")["streams"]
    video = next(s for s in streams if s["codec_type"] == "video")
    assert (video["width"], video["height"]) == (1280, 720)
    head = ffprobe_json(out / "video_fragment_0_0_1.mp4")["streams"][0]
    assert (head["width"], head["height"]) == (512, 512)  # the reference's fragment files stay talking heads
    frames = [f.av_frame.to_ndarray(format="rgb24").astype(np.int16) for f in read_frames(out / "lecture.mp4")]
    first, mid, last = frames[5], frames[len(frames) // 4], frames[-5]
    assert np.abs(first[400:600, :600] - np.array([0x1F, 0x4E, 0x79])).mean() < 12  # slide 1 fills the frame
    assert np.abs(last[400:600, :600] - np.array([0x7A, 0x2E, 0x2E])).mean() < 12  # then slide 2
    corner = (slice(720 - 340, 720 - 20), slice(1280 - 340, 1280 - 20))
    assert np.abs(first[corner] - mid[corner]).mean() > 0.5  # the head moves in its corner
    assert np.abs(first[100:300, 100:540] - 255).mean() < 12  # the slide's white box, scaled to the frame
    assert np.abs(first[:600, :800] - mid[:600, :800]).mean() < 2.0  # the slide does not move


def test_slide_images_from_a_folder(tmp_path) -> None:
    from PIL import Image

    from polydub.avatar.slides import load_slides

    deck = tmp_path / "deck"
    deck.mkdir()
    Image.new("RGB", (800, 600), "red").save(deck / "02.png")
    Image.new("RGB", (1600, 900), "blue").save(deck / "01.jpg")
    (deck / "notes.txt").write_text("not a slide")
    slides = load_slides(deck, 2, tmp_path / "out")
    first, second = (np.asarray(Image.open(p)) for p in slides)
    assert first.shape == second.shape == (720, 1280, 3)  # the first slide's 16:9 sets the frame
    assert np.abs(first[360, 640].astype(int) - [0, 0, 255]).max() <= 3  # sorted by name: 01.jpg first
    assert second[360, 640].tolist() == [255, 0, 0] and second[360, 50].tolist() == [255, 255, 255]  # 4:3 centred
    with pytest.raises(InputMediaError, match="2 slide"):
        load_slides(deck, 3, tmp_path / "out")
