"""Fast unit tests of the pure pieces: line cutting, slot fitting, mixing, subtitles."""

from __future__ import annotations

import numpy as np

from polydub.audio import Audio
from polydub.mix.mixer import MixPolicy, PlacedLine, loudness, mix
from polydub.project import Segment, Word
from polydub.render.subtitles import read_subtitle_lines, write_subtitles
from polydub.speech.segmentation import LinePolicy, words_to_lines
from polydub.timing.fit import TimingPolicy, place
from polydub.timing.lines import line_windows
from polydub.timing.stretch import time_stretch


def words(spec: list[tuple[float, float, str]]) -> list[Word]:
    return [Word(start=a, end=b, text=t) for a, b, t in spec]


def test_lines_break_at_sentence_ends_and_pauses():
    ws = words([(0.0, 0.4, " Hello"), (0.5, 1.2, " there."), (1.3, 1.6, " How"), (1.7, 2.0, " are"),
                (2.1, 2.4, " you"), (3.5, 3.9, " Fine")])
    lines = words_to_lines(ws)
    assert [s.text for s in lines] == ["Hello there.", "How are you", "Fine"]
    assert lines[1].start == 1.3 and lines[1].end == 2.4


def test_long_runs_split_without_cutting_words():
    ws = words([(i * 0.5, i * 0.5 + 0.4, f" w{i}" + ("," if i == 9 else "")) for i in range(30)])
    lines = words_to_lines(ws, LinePolicy(max_seconds=8.0))
    assert all(s.end - s.start <= 8.0 for s in lines)
    assert " ".join(s.text for s in lines).split() == [w.text.strip() for w in ws]


def test_place_prefers_natural_speed_then_stretches_within_limits():
    policy = TimingPolicy(max_tempo=1.25)
    assert place(2.0, 1.0, 4.0, 0.8, 5.0, policy).tempo == 1.0  # fits the slot
    spill = place(3.5, 1.0, 4.0, 0.8, 5.0, policy)
    assert spill.tempo == 1.0 and spill.start == 1.0  # borrows the gap after
    fast = place(4.6, 1.0, 4.0, 0.8, 5.0, policy)
    assert 1.0 < fast.tempo <= 1.25 and fast.overflow == 0.0
    over = place(8.0, 1.0, 4.0, 0.8, 5.0, policy)
    assert over.tempo == 1.25 and over.overflow > 0


def test_windows_never_overlap_and_ignore_dub_results():
    segs = [Segment(id=i, start=a, end=b, text="x") for i, (a, b) in enumerate([(0.5, 2.0), (2.4, 4.0), (6.0, 7.0)])]
    wins = line_windows(segs, 8.0, TimingPolicy())
    for w1, w2 in zip(wins, wins[1:], strict=False):
        assert w1.latest < w2.earliest
    assert wins[-1].latest == 8.0


def test_time_stretch_changes_duration_not_pitch():
    rate = 24000
    t = np.arange(rate * 2) / rate
    tone = Audio((0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), rate)
    fast = time_stretch(tone, 1.25)
    assert abs(fast.duration - 1.6) < 0.05
    spectrum = np.abs(np.fft.rfft(fast.samples))
    peak_hz = np.argmax(spectrum) * rate / len(fast.samples)
    assert abs(peak_hz - 220) < 5


def test_mix_keeps_length_ducks_original_and_matches_loudness():
    rate = 16000
    original = Audio((0.2 * np.random.default_rng(0).standard_normal((rate * 4, 2))).astype(np.float32), rate)
    line = Audio((0.05 * np.sin(2 * np.pi * 200 * np.arange(rate) / rate)).astype(np.float32), rate)
    out = mix(original, [PlacedLine(1.0, line)], [(1.0, 2.0)], MixPolicy(duck_db=-20),
              target_lufs=loudness(original.slice(1.0, 2.0)))
    assert out.samples.shape == original.samples.shape
    outside = out.slice(3.0, 3.9).samples
    assert np.allclose(outside, original.slice(3.0, 3.9).samples, atol=1e-6)
    assert abs(loudness(Audio(out.slice(1.2, 1.8).samples[:, 0], rate)) - loudness(original.slice(1.2, 1.8))) < 4


def test_subtitles_round_trip(tmp_path):
    segs = [Segment(id=0, start=0.5, end=1.5, text="Hello.", translation="Hola.", dub_start=0.4, dub_end=1.6)]
    write_subtitles(segs, tmp_path / "target", use_translation=True)
    assert read_subtitle_lines(tmp_path / "target.srt") == [(0.4, 1.6, "Hola.")]
    assert (tmp_path / "target.vtt").read_text().startswith("WEBVTT")
