"""Voice/background separation, started as soon as the media is decoded.

It needs nothing but the original audio, and transcription and speaker finding leave about half
of a 2-core machine idle (measured 1.4 and 1.6 cores busy), so it runs beside them in a thread
(the separator's native code releases the GIL) instead of inside the mix stage. It reads the
decoded original from its WAV file and writes the background to another, block by block where
the engine can stream (DeepFilterNet does), so a long input never sits in memory.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from polydub.errors import EngineNotInstalledError, JobCancelledError

BACKGROUND_FILE = "background.wav"
VOICE_FILE = "voice16k.wav"  # the separated speech at 16 kHz: what voice cloning listens to


@dataclass
class Separated:
    background: Path | None  # float WAV at the original's rate, channels and length
    engine: str | None = None
    warning: str | None = None  # why the original is ducked instead of separated


class BackgroundSeparation:
    """One separation of one input; `result()` waits for it and re-raises what went wrong."""

    def __init__(self, original_wav: Path, folder: Path, cached: bool, cancel: threading.Event | None = None) -> None:
        self._original, self._path, self._cached = Path(original_wav), folder / BACKGROUND_FILE, cached
        self._cancel = cancel  # the job's cancel event
        self._stopped = threading.Event()  # the job ended without needing the background
        self._result: Separated | None = None
        self._error: BaseException | None = None
        self.fraction = 0.0  # how much of the input is separated (for progress while the mix waits)
        self._thread = threading.Thread(target=self._run, name="polydub-separation", daemon=True)

    def start(self) -> BackgroundSeparation:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self._result = self._separate()
        except BaseException as exc:  # handed to the thread that asks for the result
            self._error = exc

    def _progress(self, fraction: float) -> None:
        self.fraction = fraction
        if self._stopped.is_set() or (self._cancel is not None and self._cancel.is_set()):
            # a warm worker lives on after the job: do not leave minutes of separation running in it
            raise JobCancelledError("separation stopped: the job ended")

    def stop(self) -> None:
        """The job failed or was cancelled: stop at the next block (streaming engines)."""
        self._stopped.set()

    def _separate(self) -> Separated:
        from polydub.separation import default_separator

        try:
            separator = default_separator()
        except EngineNotInstalledError as exc:
            return Separated(None, warning=f"{exc.message}: the original audio was ducked under the dub "
                                           f"instead ({exc.hint})")
        if not (self._cached and self._path.exists()):
            separator.separate_file(self._original, self._path, progress=self._progress)
        voice = self._path.with_name(VOICE_FILE)
        if not (self._cached and voice.exists()):
            write_voice_track(self._original, self._path, voice)
        self.fraction = 1.0
        return Separated(self._path, separator.name)

    def result(self, waiting: Callable[[float], None] | None = None) -> Separated:
        """Wait for the separation; ``waiting(fraction)`` is called every couple of seconds meanwhile."""
        while self._thread.is_alive():
            self._thread.join(timeout=2.0)
            if waiting is not None and self._thread.is_alive():
                waiting(self.fraction)
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result


def write_voice_track(original_wav: Path, background_wav: Path, out: Path, block_s: float = 10.0) -> Path:
    """The separated speech (original minus background), mono at 16 kHz: what voice cloning listens
    to. Block by block, like the separation, so a long input never sits in memory."""
    import numpy as np
    import soundfile as sf
    import soxr

    tmp = out.with_name(out.name + ".part")
    with sf.SoundFile(original_wav) as orig, sf.SoundFile(background_wav) as back:
        block = max(1, int(block_s * orig.samplerate))
        stream = soxr.ResampleStream(orig.samplerate, 16000, 1, dtype="float32")
        with sf.SoundFile(tmp, "w", samplerate=16000, channels=1, subtype="FLOAT", format="WAV") as dst:
            while True:
                a = orig.read(block, dtype="float32", always_2d=True)
                last = len(a) < block
                b = back.read(len(a), dtype="float32", always_2d=True)
                if len(b) < len(a):  # a background a few samples short: the rest is speech
                    b = np.pad(b, ((0, len(a) - len(b)), (0, 0)))
                speech = (a - b[:, :a.shape[1]]).mean(axis=1) if len(a) else np.zeros(0, np.float32)
                dst.write(stream.resample_chunk(np.ascontiguousarray(speech, dtype=np.float32), last=last))
                if last:
                    break
    tmp.replace(out)
    return out
