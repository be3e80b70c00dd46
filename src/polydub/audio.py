"""In-memory audio buffer shared by every stage."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr


@dataclass
class Audio:
    """Float32 samples in [-1, 1]; shape (frames,) for mono or (frames, channels)."""

    samples: np.ndarray
    rate: int

    @property
    def duration(self) -> float:
        return len(self.samples) / float(self.rate) if self.rate else 0.0

    @property
    def channels(self) -> int:
        return 1 if self.samples.ndim == 1 else int(self.samples.shape[1])

    def mono(self) -> Audio:
        if self.samples.ndim == 1:
            return self
        return Audio(self.samples.mean(axis=1).astype(np.float32), self.rate)

    def resample(self, rate: int) -> Audio:
        if rate == self.rate or len(self.samples) == 0:
            return Audio(self.samples.astype(np.float32, copy=False), rate)
        return Audio(soxr.resample(self.samples, self.rate, rate).astype(np.float32), rate)

    def slice(self, start: float, end: float) -> Audio:
        a = max(0, int(round(start * self.rate)))
        b = max(a, int(round(end * self.rate)))
        return Audio(self.samples[a:b], self.rate)

    def write(self, path: str | Path, subtype: str = "PCM_16") -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), np.clip(self.samples, -1.0, 1.0), self.rate, subtype=subtype)
        return path

    @classmethod
    def read(cls, path: str | Path) -> Audio:
        data, rate = sf.read(str(path), dtype="float32", always_2d=False)
        return cls(data, int(rate))

    @classmethod
    def silence(cls, seconds: float, rate: int, channels: int = 1) -> Audio:
        frames = max(0, int(round(seconds * rate)))
        shape = (frames,) if channels == 1 else (frames, channels)
        return cls(np.zeros(shape, dtype=np.float32), rate)
