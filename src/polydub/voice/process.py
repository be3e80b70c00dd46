"""What the engines run as a process per line (RHVoice, MBROLA) share: running the command with the
text on stdin, and a small cache of rendered lines that makes their duration prediction exact.

Such an engine cannot say how long a line will be without speaking it, but speaking it takes
~0.03 x real time. So `predict_duration` synthesizes and keeps the audio: the timing stage asks for
the length at speed 1, maybe once more at the speed the slot needs, and then synthesizes at that
speed, which the cache answers without running the engine again.
"""

from __future__ import annotations

import subprocess
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from polydub.audio import Audio

CACHE_LINES = 48  # about 48 x 5 s x 24 kHz float32 = 23 MB at most


class RenderCache:
    """Least-recently-used rendered lines, keyed by (voice id, text, speed)."""

    def __init__(self, size: int = CACHE_LINES) -> None:
        self._size = size
        self._items: OrderedDict[tuple[str, str, float], Audio] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_render(self, key: tuple[str, str, float], render: Callable[[], Audio]) -> Audio:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        audio = render()  # outside the lock: two lines may render at once
        with self._lock:
            self._items[key] = audio
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return audio


def run_to_wav(cmd: list[str], text: str, engine: str, timeout: float = 120.0,
               output_flag: str | None = None) -> Audio:
    """Run `cmd` with `text` (UTF-8) on stdin; the command writes a WAV to the path appended after
    `output_flag` (or as the last argument). RuntimeError when it fails or writes nothing."""
    with tempfile.TemporaryDirectory(prefix=f"polydub-{engine}-") as tmp:
        out = Path(tmp) / "out.wav"
        full = [*cmd, output_flag, str(out)] if output_flag else [*cmd, str(out)]
        try:
            proc = subprocess.run(full, input=text.encode("utf-8"), capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"{engine} did not finish within {timeout:.0f} s") from None
        if proc.returncode != 0 or not out.is_file() or out.stat().st_size <= 44:
            raise RuntimeError(f"{engine} failed ({proc.returncode}): "
                               f"{proc.stderr.decode(errors='replace').strip()[:300] or 'no audio written'}")
        return Audio.read(out).mono()
