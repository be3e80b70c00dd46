"""Stock voices' probe audio for the voice search, kept on disk.

What a stock voice says on the search's probe sentences does not depend on the speaker being
cloned (Kokoro is deterministic), so every search in a language after the first reads it from a
file instead of synthesizing it again: 4 of the ~12 syntheses a 60 s search affords, plus the stock
voice's held-out check. Once every stock voice of a language is on disk (`prepare`, or earlier
searches), the search can also rank all of them on both probe sets (their embeddings at the speaker's
level are kept too, so this costs a few seconds once per level): the best start voice is most of what a
60 s search gains on an embedder it never sees (bench/bench_clone_stock.py)."""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np

from polydub.audio import Audio
from polydub.paths import data_dir

VERSION = "1"  # a change to how probes are spoken (rate, gap, trimming) needs a new one
RATE = 16000
GAP_SAMPLES = RATE // 5
LEVEL_STEP_DB = 3.0  # stock voices are ranked at the speaker's level to this step (embedders change with level)


def path_for(style: np.ndarray, texts: list[str]) -> Path:
    """Keyed by the tensor itself (not the voice's name, which a new voice file could reuse), the
    texts, and the Kokoro model file's size."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(style, dtype=np.float32).tobytes())
    digest.update("\n".join(texts).encode())
    digest.update(f"{RATE}:{GAP_SAMPLES}:{VERSION}:{_model_size()}".encode())
    return data_dir() / "clone-probes" / f"{digest.hexdigest()[:32]}.npy"


@lru_cache(maxsize=1)
def _model_size() -> int:
    from polydub.voice.kokoro import model_file

    try:
        return model_file().stat().st_size
    except Exception:  # noqa: BLE001 - no model file to describe: the key still names the tensor and texts
        return 0


def holds(style: np.ndarray, texts: list[str]) -> bool:
    return path_for(style, texts).exists()


def load(style: np.ndarray, texts: list[str]) -> np.ndarray | None:
    return _read(path_for(style, texts))


def store(style: np.ndarray, texts: list[str], samples: np.ndarray) -> None:
    _write(path_for(style, texts), samples)


def embedding(style: np.ndarray, texts: list[str], embedder, rms: float) -> np.ndarray | None:
    """The speaker embedding of a stock voice's cached probe audio brought to speech level `rms`
    (rounded to LEVEL_STEP_DB; kept beside the audio), or None when that audio is not on disk. The
    level matters: KatieHill's closest stock voice by the d-vector is af_river at her level and
    af_bella at -13 dB under it."""
    audio_path = path_for(style, texts)
    step = LEVEL_STEP_DB * round(20.0 * math.log10(max(rms, 1e-6)) / LEVEL_STEP_DB)
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", embedder.name)
    path = audio_path.with_name(f"{audio_path.stem}.{name}.{step:+.0f}dB.npy")
    if (vector := _read(path)) is not None:
        return vector
    samples = _read(audio_path)
    if samples is None:
        return None
    from polydub.voice.equalize import match_level

    vector = np.asarray(embedder.embed(match_level(Audio(samples, RATE), 10 ** (step / 20))), dtype=np.float32)
    _write(path, vector)
    return vector


def speak(kokoro, style: np.ndarray, texts: list[str], language: str, key: str) -> np.ndarray:
    """`texts` spoken with `style` at 16 kHz, 0.2 s apart: the one way probes are spoken."""
    voice = kokoro.style_voice(style, key, language)
    try:
        parts = []
        for text in texts:
            parts += [kokoro.synthesize(text, voice).resample(RATE).samples, np.zeros(GAP_SAMPLES, np.float32)]
    finally:
        kokoro.forget_style(voice)
    return np.concatenate(parts)


def prepare(registry, language: str, progress: Callable[[int, int, str], None] | None = None) -> int:
    """Speak both probe sets with every Kokoro voice that can speak `language` (set-up time, about
    7 s a voice on 2 cores); returns how many voices were spoken (0 when all were on disk)."""
    from polydub.voice.evolve import PROBES
    from polydub.voice.matching import candidate_voices

    kokoro = registry.engine("kokoro")
    voices = candidate_voices(registry, language, engine="kokoro")
    spoken = 0
    for n, voice in enumerate(voices):
        style = kokoro.style_tensor(voice)
        missing = [texts for texts in PROBES[language] if not holds(style, texts)]
        for texts in missing:
            store(style, texts, speak(kokoro, style, texts, language, f"probe-{voice.name}"))
        spoken += bool(missing)
        if progress:
            progress(n + 1, len(voices), voice.id)
    return spoken


def _read(path: Path) -> np.ndarray | None:
    if not path.exists():
        return None
    try:
        return np.load(path)
    except (OSError, ValueError):
        return None  # a damaged entry is made again and rewritten


def _write(path: Path, array: np.ndarray) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.stem}.{os.getpid()}.partial.npy")
        np.save(partial, np.asarray(array, dtype=np.float32))
        partial.replace(path)  # atomic: a concurrent search never reads half a file
    except OSError:
        pass  # a read-only data dir only costs the work next time
