"""Audio in and out of a live session: 16-bit PCM mono chunks at a declared rate <-> 16 kHz float32."""

from __future__ import annotations

import numpy as np
import soxr

from polydub.errors import PolydubError

LIVE_RATE = 16000  # what the VAD, Whisper and the speaker embedder expect
MIN_RATE, MAX_RATE = 8000, 192000


class LiveInputError(PolydubError):
    """A client sent audio or a control message that a live session cannot use."""


def check_rate(rate: object) -> int:
    """The declared input sample rate as an int, or LiveInputError."""
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate != int(rate):
        raise LiveInputError(f"sample_rate must be a whole number of Hz, got {rate!r}",
                             f"declare the rate of your PCM, between {MIN_RATE} and {MAX_RATE} (e.g. 16000)")
    if not MIN_RATE <= int(rate) <= MAX_RATE:
        raise LiveInputError(f"sample_rate {int(rate)} Hz is outside {MIN_RATE}-{MAX_RATE} Hz",
                             "send 16-bit mono PCM at a usual rate such as 16000, 44100 or 48000")
    return int(rate)


def pcm16_to_float(data: bytes) -> np.ndarray:
    if len(data) % 2:
        raise LiveInputError(f"audio chunk has an odd number of bytes ({len(data)})",
                             "send whole 16-bit little-endian samples (2 bytes each, mono)")
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0


def float_to_pcm16(samples: np.ndarray) -> bytes:
    clipped = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
    return (clipped * 32767.0).round().astype("<i2").tobytes()


class PcmInput:
    """Decode PCM16 chunks of any size and resample them to 16 kHz, keeping the resampler's state
    between chunks so that chunk boundaries leave no clicks."""

    def __init__(self, rate: int) -> None:
        self.rate = check_rate(rate)
        self._stream = None if self.rate == LIVE_RATE else \
            soxr.ResampleStream(self.rate, LIVE_RATE, 1, dtype="float32", quality="HQ")
        self.samples_in = 0

    @property
    def seconds_in(self) -> float:
        return self.samples_in / self.rate

    def push(self, data: bytes) -> np.ndarray:
        samples = pcm16_to_float(data)
        self.samples_in += len(samples)
        return self.push_float(samples, count=False)

    def push_float(self, samples: np.ndarray, count: bool = True) -> np.ndarray:
        samples = np.asarray(samples, dtype=np.float32)
        if count:
            self.samples_in += len(samples)
        if self._stream is None:
            return samples
        return self._stream.resample_chunk(samples, last=False)

    def flush(self) -> np.ndarray:
        if self._stream is None:
            return np.zeros(0, dtype=np.float32)
        return self._stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
