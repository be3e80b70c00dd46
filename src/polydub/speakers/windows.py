"""Window embeddings of a file's speech: the embedding of any stretch is the mean of its windows.

The d-vector of a clip is itself the mean of 0.8 s window vectors, so embedding every window of the
speech once (0.2 s apart) lets diarization compare any two stretches, at any word boundary, without
running the encoder again: placing a speaker change word by word costs a few vector sums.
"""

from __future__ import annotations

import numpy as np

from polydub.audio import Audio
from polydub.speakers.embedding import WINDOW_SECONDS, SpeakerEmbedder, normalize

STRIDE = 0.2  # seconds between windows: the resolution of a change inside a segment
EDGE_TOLERANCE = 0.1  # a window may reach this far past a stretch's edges and still count as inside
SPAN_PAD = 0.4  # context embedded around each speech span so windows cover its edges


class SpeechWindows:
    def __init__(self, audio16k: Audio, embedder: SpeakerEmbedder, spans: list[tuple[float, float]],
                 stride: float = STRIDE) -> None:
        self.audio = audio16k
        self.embedder = embedder
        starts: list[np.ndarray] = []
        embs: list[np.ndarray] = []
        for a, b in _merge(spans, audio16k.duration):
            clip = audio16k.slice(a, b)
            if clip.duration < WINDOW_SECONDS:
                continue
            s, e = embedder.embed_windows(clip, WINDOW_SECONDS, stride)
            starts.append(s + a)
            embs.append(e)
        self.starts = np.concatenate(starts) if starts else np.zeros(0)
        self.embs = np.concatenate(embs) if embs else np.zeros((0, embedder.dim), dtype=np.float32)
        self._cumsum = np.vstack([np.zeros((1, self.embs.shape[1]), np.float32), np.cumsum(self.embs, axis=0)])

    def __len__(self) -> int:
        return len(self.starts)

    def count(self, t0: float, t1: float) -> int:
        first, last = self._range(t0, t1)
        return max(0, last - first)

    def _range(self, t0: float, t1: float) -> tuple[int, int]:
        # Windows are sorted by start and all equally long: those inside [t0, t1] are contiguous.
        first = int(np.searchsorted(self.starts, t0 - EDGE_TOLERANCE, side="left"))
        last = int(np.searchsorted(self.starts, t1 + EDGE_TOLERANCE - WINDOW_SECONDS, side="right"))
        return first, last

    def embed(self, t0: float, t1: float) -> np.ndarray:
        """Unit-norm embedding of the speech between t0 and t1 (seconds)."""
        first, last = self._range(t0, t1)
        if last > first:
            return normalize(self._cumsum[last] - self._cumsum[first])
        # Shorter than one window: embed the stretch itself (the encoder pads it), with a little
        # context when it is too short to embed at all.
        clip = self.audio.slice(t0, t1)
        if clip.duration < 0.1:
            clip = self.audio.slice(max(0.0, t0 - 0.5), t1 + 0.5)
        if clip.duration < 0.1:
            return np.zeros(self.embedder.dim, np.float32)
        return self.embedder.embed(clip)


def _merge(spans: list[tuple[float, float]], end: float) -> list[tuple[float, float]]:
    out: list[list[float]] = []
    for a, b in sorted(spans):
        a, b = max(0.0, a - SPAN_PAD), min(end, b + SPAN_PAD)
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        elif b > a:
            out.append([a, b])
    return [(a, b) for a, b in out]
