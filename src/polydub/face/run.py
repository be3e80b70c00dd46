"""One call for a whole lip-synced video: plan, choose the encoder quality, render, measure.

Shared by the dub pipeline's lips stage and `polydub lipsync`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from polydub.audio import Audio
from polydub.face.animate import MouthAnimator
from polydub.face.crf import choose_crf
from polydub.face.driver import MouthDriver
from polydub.face.lipsync import LineCache, LinePlan, LineSpeech, RenderReport, plan_lines, render_video
from polydub.face.mapping import SpeakerFaces
from polydub.face.metrics import LineScores, LipMeter
from polydub.face.tracks import FaceTracks

SPEECH_RATE = 16000


@dataclass
class LipsyncResult:
    video: Path | None  # the re-encoded video (no audio); None when no frame was re-animated
    plans: list[LinePlan]
    render: RenderReport | None
    scores: dict[int, LineScores] = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    crf: float | None = None
    crf_probe_psnr: float | None = None

    @property
    def animated(self) -> list[LinePlan]:
        return [p for p in self.plans if p.status == "lipsync"]


def speech_track(lines: list[LineSpeech], duration: float) -> Audio:
    """All lines' speech placed on the video timeline (what a neural animator listens to)."""
    track = np.zeros(int(duration * SPEECH_RATE) + 1, dtype=np.float32)
    for line in lines:
        if line.audio is None:
            continue
        samples = line.audio.mono().resample(SPEECH_RATE).samples
        start = int(max(0.0, line.dub_start) * SPEECH_RATE)
        end = min(len(track), start + len(samples))
        if end > start:
            track[start:end] += samples[: end - start]
    return Audio(track, SPEECH_RATE)


def lipsync_video(video: str | Path, out_path: Path, tracks: FaceTracks, faces: SpeakerFaces,
                  lines: list[LineSpeech], animator: MouthAnimator, duration: float,
                  cache: LineCache | None = None, crops_dir: Path | None = None, crf: float | None = None,
                  progress: Callable[[str, float], None] | None = None,
                  cancel: threading.Event | None = None, measure: bool = True) -> LipsyncResult:
    """Re-animate the planned lines of `video` into `out_path` and measure the result while it is
    written (`measure=False`: no scores, for benchmarks that price the measuring)."""
    report = (lambda stage, f: progress(stage, f)) if progress else (lambda stage, f: None)
    plans = plan_lines(tracks, faces, lines, MouthDriver(), duration)
    result = LipsyncResult(video=None, plans=plans, render=None)
    if not result.animated:
        return result
    probe_psnr = None
    if crf is None:
        crf, probe_psnr = choose_crf(video)
    result.crf, result.crf_probe_psnr = crf, probe_psnr
    animator.begin(speech_track(lines, duration))
    meter = LipMeter(tracks, plans) if measure else None
    try:
        result.render = render_video(video, out_path, tracks, plans, animator, crf, cache,
                                     progress=lambda f: report("render", f), cancel=cancel, meter=meter)
    except BaseException:
        if meter is not None:
            meter.close()
        raise
    if meter is not None:
        result.scores, result.summary = meter.finish(result.render, crops_dir)
    result.video = out_path
    return result
