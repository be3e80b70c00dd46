"""Speech recognition: Whisper (faster-whisper) with VAD, word timestamps and language ID."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

from polydub.audio import Audio
from polydub.errors import UnsupportedLanguageError
from polydub.media.decode import ASR_RATE
from polydub.project import Word
from polydub.speech.models import resolve_model


@dataclass
class Transcript:
    language: str
    language_probability: float
    words: list[Word]
    segments: list[tuple[float, float, str]] = field(default_factory=list)


class SpeechRecognizer(ABC):
    name: str = ""

    @abstractmethod
    def transcribe(self, audio: Audio, language: str | None = None,
                   progress: Callable[[float], None] | None = None) -> Transcript:
        """Transcribe 16 kHz mono audio; progress receives the fraction of audio done."""


_MODEL_CACHE: dict[str, object] = {}


def load_whisper(model: str = "base"):
    """Load (once per process) a faster-whisper model from installed packages or a local folder."""
    if model not in _MODEL_CACHE:
        from faster_whisper import WhisperModel

        source, files = resolve_model(model)
        threads = int(os.environ.get("POLYDUB_THREADS", os.cpu_count() or 2))
        _MODEL_CACHE[model] = WhisperModel(source, device="cpu", compute_type="int8",
                                           cpu_threads=threads, files=files)
    return _MODEL_CACHE[model]


class WhisperRecognizer(SpeechRecognizer):
    def __init__(self, model: str = "base", vad: bool = True, beam_size: int = 5,
                 temperature_fallback: bool = True) -> None:
        self.model_name = model
        self.beam_size = beam_size
        # Whisper re-decodes a window at rising temperatures when the text looks unreliable: right
        # for transcribing a source, wasted on checking a dub (each retry costs a full decode).
        self.temperatures = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0) if temperature_fallback else (0.0,)
        self.name = f"faster-whisper:{os.path.basename(model.rstrip('/'))}"
        self.vad = vad

    def transcribe(self, audio: Audio, language: str | None = None,
                   progress: Callable[[float], None] | None = None, task: str = "transcribe") -> Transcript:
        if self.model_name.endswith(".en") and language not in (None, "en"):
            raise UnsupportedLanguageError(f"Whisper {self.model_name} understands English only",
                                           "use --asr-model base for other languages")
        model = load_whisper(self.model_name)
        samples = audio.mono().resample(ASR_RATE).samples
        segments, info = model.transcribe(
            samples, language=language, task=task, word_timestamps=True, vad_filter=self.vad,
            vad_parameters={"min_silence_duration_ms": 500}, beam_size=self.beam_size,
            condition_on_previous_text=False, temperature=list(self.temperatures),
        )
        words: list[Word] = []
        spans: list[tuple[float, float, str]] = []
        total = max(audio.duration, 1e-6)
        for seg in segments:
            spans.append((seg.start, seg.end, seg.text.strip()))
            for w in seg.words or []:
                words.append(Word(start=float(w.start), end=float(w.end), text=w.word,
                                  probability=float(w.probability)))
            if progress:
                progress(min(1.0, seg.end / total))
        lang = language or info.language
        return Transcript(language=lang, language_probability=float(info.language_probability),
                          words=words, segments=spans)
