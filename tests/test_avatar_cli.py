"""`polydub avatar` and `polydub lecture` from the command line: a real run, and user mistakes that
end in one line with a hint, a non-zero exit and no output presented."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from tests.conftest import media_file
from tests.helpers import ffprobe_json
from tests.test_bad_input import assert_clean_failure, run_cli


@pytest.mark.slow
def test_avatar_command_writes_the_video_and_its_summary(tmp_path, capsys) -> None:
    text = tmp_path / "say.txt"
    text.write_text("Привет! Это короткий тест.", encoding="utf-8")
    out = tmp_path / "hi.mp4"
    code, output = run_cli(["avatar", str(media_file("portrait/st_full_body_1.png")), f"@{text}", "-o", str(out),
                            "--seed", "3"], capsys)
    assert code == 0, output
    assert "avatar:" in output and "rhvoice:aleksandr-hq" in output
    summary = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    assert summary["language"] == "ru" and summary["text"] == "Привет! Это короткий тест."  # Cyrillic: Russian
    assert summary["voice"]["licence"] and not summary["voice"]["non_commercial"]
    streams = {s["codec_type"]: s for s in ffprobe_json(out)["streams"]}
    assert (streams["video"]["width"], streams["video"]["height"]) == (512, 512)
    assert abs(float(streams["video"]["duration"]) - summary["duration"]) <= 0.041
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_avatar_and_lecture_mistakes(tmp_path, capsys) -> None:
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((200, 200, 3), 128, np.uint8))
    out = tmp_path / "out.mp4"
    assert_clean_failure(*run_cli(["avatar", str(blank), "Привет", "-o", str(out)], capsys), "no face found")
    assert not out.exists()
    photo = str(media_file("portrait/st_happy.png"))
    assert_clean_failure(*run_cli(["avatar", photo, "Hello", "-o", str(out)], capsys), "language")
    assert_clean_failure(*run_cli(["avatar", photo, "@missing.txt", "--lang", "en", "-o", str(out)], capsys),
                         "text file not found")
    assert_clean_failure(*run_cli(["avatar", photo, "Hello", "--lang", "en", "-o", str(tmp_path / "x.gif")],
                                  capsys), "cannot write a video")
    assert_clean_failure(*run_cli(["avatar", photo, "Hola", "--lang", "es", "--voice", "nosuch:voice", "-o",
                                   str(out)], capsys), "nosuch")
    lecture = tmp_path / "lecture.txt"
    lecture.write_text("---\n\n---\n", encoding="utf-8")
    assert_clean_failure(*run_cli(["lecture", photo, str(lecture), "-o", str(tmp_path / "lec")], capsys), "empty")
    lecture.write_text("Один.\n---\nДва.", encoding="utf-8")
    assert_clean_failure(*run_cli(["lecture", photo, str(lecture), "--slides", str(tmp_path / "nope.pdf"), "-o",
                                   str(tmp_path / "lec")], capsys), "slides not found")
    assert not (tmp_path / "lec" / "lecture.mp4").exists()
