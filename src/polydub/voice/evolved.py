"""Evolved voices as a TTS engine: "kokoro-evolved:<profile>@<language>" speaks with the style
tensor a voice search found for that profile (stored in the profiles database), through the same
Kokoro model as the stock voices, then with the search's EQ curve (the speaker's long-term spectrum)."""

from __future__ import annotations

import threading

from polydub.audio import Audio
from polydub.voice.base import Capabilities, TTSEngine, Voice
from polydub.voice.kokoro import STYLE_DIM, STYLE_ROWS, KokoroEngine

ENGINE = "kokoro-evolved"


class KokoroEvolvedEngine(TTSEngine):
    name = ENGINE
    licence = "Apache-2.0 (style tensors derived from Kokoro-82M's Apache-2.0 voices)"
    description = "Kokoro voices evolved toward a speaker (`polydub voices clone`, `dub --clone-voices`)"
    capabilities = Capabilities(native_rate=True, cloning=True)
    live_voices = True  # the list changes while a process runs: the registry must not keep it

    def __init__(self, kokoro: KokoroEngine, profiles_path=None) -> None:
        self.kokoro = kokoro
        self._profiles_path = profiles_path
        self._lock = threading.Lock()
        self._listed: tuple[object, list[Voice]] | None = None

    def _store(self):
        from polydub.speakers.profiles import ProfileStore

        return ProfileStore(self._profiles_path)

    def _stamp(self):
        from pathlib import Path

        from polydub.paths import profiles_db

        try:
            stat = (Path(self._profiles_path) if self._profiles_path else profiles_db()).stat()
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def is_available(self) -> bool:
        return self.kokoro.is_available()

    def install_hint(self) -> str:
        return "needs the kokoro engine; make a voice with `polydub voices clone NAME sample.wav --lang es`"

    def voices(self) -> list[Voice]:
        stamp = self._stamp()
        with self._lock:
            if self._listed is not None and stamp is not None and self._listed[0] == stamp:
                return list(self._listed[1])
        if stamp is None:
            return []
        store = self._store()
        try:
            evolved = store.evolved()
        finally:
            store.close()
        voices = []
        for ev in evolved:
            if ev.engine != "kokoro" or ev.style.size != STYLE_ROWS * STYLE_DIM:
                continue
            key = f"evolved:{ev.profile}@{ev.language}#{ev.created.isoformat()}"
            voice = self.kokoro.style_voice(ev.style, key, ev.language, id=ev.voice_id, engine=self.name,
                                            name=f"{ev.profile}@{ev.language}", gender=ev.info.get("gender"),
                                            quality=1, extra={"profile": ev.profile, "evolved": True,
                                                              "licence": self.licence, "clone": ev.info})
            voices.append(voice)
        with self._lock:
            self._listed = (stamp, voices)
        return list(voices)

    def _loaded(self, voice: Voice) -> Voice:
        """The voice with its tensor in Kokoro's memory (reloaded when another process changed it)."""
        if not self.kokoro.has_style(voice.extra.get("style_key", "")):
            fresh = next((v for v in self.voices() if v.id == voice.id), None)
            if fresh is None:
                from polydub.errors import PolydubError

                raise PolydubError(f"evolved voice {voice.id!r} no longer exists",
                                   "clone the voice again or choose another one")
            return fresh
        return voice

    def synthesize(self, text: str, voice: Voice, speed: float = 1.0) -> Audio:
        from polydub.voice.equalize import equalize

        voice = self._loaded(voice)
        audio = self.kokoro.synthesize(text, voice, speed=speed)
        # The search's EQ curve gives the voice the speaker's long-term spectrum (length unchanged).
        return equalize(audio, (voice.extra.get("clone") or {}).get("eq_db") or [])

    def predict_duration(self, text: str, voice: Voice, speed: float = 1.0) -> float | None:
        return self.kokoro.predict_duration(text, self._loaded(voice), speed=speed)
