"""End to end on real media: the whole dub with the real default engines."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from polydub.media.decode import decode_for_asr
from polydub.pipeline import DubOptions, dub
from polydub.project import Project
from polydub.render.subtitles import read_subtitle_lines
from polydub.speech.asr import WhisperRecognizer
from tests.conftest import media_file
from tests.helpers import cer, duration, ffprobe_json, video_packets_md5

pytestmark = pytest.mark.slow


def _spoken_text(path: Path, language: str) -> tuple[str, str]:
    """Transcribe dubbed output: (detected language, text) — with language=None for detection."""
    transcript = WhisperRecognizer("base").transcribe(decode_for_asr(path), None)
    detected = transcript.language
    if language != detected:
        transcript = WhisperRecognizer("base").transcribe(decode_for_asr(path), language)
    return detected, "".join(w.text for w in transcript.words)


def test_video_en_to_es(tmp_path: Path) -> None:
    src = media_file("video/vr_face_2.mp4")
    events = []
    report = dub(src, tmp_path, DubOptions(target_language="es", keep_original=True), progress=events.append)
    out = tmp_path / report["outputs"]["media"]
    assert abs(duration(out) - duration(src)) <= 0.040
    assert video_packets_md5(out) == video_packets_md5(src)  # copied, not re-encoded
    audio_tracks = [s for s in ffprobe_json(out)["streams"] if s["codec_type"] == "audio"]
    assert [t["tags"]["language"] for t in audio_tracks] == ["spa", "eng"]  # dub first, original kept
    detected, text = _spoken_text(out, "es")
    assert detected == "es", text
    assert report["source_language"] == "en" and report["target_language"] == "es"
    # Subtitles match the segments, source and target.
    project = Project.load(tmp_path)
    source_subs = read_subtitle_lines(tmp_path / report["outputs"]["subtitles_source"])
    target_subs = read_subtitle_lines(tmp_path / report["outputs"]["subtitles_target"])
    assert [t for _, _, t in source_subs] == [s.text for s in project.segments]
    assert [t for _, _, t in target_subs] == [s.translation for s in project.segments]
    assert (tmp_path / "target.vtt").exists() and (tmp_path / "source.vtt").exists()
    # The report contract.
    saved = json.loads((tmp_path / "report.json").read_text())
    for key in ("source_language", "target_language", "engines", "outputs", "segments", "timing"):
        assert key in saved
    assert {"asr", "mt", "tts"} <= set(saved["engines"])
    seg = saved["segments"][0]
    for key in ("start", "end", "speaker", "text", "translation", "dub_start", "dub_end", "tempo"):
        assert key in seg
    assert saved["timing"]["media_seconds"] > 0 and "transcribe" in saved["timing"]["stages"]
    # Progress reached the end and moved forward.
    assert events[-1].stage == "done" and events[-1].percent == 100.0
    percents = [e.percent for e in events]
    assert percents == sorted(percents)


@pytest.mark.parametrize("clip", ["audio/st_deyu.wav", "audio/st_eluosi.wav", "audio/st_fayu.wav"])
def test_foreign_audio_to_intelligible_english(tmp_path: Path, clip: str) -> None:
    report = dub(media_file(clip), tmp_path, DubOptions(target_language="en"))
    out = tmp_path / report["outputs"]["media"]
    assert out.suffix == ".wav"
    spoken = " ".join(s["translation"] for s in report["segments"])
    _, heard = _spoken_text(out, "en")
    error = cer(spoken, heard)
    print(f"{clip}: engine={report['engines']['mt']} CER={error:.3f} spoken={spoken!r} heard={heard!r}")
    assert error <= 0.15


@pytest.fixture(scope="module")
def jfk_transcribed(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("jfk-base")
    from polydub.pipeline import Dubber

    Dubber(folder, DubOptions(target_language="en")).transcribe_only(media_file("audio/fw_jfk.flac"))
    return folder


@pytest.mark.parametrize("target,word", [("pt", "país"), ("fr", None), ("de", None), ("ru", None)])
def test_english_to_other_languages_with_registry_choice(jfk_transcribed: Path, tmp_path: Path,
                                                         target: str, word: str | None) -> None:
    folder = tmp_path / target
    shutil.copytree(jfk_transcribed, folder)  # the cached transcript is reused, not recomputed
    report = dub(media_file("audio/fw_jfk.flac"), folder, DubOptions(target_language=target))
    assert report["timing"]["stages"]["transcribe"] < 0.5
    mt = report["engines"]["mt"]
    assert mt["name"] and mt["tier"] in ("draft", "basic", "good", "best")
    assert report["engines"]["tts"]
    text = " ".join(s["translation"] for s in report["segments"]).lower()
    assert text and text != " ".join(s["text"] for s in report["segments"]).lower()
    if word:
        assert word in text
    assert (folder / report["outputs"]["media"]).stat().st_size > 1000
    # One person, one voice (repairs never give one line another voice), and every voice's licence.
    for seg in report["segments"]:
        assert seg["voice"] == report["speakers"][seg["speaker"]]["voice"]
    used = {row["voice"] for row in report["licences"]["voices"]}
    assert used == {info["voice"].split("~")[0] for info in report["speakers"].values()}
    for voice in report["licences"]["non_commercial"]:  # MBROLA for de: named in the warnings
        assert any("non-commercial" in w and voice in w for w in report["warnings"])


@pytest.mark.parametrize("clip", ["video/ls_demo3_video.mp4", "video/st_ref_KatieHill_000.mp4"])
def test_odd_codecs_are_copied_not_reencoded(tmp_path: Path, clip: str) -> None:
    src = media_file(clip)
    report = dub(src, tmp_path, DubOptions(target_language="es"))
    out = tmp_path / report["outputs"]["media"]
    assert video_packets_md5(out) == video_packets_md5(src)
    src_video = next(s for s in ffprobe_json(src)["streams"] if s["codec_type"] == "video")
    out_video = next(s for s in ffprobe_json(out)["streams"] if s["codec_type"] == "video")
    assert (out_video["codec_name"], out_video["width"], out_video["height"]) == \
        (src_video["codec_name"], src_video["width"], src_video["height"])
    assert abs(duration(out) - duration(src)) <= 0.1


def test_edit_one_line_rerenders_only_that_line(tmp_path: Path) -> None:
    from polydub.pipeline import rerender

    report = dub(media_file("video/ls_demo3_video.mp4"), tmp_path, DubOptions(target_language="es"))
    project = Project.load(tmp_path)
    assert len(project.segments) >= 2
    before = {s.id: (tmp_path / s.audio).read_bytes() for s in project.segments}
    project.segments[1].translation = "Esta línea fue corregida a mano."
    project.save(tmp_path)
    report = rerender(tmp_path)
    after = Project.load(tmp_path)
    changed = [s.id for s in after.segments if (tmp_path / s.audio).read_bytes() != before[s.id]]
    assert changed == [1]
    assert after.segments[1].translation == "Esta línea fue corregida a mano."  # not re-translated
    assert report["timing"]["stages"].get("transcribe") is None


def test_whisper_speech_translation_is_the_fallback_to_english(tmp_path: Path, monkeypatch) -> None:
    from polydub.errors import UnsupportedLanguageError
    from polydub.translation.registry import TranslationRegistry

    def no_text_engine(self, src, tgt, prefer=None):
        raise UnsupportedLanguageError(f"no engine for {src}->{tgt}")

    monkeypatch.setattr(TranslationRegistry, "best", no_text_engine)
    report = dub(media_file("audio/st_deyu.wav"), tmp_path, DubOptions(target_language="en"))
    assert report["engines"]["mt"]["name"] == "whisper-translate"
    text = " ".join(s["translation"] for s in report["segments"]).lower()
    assert "portal" in text or "homepage" in text or "communication" in text, text
