"""espeak-ng (command line): every language it knows, robotic; the fallback of last resort."""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from pathlib import Path

from polydub.audio import Audio
from polydub.voice.base import Capabilities, TTSEngine, Voice
from polydub.voice.text import clean_text, short_silence, trim_silence

BASE_WPM = 175  # espeak-ng's default speaking rate; speed multiplies it
# espeak codes that are not ISO 639-1 but map onto one.
_THREE = {"cmn": "zh", "yue": "zh", "hak": "zh"}
# Variant used when a language has no plain-code voice or the plain one is not the usual pick.
_PREFERRED = {"en": "en-us", "fr": "fr-fr", "zh": "cmn"}


def _language(code: str) -> str:
    base = code.lower().split("-")[0]
    return _THREE.get(base, base)


@functools.lru_cache(maxsize=8)
def list_voices(binary: str, which: str = "") -> tuple[tuple[str, str, str, str], ...]:
    """(espeak language code, voice name, gender letter, voice file) per line of `espeak-ng --voices`
    (`which="mb"`: the MBROLA voice definitions, installed databases or not)."""
    option = f"--voices={which}" if which else "--voices"
    try:
        proc = subprocess.run([binary, option], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return ()
    rows = []
    for line in proc.stdout.splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 5:
            rows.append((cols[1], cols[3], cols[2].split("/")[-1], cols[4]))
    return tuple(rows)


class EspeakEngine(TTSEngine):
    name = "espeak"
    licence = "GPL-3.0 (espeak-ng)"
    description = "espeak-ng formant synthesis: ~100 languages, robotic, fallback only"
    capabilities = Capabilities(native_rate=True)  # -s words-per-minute is followed closely

    def __init__(self, binary: str = "espeak-ng") -> None:
        self._binary = binary

    def _path(self) -> str | None:
        return shutil.which(self._binary)

    def is_available(self) -> bool:
        return self._path() is not None

    def install_hint(self) -> str:
        return "apt-get install espeak-ng"

    def voices(self) -> list[Voice]:
        path = self._path()
        if not path:
            return []
        rows = list_voices(path)
        by_lang: dict[str, list[str]] = {}
        for code, _, _, _ in rows:
            by_lang.setdefault(_language(code), []).append(code)
        out = []
        for code, desc, gender, _ in rows:
            lang = _language(code)
            # One variant per language is "primary" (the plain code, else the first listed);
            # regional variants stay selectable but never win the default.
            want = _PREFERRED.get(lang, lang)
            primary = code == want or (want not in by_lang[lang] and code == by_lang[lang][0])
            out.append(Voice(
                id=f"espeak:{code}", engine=self.name, language=lang, name=code,
                gender={"M": "male", "F": "female"}.get(gender), quality=1 if primary else 0,
                extra={"description": desc.replace("_", " ")},
            ))
        return out

    def synthesize(self, text: str, voice: Voice, speed: float = 1.0) -> Audio:
        text = clean_text(text)
        if not text:
            return short_silence(22050)
        wpm = int(round(BASE_WPM * min(max(speed, 0.5), 2.5)))
        with tempfile.TemporaryDirectory(prefix="polydub-espeak-") as tmp:
            out = Path(tmp) / "out.wav"
            # Text goes through stdin as UTF-8 so leading dashes are never read as options.
            cmd = [self._path() or self._binary, "-v", voice.name, "-s", str(wpm), "-w", str(out),
                   "--stdin"]
            proc = subprocess.run(cmd, input=text.encode("utf-8"), capture_output=True, timeout=120)
            if proc.returncode != 0 or not out.is_file():
                raise RuntimeError(f"espeak-ng failed ({proc.returncode}): "
                                   f"{proc.stderr.decode(errors='replace').strip()[:300]}")
            audio = Audio.read(out).mono()
        return trim_silence(audio) if len(audio.samples) else short_silence(audio.rate or 22050)
