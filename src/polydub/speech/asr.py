"""Speech recognition: Whisper (faster-whisper) with VAD, word timestamps and language ID."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

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
LONG_CHUNK_S = 600.0  # inputs longer than ~1.25x this are transcribed in pieces of about this length


def quiet_cuts(samples: np.ndarray, rate: int, chunk_s: float, search_s: float = 20.0) -> list[int]:
    """Sample indices [0, ..., len] that split audio into pieces of about ``chunk_s``, each cut at
    the quietest 100 ms within ``search_s`` of the nominal point (between words, not inside one)."""
    n, step, frame = len(samples), int(chunk_s * rate), max(1, int(0.1 * rate))
    reach = int(min(search_s, chunk_s / 2) * rate)  # pieces stay at least half a chunk long
    cuts = [0]
    while n - cuts[-1] > 1.25 * step:
        center = cuts[-1] + step
        lo, hi = max(cuts[-1] + frame, center - reach), min(n - frame, center + reach)
        count = max(1, (hi - lo) // frame)
        window = np.asarray(samples[lo:lo + count * frame], dtype=np.float32)
        energy = np.square(window[: count * frame]).reshape(count, -1).mean(axis=1)
        cuts.append(lo + int(np.argmin(energy)) * frame + frame // 2)
    return cuts + [n]


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
        words: list[Word] = []
        spans: list[tuple[float, float, str]] = []
        total = max(len(samples) / ASR_RATE, 1e-6)
        info = None
        # A long input is transcribed in pieces cut at quiet moments: Whisper's features for the
        # whole file would take ~1 GB for 30 minutes (and one call reports no progress in between).
        cuts = quiet_cuts(samples, ASR_RATE, LONG_CHUNK_S)
        for a, b in zip(cuts, cuts[1:], strict=False):
            offset = a / ASR_RATE
            segments, chunk_info = model.transcribe(
                samples[a:b], language=language or (info.language if info else None), task=task,
                word_timestamps=True, vad_filter=self.vad, vad_parameters={"min_silence_duration_ms": 500},
                beam_size=self.beam_size, condition_on_previous_text=False, temperature=list(self.temperatures),
            )
            info = info or chunk_info
            for seg in segments:
                spans.append((offset + seg.start, offset + seg.end, seg.text.strip()))
                for w in seg.words or []:
                    words.append(Word(start=offset + float(w.start), end=offset + float(w.end), text=w.word,
                                      probability=float(w.probability)))
                if progress:
                    progress(min(1.0, (offset + seg.end) / total))
        lang = language or info.language
        return Transcript(language=lang, language_probability=float(info.language_probability),
                          words=words, segments=spans)
