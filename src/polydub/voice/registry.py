"""One place that knows every TTS engine: lists voices, picks defaults, routes synthesis."""

from __future__ import annotations

from polydub.audio import Audio
from polydub.errors import EngineNotInstalledError, PolydubError, UnsupportedLanguageError
from polydub.languages import language_name, normalize_language
from polydub.voice.base import TTSEngine, Voice


def default_engines() -> list[TTSEngine]:
    """Engines in order of preference (ties in voice quality go to the earlier engine)."""
    from polydub.voice.espeak import EspeakEngine
    from polydub.voice.evolved import KokoroEvolvedEngine
    from polydub.voice.festival import FestivalEngine
    from polydub.voice.kokoro import KokoroEngine
    from polydub.voice.piper import PiperEngine

    kokoro = KokoroEngine()  # evolved voices speak through the same loaded model
    return [kokoro, PiperEngine(), FestivalEngine(), EspeakEngine(), KokoroEvolvedEngine(kokoro)]


class VoiceRegistry:
    def __init__(self, engines: list[TTSEngine] | None = None) -> None:
        self._engines = {e.name: e for e in (engines if engines is not None else default_engines())}
        self._order = list(self._engines)
        self._available: dict[str, bool] = {}
        self._voices: dict[str, list[Voice]] = {}

    # ---------------------------------------------------------------- engines
    def engines(self) -> list[TTSEngine]:
        return [self._engines[n] for n in self._order]

    def _is_available(self, name: str) -> bool:
        # Cached: availability checks touch the disk (and espeak runs a process).
        if name not in self._available:
            try:
                self._available[name] = bool(self._engines[name].is_available())
            except Exception:  # a broken engine must not take the others down
                self._available[name] = False
        return self._available[name]

    def available_engines(self) -> list[TTSEngine]:
        return [e for e in self.engines() if self._is_available(e.name)]

    def engine(self, name: str) -> TTSEngine:
        """The engine called `name`, installed; EngineNotInstalledError otherwise."""
        key = name.strip().lower()
        if key not in self._engines:
            raise EngineNotInstalledError(
                f"unknown TTS engine {name!r}", f"choose one of: {', '.join(self._order)}")
        if not self._is_available(key):
            engine = self._engines[key]
            raise EngineNotInstalledError(f"TTS engine {key!r} is not installed", engine.install_hint()
                                          or "see `polydub models`")
        return self._engines[key]

    def _engine_voices(self, name: str) -> list[Voice]:
        if getattr(self._engines[name], "live_voices", False):  # e.g. evolved voices, made at any time
            return list(self._engines[name].voices()) if self._is_available(name) else []
        if name not in self._voices:
            self._voices[name] = list(self._engines[name].voices()) if self._is_available(name) else []
        return self._voices[name]

    # ---------------------------------------------------------------- voices
    def voices(self, language: str | None = None, engine: str | None = None) -> list[Voice]:
        names = [self.engine(engine).name] if engine else [e.name for e in self.available_engines()]
        lang = normalize_language(language) if language else None
        return [v for n in names for v in self._engine_voices(n) if lang is None or v.language == lang]

    def languages(self) -> list[str]:
        return sorted({v.language for v in self.voices()})

    def default_voice(self, language: str, engine: str | None = None) -> Voice:
        """Best-sounding installed voice for `language` (optionally within one engine)."""
        lang = normalize_language(language)
        candidates = self.voices(lang, engine)
        if not candidates:
            where = f" with engine {engine!r}" if engine else ""
            others = ", ".join(self.languages()[:40])
            hint = f"languages with voices: {others}" if others else "install a TTS engine (`polydub models`)"
            raise UnsupportedLanguageError(
                f"no installed voice speaks {language_name(lang)} ({lang}){where}", hint)
        rank = {n: i for i, n in enumerate(self._order)}
        return min(candidates, key=lambda v: (-v.quality, rank.get(v.engine, 99), v.id))

    def get_voice(self, voice_id: str) -> Voice:
        """Accepts "engine:name" or a bare name (searched across installed engines)."""
        key = voice_id.strip()
        exact = next((v for v in self.voices() if v.id == key), None) if ":" in key else None
        if exact is not None:  # ids may contain '@' themselves ("kokoro-evolved:Ana@es")
            return exact
        if "~" in key:  # an adapted voice, e.g. "kokoro:am_adam@es~f0.95p180r1"
            from polydub.voice.adapt import adapted_voice, parse_tag

            base_id, _, tag = key.partition("~")
            try:
                return adapted_voice(self.get_voice(base_id), parse_tag(tag))
            except ValueError as exc:
                raise PolydubError(str(exc), "drop the part after '~' from the voice id") from None
        if "@" in key:  # a voice speaking another language, e.g. "kokoro:am_adam@es"
            base_id, _, language = key.rpartition("@")
            base = self.get_voice(base_id)
            engine = self.engine(base.engine)
            variant = engine.cross_lingual(base, language) if hasattr(engine, "cross_lingual") else None
            if variant is None:
                raise PolydubError(f"voice {base.id!r} cannot speak {language!r}",
                                   "choose a voice of the target language (`polydub voices`)")
            return variant
        if ":" in key:
            engine, name = key.split(":", 1)
            pool = self.voices(engine=engine)
        else:
            engine, name, pool = None, key, self.voices()
        for voice in pool:
            if voice.name == name or voice.id == key:
                return voice
        for voice in pool:  # forgiving second pass: case-insensitive
            if voice.name.lower() == name.lower():
                return voice
        sample = ", ".join(v.id for v in sorted(pool, key=lambda v: -v.quality)[:8])
        scope = f"engine {engine!r}" if engine else "any installed engine"
        raise PolydubError(f"voice {voice_id!r} not found in {scope}",
                           f"try one of: {sample}; list all with `polydub voices`")

    def engine_for(self, voice: Voice | str) -> TTSEngine:
        voice = self.get_voice(voice) if isinstance(voice, str) else voice
        return self.engine(voice.engine)

    def synthesize(self, text: str, voice: Voice | str, speed: float = 1.0) -> Audio:
        voice = self.get_voice(voice) if isinstance(voice, str) else voice
        audio = self.engine_for(voice).synthesize(text, voice, speed=speed)
        if voice.extra.get("adaptation"):
            from polydub.voice.adapt import Adaptation, adapt

            audio = adapt(audio, Adaptation.from_dict(voice.extra["adaptation"]))
        return audio

    def predict_duration(self, text: str, voice: Voice | str, speed: float = 1.0) -> float | None:
        # Adaptation (Praat PSOLA) keeps the duration, so the base engine's answer holds.
        voice = self.get_voice(voice) if isinstance(voice, str) else voice
        return self.engine_for(voice).predict_duration(text, voice, speed=speed)

    # ---------------------------------------------------------------- reporting
    def describe(self) -> list[dict]:
        """One row per engine for `polydub models`."""
        rows = []
        for engine in self.engines():
            available = self._is_available(engine.name)
            voices = self._engine_voices(engine.name) if available else []
            rows.append({
                "name": engine.name,
                "kind": "tts",
                "available": available,
                "languages": sorted({v.language for v in voices}),
                "voices": len(voices),
                "native_rate": engine.capabilities.native_rate,
                "cloning": engine.capabilities.cloning,
                "licence": engine.licence,
                "description": engine.description,
                "hint": "" if available else engine.install_hint(),
                "install_hint": engine.install_hint(),  # same key as TranslationRegistry.describe()
            })
        return rows


_DEFAULT: VoiceRegistry | None = None


def get_registry() -> VoiceRegistry:
    """Process-wide registry, so models load once per process."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = VoiceRegistry()
    return _DEFAULT
