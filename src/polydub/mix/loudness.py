"""Integrated loudness (ITU-R BS.1770-4, as pyloudnorm measures it) of audio that arrives in blocks.

pyloudnorm needs the whole signal in memory, plus a float copy and a float64 temporary per channel:
about 2 GB for a 30-minute stereo track. This meter keeps only the K-weighting filters' state and
the running sum of squares at the 100 ms gating-block boundaries, with pyloudnorm's own filter
coefficients and gating, so both give the same number (tests compare them).
"""

from __future__ import annotations

import numpy as np
import pyloudnorm
import scipy.signal

BLOCK_S = 0.400
STEP = 0.25  # 75 % overlap
CHANNEL_GAINS = (1.0, 1.0, 1.0, 1.41, 1.41)
ABSOLUTE_GATE = -70.0


class StreamingLoudness:
    def __init__(self, rate: int, channels: int) -> None:
        self.rate, self.channels = rate, channels
        stages = list(pyloudnorm.Meter(rate)._filters.values())  # K-weighting: high shelf, high pass
        self._stages = [(f.passband_gain, f.b, f.a) for f in stages]
        self._zi = [[scipy.signal.lfilter_zi(b, a) * 0.0 for _ch in range(channels)] for _g, b, a in self._stages]
        self.samples = 0
        self._sum = np.zeros(channels)  # running sum of squares of the weighted signal
        self._marks: dict[int, np.ndarray] = {0: np.zeros(channels)}
        self._next_j = 0  # the next block whose bounds are not all recorded yet

    def _bounds(self, j: int) -> tuple[int, int]:
        # the same float expressions as pyloudnorm, so the same integer sample bounds
        return (int(BLOCK_S * (j * STEP) * self.rate), int(BLOCK_S * (j * STEP + 1) * self.rate))

    def add(self, block: np.ndarray) -> None:
        block = np.asarray(block, dtype=np.float64)
        if block.ndim == 1:
            block = block[:, None]
        if len(block) == 0:
            return
        weighted = np.empty_like(block)
        for ch in range(self.channels):
            x = block[:, ch]
            for k, (gain, b, a) in enumerate(self._stages):
                x, self._zi[k][ch] = scipy.signal.lfilter(b, a, x, zi=self._zi[k][ch])
                x = gain * x
            weighted[:, ch] = x
        cums = np.cumsum(weighted ** 2, axis=0)
        start, end = self.samples, self.samples + len(block)
        needed = []
        j = self._next_j
        while True:
            lo, hi = self._bounds(j)
            if lo > end:
                break
            needed += [lo, hi]
            if hi <= end:
                self._next_j = j + 1
            j += 1
        for idx in needed:
            if start < idx <= end and idx not in self._marks:
                self._marks[idx] = self._sum + cums[idx - start - 1]
        self._sum = self._sum + cums[-1]
        self.samples = end

    def _at(self, idx: int) -> np.ndarray:
        return self._marks[idx] if idx < self.samples else self._sum

    def integrated(self) -> float:
        """LUFS; -inf for silence or less than one gating block (pyloudnorm raises there)."""
        duration = self.samples / self.rate
        if duration < BLOCK_S:
            return float("-inf")
        blocks = int(np.round((duration - BLOCK_S) / (BLOCK_S * STEP))) + 1
        gains = np.asarray(CHANNEL_GAINS[: self.channels])
        z = np.empty((blocks, self.channels))
        for j in range(blocks):
            lo, hi = self._bounds(j)
            z[j] = (self._at(min(hi, self.samples)) - self._at(min(lo, self.samples))) / (BLOCK_S * self.rate)
        with np.errstate(divide="ignore", invalid="ignore"):
            levels = -0.691 + 10.0 * np.log10(z @ gains)
            above = levels >= ABSOLUTE_GATE
            if not above.any():
                return float("-inf")
            relative = -0.691 + 10.0 * np.log10(z[above].mean(axis=0) @ gains) - 10.0
            kept = (levels > relative) & above
            if not kept.any():
                return float("-inf")
            return float(-0.691 + 10.0 * np.log10(np.nan_to_num(z[kept].mean(axis=0)) @ gains))
