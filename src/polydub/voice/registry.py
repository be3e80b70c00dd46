"""One place that knows every TTS engine: lists voices, picks defaults, routes synthesis."""

from __future__ import annotations

import contextlib
import copy

from polydub.audio import Audio
from polydub.errors import EngineNotInstalledError, LicenceError, PolydubError, UnsupportedLanguageError
from polydub.languages import language_name, normalize_language
from polydub.voice.base import TTSEngine, Voice
from polydub.voice.licences import base_voice_id, is_explicit_only, is_non_commercial, voice_licence


def default_engines() -> list[TTSEngine]:
    """Engines in order of preference (ties in voice quality go to the earlier engine)."""
    from polydub.voice.espeak import EspeakEngine
    from polydub.voice.evolved import KokoroEvolvedEngine
    from polydub.voice.festival import FestivalEngine
    from polydub.voice.kokoro import KokoroEngine
    from polydub.voice.mbrola import MbrolaEngine
    from polydub.voice.piper import PiperEngine
    from polydub.voice.rhvoice import RHVoiceEngine

    kokoro = KokoroEngine()  # evolved voices speak through the same loaded model
    return [kokoro, PiperEngine(), RHVoiceEngine(), MbrolaEngine(), FestivalEngine(), EspeakEngine(),
            KokoroEvolvedEngine(kokoro)]


class VoiceRegistry:
    def __init__(self, engines: list[TTSEngine] | None = None, commercial_safe: bool = False) -> None:
        self._engines = {e.name: e for e in (engines if engines is not None else default_engines())}
        self._order = list(self._engines)
        self._available: dict[str, bool] = {}
        self._voices: dict[str, list[Voice]] = {}
        # With commercial_safe, non-commercial voices and engines are invisible to defaults, matching
        # and repairs, and asking for one by name is a LicenceError.
        self.commercial_safe = commercial_safe

    def restricted(self, commercial_safe: bool) -> VoiceRegistry:
        """This registry, or a view of it without non-commercial voices (same engines and caches)."""
        if commercial_safe == self.commercial_safe:
            return self
        view = copy.copy(self)  # shallow: the engine, availability and voice caches stay shared
        view.commercial_safe = commercial_safe
        return view

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

    def installed_engine(self, name: str) -> TTSEngine:
        """The engine called `name`, installed; EngineNotInstalledError otherwise (no licence check)."""
        key = name.strip().lower()
        if key not in self._engines:
            raise EngineNotInstalledError(
                f"unknown TTS engine {name!r}", f"choose one of: {', '.join(self._order)}")
        if not self._is_available(key):
            engine = self._engines[key]
            raise EngineNotInstalledError(f"TTS engine {key!r} is not installed", engine.install_hint()
                                          or "see `polydub models`")
        return self._engines[key]

    def engine(self, name: str) -> TTSEngine:
        """The engine called `name`, installed and allowed (LicenceError for a non-commercial engine
        in commercial-safe mode)."""
        engine = self.installed_engine(name)
        if self.commercial_safe and engine.non_commercial:
            raise LicenceError(f"TTS engine {engine.name!r} is licensed for non-commercial use only "
                               f"({engine.licence})",
                               "choose another engine (`polydub models`) or drop --commercial-safe")
        return engine

    def _engine_voices(self, name: str) -> list[Voice]:
        if getattr(self._engines[name], "live_voices", False):  # e.g. evolved voices, made at any time
            return list(self._engines[name].voices()) if self._is_available(name) else []
        if name not in self._voices:
            self._voices[name] = list(self._engines[name].voices()) if self._is_available(name) else []
        return self._voices[name]

    # ---------------------------------------------------------------- voices
    def voices(self, language: str | None = None, engine: str | None = None,
               include_explicit: bool = False) -> list[Voice]:
        """Installed voices that defaults, matching and repairs may pick: voices offered only by id
        are left out unless `include_explicit`, and non-commercial ones in commercial-safe mode."""
        names = [self.engine(engine).name] if engine else [e.name for e in self.available_engines()]
        lang = normalize_language(language) if language else None
        return [v for n in names for v in self._engine_voices(n)
                if (lang is None or v.language == lang) and (include_explicit or not is_explicit_only(v))
                and not (self.commercial_safe and is_non_commercial(v))]

    def _check_licence(self, voice: Voice) -> Voice:
        if self.commercial_safe and is_non_commercial(voice):
            engine = self._engines.get(voice.engine)
            raise LicenceError(
                f"voice {base_voice_id(voice.id)!r} is licensed for non-commercial use only "
                f"({voice_licence(voice, engine)})",
                "--commercial-safe excludes it: choose another voice (`polydub voices installed`)")
        return voice

    def languages(self) -> list[str]:
        return sorted({v.language for v in self.voices()})

    def default_voice(self, language: str, engine: str | None = None) -> Voice:
        """Best-sounding installed voice for `language` (optionally within one engine)."""
        lang = normalize_language(language)
        candidates = self.voices(lang, engine)
        if not candidates:
            where = f" with engine {engine!r}" if engine else ""
            where += " that is cleared for commercial use" if self.commercial_safe else ""
            others = ", ".join(self.languages()[:40])
            hint = f"languages with voices: {others}" if others else "install a TTS engine (`polydub models`)"
            raise UnsupportedLanguageError(
                f"no installed voice speaks {language_name(lang)} ({lang}){where}", hint)
        rank = {n: i for i, n in enumerate(self._order)}
        return min(candidates, key=lambda v: (-v.quality, rank.get(v.engine, 99), v.id))

    def get_voice(self, voice_id: str, allow_non_commercial: bool = False) -> Voice:
        """Accepts "engine:name" or a bare name (searched across installed engines), including voices
        offered only by id. In commercial-safe mode a non-commercial voice is a LicenceError, unless
        `allow_non_commercial` (reporting on a finished dub)."""
        voice = self._lookup(voice_id.strip(), allow_non_commercial)
        return voice if allow_non_commercial else self._check_licence(voice)

    def _lookup(self, key: str, allow_non_commercial: bool) -> Voice:
        exact = next((v for v in self.voices() if v.id == key), None) if ":" in key else None
        if exact is not None:  # ids may contain '@' themselves ("kokoro-evolved:Ana@es")
            return exact
        if "~" in key:  # an adapted voice, e.g. "kokoro:am_adam@es~f0.95p180r1"
            from polydub.voice.adapt import adapted_voice, parse_tag

            base_id, _, tag = key.partition("~")
            try:
                return adapted_voice(self._lookup(base_id, allow_non_commercial), parse_tag(tag))
            except ValueError as exc:
                raise PolydubError(str(exc), "drop the part after '~' from the voice id") from None
        if "@" in key:  # a voice speaking another language, e.g. "kokoro:am_adam@es"
            base_id, _, language = key.rpartition("@")
            base = self._lookup(base_id, allow_non_commercial)
            engine = self._engines[base.engine]
            variant = engine.cross_lingual(base, language) if hasattr(engine, "cross_lingual") else None
            if variant is None:
                raise PolydubError(f"voice {base.id!r} cannot speak {language!r}",
                                   "choose a voice of the target language (`polydub voices`)")
            return variant
        if ":" in key:
            engine, name = key.split(":", 1)
            # Unknown, missing (and, when it matters, excluded) engines say so first.
            found = self.installed_engine(engine) if allow_non_commercial else self.engine(engine)
            pool = self._engine_voices(found.name)
        else:
            engine, name = None, key
            pool = [v for e in self.available_engines() for v in self._engine_voices(e.name)]
        for voice in pool:
            if voice.name == name or voice.id == key:
                return voice
        for voice in pool:  # forgiving second pass: case-insensitive
            if voice.name.lower() == name.lower():
                return voice
        sample = ", ".join(v.id for v in sorted(pool, key=lambda v: -v.quality)[:8])
        scope = f"engine {engine!r}" if engine else "any installed engine"
        raise PolydubError(f"voice {key!r} not found in {scope}",
                           f"try one of: {sample}; list all with `polydub voices`")

    def engine_for(self, voice: Voice | str) -> TTSEngine:
        voice = self.get_voice(voice) if isinstance(voice, str) else self._check_licence(voice)
        return self.installed_engine(voice.engine)

    def synthesize(self, text: str, voice: Voice | str, speed: float = 1.0) -> Audio:
        voice = self.get_voice(voice) if isinstance(voice, str) else voice
        audio = self.engine_for(voice).synthesize(text, voice, speed=speed)
        if voice.extra.get("adaptation"):
            from polydub.voice.adapt import Adaptation, adapt

            audio = adapt(audio, Adaptation.from_dict(voice.extra["adaptation"]))
        return audio

    def unload(self) -> list[str]:
        """Let every engine go of its loaded models (they load again on next use); the names of
        those that held some. Voices, availability and caches of this registry stay."""
        return [name for name, engine in self._engines.items() if engine.unload()]

    def predict_duration(self, text: str, voice: Voice | str, speed: float = 1.0) -> float | None:
        # Adaptation (Praat PSOLA) keeps the duration, so the base engine's answer holds.
        voice = self.get_voice(voice) if isinstance(voice, str) else voice
        return self.engine_for(voice).predict_duration(text, voice, speed=speed)

    def check_requested(self, engine: str | None, voice_ids) -> None:
        """LicenceError when an engine or voice asked for by name is not allowed (commercial-safe
        mode). Names that are not voices (profiles) or not installed are left to the dub to report."""
        if engine:
            with contextlib.suppress(EngineNotInstalledError):
                self.engine(engine)
        for wanted in voice_ids:
            try:
                self.get_voice(wanted)
            except LicenceError:
                raise
            except PolydubError:
                pass

    def fallback_notes(self, language: str) -> list[str]:
        """Why `language` is not spoken by the engine meant for it (missing, or excluded by
        commercial-safe mode), naming the voice that speaks instead; [] when it is."""
        lang = normalize_language(language)
        notes = []
        for engine in self.engines():
            if lang not in engine.preferred_for:
                continue
            try:
                instead = self.default_voice(lang).id
            except UnsupportedLanguageError:
                instead = "nothing"
            if not self._is_available(engine.name):
                notes.append(f"TTS engine {engine.name} is not installed, so {language_name(lang)} is spoken "
                             f"by {instead} (install: {engine.install_hint()})")
            elif self.commercial_safe and engine.non_commercial:
                notes.append(f"--commercial-safe: {engine.name} voices are non-commercial, so "
                             f"{language_name(lang)} is spoken by {instead}")
        return notes

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
                "non_commercial": engine.non_commercial,
                "non_commercial_voices": [v.id for v in voices if is_non_commercial(v)],
                "explicit_only_voices": [v.id for v in voices if is_explicit_only(v)],
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
