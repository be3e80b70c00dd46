"""Whisper on one short utterance at a time, fast enough for live dubbing.

faster-whisper's `transcribe` always pads the audio to a 30 s window, and the encoder's cost grows
faster than linearly with the window: on 2 cores a 30 s window costs ~1.1 s of CPU, a 10 s window
~0.15 s, for the same text on utterances of 1-8 s (measured on the shared clips, en/de/fr/ru).
So an utterance is encoded in the shortest window of `WINDOW_STEP_S` steps that holds it (at least
`min_window_s`), and decoded greedily from CTranslate2 directly. A shortened window now and then
makes Whisper loop ("What your country can do for you? What your country…"): such output (too
compressible, or more tokens than anyone can say) is decoded again with the full 30 s window.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from polydub.errors import UnsupportedLanguageError
from polydub.media.decode import ASR_RATE
from polydub.speech.asr import load_whisper

WINDOW_STEP_S = 5.0
FULL_WINDOW_S = 30.0
MAX_COMPRESSION = 2.4  # faster-whisper's own threshold for "this is a loop"
MAX_TOKENS_PER_SECOND = 12.0  # fast speech is ~4 tokens/s; more means repetition
# Whisper's no-speech probability was 0.002-0.11 on the shared speech and 0.64-0.74 on noise and
# silence, where it still "heard" words ("dais, dais, dais"): such text is dropped.
NO_SPEECH = 0.5


@dataclass
class UtteranceText:
    text: str
    language: str
    language_probability: float
    no_speech_probability: float
    avg_logprob: float
    window_seconds: float
    translation: str | None = None  # Whisper's own speech translation to English, when asked for


def _compression_ratio(text: str) -> float:
    data = text.encode("utf-8")
    return len(data) / max(1, len(zlib.compress(data))) if data else 0.0


class UtteranceRecognizer:
    """Transcribe (and optionally translate to English) one utterance of 16 kHz mono speech."""

    def __init__(self, model: str = "base", min_window_s: float = 10.0) -> None:
        self.model_name = model
        self.min_window_s = max(WINDOW_STEP_S, min(FULL_WINDOW_S, float(min_window_s)))
        self.name = f"faster-whisper:{model}"
        self._tokenizers: dict[tuple[str, str], object] = {}
        self._lock = threading.Lock()

    @property
    def english_only(self) -> bool:
        return self.model_name.endswith(".en")

    def load(self):
        return load_whisper(self.model_name)

    def _tokenizer(self, language: str, task: str):
        from faster_whisper.tokenizer import Tokenizer

        key = (language, task)
        with self._lock:
            if key not in self._tokenizers:
                model = self.load()
                self._tokenizers[key] = Tokenizer(model.hf_tokenizer, model.model.is_multilingual,
                                                  task=task, language=language)
            return self._tokenizers[key]

    def _encode(self, samples: np.ndarray, window_s: float):
        import ctranslate2

        model = self.load()
        features = model.feature_extractor(samples)
        frames = int(window_s * 100)
        features = features[:, :frames] if features.shape[1] > frames else \
            np.pad(features, ((0, 0), (0, frames - features.shape[1])))
        view = ctranslate2.StorageView.from_array(np.ascontiguousarray(features[None], dtype=np.float32))
        return model.model.encode(view, to_cpu=False)

    def _window_for(self, seconds: float) -> float:
        steps = np.ceil((seconds + 0.5) / WINDOW_STEP_S)
        return float(min(FULL_WINDOW_S, max(self.min_window_s, steps * WINDOW_STEP_S)))

    def detect(self, encoded) -> tuple[str, float]:
        model = self.load()
        if not model.model.is_multilingual:
            return "en", 1.0
        token, prob = model.model.detect_language(encoded)[0][0]
        return token[2:-2], float(prob)

    def _decode(self, encoded, language: str, task: str, seconds: float) -> tuple[str, float, float]:
        model = self.load()
        tokenizer = self._tokenizer(language, task)
        prompt = [*tokenizer.sot_sequence, tokenizer.no_timestamps]
        result = model.model.generate(
            encoded, [prompt], beam_size=1, max_length=int(20 + MAX_TOKENS_PER_SECOND * seconds),
            return_scores=True, return_no_speech_prob=True, suppress_blank=True, suppress_tokens=[-1])[0]
        ids = [t for t in result.sequences_ids[0] if t < tokenizer.eot]
        text = tokenizer.decode(ids).strip()
        logprob = float(result.scores[0]) / max(1, len(ids) + 1) if result.scores else 0.0
        return text, float(result.no_speech_prob), logprob

    def transcribe(self, samples: np.ndarray, language: str | None = None,
                   translate_to_english: bool | Callable[[str], bool] = False) -> UtteranceText:
        """`samples`: 16 kHz mono float32. `language` None detects it from this utterance.
        `translate_to_english` (or a test of the language found) also decodes Whisper's English
        translation from the same encoding, which costs one more greedy decode, not a second encode."""
        if self.english_only and language not in (None, "en"):
            raise UnsupportedLanguageError(f"Whisper {self.model_name} understands English only",
                                           "use the base model for other languages")
        samples = np.ascontiguousarray(samples, dtype=np.float32)
        seconds = len(samples) / ASR_RATE
        window = self._window_for(seconds)
        encoded = self._encode(samples, window)
        probability = 1.0
        if language is None:
            language, probability = self.detect(encoded)
        text, no_speech, logprob = self._decode(encoded, language, "transcribe", seconds)
        if window < FULL_WINDOW_S and (_compression_ratio(text) > MAX_COMPRESSION
                                       or len(text.split()) > 6 * seconds + 4):
            window = FULL_WINDOW_S
            encoded = self._encode(samples, window)
            text, no_speech, logprob = self._decode(encoded, language, "transcribe", seconds)
        if no_speech > NO_SPEECH:
            text = ""
        translation = None
        if callable(translate_to_english):
            translate_to_english = translate_to_english(language)
        if translate_to_english and text:
            translation = text if language == "en" else self._decode(encoded, language, "translate", seconds)[0]
        return UtteranceText(text=text, language=language, language_probability=probability,
                             no_speech_probability=no_speech, avg_logprob=logprob, window_seconds=window,
                             translation=translation)
