"""Live dubbing, fast tests: PCM handling, streaming VAD, segmentation, pacing, session logic.

The VAD is the real Silero model (cheap); the session-logic tests use small fake engines (a recogniser
that reads a script, a tone "voice") to pin down speculation, pacing and abandonment exactly. The real
models run in test_live_engine.py and test_live_server.py.
"""

from __future__ import annotations

import itertools
import threading
import time

import numpy as np
import pytest

from polydub.audio import Audio
from polydub.live import LiveConfig, LiveEngines, LiveInputError, LiveSession
from polydub.live.clauses import split_clauses
from polydub.live.engines import WHISPER_TRANSLATE, ComputeSlots
from polydub.live.pacing import Pacer, PacingPolicy
from polydub.live.pcm import PcmInput, float_to_pcm16, pcm16_to_float
from polydub.live.recorder import LiveRecorder
from polydub.live.segmenter import Segmenter, SegmenterPolicy
from polydub.live.vad import StreamingVad
from polydub.media.decode import decode_for_asr
from polydub.speech.utterance import UtteranceText
from polydub.voice.base import Capabilities, TTSEngine, Voice
from polydub.voice.registry import VoiceRegistry
from tests.conftest import media_file


@pytest.fixture(scope="module")
def jfk16k() -> np.ndarray:
    return decode_for_asr(media_file("audio/fw_jfk.flac")).samples


def _chunks(samples: np.ndarray, seed: int, low: int = 160, high: int = 16000):
    rng = np.random.default_rng(seed)
    i = 0
    while i < len(samples):
        n = int(rng.integers(low, high))
        yield samples[i:i + n]
        i += n


# -- PCM in and out ----------------------------------------------------------------------------
def test_pcm_round_trip_and_odd_byte_count_is_refused():
    samples = np.array([0.0, 0.5, -0.5, 0.999], dtype=np.float32)
    assert np.allclose(pcm16_to_float(float_to_pcm16(samples)), samples, atol=1e-4)
    with pytest.raises(LiveInputError, match="odd number of bytes"):
        pcm16_to_float(b"\x00\x01\x02")


@pytest.mark.parametrize("rate", [0, 1, 7999, 192001, 10_000_000, 16000.5, "16000", True, None])
def test_absurd_sample_rates_are_refused(rate):
    with pytest.raises(LiveInputError, match="sample_rate"):
        PcmInput(rate)


def test_resampling_stream_keeps_duration_across_chunk_sizes():
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(44100 * 2) / 44100)).astype(np.float32)
    stream = PcmInput(44100)
    out = [stream.push(float_to_pcm16(c)) for c in _chunks(tone, 1, 100, 30000)] + [stream.flush()]
    total = np.concatenate(out)
    assert abs(len(total) - 32000) <= 2
    assert stream.seconds_in == pytest.approx(2.0)
    # no clicks at chunk boundaries: the resampled tone is as smooth as a one-shot resampling
    assert np.abs(np.diff(total[100:-100])).max() < 0.2


def test_config_is_checked_before_audio_flows():
    assert LiveConfig.from_dict({"target_language": "ES", "source_language": "auto"}).source_language is None
    assert LiveConfig.from_dict({"target_language": "pt-BR"}).target_language == "pt"
    with pytest.raises(LiveInputError, match="target_language is required"):
        LiveConfig.from_dict({"source_language": "en"})
    with pytest.raises(LiveInputError, match="unknown session option"):
        LiveConfig.from_dict({"target_language": "es", "colour": "blue"})
    with pytest.raises(LiveInputError, match="max_tempo"):
        LiveConfig.from_dict({"target_language": "es", "max_tempo": 9})
    with pytest.raises(LiveInputError, match="sample_rate"):
        LiveConfig.from_dict({"target_language": "es", "sample_rate": 5})


# -- VAD and segmentation ------------------------------------------------------------------------
def test_streaming_vad_equals_the_whole_file_model_at_any_chunk_size(jfk16k):
    from faster_whisper.vad import get_vad_model

    padded = np.pad(jfk16k, (0, 512 - len(jfk16k) % 512))
    whole = get_vad_model()(padded).ravel()
    vad = StreamingVad()
    streamed = np.concatenate([vad.process(c)[0] for c in _chunks(padded, 3)])
    assert len(streamed) == len(whole)
    assert np.abs(streamed - whole).max() < 1e-5


def test_segmenter_finds_the_four_phrases_of_jfk_with_early_starts(jfk16k):
    seg = Segmenter()
    cuts = [c for chunk in _chunks(jfk16k, 5) for c in seg.push(chunk)] + seg.flush()
    finals = [c for c in cuts if c.kind == "final"]
    # "And so my fellow Americans" / "ask not" / "what your country can do for you" / "ask what you can do…"
    assert len(finals) == 4
    assert [round(c.start_s) for c in finals] == [0, 3, 5, 8]
    for c in finals:
        assert len(c.audio) == c.end - c.start and c.speech_end <= c.end
    # every final was announced by a tentative cut 0.3 s earlier (the early start), except where the
    # speaker went on (then a "resumed" voids it)
    tentative = [c for c in cuts if c.kind == "tentative"]
    resumed = [c for c in cuts if c.kind == "resumed"]
    assert len(tentative) == len(finals) + len(resumed)


def test_long_speech_is_cut_at_a_pause_and_silence_gives_nothing():
    speech = decode_for_asr(media_file("audio/fw_multilingual.mp3")).samples[: 16000 * 30]
    seg = Segmenter(SegmenterPolicy(soft_max_s=6.0, hard_max_s=8.0))
    finals = [c for chunk in _chunks(speech, 7) for c in seg.push(chunk) if c.kind == "final"] + \
        [c for c in seg.flush() if c.kind == "final"]
    assert len(finals) >= 4
    assert max(c.end_s - c.start_s for c in finals) <= 8.0 + 0.4  # hard limit plus pre/post roll
    quiet = Segmenter()
    rng = np.random.default_rng(0)
    noise = (0.002 * rng.standard_normal(16000 * 60)).astype(np.float32)
    assert [c for chunk in _chunks(noise, 1) for c in quiet.push(chunk)] + quiet.flush() == []


# -- pacing, clauses, compute slots ----------------------------------------------------------------
def test_pacing_speeds_up_when_behind_and_abandons_beyond_the_lag_limit():
    pacer = Pacer(PacingPolicy(max_tempo=1.3, max_lag_s=5.0, slack_s=0.4))
    first = pacer.plan(ready_at=2.5, source_start=0.0, source_end=2.0, natural_seconds=2.0)
    assert first.tempo == 1.0 and first.lag == pytest.approx(0.5)
    pacer.played(2.5, 4.0)  # a long dub: plays until 6.5
    second = pacer.plan(ready_at=3.5, source_start=2.2, source_end=3.0, natural_seconds=2.0)
    assert second.backlog == pytest.approx(3.0) and second.tempo == 1.3  # capped at the limit
    assert second.start == pytest.approx(6.5) and second.lag == pytest.approx(3.5)
    pacer.played(6.5, 10.0)
    third = pacer.plan(ready_at=4.0, source_start=3.2, source_end=3.5, natural_seconds=1.0)
    assert third.abandon and "behind" in third.reason


def test_clauses_start_short_and_keep_every_word():
    text = ("Y así, mis compañeros americanos, no pregunten lo que su país puede hacer por ustedes; "
            "pregunten lo que ustedes pueden hacer por su país.")
    pieces = split_clauses(text, first_chars=50, rest_chars=160)
    assert len(pieces[0]) <= 50 and len(pieces) >= 2
    assert " ".join(pieces).split() == text.split()
    assert split_clauses("  ...  ") == []
    # "Sí." alone would sound clipped: it is joined to what follows
    assert split_clauses("Sí. Claro que sí, señor. Y otra frase más.")[0] == "Sí. Claro que sí, señor."
    # each piece at most twice the one before (voiced while that one plays), ending at a pause where one is near
    long = text + " Y además, una frase más larga que sigue después de todo esto para ver cómo crecen las piezas."
    pieces = split_clauses(long, first_chars=20, rest_chars=160)
    assert " ".join(pieces).split() == long.split()
    assert len(pieces[0]) <= 30 and len(pieces) >= 4
    assert all(len(b) <= max(20, 2 * len(a)) for a, b in itertools.pairwise(pieces))
    assert pieces[2].endswith("país.")  # the sentence end, not the word limit


def test_compute_slots_serve_the_oldest_line_first():
    slots = ComputeSlots(1)
    order: list[float] = []
    gate = threading.Event()

    def worker(priority: float) -> None:
        with slots.slot(priority):
            order.append(priority)

    with slots.slot(0.0):
        threads = [threading.Thread(target=worker, args=(p,)) for p in (3.0, 1.0, 2.0)]
        for t in threads:
            t.start()
        time.sleep(0.2)
        gate.set()
    for t in threads:
        t.join(5)
    assert order == [1.0, 2.0, 3.0]


# -- session logic with fake engines ---------------------------------------------------------------
class ToneTTS(TTSEngine):
    """A "voice" that hums 0.06 s per character: enough to exercise timing, pacing and streaming."""

    name = "tone"
    capabilities = Capabilities(native_rate=True)

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.calls: list[tuple[str, float]] = []

    def is_available(self) -> bool:
        return True

    def voices(self) -> list[Voice]:
        return [Voice(id="tone:a", engine="tone", language="es", name="a", quality=3)]

    def synthesize(self, text: str, voice: Voice, speed: float = 1.0) -> Audio:
        self.calls.append((text, speed))
        time.sleep(self.delay)
        n = int(24000 * 0.06 * len(text) / speed)
        return Audio((0.2 * np.sin(np.arange(n) / 4.0)).astype(np.float32), 24000)

    def predict_duration(self, text: str, voice: Voice, speed: float = 1.0) -> float:
        return 0.06 * len(text) / speed


class ScriptRecognizer:
    """Says `pick(samples)`: the text is chosen from the audio itself, so that early starts that get
    thrown away (their number depends on thread timing) cannot shift the script."""

    def __init__(self, pick, delay: float = 0.0) -> None:
        self.pick, self.delay, self.calls = pick, delay, 0

    def transcribe(self, samples, language=None, translate_to_english=False) -> UtteranceText:
        time.sleep(self.delay)
        self.calls += 1
        return UtteranceText(self.pick(samples), language or "en", 0.9, 0.01, -0.1, 10.0)


def by_position(stream: np.ndarray, script: list[tuple[float, str]]):
    """The script line whose start time is closest to where the utterance's audio sits in `stream`."""
    def pick(samples: np.ndarray) -> str:
        probe = samples[4000:4512]  # past the pre-roll, where the audio is surely speech
        hits = np.flatnonzero(np.all(np.lib.stride_tricks.sliding_window_view(stream, 512) == probe, axis=1))
        at = (hits[0] - 4000) / 16000 if len(hits) else 0.0
        return min(script, key=lambda item: abs(item[0] - at))[1]

    return pick


class Upper:
    name = "upper"

    def translate(self, lines, source, target):
        return [line.upper() for line in lines]


class FakeEngines(LiveEngines):
    def __init__(self, recognizer, tts) -> None:
        super().__init__(voices=VoiceRegistry([tts]), translations=object(), embedder=object(), profiles=object())
        self._recognizer = recognizer

    def recognizer(self, model):
        return self._recognizer

    def translator(self, source, target, prefer=None):
        return Upper()


def _session(recognizer, tts, **options):
    recorder = LiveRecorder()
    config = LiveConfig(target_language="es", source_language="en", preserve_voice=False, use_profiles=False,
                        **options)
    return LiveSession(config, recorder, FakeEngines(recognizer, tts)), recorder


def test_session_streams_each_line_clause_by_clause_and_reports_every_stage(jfk16k):
    script = ["And so my fellow Americans,", "ask not,", "what your country can do for you,",
              "ask what you can do for your country."]
    tts = ToneTTS()
    pcm = float_to_pcm16(jfk16k)
    stream = pcm16_to_float(pcm)
    pick = by_position(stream, list(zip([0.1, 3.2, 5.2, 8.0], script, strict=True)))
    session, rec = _session(ScriptRecognizer(pick), tts, realtime=False, first_clause_chars=12)
    i = 0
    for chunk in _chunks(stream, 11):
        session.feed(pcm[2 * i: 2 * (i + len(chunk))])
        i += len(chunk)
    summary = session.finish(30)
    assert summary["state"] == "finished" and summary["lines"] == 4 and summary["abandoned"] == 0
    lines = rec.ordered()
    assert [line.text for line in lines] == script
    assert [line.translation for line in lines] == [s.upper() for s in script]
    long_line = lines[2]  # split for streaming: a short first clause, then the rest
    assert len(long_line.chunks) >= 2 and len(tts.calls) > 4
    for line in lines:
        m = line.metrics
        assert m["asr_done_ms"] <= m["mt_done_ms"] <= m["first_audio_ms"] <= m["total_ms"]
        assert m["speculative"] is True  # started during the pause, confirmed later
    assert rec.summary["latency"]["count"] == 4


def test_speech_faster_than_the_dub_is_sped_up_then_abandoned_and_reported(jfk16k):
    long = "una frase larga que dura mucho más que la original " * 2
    tts = ToneTTS()
    session, rec = _session(ScriptRecognizer(lambda samples: long), tts, realtime=True, max_lag_s=4.0,
                            max_tempo=1.3)
    session.feed(float_to_pcm16(jfk16k))  # all at once: the lines arrive faster than they can be spoken
    summary = session.finish(30)
    speeds = [speed for _, speed in tts.calls]
    assert max(speeds) == pytest.approx(1.3)  # later lines sped up, within the limit
    assert summary["abandoned"] >= 1
    skipped = [line for line in rec.ordered() if line.skipped]
    assert skipped and all("behind" in line.skipped for line in skipped)
    assert summary["lines"] + summary["abandoned"] == 4  # nothing silently dropped


def test_speculative_work_is_thrown_away_when_the_speaker_goes_on():
    # speech, a 0.3 s pause (past the 0.2 s early start, short of the 0.5 s end), speech, silence
    speech = decode_for_asr(media_file("audio/fw_jfk.flac")).samples[int(0.3 * 16000):int(2.2 * 16000)]
    gap = np.zeros(int(0.3 * 16000), dtype=np.float32)
    tail = np.zeros(16000, dtype=np.float32)
    stream = np.concatenate([speech, gap, speech, tail])
    # the first half alone is ~2 s, the whole line ~4 s
    recognizer = ScriptRecognizer(lambda samples: "whole line" if len(samples) > 3 * 16000 else "first guess",
                                  delay=0.05)
    session, rec = _session(recognizer, ToneTTS(), realtime=False)
    for chunk in _chunks(stream, 2, 320, 1600):
        session.feed(float_to_pcm16(chunk))
        time.sleep(0.01)
    summary = session.finish(30)
    assert summary["speculations_wasted"] >= 1
    assert [line.text for line in rec.ordered()] == ["whole line"]  # the early guess was never sent


def test_closing_mid_line_stops_the_worker_and_counts_the_line():
    tts = ToneTTS(delay=0.5)
    session, rec = _session(ScriptRecognizer(lambda samples: "hello there"), tts, realtime=False)
    jfk = decode_for_asr(media_file("audio/fw_jfk.flac")).samples
    session.feed(float_to_pcm16(jfk))
    time.sleep(0.2)
    started = time.monotonic()
    session.close()
    assert time.monotonic() - started < 5
    assert not session._worker.is_alive() and session.state == "closed"
    assert session.describe()["abandoned"] >= 1
    with pytest.raises(LiveInputError, match="closed"):
        session.feed(b"\0\0")


def test_apertium_keeps_its_next_process_started_for_live_lines():
    from polydub.translation.apertium import ApertiumTranslator

    engine = ApertiumTranslator()
    if not engine.is_available() or ("pt", "es") not in engine.pairs():
        pytest.skip("Apertium pt-es is not installed")
    mode = engine._pairs_to_modes()[("pt", "es")]
    fresh = engine.translate(["Olá a todos, obrigado por virem."], "pt", "es")
    engine.warm("pt", "es")
    waiting = engine._standby[mode]
    assert waiting.poll() is None  # started, waiting for its text
    assert engine.translate(["Olá a todos, obrigado por virem."], "pt", "es") == fresh
    assert engine._standby[mode] is not waiting and engine._standby[mode].poll() is None


def test_microphone_without_sounddevice_or_device_says_what_to_do(capsys):
    from polydub.cli import main

    try:
        import sounddevice

        if len(sounddevice.query_devices()):
            pytest.skip("this machine has audio devices")
    except (ImportError, OSError):
        pass  # not installed: the message says how to install it
    assert main(["live", "mic", "--to", "es"]) == 2
    err = capsys.readouterr().err
    assert "what to do" in err and ("sounddevice" in err or "audio" in err)


def test_live_into_english_takes_whisper_over_an_llm_unless_the_client_names_it():
    from polydub.translation.base import Translator
    from polydub.translation.registry import TranslationRegistry

    class SlowLlm(Translator):
        name, uses_llm = "slow-llm", True

        def is_available(self):
            return True

        def pairs(self):
            return {("ru", "en"), ("ru", "es")}

        def translate(self, lines, source, target):
            return list(lines)

    engines = LiveEngines(voices=object(), translations=TranslationRegistry([SlowLlm()]), embedder=object(),
                          profiles=object())
    assert engines.translator("ru", "en") == WHISPER_TRANSLATE
    assert engines.translator("ru", "en", "slow-llm").name == "slow-llm"
    assert engines.translator("ru", "es").name == "slow-llm"  # Whisper cannot reach Spanish
