"""Inputs with several audio tracks (issue 15): the track in the source language is dubbed (or the
one asked for), the other tracks stay in the output (or are reported dropped), and the report says
what was done. Real media, real pipeline, real ffmpeg."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from polydub.cli import main
from polydub.errors import InputMediaError
from polydub.media.probe import probe
from polydub.media.tracks import choose_audio_track, output_plan
from tests.conftest import media_file
from tests.helpers import ffprobe_json


def two_track_video(folder: Path) -> Path:
    """vr_face_5's picture; audio track 0 = French speech flagged default, track 1 = the English original."""
    video, french = media_file("video/vr_face_5.mp4"), media_file("audio/st_fayu.wav")
    out = folder / "two_tracks.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(video), "-i", str(french), "-map", "0:v:0",
                    "-map", "1:a:0", "-map", "0:a:0", "-c:v", "copy", "-c:a", "aac", "-t", "4.9",
                    "-metadata:s:a:0", "language=fra", "-metadata:s:a:1", "language=eng",
                    "-disposition:a:0", "default", "-disposition:a:1", "0", str(out)], check=True)
    return out


@pytest.fixture(scope="module")
def two_tracks(tmp_path_factory) -> Path:
    return two_track_video(tmp_path_factory.mktemp("tracks"))


def test_track_choice_rules(two_tracks):
    info = probe(two_tracks)
    assert [t["language"] for t in info.audio_tracks] == ["fra", "eng"]
    assert choose_audio_track(info.model_copy(deep=True), None, "en").audio_track == 1  # source language tag
    chosen = choose_audio_track(info.model_copy(deep=True), None, None)
    assert chosen.audio_track == 0 and "default" in chosen.audio_track_reason  # no source language: default flag
    assert choose_audio_track(info.model_copy(deep=True), 1, "fr").audio_track == 1  # asked for wins
    with pytest.raises(InputMediaError, match="2 audio tracks"):
        choose_audio_track(info.model_copy(deep=True), 5, None)
    plan = output_plan(chosen, ".wav", keep_original=False)
    assert plan["kept"] == [] and plan["dropped"] == [1]


def test_cli_missing_track_is_a_clean_error(two_tracks, tmp_path, capsys):
    code = main(["dub", str(two_tracks), "--to", "es", "--audio-track", "5", "-o", str(tmp_path / "o")])
    out = capsys.readouterr()
    text = out.err + out.out
    assert code != 0 and "Traceback" not in text
    assert "no audio track 5" in text and "track 1 (eng)" in text, text
    assert not (tmp_path / "o" / "report.json").exists()


def test_dub_the_source_language_track_and_keep_the_other(two_tracks, tmp_path, capsys):
    out_dir = tmp_path / "o"
    code = main(["dub", str(two_tracks), "--from", "en", "--to", "es", "--no-quality", "--no-separation",
                 "-o", str(out_dir)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    report = json.loads((out_dir / "report.json").read_text())
    plan = report["audio_tracks"]
    assert plan["dubbed"] == 1 and "source language" in plan["reason"]
    assert plan["kept"] == [0] and plan["dropped"] == []
    assert any("kept the other audio track" in w and "fra" in w for w in report["warnings"])
    # the English track was transcribed (not the French one)
    text = " ".join(s["text"] for s in report["segments"]).lower()
    assert "regulation" in text or "reform" in text, text
    streams = [s for s in ffprobe_json(out_dir / report["outputs"]["media"])["streams"] if s["codec_type"] == "audio"]
    assert [s["tags"].get("language") for s in streams] == ["spa", "fra"]
    assert streams[0]["disposition"]["default"] == 1 and streams[1]["disposition"]["default"] == 0
    assert "kept the other audio track" in " ".join(captured.err.split())
