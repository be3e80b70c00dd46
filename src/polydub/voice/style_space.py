"""The space a Kokoro voice search moves in: principal directions of the stock style tensors."""

from __future__ import annotations

import math
import threading

import numpy as np

from polydub.voice.evolve import HALF
from polydub.voice.kokoro import STYLE_DIM, STYLE_ROWS


class StyleSpace:
    """Principal directions of the stock tensors, per half (timbre, prosody), in units of the
    stock voices' spread along each: coordinates of about +-2 stay among plausible voices."""

    _cache: dict[tuple, StyleSpace] = {}
    _lock = threading.Lock()

    def __init__(self, stock: dict[str, np.ndarray], timbre: int, prosody: int) -> None:
        names = sorted(stock)
        mats = np.stack([stock[n] for n in names]).astype(np.float64)  # (n, 510, 256)
        n = len(names)
        self.directions: list[np.ndarray] = []  # each a (510, 256) tensor: one unit of spread
        self.halves: list[str] = []
        for cols, count, half in ((slice(0, HALF), timbre, "timbre"), (slice(HALF, STYLE_DIM), prosody, "prosody")):
            flat = mats[:, :, cols].reshape(n, -1)
            centred = flat - flat.mean(axis=0)
            _u, sing, vt = np.linalg.svd(centred, full_matrices=False)
            spread = sing / math.sqrt(max(n - 1, 1))
            for k in range(min(count, len(sing))):
                tensor = np.zeros((STYLE_ROWS, STYLE_DIM))
                tensor[:, cols] = (vt[k] * spread[k]).reshape(STYLE_ROWS, -1)
                self.directions.append(tensor.astype(np.float32))
                self.halves.append(half)
        norms = np.linalg.norm(mats, axis=2)  # row norms of every stock voice
        self.row_norm_range = (float(norms.min()), float(norms.max()))

    @classmethod
    def of(cls, stock: dict[str, np.ndarray], timbre: int, prosody: int) -> StyleSpace:
        key = (tuple(sorted(stock)), timbre, prosody)
        with cls._lock:
            if key not in cls._cache:
                cls._cache[key] = cls(stock, timbre, prosody)
            return cls._cache[key]

    def prosody_indices(self) -> list[int]:
        return [i for i, h in enumerate(self.halves) if h == "prosody"]

    def plausible(self, style: np.ndarray) -> bool:
        """No NaN and row norms within a margin of the stock voices' (a degenerate tensor mumbles)."""
        if not np.all(np.isfinite(style)):
            return False
        norms = np.linalg.norm(style, axis=1)
        low, high = self.row_norm_range
        return bool(norms.min() >= 0.5 * low and norms.max() <= 1.5 * high)
