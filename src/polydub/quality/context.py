"""What the quality repairs share: the pass context, line snapshots and re-rendering one line."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from polydub.project import Project, Segment
from polydub.quality.checks import Thresholds, Tools, timing_flags
from polydub.timing.fit import TimingPolicy
from polydub.timing.lines import Window, line_key, render_line

_SNAPSHOT_FIELDS = ("translation", "mt_engine", "voice", "tts_engine", "audio", "audio_key",
                    "dub_start", "dub_end", "tempo", "overflow")


@dataclass
class Snapshot:
    """A line's rendering, so a repair that turns out worse can be undone without re-synthesis."""

    values: dict[str, Any]
    wav: bytes | None

    @classmethod
    def take(cls, seg: Segment, out_dir: Path) -> Snapshot:
        path = out_dir / seg.audio if seg.audio else None
        wav = path.read_bytes() if path is not None and path.exists() else None
        values = {f: getattr(seg, f) for f in _SNAPSHOT_FIELDS}
        values["voice_pinned"] = seg.metrics.get("voice_pinned")
        return cls(values, wav)

    def restore(self, seg: Segment, out_dir: Path) -> None:
        for name, value in self.values.items():
            if name == "voice_pinned":
                pin_voice(seg, value)
            else:
                setattr(seg, name, value)
        if self.wav is not None and seg.audio:
            (out_dir / seg.audio).write_bytes(self.wav)


class StageHost(Protocol):
    """What the quality stage needs from the job running it (the pipeline's Dubber is one): passed
    in, so that quality/ does not depend on pipeline/."""

    options: Any  # DubOptions
    out_dir: Path
    work: Path
    audio16k: Any  # Audio
    media_duration: float

    def progress(self, stage: str, fraction: float, message: str = "") -> None: ...

    def check_cancel(self) -> None: ...

    def release_audio(self) -> None: ...


@dataclass
class Context:
    dubber: StageHost
    project: Project
    th: Thresholds
    policy: TimingPolicy
    voices: Any  # VoiceRegistry
    mt: Any  # TranslationRegistry
    tools: Tools
    src: str
    tgt: str
    backs: dict[str, str | None] = field(default_factory=dict)  # bt key -> back-translation
    # (voice id, text, window) -> predicted overflow; (source, text, character budget) -> shorter
    # renderings. Both are worked out before the voices speak, so that a long input's LLM and TTS
    # need not be loaded at once (quality/loop.py).
    predictions: dict[tuple, float | None] = field(default_factory=dict)
    shorter: dict[tuple[str, str, int], list[tuple[str, str]]] = field(default_factory=dict)

    @property
    def out_dir(self) -> Path:
        return Path(self.dubber.out_dir)


def registries() -> tuple[Any, Any]:
    from polydub.translation.registry import default_registry
    from polydub.voice.registry import get_registry

    return get_registry(), default_registry()


def pin_voice(seg: Segment, voice_id: str | None) -> None:
    """A line-level voice that later re-renders keep (instead of the speaker's voice)."""
    if voice_id:
        seg.metrics["voice_pinned"] = voice_id
    else:
        seg.metrics.pop("voice_pinned", None)


def render(ctx: Context, seg: Segment, window: Window, voice: Any, text: str) -> None:
    speaker_voice = ctx.project.speakers.get(seg.speaker, {}).get("voice")
    pin_voice(seg, voice.id if voice.id != speaker_voice else None)
    seg.metrics.pop("render_deferred", None)
    seg.translation = text
    # No rate prediction here: a repair is for a line that did not fit, so it is worth measuring the
    # natural duration, which lets the stretch use exactly the margin the engine left.
    render_line(seg, window, voice, ctx.voices, ctx.policy, ctx.out_dir)
    seg.audio_key = line_key(seg, window, voice.id, ctx.policy)


def current_voice(ctx: Context, seg: Segment) -> Any:
    return ctx.voices.get_voice(seg.voice) if seg.voice else ctx.voices.default_voice(ctx.tgt)


def fit_score(seg: Segment) -> tuple[float, float]:
    # Less overflow first; among lines that fit, the one spoken closest to natural speed.
    return round(seg.overflow or 0.0, 3), abs((seg.tempo or 1.0) - 1.0)


def fits(ctx: Context, seg: Segment) -> bool:
    return not timing_flags(seg, ctx.policy.min_tempo, ctx.policy.max_tempo, ctx.th)
