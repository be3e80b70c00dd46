"""One photo + one text -> one talking-head MP4 (and a JSON summary beside it)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from polydub.avatar.speech import VoiceChoice, choose_voice, guess_language, read_text, synthesize
from polydub.errors import InputMediaError
from polydub.face.portrait import AnimationOptions, Portrait, PortraitAnimator

Progress = Callable[[str, float, str], None]  # (stage, fraction 0..1, message)


@dataclass
class AvatarRequest:
    language: str | None = None
    voice: str | None = None  # voice id or voice profile name
    voice_sample: str | Path | None = None
    profile: str | None = None  # enrol the voice sample into this profile
    framing: str = "crop"  # "crop" (512x512 around the face) | "full"
    size: int = 512
    face: int | None = None  # which face speaks when the photo has several (1 = largest)
    blinks: bool = True
    head_motion: bool = True
    idle: bool = True
    seed: int = 0
    commercial_safe: bool = False

    def animation(self) -> AnimationOptions:
        return AnimationOptions(blinks=self.blinks, head_motion=self.head_motion, idle=self.idle, seed=self.seed)


def resolve_language(text: str, request: AvatarRequest) -> str:
    """The request's language, else Cyrillic = Russian, else the named voice's language."""
    from polydub.errors import PolydubError
    from polydub.languages import normalize_language

    language = request.language or guess_language(text)
    if not language and request.voice:
        try:
            language = registry_for(request).get_voice(request.voice).language
        except PolydubError:
            language = None
    if not language:
        raise InputMediaError("the text's language is not given", "add --lang (e.g. --lang en, --lang ru)")
    return normalize_language(language)


def registry_for(request: AvatarRequest):
    from polydub.voice.registry import get_registry

    return get_registry().restricted(request.commercial_safe)


def make_avatar(photo: str | Path, text: str, out_path: str | Path, request: AvatarRequest | None = None,
                progress: Progress | None = None, cancel: threading.Event | None = None,
                portrait: Portrait | None = None, voice: VoiceChoice | None = None) -> dict:
    """Write `out_path` (MP4) and `out_path.json`; returns that summary."""
    request = request or AvatarRequest()
    out_path = Path(out_path)
    started = time.perf_counter()
    report = progress or (lambda *_: None)
    text = read_text(text)
    language = resolve_language(text, request)
    report("face", 0.0, "finding the face")
    portrait = portrait or Portrait.load(photo, request.framing, request.size, request.face)
    registry = registry_for(request)
    report("voice", 0.0, "choosing the voice")
    voice = voice or choose_voice(language, registry, request.voice, request.voice_sample, request.profile,
                                  probe_text=text)
    t = time.perf_counter()
    speech = synthesize(text, voice, registry)
    tts_s = time.perf_counter() - t
    report("animate", 0.0, f"{speech.audio.duration:.1f} s of speech")
    animator = PortraitAnimator(portrait, request.animation())
    stats = animator.render_video(speech.audio, out_path, speech.phones,
                                  progress=lambda f: report("animate", f, ""), cancel=cancel)
    total = time.perf_counter() - started
    summary = {
        "video": out_path.name, "text": text, "language": language, "voice": voice.as_dict(),
        "duration": round(speech.audio.duration, 3), "size": list(portrait.image.shape[1::-1]),
        "framing": request.framing, "faces_in_photo": portrait.faces, "face": portrait.face,
        "phoneme_timing": bool(speech.phones), "animation": stats.as_dict(),
        "timing": {"speech_s": round(tts_s, 3), "total_s": round(total, 3),
                   "rtf": round(total / max(speech.audio.duration, 1e-6), 3)},
    }
    if voice.non_commercial:
        summary["licence_warning"] = f"the voice {voice.voice.id} is licensed for non-commercial use only"
    json_path = out_path.with_suffix(".json")
    tmp = json_path.with_name(f".{json_path.name}.partial")
    tmp.write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    tmp.replace(json_path)
    report("done", 1.0, str(out_path))
    return summary
