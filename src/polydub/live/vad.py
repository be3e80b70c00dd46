"""Streaming Silero VAD: the model bundled with faster-whisper, fed window by window with its state.

faster-whisper runs the model over a whole file at once; its ONNX graph takes a batch of 512-sample
windows (each with the previous 64 samples as context) plus the LSTM state, so carrying the state
and the last context from one call to the next gives exactly the whole-file probabilities (checked
in the tests) at any chunk size.
"""

from __future__ import annotations

import numpy as np

WINDOW = 512  # samples at 16 kHz = 32 ms
CONTEXT = 64


class StreamingVad:
    def __init__(self) -> None:
        from faster_whisper.vad import get_vad_model

        self._session = get_vad_model().session  # one read-only ONNX session per process
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(CONTEXT, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)

    def process(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Speech probability of every complete 32 ms window, and those windows' samples (n, 512)."""
        data = np.concatenate([self._pending, np.asarray(samples, dtype=np.float32)])
        count = len(data) // WINDOW
        self._pending = data[count * WINDOW:]
        if count == 0:
            return np.zeros(0, dtype=np.float32), np.zeros((0, WINDOW), dtype=np.float32)
        windows = data[: count * WINDOW].reshape(count, WINDOW)
        contexts = np.concatenate([self._context[None], windows[:-1, -CONTEXT:]], axis=0)
        batch = np.ascontiguousarray(np.concatenate([contexts, windows], axis=1), dtype=np.float32)
        probs, self._h, self._c = self._session.run(None, {"input": batch, "h": self._h, "c": self._c})
        self._context = windows[-1, -CONTEXT:].copy()
        return np.asarray(probs, dtype=np.float32).ravel(), windows
