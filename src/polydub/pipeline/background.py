"""Voice/background separation, started as soon as the media is decoded.

It needs nothing but the original audio, and transcription and speaker finding leave about half
of a 2-core machine idle (measured 1.4 and 1.6 cores busy), so it runs beside them in a thread
(the separator's native code releases the GIL) instead of inside the mix stage.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from polydub.audio import Audio
from polydub.errors import EngineNotInstalledError

BACKGROUND_FILE = "background.wav"
VOICE_FILE = "voice16k.wav"  # the separated speech at 16 kHz: what voice cloning listens to


@dataclass
class Separated:
    background: Audio | None
    engine: str | None = None
    warning: str | None = None  # why the original is ducked instead of separated


class BackgroundSeparation:
    """One separation of one input; `result()` waits for it and re-raises what went wrong."""

    def __init__(self, original: Audio, folder: Path, cached: bool) -> None:
        self._original, self._path, self._cached = original, folder / BACKGROUND_FILE, cached
        self._result: Separated | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="polydub-separation", daemon=True)

    def start(self) -> BackgroundSeparation:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self._result = self._separate()
        except BaseException as exc:  # handed to the thread that asks for the result
            self._error = exc

    def _separate(self) -> Separated:
        from polydub.separation import default_separator

        try:
            separator = default_separator()
        except EngineNotInstalledError as exc:
            return Separated(None, warning=f"{exc.message}: the original audio was ducked under the dub "
                                           f"instead ({exc.hint})")
        if self._cached and self._path.exists():
            return Separated(Audio.read(self._path), separator.name)
        speech, background = separator.separate(self._original)
        speech.mono().resample(16000).write(self._path.with_name(VOICE_FILE))
        background.write(self._path, subtype="FLOAT")
        return Separated(background, separator.name)

    def result(self) -> Separated:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result
