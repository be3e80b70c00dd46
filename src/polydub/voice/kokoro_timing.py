"""Kokoro's line lengths and phoneme times, known before synthesis from its duration predictor.

The predictor (text encoder + LSTM, ~3 % of the model's cost) is cut out of the ONNX graph; the
full model divides its output by `speed`, rounds and clips it to >= 1 frame per token, so the
number of samples a line will have, and when each phoneme is spoken, is known exactly. Timing
plans each line's speed with it (one synthesis per line) and lip-sync drives mouths with it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from polydub.voice.base import Voice
from polydub.voice.text import clean_text, short_silence

SAMPLE_RATE = 24000
# Edge silence kept (frames of 25 ms). Speech may begin up to ~6 frames before the leading pad
# token ends (measured over 47 voices), so the start keeps 8 frames and an energy trim then
# takes what is still silent (up to ~0.2 s: the only part of the length not known beforehand).
LEAD_KEEP_FRAMES, TRAIL_KEEP_FRAMES = 8, 2
SILENT_SYMBOLS = frozenset(' .,;:!?¡¿—…"«»“”()')
SAMPLES_PER_FRAME = 600  # one predicted duration unit = 25 ms of output at 24 kHz


class KokoroTiming:
    """Mixed into KokoroEngine: needs its `_load`, `_chunks`, `_inputs`, `_style_key`,
    `_durations` (the predictor's session, None when the graph lacks it) and `_duration_cache`."""

    _durations: Any
    _duration_cache: dict

    def _frames(self, phonemes: str, voice: Voice, speed: float) -> np.ndarray:
        """Output frames per token (pads included) exactly as the full model will produce them."""
        key = (phonemes, self._style_key(voice))
        if key not in self._duration_cache:  # timing asks at several speeds, then synthesizes
            if len(self._duration_cache) > 256:
                self._duration_cache.clear()
            raw = self._durations.run(None, self._inputs(phonemes, voice))[0]
            self._duration_cache[key] = np.asarray(raw, dtype=np.float32).ravel()
        return np.clip(np.round(self._duration_cache[key] / speed), 1, None)

    def _layout(self, chunks: list[str], voice: Voice, speed: float) -> tuple[int, int, int]:
        """(samples the model will output, samples of silence to cut at the start, at the end).
        The cut is the pad tokens and edge punctuation, minus a short margin: exactly known from
        the durations, unlike an energy threshold, so a line's length is known beforehand."""
        frames = [self._frames(ps, voice, speed) for ps in chunks]
        lead = _edge_frames(chunks[0], frames[0], from_end=False)
        trail = _edge_frames(chunks[-1], frames[-1], from_end=True)
        return (int(sum(f.sum() for f in frames)) * SAMPLES_PER_FRAME,
                max(0, lead - LEAD_KEEP_FRAMES) * SAMPLES_PER_FRAME,
                max(0, trail - TRAIL_KEEP_FRAMES) * SAMPLES_PER_FRAME)

    def predict_duration(self, text: str, voice: Voice, speed: float = 1.0) -> float | None:
        """Seconds `synthesize` will return, from the duration predictor alone (~3 % of the cost
        of synthesizing): an upper bound by the leading silence trimmed afterwards (up to ~0.2 s)."""
        text = clean_text(text)
        if not text:
            return short_silence(SAMPLE_RATE).duration
        self._load()
        chunks = self._chunks(text, voice)
        if self._durations is None:
            return None
        if not chunks:
            return short_silence(SAMPLE_RATE).duration
        total, lead, trail = self._layout(chunks, voice, _clamp_speed(speed))
        if lead + trail >= total:
            return None  # synthesize falls back to an energy trim: not predictable
        return (total - lead - trail) / SAMPLE_RATE

    def phoneme_timing(self, text: str, voice: Voice, speed: float = 1.0) -> list[tuple[str, float, float]] | None:
        """Kokoro symbols with their times from the duration predictor, on the timeline of
        `synthesize`'s audio before its final energy trim (at most ~0.2 s of leading silence;
        lip-sync aligns to the audio anyway)."""
        text = clean_text(text)
        if not text:
            return []
        self._load()
        if self._durations is None:
            return None
        chunks = self._chunks(text, voice)
        if not chunks:
            return []
        speed = _clamp_speed(speed)
        _total, lead, _trail = self._layout(chunks, voice, speed)
        out: list[tuple[str, float, float]] = []
        position = -lead // SAMPLES_PER_FRAME
        for ps in chunks:
            frames = self._frames(ps, voice, speed)
            position += int(frames[0])  # the leading pad token
            for symbol, count in zip(ps, frames[1:-1], strict=False):
                start = position * SAMPLES_PER_FRAME / SAMPLE_RATE
                position += int(count)
                out.append((symbol, start, position * SAMPLES_PER_FRAME / SAMPLE_RATE))
            position += int(frames[-1])
        return out


def _edge_frames(phonemes: str, frames: np.ndarray, from_end: bool) -> int:
    """Frames of the pad token plus the punctuation next to it, at one end of a chunk."""
    tokens = list(phonemes[::-1] if from_end else phonemes)
    durations = frames[::-1] if from_end else frames
    count = int(durations[0])  # the pad
    for ch, frames_of_token in zip(tokens, durations[1:], strict=False):
        if ch not in SILENT_SYMBOLS:
            break
        count += int(frames_of_token)
    return count


def _clamp_speed(speed: float) -> float:
    return float(min(max(speed, 0.5), 2.0))  # outside this the model garbles speech
