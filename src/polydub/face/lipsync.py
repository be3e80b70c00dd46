"""Lip-sync a video: plan which frames of which lines to re-animate, render them, encode the result.

Used by the dub pipeline (`polydub dub --lipsync`) and by `polydub lipsync VIDEO SPEECH`. Inputs are
plain: the face tracks, the speaker-to-face matches, and per line its speaker, original and dubbed
time span, speech audio and (optionally) phoneme timing. Frames outside the planned lines are passed
to the encoder exactly as decoded; inside them only the lower face of the matched speaker changes.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from polydub.audio import Audio
from polydub.errors import JobCancelledError
from polydub.face.animate import FrameJob, MouthAnimator
from polydub.face.driver import MouthCurves, MouthDriver, Phone, silent_curves
from polydub.face.mapping import SpeakerFaces
from polydub.face.tracks import FaceTracks
from polydub.face.video import VideoWriter, YuvFrame, read_frames, video_info

if TYPE_CHECKING:
    from polydub.face.metrics import LipMeter

MARGIN_S = 0.15  # re-animated before and after a line's speech, so the mouth closes in time
RAMP_S = 0.12  # fade between the original mouth and the driven one
MIN_FACE_PX = 40  # a face smaller than this (height) is not worth animating
MIN_FACE_SHARE = 0.5  # a line is lip-synced when its speaker's face is seen in this share of it


@dataclass
class LineSpeech:
    """One dubbed line, as the lip-sync needs it."""

    id: int
    speaker: str
    start: float  # original speech span (seconds)
    end: float
    dub_start: float  # where the dubbed audio starts on the video timeline
    audio: Audio | None  # the dubbed speech of this line (None: the line is silent)
    phones: list[Phone] | None = None  # in the line audio's own time
    key: str = ""  # content key of what drives this line (for the per-line cache)


@dataclass
class LinePlan:
    line: LineSpeech
    frames: np.ndarray  # frame indices of the line's range
    tracks: np.ndarray  # track id per frame (-1: not animated)
    weights: np.ndarray  # fade in/out per frame
    curves: MouthCurves
    status: str = "lipsync"  # or "untouched"
    reason: str = ""
    face_track: int | None = None
    confidence: float | None = None

    @property
    def animated(self) -> np.ndarray:
        return self.tracks >= 0


@dataclass
class FrameStats:
    frame: int
    track: int
    held_back: float
    flips: int
    source_gap: float
    target_gap: float
    region: tuple[int, int, int, int] | None  # changed area, frame coordinates


@dataclass
class RenderReport:
    path: Path
    frames: int
    changed: int
    stats: dict[int, list[FrameStats]] = field(default_factory=dict)  # line id -> per frame
    cached_lines: list[int] = field(default_factory=list)
    crf: float = 0.0


def line_ranges(lines: list[LineSpeech], media_end: float) -> list[tuple[float, float]]:
    """Each line's re-animated time range: its original and dubbed speech plus a margin, never
    overlapping its neighbours' ranges (split at the middle of an overlap)."""
    spans = []
    for line in lines:
        dub_end = line.dub_start + (line.audio.duration if line.audio is not None else 0.0)
        spans.append([max(0.0, min(line.start, line.dub_start) - MARGIN_S),
                      min(media_end, max(line.end, dub_end) + MARGIN_S)])
    order = np.argsort([s[0] for s in spans])
    for a, b in zip(order[:-1], order[1:], strict=True):
        if spans[a][1] > spans[b][0]:
            middle = (spans[a][1] + spans[b][0]) / 2
            spans[a][1], spans[b][0] = middle, middle
    return [(a, b) for a, b in spans]


def _ramp(frames_time: np.ndarray, active: np.ndarray, first: float = -1.0, last: float = 1e12) -> np.ndarray:
    """Fade weights: 0 outside active runs, rising/falling over RAMP_S at each run's ends (not at
    the video's own first and last frame: there is nothing to fade from)."""
    weights = np.zeros(len(frames_time))
    runs, start = [], None
    for i, on in enumerate(np.append(active, False)):
        if on and start is None:
            start = i
        elif not on and start is not None:
            runs.append((start, i - 1))
            start = None
    for a, b in runs:
        t = frames_time[a:b + 1]
        rise = np.clip((t - frames_time[a]) / RAMP_S + 1.0 / 3.0, 0, 1) if frames_time[a] > first else 1.0
        fall = np.clip((frames_time[b] - t) / RAMP_S + 1.0 / 3.0, 0, 1) if frames_time[b] < last else 1.0
        weights[a:b + 1] = np.minimum(rise, fall)
    return weights


def plan_lines(tracks: FaceTracks, faces: SpeakerFaces, lines: list[LineSpeech], driver: MouthDriver,
               media_end: float) -> list[LinePlan]:
    """Which frames of each line are re-animated on which face, with the mouth curves to follow;
    lines that cannot be animated say why."""
    plans = []
    for line, (a, b) in zip(lines, line_ranges(lines, media_end), strict=True):
        frames = tracks.frames_between(a, b)
        times = tracks.times[frames]
        chosen = np.full(len(frames), -1, dtype=np.int64)
        visible_any = np.zeros(len(frames), dtype=bool)
        small = []
        for i, f in enumerate(frames):
            visible = tracks.visible(int(f))
            visible_any[i] = bool(visible)
            for t in visible:
                if faces.matches.get(t.id) is not None and faces.matches[t.id].speaker == line.speaker:
                    row = t.row(int(f))
                    height = t.frame_of(row).height
                    if height < MIN_FACE_PX:
                        small.append(height)
                        continue
                    chosen[i] = t.id
        if line.audio is not None and len(frames):
            curves = driver.drive(line.audio, times, line.phones, start=line.dub_start)
        else:
            curves = silent_curves(times)
        plan = LinePlan(line=line, frames=frames, tracks=chosen, curves=curves,
                        weights=_ramp(times, chosen >= 0, tracks.times[0], tracks.times[-1]))
        share = float((chosen >= 0).mean()) if len(frames) else 0.0
        if not len(frames):
            plan.status, plan.reason = "untouched", "no video frames in this line's time"
        elif share < MIN_FACE_SHARE:
            plan.status = "untouched"
            plan.reason = _why_untouched(tracks, faces, line, frames, visible_any, small, share)
        if plan.status != "lipsync":
            plan.tracks[:] = -1
            plan.weights[:] = 0.0
        else:
            ids, counts = np.unique(chosen[chosen >= 0], return_counts=True)
            plan.face_track = int(ids[np.argmax(counts)])
            plan.confidence = round(faces.matches[plan.face_track].score, 3)
            plan.reason = faces.matches[plan.face_track].reason
        plans.append(plan)
    return plans


def _why_untouched(tracks, faces, line, frames, visible_any, small, share) -> str:
    if not visible_any.any():
        return "no face is visible during this line"
    if visible_any.mean() < MIN_FACE_SHARE:
        return f"no face is visible during most of this line (a face in {100 * visible_any.mean():.0f} % of it)"
    if small:
        return f"the speaker's face is too small to animate ({min(small):.0f} px high, needs {MIN_FACE_PX})"
    seen = {t.id for f in frames for t in tracks.visible(int(f))}
    mapped = [faces.matches[t] for t in seen if t in faces.matches]
    if not any(m.speaker == line.speaker for m in mapped):
        details = "; ".join(f"face {m.track}: {m.reason}" for m in mapped) or "no face matched"
        return f"speaker {line.speaker} is not matched to a visible face (off screen?): {details}"
    return f"the speaker's face is visible in only {100 * share:.0f} % of the line"


# ------------------------------------------------------------------------------------------ render
def _face_region(points: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    x0, y0 = points.min(axis=0)
    x1, y1 = points.max(axis=0)
    pad = 0.08 * max(x1 - x0, y1 - y0)
    return YuvFrame.region((x0 - pad, y0 - pad, x1 + pad, y1 + pad), width, height)


def _encode_patch(image: np.ndarray, mask: np.ndarray) -> tuple[bytes, bytes]:
    ok1, jpg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 97])
    ok2, png = cv2.imencode(".png", np.round(mask * 255).astype(np.uint8))
    return jpg.tobytes(), png.tobytes()


def _decode_patch(jpg: bytes, png: bytes) -> tuple[np.ndarray, np.ndarray]:
    image = cv2.imdecode(np.frombuffer(jpg, np.uint8), cv2.IMREAD_COLOR)
    mask = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255.0
    return image, mask


class LineCache:
    """Rendered pixels of each line's frames, keyed by what drove them: re-rendering after an edit
    re-animates only the lines whose key changed and pastes the others back."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)

    def path(self, line_id: int, key: str) -> Path | None:
        return self.folder / f"line_{line_id:04d}_{key}.npz" if self.folder is not None else None

    def load(self, line_id: int, key: str) -> dict | None:
        path = self.path(line_id, key)
        if path is None or not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                return {k: data[k] for k in data.files}
        except (OSError, ValueError):
            return None

    def save(self, line_id: int, key: str, entries: list[tuple]) -> None:
        path = self.path(line_id, key)
        if path is None:
            return
        for old in self.folder.glob(f"line_{line_id:04d}_*.npz"):
            old.unlink(missing_ok=True)
        arrays = {}
        meta = []
        for n, (frame, region, jpg, png, stats) in enumerate(entries):
            arrays[f"j{n}"] = np.frombuffer(jpg, np.uint8)
            arrays[f"p{n}"] = np.frombuffer(png, np.uint8)
            meta.append([frame, *region, stats.track, stats.held_back, stats.flips, stats.source_gap, stats.target_gap])
        arrays["meta"] = np.asarray(meta, dtype=np.float64).reshape(-1, 10)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(buffer.getvalue())
        tmp.replace(path)


def animated_frames(plans: list[LinePlan]) -> dict[int, tuple[LinePlan, int]]:
    """Frame index -> (its line's plan, position in the plan) for every frame to re-animate (a plan
    left untouched has no track on any frame)."""
    return {int(f): (plan, k) for plan in plans for k, f in enumerate(plan.frames) if plan.tracks[k] >= 0}


def render_video(video: str | Path, out_path: str | Path, tracks: FaceTracks, plans: list[LinePlan],
                 animator: MouthAnimator, crf: float, cache: LineCache | None = None,
                 progress: Callable[[float], None] | None = None,
                 cancel: threading.Event | None = None, meter: LipMeter | None = None) -> RenderReport:
    """Re-encode `video` with the planned frames re-animated (see module doc); `meter` sees every
    input frame before it changes and every frame of the written video."""
    info = video_info(video)
    cache = cache or LineCache(None)
    jobs = animated_frames(plans)
    cached: dict[int, dict] = {}
    for plan in plans:
        if plan.status == "lipsync":
            entry = cache.load(plan.line.id, _cache_key(plan, animator))
            if entry is not None and len(entry["meta"]) == int(plan.animated.sum()):
                cached[plan.line.id] = entry
    report = RenderReport(path=Path(out_path), frames=0, changed=0, cached_lines=sorted(cached), crf=crf)
    pending: dict[int, list[tuple]] = {}
    writer = VideoWriter(out_path, info.width, info.height, info.time_base, info.average_rate, crf,
                         color=info.color, on_output=meter.see_output if meter is not None else None)
    total = max(1, info.frames or len(tracks.times))
    try:
        for frame in read_frames(video):
            if cancel is not None and cancel.is_set():
                raise JobCancelledError("the job was cancelled", "start it again to resume")
            job = jobs.get(frame.index)
            if job is None:
                if meter is not None:
                    meter.see_input(frame.index, None, frame.av_frame)
                writer.write(frame.av_frame)
            else:
                plan, k = job
                yuv = YuvFrame(frame.av_frame)
                if meter is not None:
                    meter.see_input(frame.index, yuv)
                stats = _render_frame(yuv, frame, plan, k, tracks, animator, cached.get(plan.line.id), pending)
                if meter is not None:
                    meter.note_region(frame.index, stats.region)
                report.stats.setdefault(plan.line.id, []).append(stats)
                report.changed += stats.region is not None
                writer.write(yuv.to_av())
                if k == int(np.nonzero(plan.animated)[0][-1]) and plan.line.id in pending:
                    cache.save(plan.line.id, _cache_key(plan, animator), pending.pop(plan.line.id))
            report.frames += 1
            if progress and frame.index % 10 == 0:
                progress(min(1.0, frame.index / total))
        writer.close()
    except BaseException:
        writer.abort()
        raise
    return report


def _cache_key(plan: LinePlan, animator: MouthAnimator) -> str:
    from polydub.cache import value_key

    return value_key(plan.line.key, animator.cache_tag(), plan.frames.tolist(), plan.tracks.tolist(),
                     np.round(plan.weights, 4).tolist())


def _render_frame(yuv: YuvFrame, frame, plan: LinePlan, k: int, tracks: FaceTracks, animator: MouthAnimator,
                  cached: dict | None, pending: dict[int, list]) -> FrameStats:
    track = tracks.track(int(plan.tracks[k]))
    row = track.row(frame.index)
    if cached is not None:
        n = int(np.sum(plan.animated[:k]))
        meta = cached["meta"][n]
        region = tuple(int(v) for v in meta[1:5])
        stats = FrameStats(frame.index, int(meta[5]), float(meta[6]), int(meta[7]), float(meta[8]), float(meta[9]),
                           region if region[2] > region[0] else None)
        if stats.region is not None:
            image, mask = _decode_patch(cached[f"j{n}"].tobytes(), cached[f"p{n}"].tobytes())
            yuv.paste_bgr(stats.region, image, mask)
        return stats
    landmarks = track.smoothed[row].astype(np.float64)
    crop_region = _face_region(landmarks, yuv.width, yuv.height)
    crop = yuv.crop_bgr(crop_region)
    offset = np.array(crop_region[:2], dtype=np.float64)
    pose = plan.curves.pose(k)
    pose.weight = float(plan.weights[k])
    result = animator.render(crop, landmarks - offset, FrameJob(frame.index, frame.time, track, row, pose))
    stats = FrameStats(frame.index, track.id, result.held_back, result.flips, result.source_gap,
                       result.target_gap, None)
    entry_region, jpg, png = (0, 0, 0, 0), b"", b""
    if result.region is not None:
        rx0, ry0, rx1, ry1 = result.region
        # Paste in a 4:2:0-aligned box around the renderer's region, inside the crop.
        bx0, by0, bx1, by1 = YuvFrame.region((rx0, ry0, rx1, ry1), crop.shape[1], crop.shape[0])
        box = (bx0 + crop_region[0], by0 + crop_region[1], bx1 + crop_region[0], by1 + crop_region[1])
        image = crop[by0:by1, bx0:bx1].copy()
        mask = np.zeros(image.shape[:2], np.float32)
        sx0, sy0 = rx0 - bx0, ry0 - by0
        image[sy0:sy0 + result.image.shape[0], sx0:sx0 + result.image.shape[1]] = result.image
        mask[sy0:sy0 + result.mask.shape[0], sx0:sx0 + result.mask.shape[1]] = result.mask
        yuv.paste_bgr(box, image, mask)
        stats.region = box
        entry_region = box
        jpg, png = _encode_patch(image, mask)
    pending.setdefault(plan.line.id, []).append((frame.index, entry_region, jpg, png, stats))
    return stats

