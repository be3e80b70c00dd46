"""Per-line measurements: timing, intelligibility (Whisper CER), voice similarity, back-translation.

Every model here is optional: when one is missing the measurement is None and the line is not
flagged for it (a missing tool must not make every line "fail"), and a warning says why.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from polydub import resident
from polydub.audio import Audio
from polydub.quality.metrics import cer, text_similarity
from polydub.translation.base import TIER_DRAFT, TIER_NAMES

log = logging.getLogger(__name__)

FLAG_OVERFLOW = "overflow"
FLAG_TEMPO = "tempo"
FLAG_INTELLIGIBILITY = "unintelligible"
FLAG_VOICE = "voice"
FLAG_TRANSLATION = "translation"
ALL_FLAGS = (FLAG_OVERFLOW, FLAG_TEMPO, FLAG_INTELLIGIBILITY, FLAG_VOICE, FLAG_TRANSLATION)


@dataclass
class Thresholds:
    """When a line fails a check. Defaults come from measurements in shared/MODELS.md."""

    max_overflow_s: float = 0.02  # render_line rounds to ms; anything audible counts
    tempo_tolerance: float = 0.01  # rounding slack around the options' min/max tempo
    max_cer: float = 0.25  # Kokoro round-trips at CER ~0; 0.25 means words are really lost
    # Stock voices score 0.12-0.47 against a real speaker (MODELS.md), so this only catches a
    # clearly wrong voice (e.g. wrong gender), not "not a clone".
    min_similarity: float = 0.15
    # difflib similarity of back-translation vs source; literal engines score ~0.4-0.8 on good
    # lines, invented content falls well under 0.3.
    min_backtranslation: float = 0.3
    asr_model: str = "base"
    whisper: bool = True
    similarity: bool = True
    backtranslation: bool = True
    repair: bool = True
    max_repair_tries: int = 4  # syntheses per check and line: bounds the cost of a bad line
    # Seconds of LLM shortening per job: at least llm_min_s, else this share of the input's length.
    # Qwen costs 2-10 s a line on 2 cores; without a bound a long input with many tight lines spends
    # most of its dub there (a 5 s clip once spent 365 of 374 s on one line, on a loaded machine).
    llm_share: float = 0.2
    llm_min_s: float = 60.0
    # Inputs longer than this hold the LLM and Whisper one after the other, never together (peak
    # memory of a 30-minute dub); shorter ones keep both loaded (reloading costs seconds a job).
    lean_above_s: float = resident.LEAN_ABOVE_S


def timing_flags(seg: Any, min_tempo: float, max_tempo: float, th: Thresholds) -> list[str]:
    flags = []
    if (seg.overflow or 0.0) > th.max_overflow_s:
        flags.append(FLAG_OVERFLOW)
    tempo = seg.tempo or 1.0
    if tempo > max_tempo + th.tempo_tolerance or tempo < min_tempo - th.tempo_tolerance:
        flags.append(FLAG_TEMPO)
    return flags


def _check_recognizer(model: str):
    from polydub.speech.asr import WhisperRecognizer

    # No VAD: a dubbed line is all speech and VAD would clip its first/last syllable. Greedy, one
    # temperature: twice as fast (and a retry costs a full decode, 2.7 s a line seen on en->fr),
    # and no worse at telling whether the words are audible.
    return WhisperRecognizer(model, vad=False, beam_size=1, temperature_fallback=False)


@dataclass
class Tools:
    """Models shared by all lines of one quality pass, each loaded at most once (lazily)."""

    th: Thresholds
    warnings: list[str] = field(default_factory=list)
    _recognizer: Any = None
    _embedder: Any = None
    _embedder_failed: bool = False
    _speaker_refs: dict[str, np.ndarray] | None = None
    _heard: dict[str, str] = field(default_factory=dict)  # audio key -> transcript, from prefetch()
    _adequacy: Any = None
    _shortener: Any = None
    llm_budget_s: float = float("inf")
    llm_spent_s: float = 0.0
    # False once a long input's LLM work is done and the model let go: repairs then do without it
    # rather than load it again beside the voices.
    llm_open: bool = True

    # -- translation adequacy and "say it shorter" (the LLM, when installed) ----
    def adequacy(self) -> Any:
        if self._adequacy is None:
            from polydub.quality.adequacy import AdequacyScorer

            self._adequacy = AdequacyScorer()
        return self._adequacy

    def shortener(self) -> Any:
        """The LLM that rewrites a line shorter, or None (not installed, or POLYDUB_NO_LLM=1)."""
        if self._shortener is None:
            from polydub.translation.qwen import QwenTranslator

            engine = QwenTranslator()
            self._shortener = engine if engine.is_available() else False
            if not self._shortener:
                self.warn("LLM shortening unavailable (" + engine.install_hint() + "): overflowing lines "
                          "are shortened by text edits and other engines only")
        return self._shortener or None

    def llm_time_left(self) -> bool:
        """False once the LLM has used its time for this job (the line then gets the other repairs)."""
        if not self.llm_open:
            return False
        if self.llm_spent_s < self.llm_budget_s:
            return True
        self.warn(f"LLM shortening stopped after {self.llm_spent_s:.0f} s, its time for this input "
                  f"({self.llm_budget_s:.0f} s): later overflowing lines got the other repairs only")
        return False

    @contextlib.contextmanager
    def llm_time(self) -> Iterator[None]:
        """Count the time of one LLM call against the job's budget."""
        started = time.monotonic()
        try:
            yield
        finally:
            self.llm_spent_s += time.monotonic() - started

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)
            log.warning(message)

    # -- intelligibility ---------------------------------------------------
    def transcribe(self, audio: Audio, language: str) -> str | None:
        if not self.th.whisper:
            return None
        # Whisper hallucinates on clips that start/end abruptly; a little silence steadies it.
        pad = Audio.silence(0.3, audio.rate)
        words = self._words(Audio(np.concatenate([pad.samples, audio.mono().samples, pad.samples]),
                                  audio.rate), language)
        return "".join(w.text for w in words).strip() if self.th.whisper else None

    def prefetch(self, clips: list[tuple[str, Path]], language: str, batch_seconds: float = 26.0,
                 progress=None) -> None:
        """Transcribe many short lines in few Whisper calls: the encoder always costs a 30 s window,
        so one call per line would pay for ~25 s of silence each time. Lines are laid end to end
        with a second of silence between them, and words are handed back by their time."""
        if not self.th.whisper or not clips:
            return
        gap = np.zeros(16000, dtype=np.float32)
        batch: list[tuple[str, float, float]] = []
        parts: list[np.ndarray] = [gap[:4800]]
        cursor = 0.3

        def flush() -> None:
            nonlocal parts, batch, cursor
            if batch:
                text_words = self._words(Audio(np.concatenate(parts), 16000), language)
                for key, start, end in batch:
                    inside = [w for w in text_words if start - 0.25 <= (w.start + w.end) / 2 <= end + 0.25]
                    # Nothing heard in a batch is not proof of silence: Whisper sometimes stops
                    # decoding a window early (seen on the last lines of an en->fr dub, which then
                    # scored CER 1.0 and were "repaired"). Such a line is transcribed on its own.
                    if inside:
                        self._heard[key] = "".join(w.text for w in inside).strip()
            parts, batch, cursor = [gap[:4800]], [], 0.3

        for n, (key, path) in enumerate(clips):
            samples = Audio.read(path).mono().resample(16000).samples
            seconds = len(samples) / 16000
            if batch and cursor + seconds > batch_seconds:
                flush()
                if progress is not None:  # a long input has hundreds of lines: minutes of listening
                    progress(n / len(clips))
            batch.append((key, cursor, cursor + seconds))
            parts += [samples, gap]
            cursor += seconds + 1.0
        flush()

    def _words(self, audio: Audio, language: str) -> list:
        try:
            if self._recognizer is None:
                self._recognizer = _check_recognizer(self.th.asr_model)
            return self._recognizer.transcribe(audio, language).words
        except Exception as exc:  # no Whisper model installed, unsupported language…
            self.warn(f"intelligibility check skipped: {exc}")
            self.th.whisper = False
            return []

    def cer(self, audio_path: Path, expected: str, language: str,
            key: str | None = None) -> tuple[float | None, str | None]:
        if not expected.strip():
            return None, None
        heard = self._heard[key] if key in self._heard else self.transcribe(Audio.read(audio_path), language)
        if heard is None:
            return None, None
        return round(cer(expected, heard), 4), heard

    # -- voice similarity --------------------------------------------------
    def embedder(self):
        if self._embedder is None and not self._embedder_failed and self.th.similarity:
            try:
                from polydub.speakers.embedding import default_embedder

                self._embedder = default_embedder()
            except Exception as exc:  # module not there yet, or no encoder installed
                self._embedder_failed = True
                self.warn(f"voice similarity skipped: no speaker embedder ({exc})")
        return self._embedder

    def speaker_reference(self, speaker: str, dubber: Any, project: Any) -> np.ndarray | None:
        """Embedding of the speaker's original speech: the one voice matching computed and cached
        in the work folder (<= 30 s per speaker), so both judge a voice against the same vector."""
        if self._speaker_refs is None:
            self._speaker_refs = {}
            emb = self.embedder()
            if emb is not None:
                from polydub.speakers.traits import speaker_embeddings

                try:
                    self._speaker_refs = speaker_embeddings(dubber.work, dubber.audio16k, project, emb)
                except Exception as exc:
                    self.warn(f"voice references failed: {exc}")
        return self._speaker_refs.get(speaker)

    def similarity(self, audio_path: Path, reference: np.ndarray | None) -> float | None:
        emb = self.embedder()
        if emb is None or reference is None:
            return None
        audio = Audio.read(audio_path)
        if audio.duration < 0.5:  # too little speech for a d-vector to mean anything
            return None
        try:
            from polydub.speakers.embedding import cosine

            return round(cosine(emb.embed(audio), reference), 4)
        except Exception as exc:
            self.warn(f"voice similarity failed: {exc}")
            return None


def engine_tier(registry: Any, name: str | None, src: str, tgt: str) -> str | None:
    """Tier name ("draft", "basic", …) of the engine (or chain) called `name` for src->tgt."""
    if not name:
        return None
    for cand in registry.candidates(src, tgt):
        if cand.name == name:
            return TIER_NAMES.get(cand.tier(src, tgt))
    return None


def is_draft(registry: Any, name: str | None, src: str, tgt: str) -> bool:
    tier = engine_tier(registry, name, src, tgt)
    return tier == TIER_NAMES[TIER_DRAFT] or (name or "").startswith("whisper-translate")


def llm_produced(registry: Any, name: str | None) -> bool:
    """Whether a language model wrote the line (alone or as one link of a chain)."""
    llms = {e.name for e in registry.engines() if getattr(e, "uses_llm", False)}
    return bool(name) and bool(set(str(name).split("+")) & llms)


def back_translate(registry: Any, lines: list[str], src: str, tgt: str, tools: Tools,
                   exclude: str | None = None) -> tuple[list[str | None], str | None]:
    """Translate target-language lines back to the source language with the best engine for
    tgt->src that is not `exclude` (the engine that produced them: an engine agrees with itself);
    ([None…], None) when nothing else covers the reverse direction."""
    if not lines or src == tgt:
        return [None] * len(lines), None
    # A language model also agrees with itself through a chain; other engines are independent per pair.
    llms = set((exclude or "").split("+")) & {e.name for e in registry.engines() if getattr(e, "uses_llm", False)}
    try:
        engines = [e for e in registry.candidates(tgt, src)
                   if e.name != exclude and not set(e.name.split("+")) & llms]
        if not engines:
            raise RuntimeError(f"no engine other than {exclude} translates {tgt}->{src}")
        engine = engines[0]
        out = engine.translate(lines, tgt, src)
        if len(out) != len(lines):
            raise RuntimeError(f"{engine.name} returned {len(out)} lines for {len(lines)}")
        return list(out), engine.name
    except Exception as exc:
        tools.warn(f"back-translation {tgt}->{src} skipped: {exc}")
        return [None] * len(lines), None


def backtranslation_score(source: str, back: str | None) -> float | None:
    return None if back is None else text_similarity(source, back)
