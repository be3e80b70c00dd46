"""Festival with the Debian festvox-ru voice (msu_ru_nsh_clunits): the best Russian offline.

Run as a process (`text2wave`): Festival is GPL-compatible free software and has no Python
binding worth depending on.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from polydub.audio import Audio
from polydub.voice.base import Capabilities, TTSEngine, Voice
from polydub.voice.text import clean_text, short_silence, time_stretch, trim_silence

VOICE = "msu_ru_nsh_clunits"
SAMPLE_RATE = 16000
# Where Debian's festvox-ru installs the voice; checked so is_available() needs no process.
_VOICE_DIRS = [Path("/usr/share/festival/voices/russian") / VOICE]


class FestivalEngine(TTSEngine):
    name = "festival"
    licence = "Festival: MIT-style; festvox-ru (msu_ru_nsh_clunits): free (Debian main)"
    description = "Festival + festvox-ru, Russian only, 16 kHz unit selection"
    # clunits voices ignore Duration_Stretch, so speed is applied by WSOLA time-stretch.
    capabilities = Capabilities(native_rate=False)

    def __init__(self, timeout: float = 120.0) -> None:
        self._timeout = timeout

    def is_available(self) -> bool:
        return shutil.which("text2wave") is not None and any(d.is_dir() for d in _VOICE_DIRS)

    def install_hint(self) -> str:
        return "apt-get install festival festvox-ru"

    def voices(self) -> list[Voice]:
        if not self.is_available():
            return []
        return [Voice(id=f"festival:{VOICE}", engine=self.name, language="ru", name=VOICE,
                      gender="male", quality=2)]

    def synthesize(self, text: str, voice: Voice, speed: float = 1.0) -> Audio:
        text = clean_text(text)
        if not text:
            return short_silence(SAMPLE_RATE)
        with tempfile.TemporaryDirectory(prefix="polydub-festival-") as tmp:
            src, out = Path(tmp) / "in.txt", Path(tmp) / "out.wav"
            # UTF-8 is the only encoding festvox-ru accepts; others give an empty wav, exit 0.
            src.write_text(text + "\n", encoding="utf-8")
            cmd = ["text2wave", str(src), "-o", str(out), "-eval", f"(voice_{voice.name})"]
            proc = subprocess.run(cmd, capture_output=True, timeout=self._timeout)
            if proc.returncode != 0:
                raise RuntimeError(f"festival failed ({proc.returncode}): "
                                   f"{proc.stderr.decode(errors='replace').strip()[:300]}")
            audio = Audio.read(out).mono() if out.is_file() and out.stat().st_size > 44 else None
        if audio is None or audio.duration < 0.05:
            raise RuntimeError(f"festival produced no audio for {text[:60]!r} (is the text Russian?)")
        return time_stretch(trim_silence(audio), float(min(max(speed, 0.5), 2.0)))
