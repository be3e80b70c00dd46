"""Options and progress events of a dub job (shared by the CLI, the server and workers)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

STAGES = ("media", "transcribe", "speakers", "translate", "synthesize", "quality", "mix", "lips", "render")
# Rough share of total run time per stage, so one overall percent moves smoothly.
STAGE_WEIGHTS = {"media": 3, "transcribe": 25, "speakers": 7, "translate": 15, "synthesize": 30,
                 "quality": 10, "mix": 5, "lips": 15, "render": 5}


@dataclass
class DubOptions:
    target_language: str
    source_language: str | None = None
    asr_model: str = "base"
    mt_engine: str | None = None
    tts_engine: str | None = None
    voices: dict[str, str] = field(default_factory=dict)  # speaker id -> voice id
    num_speakers: int | None = None
    diarize: bool = True
    voice_matching: bool = True
    adapt_voices: bool = False  # opt-in: a probe search per speaker costs ~0.5x real time
    keep_original: bool = False
    separation: bool = True
    original_voice_db: float | None = None
    min_tempo: float = 0.85
    max_tempo: float = 1.25
    max_line_seconds: float = 8.0
    quality_checks: bool = True
    # Excludes engines and weights whose licence forbids commercial use (shared with the voices helper).
    commercial_safe: bool = False
    # Lip-sync: re-animate the on-screen speakers' mouths to follow the dub (stage "lips").
    lipsync: bool = False
    lipsync_model: str | None = None  # a Wav2Lip-compatible .onnx (or .pth with torch): the user's weights
    # Voice cloning (issue 12): each speaker with enough speech gets a Kokoro voice evolved toward
    # them, kept in their profile; `clone_budget_s` bounds each speaker's search (wall clock).
    clone_voices: bool = False
    clone_budget_s: float = 60.0
    # Robustness (issue 15): which of the input's audio tracks to dub (0 = first; None: the track in
    # the source language, else the default one, else the first). The other tracks are kept.
    audio_track: int | None = None


@dataclass
class ProgressEvent:
    stage: str
    percent: float  # overall, 0..100
    message: str
    stage_seconds: dict[str, float] = field(default_factory=dict)
    stage_percent: float = 0.0


ProgressCallback = Callable[[ProgressEvent], None]


class Progress:
    """Turns per-stage fractions into overall percent events."""

    def __init__(self, callback: ProgressCallback | None, stage_seconds: dict[str, float]) -> None:
        self.callback = callback
        self.stage_seconds = stage_seconds
        self.total = float(sum(STAGE_WEIGHTS.values()))

    def __call__(self, stage: str, fraction: float, message: str = "") -> None:
        if not self.callback:
            return
        done = sum(STAGE_WEIGHTS[s] for s in STAGES[: STAGES.index(stage)]) if stage in STAGES else self.total
        current = STAGE_WEIGHTS.get(stage, 0) * max(0.0, min(1.0, fraction))
        percent = 100.0 * (done + current) / self.total
        self.callback(ProgressEvent(stage=stage, percent=round(percent, 1), message=message,
                                    stage_seconds=dict(self.stage_seconds),
                                    stage_percent=round(100 * fraction, 1)))
