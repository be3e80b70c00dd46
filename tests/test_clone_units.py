"""The voice search's bookkeeping without models: the stock voices' probe cache, and which finalist
the held-out check keeps (the real search on real speech is tested in test_clone.py)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from polydub.audio import Audio
from polydub.voice import probe_cache
from polydub.voice.evolve import CloneSettings
from polydub.voice.evolve_kokoro import _Candidate, _Run


@pytest.fixture
def data(tmp_path, monkeypatch):
    monkeypatch.setattr(probe_cache, "data_dir", lambda: tmp_path)
    return tmp_path


def test_probe_cache_keeps_a_stock_voices_audio_by_tensor_and_text(data) -> None:
    style = np.random.default_rng(0).normal(size=(510, 256)).astype(np.float32)
    texts = ["Hola a todos.", "¿Dónde está la estación?"]
    assert probe_cache.load(style, texts) is None and not probe_cache.holds(style, texts)
    samples = np.random.default_rng(1).normal(size=16000).astype(np.float32)
    probe_cache.store(style, texts, samples)
    assert probe_cache.holds(style, texts)
    assert np.array_equal(probe_cache.load(style, texts), samples)
    assert probe_cache.load(style, texts[:1]) is None  # other sentences
    assert probe_cache.load(style + 1e-3, texts) is None  # another tensor (a new voice file under the same name)
    assert not list(data.rglob("*.partial.npy"))  # written under a temporary name, then renamed


def test_probe_cache_survives_damage_and_an_unwritable_folder(data, monkeypatch, tmp_path) -> None:
    style, texts = np.ones((510, 256), np.float32), ["Hola."]
    probe_cache.path_for(style, texts).parent.mkdir(parents=True)
    probe_cache.path_for(style, texts).write_bytes(b"not numpy")
    assert probe_cache.load(style, texts) is None  # spoken again, then rewritten
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    monkeypatch.setattr(probe_cache, "data_dir", lambda: blocker / "below")  # mkdir fails even as root
    probe_cache.store(style, texts, np.zeros(10, np.float32))  # no error: only the cache is lost


def _run_with(held_out: dict[int, float], cer: dict[int, float]) -> _Run:
    """A search run whose audio carries its candidate's number, with fixed held-out similarities/CERs."""
    run = object.__new__(_Run)
    run.settings = CloneSettings(finalists=3)
    run.kokoro = SimpleNamespace(style_tensor=lambda voice: np.zeros((510, 256), np.float32))
    run.stock_voices = [SimpleNamespace(id="kokoro:stock")]
    run.language, run.gender, run.target_pitch, run.speech_seconds = "es", "male", None, 10.0
    run.check_texts, run.syntheses = ["x"], 0
    run.progress = lambda fraction, message: None
    run.elapsed = lambda: 1.0
    run.speak = lambda style, texts, stock=False: Audio(np.full(8000, float(style[0, 0]), np.float32), 16000)
    run.similarity = lambda audio, eq: held_out[int(audio.samples[0])]
    run.heard = lambda audio, eq: audio
    run._cer = lambda audio: cer[int(audio.samples[0])]
    return run


def _finalists() -> list[_Candidate]:
    def cand(number: int, score: float, stock: bool = False) -> _Candidate:
        return _Candidate(np.full((510, 256), float(number), np.float32), score, score, None,
                          "kokoro:stock" if stock else f"candidate {number}", None, stock)

    return [cand(0, 0.95, stock=True), cand(1, 0.9), cand(2, 0.8), cand(3, 0.7)]


def test_the_closest_finalist_on_held_out_text_wins_not_the_best_search_score() -> None:
    space = SimpleNamespace(plausible=lambda style: True)
    run = _run_with({0: 0.40, 1: 0.50, 2: 0.55, 3: 0.45}, {0: 0.0, 1: 0.0, 2: 0.0, 3: 0.0})
    result = run._finish(_finalists(), "kokoro:stock", 1, space)
    assert result.accepted and result.similarity_evolved == 0.55 and "candidate 2" in result.reason
    assert float(result.style[0, 0]) == 2.0


def test_a_closer_finalist_that_garbles_speech_gives_way_to_the_next() -> None:
    space = SimpleNamespace(plausible=lambda style: True)
    run = _run_with({0: 0.40, 1: 0.50, 2: 0.55, 3: 0.38}, {0: 0.01, 1: 0.02, 2: 0.30, 3: 0.0})
    result = run._finish(_finalists(), "kokoro:stock", 1, space)
    assert result.accepted and float(result.style[0, 0]) == 1.0 and result.cer_evolved == 0.02
    run = _run_with({0: 0.40, 1: 0.39, 2: 0.55, 3: 0.38}, {0: 0.01, 1: 0.0, 2: 0.30, 3: 0.0})
    result = run._finish(_finalists(), "kokoro:stock", 1, space)
    assert not result.accepted and result.style is None  # the stock voice stays, and the reasons say why
    assert "CER 0.300" in result.reason and "not closer than the stock voice" in result.reason


class _CountingEmbedder:
    name = "fake/dvec"

    def __init__(self) -> None:
        self.calls = 0

    def embed(self, audio: Audio) -> np.ndarray:
        self.calls += 1
        return np.array([audio.samples.mean(), 1.0], np.float32)


def test_a_stock_voices_probe_embedding_is_kept_beside_its_audio_per_level(data) -> None:
    style, texts, embedder = np.ones((510, 256), np.float32), ["Hola."], _CountingEmbedder()
    assert probe_cache.embedding(style, texts, embedder, 0.2) is None and embedder.calls == 0  # no audio yet
    probe_cache.store(style, texts, np.full(16000, 0.3, np.float32))
    first = probe_cache.embedding(style, texts, embedder, 0.2)
    again = probe_cache.embedding(style, texts, embedder, 0.21)  # the same 3 dB step: a file read
    assert embedder.calls == 1 and np.array_equal(first, again)
    assert first[0] == pytest.approx(10 ** (-15 / 20), rel=1e-3)  # embedded at -15 dB, the step of 0.2 (-14 dB)
    quieter = probe_cache.embedding(style, texts, embedder, 0.05)  # -26 dB -> the -27 dB step: embedded again
    assert embedder.calls == 2 and quieter[0] == pytest.approx(10 ** (-27 / 20), rel=1e-3)


def _ranking_run(prepared: set[str], embedder: str) -> _Run:
    """Stock voices whose tensors are filled with their number; the target is closest to voice 3."""
    run = object.__new__(_Run)
    styles = {f"kokoro:v{n}": np.full((510, 256), float(n), np.float32) for n in range(4)}
    run.kokoro = SimpleNamespace(style_tensor=lambda voice: styles[voice.id])
    run.stock_voices = [SimpleNamespace(id=f"kokoro:v{n}") for n in range(4)]  # v0: the one to beat
    run.owner = SimpleNamespace(embedder=SimpleNamespace(name=embedder))
    run.search_texts, run.check_texts, run.unprepared = ["a"], ["b"], False
    run.target, run.target_rms = np.array([1.0, 0.0]), 1.0  # the speaker's level: the 0 dB step
    for vid, style in styles.items():
        if vid in prepared:
            for texts in (["a"], ["b"]):
                probe_cache.store(style, texts, np.zeros(1600, np.float32))  # spoken, and embedded at +0 dB:
                audio_path = probe_cache.path_for(style, texts)
                probe_cache._write(audio_path.with_name(f"{audio_path.stem}.{embedder}.+0dB.npy"),
                                   np.array([style[0, 0], 3.0 - style[0, 0]]))
    return run


def test_the_search_ranks_every_prepared_stock_voice_on_both_probe_sets(data, monkeypatch) -> None:
    run = _ranking_run({"kokoro:v1", "kokoro:v2", "kokoro:v3"}, "first")
    assert [v.id for v in run._ranked_stock()] == ["kokoro:v0", "kokoro:v3", "kokoro:v2", "kokoro:v1"]
    assert not run.unprepared
    monkeypatch.setattr(probe_cache, "data_dir", lambda: data / "another")  # a cache without the first run's files
    run = _ranking_run({"kokoro:v1", "kokoro:v3"}, "second")  # one voice not spoken yet: the one-sentence order stays
    assert [v.id for v in run._ranked_stock()] == ["kokoro:v0", "kokoro:v1", "kokoro:v2", "kokoro:v3"]
    assert run.unprepared
