"""Build the dub track: background (separated or ducked original) plus the dubbed lines."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyloudnorm

from polydub.audio import Audio

FADE = 0.03


@dataclass
class MixPolicy:
    duck_db: float = -18.0  # original audio level under dubbed speech when nothing is separated
    residue_duck_db: float = -6.0  # gentle ducking of a separated background (voice residue)
    original_voice_db: float | None = None  # voice-over style: keep the original voice this loud
    ramp: float = 0.15


@dataclass
class PlacedLine:
    start: float
    audio: Audio  # mono, any rate


def _envelope(length: int, rate: int, spans: list[tuple[float, float]], depth_db: float, ramp: float,
              start: int = 0, total: int | None = None):
    """Gain curve that dips to depth_db inside spans, with smooth ramps so ducking never clicks.

    Samples [start, start + length) of the curve of a ``total``-sample signal (default: all of it),
    so a long mix can be built block by block with exactly the values of the whole curve."""
    total = length if total is None else total
    gain = np.ones(length, dtype=np.float32)
    low = float(10 ** (depth_db / 20))
    ramp_n = max(1, int(ramp * rate))
    stop = start + length
    for span_start, span_end in spans:
        a, b = max(0, int(span_start * rate) - ramp_n), min(total, int(span_end * rate) + ramp_n)
        if b <= a or b <= start or a >= stop:
            continue
        seg = np.full(b - a, low, dtype=np.float32)
        up = np.linspace(1.0, low, min(ramp_n, b - a), dtype=np.float32)
        seg[: len(up)] = up
        seg[len(seg) - len(up):] = np.minimum(seg[len(seg) - len(up):], up[::-1])
        lo, hi = max(a, start), min(b, stop)
        gain[lo - start:hi - start] = np.minimum(gain[lo - start:hi - start], seg[lo - a:hi - a])
    return gain


def loudness(audio: Audio) -> float:
    """Integrated loudness (LUFS, EBU R128); -inf for silence or audio shorter than one block."""
    if audio.duration < 0.5:
        return float("-inf")
    meter = pyloudnorm.Meter(audio.rate)
    return float(meter.integrated_loudness(audio.samples))


def placed_samples(audio: Audio, rate: int) -> np.ndarray:
    """A dubbed line as it goes into the mix: mono, at the mix rate, faded in and out."""
    samples = audio.mono().resample(rate).samples.copy()
    fade_n = int(FADE * rate)
    if len(samples) > 2 * fade_n:
        samples[:fade_n] *= np.linspace(0, 1, fade_n)
        samples[-fade_n:] *= np.linspace(1, 0, fade_n)
    return samples


def speech_track(lines: list[PlacedLine], length: int, rate: int) -> np.ndarray:
    track = np.zeros(length, dtype=np.float32)
    for line in lines:
        samples = placed_samples(line.audio, rate)
        a = int(round(line.start * rate))
        b = min(length, a + len(samples))
        if b > a:
            track[a:b] += samples[: b - a]
    return track


def mix(original: Audio, lines: list[PlacedLine], speech_spans: list[tuple[float, float]],
        policy: MixPolicy, background: Audio | None = None, target_lufs: float | None = None) -> Audio:
    """Return the dubbed audio at the original's rate, channel count and exact length."""
    rate, length, channels = original.rate, len(original.samples), original.channels
    speech = speech_track(lines, length, rate)
    # Dubbed speech matches the loudness of the original speech (measured over speech only).
    speech_lufs = loudness(Audio(speech, rate))
    if target_lufs is not None and np.isfinite(speech_lufs) and np.isfinite(target_lufs):
        speech *= float(10 ** ((target_lufs - speech_lufs) / 20))
    def shaped(env: np.ndarray) -> np.ndarray:
        return env[:, None] if channels > 1 else env

    if background is None:
        depth = policy.duck_db if policy.original_voice_db is None else policy.original_voice_db
        bed = original.samples * shaped(_envelope(length, rate, speech_spans, depth, policy.ramp))
    else:
        env = _envelope(length, rate, speech_spans, policy.residue_duck_db, policy.ramp)
        bed = background.samples[:length] * shaped(env)
        if policy.original_voice_db is not None:
            # Voice-over style: the original voice stays faintly audible under the dub.
            voice = original.samples - background.samples[:length]
            bed = bed + voice * float(10 ** (policy.original_voice_db / 20))
    out = bed.astype(np.float32) + (speech[:, None] if channels > 1 else speech)
    peak = float(np.max(np.abs(out))) if out.size else 0.0
    if peak > 0.99:  # a plain safety gain beats clipping; lines were already loudness-matched
        out *= 0.99 / peak
    return Audio(out.astype(np.float32), rate)
