"""Text clean-up and splitting used before synthesis (no models needed)."""

from __future__ import annotations

import numpy as np
import pytest

from polydub.audio import Audio
from polydub.voice.text import clean_text, concat, pack, split_text, time_stretch, trim_silence


def test_clean_text_strips_markup_and_emoji() -> None:
    assert clean_text("<i>Hello</i> {\\an8}[music] world 😀 ♪") == "Hello world"
    assert clean_text("He said “hi” — then left…") == 'He said "hi", then left...'
    assert clean_text("a\u200bb\tc\nd") == "ab c d"


def test_clean_text_keeps_numbers_and_accents() -> None:
    assert clean_text("Él tiene 25 años, ¿verdad?") == "Él tiene 25 años, ¿verdad?"
    assert clean_text("Привет , мир !") == "Привет, мир!"
    assert clean_text("नमस्ते दुनिया") == "नमस्ते दुनिया"


def test_clean_text_nothing_speakable() -> None:
    for text in ("", "   ", "...", "♪ ♪", "<br>", None):
        assert clean_text(text) == ""  # type: ignore[arg-type]


def test_split_text_respects_limit_and_boundaries() -> None:
    text = "First sentence here. Second one is a bit longer, with a clause, and more words! Third?"
    pieces = split_text(text, 40)
    assert all(len(p) <= 40 for p in pieces)
    assert pieces[0] == "First sentence here."
    assert " ".join(pieces).replace("  ", " ") == text
    assert all(len(p) <= 10 for p in split_text("x" * 35, 10))


def test_pack_joins_up_to_limit() -> None:
    assert pack(["aa", "bb", "cc"], 5) == ["aa bb", "cc"]
    assert pack([], 5) == []


def test_concat_and_time_stretch() -> None:
    rate = 16000
    tone = (0.3 * np.sin(2 * np.pi * 220 * np.arange(rate) / rate)).astype(np.float32)
    joined = concat([tone, tone], rate, gap=0.5)
    assert abs(joined.duration - 2.5) < 1e-6
    faster = time_stretch(Audio(tone, rate), 1.25)
    assert abs(faster.duration - 0.8) < 1e-3
    assert concat([], rate).duration > 0


def test_trim_silence_keeps_pad() -> None:
    rate = 10000
    samples = np.zeros(3 * rate, dtype=np.float32)
    samples[rate:2 * rate] = 0.5
    trimmed = trim_silence(Audio(samples, rate), pad=0.05)
    assert trimmed.duration == pytest.approx(1.1, abs=1e-3)
    silent = Audio.silence(0.2, rate)
    assert trim_silence(silent).duration == pytest.approx(0.2)
