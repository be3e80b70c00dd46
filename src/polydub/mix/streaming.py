"""The mix of mixer.mix, computed block by block from files: memory stays flat however long the input.

Three passes over blocks of ``block_s`` seconds: (1) the placed dubbed lines feed a streaming
loudness meter (the gain that matches the original speech's loudness); (2) background or ducked
original plus the gained lines are written to the output while the peak is tracked; (3) only when
the peak is above 0.99, the written file is scaled in place. The result equals mixer.mix on the
same input (tests compare them).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from polydub.audio import Audio
from polydub.mix.loudness import StreamingLoudness
from polydub.mix.mixer import MixPolicy, _envelope, placed_samples

BLOCK_S = 20.0


@dataclass
class LineFile:
    start: float
    path: Path  # a dubbed line (any rate, mono or not)


class _Lines:
    """The dubbed lines of one block, resampled once each and forgotten once the mix has passed them."""

    def __init__(self, lines: list[LineFile], rate: int) -> None:
        self.rate = rate
        self.lines = sorted(lines, key=lambda x: x.start)
        self.starts = [int(round(x.start * rate)) for x in self.lines]
        # where each line ends at most (from its header; resampling may add a sample)
        self.ends = []
        for line, start in zip(self.lines, self.starts, strict=True):
            info = sf.info(str(line.path))
            self.ends.append(start + int(np.ceil(info.frames * rate / info.samplerate)) + 2)
        self._cache: dict[int, np.ndarray] = {}
        self._first = 0  # lines before this one end before the current block
        self._reach = 0  # the furthest end among the lines before _first

    def block(self, a: int, b: int, length: int) -> np.ndarray:
        out = np.zeros(b - a, dtype=np.float32)
        while self._first < len(self.lines) and max(self._reach, self.ends[self._first]) <= a:
            self._reach = max(self._reach, self.ends[self._first])
            self._cache.pop(self._first, None)
            self._first += 1
        for i in range(self._first, bisect.bisect_left(self.starts, b)):
            start = self.starts[i]
            if self.ends[i] <= a:
                self._cache.pop(i, None)
                continue
            if i not in self._cache:
                self._cache[i] = placed_samples(Audio.read(self.lines[i].path), self.rate)
            samples = self._cache[i]
            end = min(length, start + len(samples))
            lo, hi = max(a, start), min(b, end)
            if hi > lo:
                out[lo - a:hi - a] += samples[lo - start:hi - start]
        return out


def _read(handle: sf.SoundFile | None, frames: int, channels: int) -> np.ndarray:
    if handle is None:
        return np.zeros((frames, channels), dtype=np.float32)
    data = handle.read(frames, dtype="float32", always_2d=True)
    if len(data) < frames:
        data = np.concatenate([data, np.zeros((frames - len(data), data.shape[1]), dtype=np.float32)])
    return data


def mix_file(original_wav: Path, lines: list[LineFile], speech_spans: list[tuple[float, float]],
             policy: MixPolicy, out_wav: Path, background_wav: Path | None = None,
             target_lufs: float | None = None, block_s: float = BLOCK_S,
             progress: Callable[[float], None] | None = None) -> Path:
    """Write the dub track (the original's rate, channels and exact length) to ``out_wav``."""
    info = sf.info(str(original_wav))
    rate, length, channels = info.samplerate, info.frames, info.channels
    block = max(1, int(block_s * rate))
    placed = _Lines(lines, rate)
    meter = StreamingLoudness(rate, 1)
    steps = 2 * max(1, -(-length // block))
    done = 0
    for a in range(0, length, block):
        meter.add(placed.block(a, min(length, a + block), length))
        done += 1
        if progress:
            progress(done / steps)
    speech_lufs = meter.integrated() if length / rate >= 0.5 else float("-inf")
    gain = 1.0
    if target_lufs is not None and np.isfinite(speech_lufs) and np.isfinite(target_lufs):
        gain = float(10 ** ((target_lufs - speech_lufs) / 20))
    placed = _Lines(lines, rate)
    separated = background_wav is not None
    depth = policy.residue_duck_db if separated else \
        (policy.duck_db if policy.original_voice_db is None else policy.original_voice_db)
    voice_gain = float(10 ** (policy.original_voice_db / 20)) if policy.original_voice_db is not None else None
    peak = 0.0
    out_wav = Path(out_wav)
    out_wav.parent.mkdir(parents=True, exist_ok=True)
    with sf.SoundFile(str(original_wav)) as orig_h, \
            (sf.SoundFile(str(background_wav)) if separated else _Null()) as back_h, \
            sf.SoundFile(str(out_wav), "w", samplerate=rate, channels=channels, subtype="FLOAT",
                         format="RF64" if length * channels * 4 > 3.9e9 else "WAV") as out_h:
        for a in range(0, length, block):
            n = min(block, length - a)
            original = _read(orig_h, n, channels)
            env = _envelope(n, rate, speech_spans, depth, policy.ramp, start=a, total=length)[:, None]
            if separated:
                background = _read(back_h, n, channels)
                bed = background * env
                if voice_gain is not None:
                    bed = bed + (original - background) * voice_gain
            else:
                bed = original * env
            out = bed.astype(np.float32) + (placed.block(a, a + n, length) * gain)[:, None]
            peak = max(peak, float(np.max(np.abs(out))) if out.size else 0.0)
            out_h.write(out if channels > 1 else out[:, 0])
            done += 1
            if progress:
                progress(done / steps)
    if peak > 0.99:  # a plain safety gain beats clipping; lines were already loudness-matched
        scale = 0.99 / peak
        with sf.SoundFile(str(out_wav), "r+") as handle:
            for a in range(0, length, block):
                handle.seek(a)
                data = handle.read(min(block, length - a), dtype="float32", always_2d=True)
                handle.seek(a)
                handle.write((data * scale).astype(np.float32) if channels > 1 else (data[:, 0] * scale))
    return out_wav


class _Null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc) -> None:
        return None


def speech_loudness(original_wav: Path, spans: list[tuple[float, float]]) -> float | None:
    """Integrated loudness of the original speech (the spans laid end to end, as mixer.loudness
    measures their concatenation), read span by span."""
    if not spans:
        return None
    info = sf.info(str(original_wav))
    meter = StreamingLoudness(info.samplerate, info.channels)
    total = 0
    with sf.SoundFile(str(original_wav)) as handle:
        for start, end in spans:
            a = max(0, int(round(start * info.samplerate)))
            b = max(a, min(info.frames, int(round(end * info.samplerate))))
            handle.seek(min(a, info.frames))
            remaining = b - a
            while remaining > 0:
                chunk = handle.read(min(remaining, 10 * info.samplerate), dtype="float32", always_2d=True)
                if not len(chunk):
                    break
                meter.add(chunk)
                remaining -= len(chunk)
                total += len(chunk)
    return meter.integrated() if total / info.samplerate >= 0.5 else float("-inf")
