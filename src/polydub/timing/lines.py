"""Per-line voice work: synthesize a translation, fit it into its window, save it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from polydub.audio import Audio
from polydub.cache import value_key
from polydub.project import Segment
from polydub.timing.fit import MIN_GAP, TimingPolicy, place
from polydub.timing.pauses import compress_pauses
from polydub.timing.stretch import time_stretch

LINES_DIR = "lines"


@dataclass
class Window:
    earliest: float
    latest: float


def line_windows(segments: list[Segment], media_end: float, policy: TimingPolicy) -> list[Window]:
    """Windows that never overlap and depend only on the original times, so editing one line
    never moves another: each line may lead in a little into the gap before it and spill into
    the gap after it, up to where the next line's window begins."""
    bounds = []
    for i, seg in enumerate(segments):
        gap_before = seg.start - (segments[i - 1].end if i else 0.0)
        bounds.append(max(0.0, seg.start - min(policy.lead_in, 0.3 * max(0.0, gap_before))))
    windows = []
    for i, _seg in enumerate(segments):
        latest = bounds[i + 1] - MIN_GAP if i + 1 < len(segments) else media_end
        windows.append(Window(bounds[i], max(latest, bounds[i] + 0.1)))
    return windows


# Duration predictions are upper bounds, and shortening pauses can still gain about this much,
# so a line predicted to overflow by no more than this is worth synthesizing as it is.
PREDICTION_SLACK_S = 0.15


def predicted_overflow(registry, voice, text: str, window: Window, policy: TimingPolicy) -> float | None:
    """Seconds `text` would still overflow its window at the fastest allowed tempo, from the
    engine's own duration prediction (None when it has none)."""
    natural = registry.predict_duration(text, voice) if text.strip() else None
    if natural is None:
        return None
    return max(0.0, natural / policy.max_tempo - (window.latest - window.earliest))


def line_key(seg: Segment, window: Window, voice_id: str, policy: TimingPolicy) -> str:
    return value_key(seg.translation, voice_id, seg.start, seg.end, window.earliest, window.latest,
                     policy.min_tempo, policy.max_tempo)


class SpeechRate:
    """Running seconds-per-character at speed 1.0, per voice and pooled per engine and language, so a
    line that will need speeding up is synthesized at the right native rate in one pass, not two."""

    def __init__(self) -> None:
        self.totals: dict[str, tuple[int, float]] = {}

    def add(self, voice, text: str, seconds_at_1: float) -> None:
        for key in (voice.id, f"{voice.engine}/{voice.language}"):
            chars, secs = self.totals.get(key, (0, 0.0))
            self.totals[key] = (chars + len(text), secs + seconds_at_1)

    def predict(self, voice, text: str) -> float | None:
        for key in (voice.id, f"{voice.engine}/{voice.language}"):
            chars, secs = self.totals.get(key, (0, 0.0))
            if chars >= 40:
                return secs / chars * len(text)
        return None


def _native_speed(text: str, voice, registry, seg: Segment, window: Window, policy: TimingPolicy,
                  natural: float | None) -> float:
    """The engine speed that fits a line of `natural` seconds into its window (1.0 when it fits
    as it is), corrected once with the engine's own prediction at that speed when it has one:
    engines round durations, so a requested speed misses by a few percent."""
    if natural is None:
        return 1.0
    plan = place(natural, seg.start, seg.end, window.earliest, window.latest, policy)
    if plan.tempo <= 1.01:
        return 1.0
    speed = plan.tempo
    at_speed = registry.predict_duration(text, voice, speed)
    if at_speed is not None and at_speed > plan.room:
        speed = min(policy.max_tempo, speed * at_speed / plan.room)
    return speed


def render_line(seg: Segment, window: Window, voice, registry, policy: TimingPolicy,
                out_dir: Path, rates: SpeechRate | None = None) -> None:
    """Synthesize seg.translation with `voice` and store audio + timing on the segment."""
    engine = registry.engine_for(voice)
    text = (seg.translation or "").strip()
    native = engine.capabilities.native_rate
    # Engines that know a line's length in advance (Kokoro) are synthesized once, at the speed
    # the slot needs; others get a running characters-per-second estimate, or a second pass.
    natural = registry.predict_duration(text, voice) if text else None
    estimate = natural if natural is not None else \
        (rates.predict(voice, text) if rates and native and text else None)
    speed_used = _native_speed(text, voice, registry, seg, window, policy, estimate) if native else 1.0
    audio = registry.synthesize(text, voice, speed=speed_used) if text else Audio.silence(0.2, 24000)
    raw = audio.duration  # at speed_used, before pauses were shortened
    if speed_used == 1.0:
        natural = audio.duration
    elif natural is not None:
        # The prediction is an upper bound by the leading silence trimmed after synthesis.
        at_speed = registry.predict_duration(text, voice, speed_used) or raw
        natural -= max(0.0, at_speed - raw) * speed_used
    # A duration from the running estimate is not trusted (natural stays None): it could
    # overstate what the engine delivered and let the stretch exceed the limit.
    if rates is not None and text and speed_used == 1.0:
        rates.add(voice, text, audio.duration)
    plan = place(audio.duration, seg.start, seg.end, window.earliest, window.latest, policy)
    if plan.tempo > 1.001:
        audio = compress_pauses(audio)  # shorter pauses cost nothing in naturalness
        plan = place(audio.duration, seg.start, seg.end, window.earliest, window.latest, policy)
    if plan.tempo > 1.01 and native and speed_used == 1.0:
        # The engine's own rate sounds more natural than stretching; stretch only the residue.
        speed_used = plan.tempo
        audio = registry.synthesize(text, voice, speed=speed_used)
        raw = audio.duration
        audio = compress_pauses(audio)
        plan = place(audio.duration, seg.start, seg.end, window.earliest, window.latest, policy)
    # Engines miss a requested speed by a few percent: count the speed-up they really delivered, so
    # the stretch that follows may use what is left of the allowed maximum.
    delivered = min(max(1.0, natural / raw), speed_used * 1.15) if natural and raw else speed_used
    plan.tempo = max(1.0, min(plan.tempo, policy.max_tempo / delivered))
    if plan.tempo > 1.001:
        audio = time_stretch(audio, plan.tempo)
    room_samples = int(max(0.0, window.latest - plan.start) * audio.rate)
    overflow = max(0.0, audio.duration - (window.latest - plan.start))
    if overflow > 0:
        # Never overlap the next line: cut with a short fade; the overflow is recorded for review.
        samples = audio.samples[:room_samples].copy()
        fade = min(len(samples), int(0.05 * audio.rate))
        if fade:
            samples[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
        audio = Audio(samples, audio.rate)
    path = out_dir / LINES_DIR / f"{seg.id:04d}.wav"
    audio.write(path)
    seg.audio = str(path.relative_to(out_dir))
    seg.voice = voice.id
    seg.tts_engine = engine.name
    seg.dub_start = round(plan.start, 3)
    seg.dub_end = round(plan.start + audio.duration, 3)
    seg.tempo = round(delivered * plan.tempo, 3)
    seg.overflow = round(overflow, 3)
