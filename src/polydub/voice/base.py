"""Text-to-speech: the engine interface every voice engine implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from polydub.audio import Audio


@dataclass(frozen=True)
class Voice:
    id: str  # unique across engines, e.g. "kokoro:ef_dora", "piper:en_US-joe-medium"
    engine: str
    language: str  # two-letter code
    name: str
    gender: str | None = None  # "female" | "male" | None
    quality: int = 1  # higher sounds better; picks the default voice per language
    extra: dict = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class Capabilities:
    native_rate: bool  # honours `speed` itself (no time-stretch needed)
    cloning: bool = False


class TTSEngine(ABC):
    name: str = ""
    licence: str = ""
    description: str = ""
    capabilities = Capabilities(native_rate=False)
    # Every voice of the engine is non-commercial (its voices also say so: voice/licences.py).
    non_commercial: bool = False
    # Languages this engine is meant to speak by default: when it is missing (or excluded by
    # --commercial-safe), a dub into them says which fallback speaks instead.
    preferred_for: tuple[str, ...] = ()

    @abstractmethod
    def is_available(self) -> bool:
        """True when runtime and voices are installed (never downloads)."""

    @abstractmethod
    def voices(self) -> list[Voice]:
        """All installed voices of this engine."""

    def install_hint(self) -> str:
        return ""

    @abstractmethod
    def synthesize(self, text: str, voice: Voice, speed: float = 1.0) -> Audio:
        """Speak `text` with `voice`; speed > 1 is faster. Returns mono float32 audio."""

    def unload(self) -> bool:
        """Let go of loaded models (they load again on next use); True when something was held."""
        return False

    def predict_duration(self, text: str, voice: Voice, speed: float = 1.0) -> float | None:
        """Seconds `synthesize` would return, without synthesizing, as an upper bound that is
        close (timing plans each line's speed with it, so it is synthesized once).
        None when the engine cannot tell; timing then measures a first rendering."""
        return None

    def phoneme_timing(self, text: str, voice: Voice, speed: float = 1.0) -> list[tuple[str, float, float]] | None:
        """(symbol, start, end) of every phoneme of `synthesize(text, voice, speed)`, seconds from the
        start of its audio, when the engine knows them (lip-sync drives mouths with them); None
        when it does not."""
        return None
