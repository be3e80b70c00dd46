"""Live dubbing with the real models, in-process: Whisper, the registry's translator, Kokoro, the
d-vector embedder, streamed from real shared speech in random chunk sizes."""

from __future__ import annotations

import numpy as np
import pytest

from polydub.audio import Audio
from polydub.live import LiveConfig, LiveEngines, LiveSession
from polydub.live.pcm import float_to_pcm16
from polydub.live.recorder import LiveRecorder
from polydub.media.decode import decode_audio, decode_for_asr
from polydub.quality.metrics import cer, edit_distance
from polydub.speakers.profiles import ProfileStore
from polydub.speech.asr import WhisperRecognizer
from tests.conftest import media_file

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engines(tmp_path_factory):
    engines = LiveEngines(profiles=ProfileStore(tmp_path_factory.mktemp("profiles") / "profiles.sqlite"))
    engines.warm_up(("base", "tiny.en"), "es")
    return engines


def _stream(session: LiveSession, pcm: bytes, rate: int, seed: int) -> None:
    """Random chunks of 10-1000 ms, whole samples."""
    rng = np.random.default_rng(seed)
    i = 0
    while i < len(pcm):
        n = 2 * int(rng.integers(rate // 100, rate))
        session.feed(pcm[i:i + n])
        i += n


def _words(text: str) -> list[str]:
    return "".join(c.lower() if c.isalnum() else " " for c in text).split()


def _wer(ref: list[str], hyp: list[str]) -> float:
    return edit_distance(ref, hyp) / max(1, len(ref))


def test_stream_gives_the_file_pipelines_lines_and_an_intelligible_spanish_dub(engines):
    path = media_file("audio/fw_jfk.flac")
    original = decode_audio(path, rate=44100, channels=1)
    recorder = LiveRecorder()
    # 44.1 kHz declared (resampled to 16 kHz inside), language detected, streamed as fast as possible
    session = LiveSession(LiveConfig(target_language="es", source_language="auto", sample_rate=44100,
                                     realtime=False), recorder, engines)
    _stream(session, float_to_pcm16(original.samples), 44100, seed=13)
    summary = session.finish(600)
    assert summary["state"] == "finished" and summary["source_language"] == "en"
    assert recorder.errors == [] and summary["abandoned"] == 0
    lines = [line for line in recorder.ordered() if line.text]
    assert len(lines) >= 3 and all(line.translation and line.chunks for line in lines)

    # the same words as the file pipeline's transcription of the whole file (which gets JFK right)
    file_words = WhisperRecognizer("base").transcribe(decode_for_asr(path)).words
    reference = _words("".join(w.text for w in file_words))
    live_words = _words(" ".join(line.text for line in lines))
    assert _wer(reference, live_words) <= 0.2, (reference, live_words)
    # and at the same times: every word of the file pipeline lies inside a live line
    inside = [any(line.start - 0.2 <= (w.start + w.end) / 2 <= line.end + 0.2 for line in lines) for w in file_words]
    assert np.mean(inside) >= 0.9

    # the dubbed stream, transcribed back, says its translation
    gap = np.zeros(16000, dtype=np.float32)
    dub = np.concatenate([np.concatenate([Audio(line.audio(), recorder.rate).resample(16000).samples, gap])
                          for line in lines])
    heard = WhisperRecognizer("base").transcribe(Audio(dub, 16000), "es").words
    said = " ".join(line.translation for line in lines)
    heard_text = "".join(w.text for w in heard)
    assert cer(said, heard_text) <= 0.10, (said, heard_text)
    for line in lines:
        m = line.metrics
        assert 0 <= m["asr_done_ms"] <= m["mt_done_ms"] <= m["first_audio_ms"]


def test_two_speakers_keep_two_distinct_voices(engines):
    jfk = decode_for_asr(media_file("audio/fw_jfk.flac")).samples
    katie = decode_for_asr(media_file("video/st_ref_KatieHill_000.mp4")).samples
    pause = np.zeros(16000, dtype=np.float32)

    def part(samples, a, b):
        return samples[int(a * 16000):int(b * 16000)]

    turns = [("jfk", part(jfk, 0.0, 2.4)), ("katie", part(katie, 0.0, 4.8)), ("jfk", part(jfk, 5.1, 7.8)),
             ("katie", part(katie, 4.9, 8.0))]
    stream = np.concatenate([np.concatenate([t, pause]) for _, t in turns])
    recorder = LiveRecorder()
    session = LiveSession(LiveConfig(target_language="es", source_language="en", realtime=False), recorder, engines)
    _stream(session, float_to_pcm16(stream), 16000, seed=5)
    summary = session.finish(600)
    lines = [line for line in recorder.ordered() if line.text]
    # which turn each line came from, by its start time
    bounds = np.cumsum([0] + [len(t) + len(pause) for _, t in turns]) / 16000
    who = [turns[int(np.searchsorted(bounds, line.start + 0.3) - 1)][0] for line in lines]
    by_person: dict[str, set[str]] = {}
    for person, line in zip(who, lines, strict=True):
        by_person.setdefault(person, set()).add(line.speaker)
    assert set(who) == {"jfk", "katie"}
    assert all(len(ids) == 1 for ids in by_person.values()), by_person  # stable: one id per person
    assert by_person["jfk"] != by_person["katie"]  # and two people, two ids
    speakers = {s["speaker"]: s for s in summary["speakers"]}
    assert len(speakers) == 2
    voices = {speakers[next(iter(ids))]["voice"] for ids in by_person.values()}
    assert len(voices) == 2  # distinct voices, each matched to its speaker
    assert all(s["voice_source"] == "matched" for s in speakers.values())
