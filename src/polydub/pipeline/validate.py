"""Everything about a dub's options that can be known before any work starts, checked at once.

The CLI calls it before decoding, the server before it queues a job (HTTP 422 with the reason):
a job either starts with everything it needs or is refused; it never fails after minutes of
transcription for a reason known at submission (an unknown language, an uninstalled engine, a
language pair nothing translates, a voice id that does not exist, a value out of range).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from polydub import limits
from polydub.errors import EngineNotInstalledError, PolydubError, UnsupportedLanguageError
from polydub.languages import LANGUAGE_NAMES, language_name, normalize_language
from polydub.pipeline.options import DubOptions

_CODE = re.compile(r"^[a-z]{2,3}$")


@functools.cache
def whisper_languages() -> frozenset[str]:
    """Languages the speech recogniser understands (faster-whisper's list; empty when unknown)."""
    try:
        from faster_whisper.tokenizer import _LANGUAGE_CODES
    except ImportError:
        return frozenset()
    return frozenset(_LANGUAGE_CODES)


def language_code(name: str, value: str) -> str:
    """The normalized two-letter code, or UnsupportedLanguageError for something that is not one."""
    limits.check_length(name, value, limits.LANGUAGE_CHARS)
    code = normalize_language(value)
    known = whisper_languages() | set(LANGUAGE_NAMES)
    if not _CODE.match(code) or (len(known) > len(LANGUAGE_NAMES) and code not in known):
        raise UnsupportedLanguageError(f"{name} {value!r} is not a language code polydub knows",
                                       "use an ISO 639-1 code such as es, de, fr, pt-BR")
    return code


def check_options(opts: DubOptions, *, check_profiles: bool = True, check_engines: bool = True) -> DubOptions:
    """Normalize and check ``opts`` in place (returned for chaining); raises PolydubError subclasses.
    ``check_engines=False``: only what does not depend on this machine's installed engines."""
    opts.target_language = language_code("target language", opts.target_language)
    if opts.source_language:
        opts.source_language = language_code("source language", opts.source_language)
    _check_numbers(opts)
    _check_names(opts)
    if opts.lipsync_model and not Path(opts.lipsync_model).expanduser().is_file():
        raise PolydubError(f"lip-sync model not found: {opts.lipsync_model}",
                           "give the path of a Wav2Lip-compatible .onnx (or .pth) file")
    if check_engines:
        _check_source(opts)
        _check_voices(opts, check_profiles)
        _check_translation(opts)
    return opts


def _check_numbers(opts: DubOptions) -> None:
    limits.check_range("original voice level", opts.original_voice_db, limits.ORIGINAL_VOICE_DB, " dB")
    limits.check_range("min tempo", opts.min_tempo, limits.TEMPO)
    limits.check_range("max tempo", opts.max_tempo, limits.TEMPO)
    if opts.min_tempo > opts.max_tempo:
        raise PolydubError(f"min tempo {opts.min_tempo:g} is above max tempo {opts.max_tempo:g}",
                           "the slowest rate must not exceed the fastest")
    limits.check_range("number of speakers", opts.num_speakers, limits.SPEAKERS)
    if opts.clone_voices:
        limits.check_range("clone budget", opts.clone_budget_s, limits.CLONE_BUDGET_S, " s")
    limits.check_range("audio track", opts.audio_track, limits.AUDIO_TRACK)


def _check_names(opts: DubOptions) -> None:
    limits.check_length("translation engine", opts.mt_engine, limits.ENGINE_NAME_CHARS)
    limits.check_length("voice engine", opts.tts_engine, limits.ENGINE_NAME_CHARS)
    if len(opts.voices) > limits.VOICES_PER_JOB:
        raise PolydubError(f"{len(opts.voices)} speaker voices given; the limit is {limits.VOICES_PER_JOB}",
                           "name a voice only for the speakers that need one")
    for speaker, voice in opts.voices.items():
        if not str(speaker).strip():
            raise PolydubError("a speaker voice has an empty speaker id", "e.g. S1=kokoro:ef_dora")
        limits.check_length(f"speaker id {str(speaker)[:20]!r}", str(speaker), limits.NAME_CHARS)
        if not isinstance(voice, str) or not voice.strip():
            raise PolydubError(f"speaker {speaker!r} has an empty voice id", "e.g. S1=kokoro:ef_dora")
        limits.check_length(f"voice id for {speaker!r}", voice, limits.VOICE_ID_CHARS)


def _check_source(opts: DubOptions) -> None:
    src = opts.source_language
    if opts.asr_model.endswith(".en") and src not in (None, "en"):
        raise UnsupportedLanguageError(f"Whisper {opts.asr_model} understands English only",
                                       "use --asr-model base for other languages")
    from polydub.speech.models import available_models, resolve_model

    if opts.asr_model not in available_models():  # bundled: installed is enough (no weights read here)
        resolve_model(opts.asr_model)  # a folder path is checked; anything else raises with the hint
    known = whisper_languages()
    if src and known and src not in known:
        raise UnsupportedLanguageError(f"the speech recogniser does not know the source language {src!r}",
                                       "leave the source language empty to detect it")


def _check_translation(opts: DubOptions) -> None:
    from polydub.translation.registry import default_registry

    registry = default_registry()
    src, tgt = opts.source_language, opts.target_language
    if src and src == tgt:
        return
    if src:
        try:
            registry.best(src, tgt, prefer=opts.mt_engine)
        except UnsupportedLanguageError:
            if tgt == "en" and not opts.mt_engine:
                return  # Whisper translates the speech itself (a draft, flagged in the report)
            raise
        return
    if opts.mt_engine:  # the source is detected later: the named engines must at least exist
        for name in opts.mt_engine.split("+"):
            engine = registry._by_name(name.strip())
            if not registry._is_available(engine):
                raise EngineNotInstalledError(f"translation engine '{engine.name}' is not installed",
                                              engine.install_hint() or None)
    if tgt == "en":
        return
    if not any(t == tgt for engine in registry.available() for _, t in engine.pairs()):
        raise UnsupportedLanguageError(f"no installed translation engine translates into "
                                       f"{language_name(tgt)} ({tgt})", registry._hint("en", tgt))


def _check_voices(opts: DubOptions, check_profiles: bool) -> None:
    from polydub.voice.registry import get_registry

    registry = get_registry().restricted(opts.commercial_safe)
    if opts.tts_engine:
        registry.engine(opts.tts_engine)  # unknown / not installed / not allowed
    registry.default_voice(opts.target_language, opts.tts_engine)  # something speaks the target
    registry.check_requested(opts.tts_engine, opts.voices.values())
    profiles = _profiles() if check_profiles else None
    for speaker, wanted in opts.voices.items():
        try:
            registry.get_voice(wanted)
        except PolydubError as exc:
            if type(exc) is not PolydubError:  # licence, engine missing: say so
                raise
            if profiles is None or profiles.get(wanted) is None:
                raise PolydubError(f"speaker {speaker}: {exc.message}",
                                   (exc.hint or "") + " (or the name of a saved voice profile)") from None


def _profiles():
    try:
        from polydub.speakers.profiles import ProfileStore

        return ProfileStore()
    except Exception:  # noqa: BLE001 - a broken profile store: voice names are then checked as voices only
        return None
