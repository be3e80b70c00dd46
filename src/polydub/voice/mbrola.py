"""MBROLA diphone voices through espeak-ng (Debian `mbrola` + `mbrola-de6/de7/fr1/fr4`).

German: far clearer than plain espeak (round-trip CER mb-de7 0.000, mb-de6 0.011, espeak 0.158), so
the default for de. French: offered (CER 0.040), Kokoro stays the default (CER 0). The databases may
not be sold or built into a sold product: every voice is non-commercial (voice/licences.py).

Rate: espeak's `-s` words-per-minute drives MBROLA's phone durations natively, but not in proportion:
asking 1.1x/1.25x/1.5x gave 1.12x/1.30x/1.63x on German (1.11x/1.26x/1.56x on French), the same on
every sentence tried, i.e. achieved = asked ** exponent. The exponent per language inverts that, and
the duration at any speed is exact because the line is rendered and kept (voice/process.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from polydub.audio import Audio
from polydub.voice.base import Capabilities, TTSEngine, Voice
from polydub.voice.espeak import BASE_WPM, list_voices
from polydub.voice.licences import LICENCE, NON_COMMERCIAL
from polydub.voice.process import RenderCache, run_to_wav
from polydub.voice.text import clean_text, short_silence, trim_silence

DATABASE_DIRS = [Path("/usr/share/mbrola"), Path("/usr/local/share/mbrola")]
# achieved speed = (wpm / BASE_WPM) ** exponent (measured on 2 sentences per language, 0.8x-1.5x).
RATE_EXPONENT = {"de": 1.19, "fr": 1.08}
DEFAULT_EXPONENT = 1.1
# Quality by round-trip CER (shared/MODELS.md); mb-de7 is the German default.
QUALITY = {"de7": 4, "de6": 3}
VOICE_LICENCE = ("MBROLA database licence: free of charge for non-commercial, non-military use; may not be "
                 "sold or built into a sold product (mbrola binary AGPL-3.0, espeak-ng GPL-3.0)")
_LANGUAGE_FIX = {"fr-fr": "fr", "fr-be": "fr", "fr-ca": "fr", "pt-br": "pt", "en-uk": "en", "en-us": "en"}


class MbrolaEngine(TTSEngine):
    name = "mbrola"
    licence = VOICE_LICENCE
    description = "MBROLA diphone voices via espeak-ng (Debian contrib/non-free): de default, fr offered"
    capabilities = Capabilities(native_rate=True)
    non_commercial = True
    preferred_for = ("de",)

    def __init__(self, binary: str = "espeak-ng", mbrola: str = "mbrola", database_dirs: list[Path] | None = None,
                 timeout: float = 120.0) -> None:
        self._binary = binary
        self._mbrola = mbrola
        self._dirs = database_dirs if database_dirs is not None else DATABASE_DIRS
        self._timeout = timeout
        self._cache = RenderCache()

    def _databases(self) -> set[str]:
        """Installed diphone databases, e.g. {"de6", "de7"} (Debian: /usr/share/mbrola/de7/de7)."""
        found = set()
        for root in self._dirs:
            if root.is_dir():
                found |= {p.name for p in root.iterdir() if (p / p.name).is_file() or p.is_file()}
        return found

    def is_available(self) -> bool:
        return (shutil.which(self._binary) is not None and shutil.which(self._mbrola) is not None
                and bool(self.voices()))

    def install_hint(self) -> str:
        return ("apt-get install mbrola mbrola-de6 mbrola-de7 mbrola-fr1 mbrola-fr4 (Debian: enable the "
                "contrib and non-free components first)")

    def voices(self) -> list[Voice]:
        path = shutil.which(self._binary)
        if not path:
            return []
        databases = self._databases()
        out = []
        for espeak_language, _name, gender, voice_file in list_voices(path, "mb"):
            if not voice_file.startswith("mb/"):
                continue
            file_name = voice_file.split("/", 1)[1]
            database = file_name.removeprefix("mb-")
            if database not in databases:  # espeak lists every MBROLA voice, installed or not;
                continue  # "-en" variants (English read with a foreign database) are skipped here too
            language = _LANGUAGE_FIX.get(espeak_language, espeak_language.split("-")[0])
            out.append(Voice(
                id=f"mbrola:{file_name}", engine=self.name, language=language, name=file_name,
                gender={"M": "male", "F": "female"}.get(gender), quality=QUALITY.get(database, 2),
                extra={NON_COMMERCIAL: True, LICENCE: VOICE_LICENCE},
            ))
        return out

    def words_per_minute(self, voice: Voice, speed: float) -> int:
        exponent = RATE_EXPONENT.get(voice.language, DEFAULT_EXPONENT)
        return int(round(BASE_WPM * speed ** (1.0 / exponent)))

    def _render(self, text: str, voice: Voice, speed: float) -> Audio:
        cmd = [shutil.which(self._binary) or self._binary, "-v", voice.name,
               "-s", str(self.words_per_minute(voice, speed)), "--stdin"]
        audio = run_to_wav(cmd, text, self.name, self._timeout, output_flag="-w")
        if not len(audio.samples):
            return short_silence(audio.rate or 22050)
        return trim_silence(audio)

    def synthesize(self, text: str, voice: Voice, speed: float = 1.0) -> Audio:
        text = clean_text(text)
        if not text:
            return short_silence(22050)
        speed = round(float(min(max(speed, 0.5), 2.0)), 3)
        return self._cache.get_or_render((voice.name, text, speed), lambda: self._render(text, voice, speed))

    def predict_duration(self, text: str, voice: Voice, speed: float = 1.0) -> float | None:
        """Exact: the line is rendered (and kept for synthesize) rather than estimated."""
        return self.synthesize(text, voice, speed).duration
