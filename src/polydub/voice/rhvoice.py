"""RHVoice (Debian `rhvoice` + `rhvoice-russian`): natural Russian voices, 24 kHz, ~0.03 x real time.

Run as a process per line (`RHVoice-test`, UTF-8 text on stdin): Debian ships no C-API library
(libRHVoice.so) beside the core, and the Python wrappers are GPL. The process costs ~0.15 s to start,
small next to the line's other work, so an in-process route is not worth a GPL dependency.
Rate control is native (`-r` percent: measured exactly proportional, 0.5x-2x), so the duration
at any speed is known once the line was rendered at one: see voice/process.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from polydub.audio import Audio
from polydub.voice.base import Capabilities, TTSEngine, Voice
from polydub.voice.licences import EXPLICIT_ONLY, LICENCE, NON_COMMERCIAL
from polydub.voice.process import RenderCache, run_to_wav
from polydub.voice.text import clean_text, short_silence, trim_silence

SAMPLE_RATE = 24000
BINARY = "RHVoice-test"
VOICE_DIRS = [Path("/usr/share/RHVoice/voices"), Path("/usr/local/share/RHVoice/voices")]
LANGUAGES = {"russian": "ru", "english": "en", "ukrainian": "uk", "kyrgyz": "ky", "tatar": "tt",
             "georgian": "ka", "esperanto": "eo", "brazilian-portuguese": "pt", "polish": "pl",
             "czech": "cs", "slovak": "sk", "macedonian": "mk", "albanian": "sq", "uzbek": "uz",
             "vietnamese": "vi"}
NON_COMMERCIAL_LICENCE = "CC BY-NC-ND 4.0"
# Licences from the Debian copyright of rhvoice-russian 1.8.0 (and RHVoice's voice pages); quality
# from round-trip CER with Whisper base (shared/MODELS.md): aleksandr-hq 0.000, aleksandr 0.003,
# irina/elena/anna 0.009-0.012, all from "три" heard as "3".
VOICES: dict[str, tuple[str, int]] = {
    "aleksandr-hq": ("CC-BY-SA-4.0", 5),
    "aleksandr": ("LGPL-2.1+", 4),
    "anna": ("LGPL-2.1+", 4),
    "irina": ("LGPL-2.1+", 4),
    "elena": ("GPL-3.0", 4),
}
# Offered by explicit id only (never a default, never matched or used by a repair), licence shown.
NON_COMMERCIAL_VOICES = {"arina", "artemiy", "evgeniy-rus", "lyubov", "mikhail", "pavel", "tatiana",
                         "victoria", "vitaliy", "yuriy"}


def _read_info(folder: Path) -> dict[str, str]:
    info: dict[str, str] = {}
    try:
        for line in (folder / "voice.info").read_text(encoding="utf-8", errors="replace").splitlines():
            key, sep, value = line.partition("=")
            if sep:
                info[key.strip().lower()] = value.strip()
    except OSError:
        pass
    return info


class RHVoiceEngine(TTSEngine):
    name = "rhvoice"
    licence = ("RHVoice library LGPL-2.1+; voices: aleksandr-hq CC-BY-SA-4.0, aleksandr/anna/irina "
               "LGPL-2.1+, elena GPL-3.0; arina, artemiy, evgeniy-rus, lyubov, mikhail, pavel, tatiana, "
               "victoria, vitaliy, yuriy CC BY-NC-ND 4.0 (non-commercial, by explicit id only)")
    description = "RHVoice (Debian non-free), Russian, 24 kHz, natural; default for ru"
    capabilities = Capabilities(native_rate=True)
    preferred_for = ("ru",)

    def __init__(self, binary: str = BINARY, voice_dirs: list[Path] | None = None, timeout: float = 120.0) -> None:
        self._binary = binary
        self._voice_dirs = voice_dirs if voice_dirs is not None else VOICE_DIRS
        self._timeout = timeout
        self._cache = RenderCache()

    def is_available(self) -> bool:
        return shutil.which(self._binary) is not None and bool(self.voices())

    def install_hint(self) -> str:
        return ("apt-get install rhvoice rhvoice-russian (Debian: enable the contrib and non-free "
                "components first)")

    def voices(self) -> list[Voice]:
        out: list[Voice] = []
        seen: set[str] = set()
        for root in self._voice_dirs:
            if not root.is_dir():
                continue
            for folder in sorted(p for p in root.iterdir() if p.is_dir()):
                name = folder.name.lower()
                info = _read_info(folder)
                if name in seen or not info:
                    continue
                seen.add(name)
                language = LANGUAGES.get(info.get("language", "").lower())
                if language is None:
                    continue
                gender = info.get("gender", "").lower()
                extra: dict = {"description": info.get("name", name)}
                if name in VOICES:
                    licence, quality = VOICES[name]
                else:
                    # Non-commercial, or a voice whose terms polydub does not know: by id only.
                    known = name in NON_COMMERCIAL_VOICES
                    licence = NON_COMMERCIAL_LICENCE if known else "unknown to polydub: treated as non-commercial"
                    quality = 3
                    extra.update({NON_COMMERCIAL: True, EXPLICIT_ONLY: True})
                extra[LICENCE] = licence
                out.append(Voice(id=f"rhvoice:{name}", engine=self.name, language=language, name=name,
                                 gender=gender if gender in ("male", "female") else None, quality=quality,
                                 extra=extra))
        return out

    def _render(self, text: str, voice: Voice, speed: float) -> Audio:
        rate = int(round(100 * speed))  # percent of the voice's normal rate
        cmd = [shutil.which(self._binary) or self._binary, "-p", voice.name, "-r", str(rate)]
        audio = run_to_wav(cmd, text, self.name, self._timeout, output_flag="-o")
        return trim_silence(audio) if len(audio.samples) else short_silence(SAMPLE_RATE)

    def synthesize(self, text: str, voice: Voice, speed: float = 1.0) -> Audio:
        text = clean_text(text)
        if not text:
            return short_silence(SAMPLE_RATE)
        speed = round(float(min(max(speed, 0.5), 2.0)), 3)
        return self._cache.get_or_render((voice.name, text, speed), lambda: self._render(text, voice, speed))

    def predict_duration(self, text: str, voice: Voice, speed: float = 1.0) -> float | None:
        """Exact: the line is rendered (and kept for synthesize) rather than estimated."""
        return self.synthesize(text, voice, speed).duration
