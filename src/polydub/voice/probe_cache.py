"""Stock voices' probe audio for the voice search, kept on disk.

What a stock voice says on the search's probe sentences does not depend on the speaker being
cloned (Kokoro is deterministic), so every search in a language after the first reads it from a
file instead of synthesizing it again: 4 of the ~12 syntheses a 60 s search affords, plus the stock
voice's held-out check."""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from polydub.paths import data_dir

VERSION = "1"  # a change to how probes are spoken (rate, gap, trimming) needs a new one
RATE = 16000
GAP_SAMPLES = RATE // 5


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
    path = path_for(style, texts)
    if not path.exists():
        return None
    try:
        return np.load(path)
    except (OSError, ValueError):
        return None  # a damaged entry is spoken again and rewritten


def store(style: np.ndarray, texts: list[str], samples: np.ndarray) -> None:
    path = path_for(style, texts)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.stem}.{os.getpid()}.partial.npy")
        np.save(partial, np.asarray(samples, dtype=np.float32))
        partial.replace(path)  # atomic: a concurrent search never reads half a file
    except OSError:
        pass  # a read-only data dir only costs the synthesis next time
