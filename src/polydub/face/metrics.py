"""Lip scores measured on the written video, not on what the renderer intended.

Measured while the video is written (`LipMeter`): each input frame is seen before it changes and
each output frame as it decodes from the encoder's packets, the bitstream that goes into the file.
On every re-animated frame the mouth is detected again (MediaPipe, a fresh detection per frame on
a crop around the face) in both, so output and input are measured the same way:

- `lip_follow`: correlation of the output's mouth opening with the dub's loudness;
- `lip_follow_floor`: the same for the untouched input (what not lip-syncing scores);
- `gap_in_silence` / `gap_on_pbm`: opening (face heights) where the dub is silent / on p, b, m;
- `jitter_ratio`: frame-to-frame noise of the output's opening over the input's;
- `held_back_frames`, `flips`: frames the flip guard scaled back, triangles folded;
- `untouched_psnr`: PSNR (dB, luma) of everything outside the changed area against the input;
- a strip of before/after mouth crops per line (PNG).
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from polydub.face.landmarks import OUTER_CORNERS, face_frame, mouth_gap
from polydub.face.lipsync import LinePlan, RenderReport, animated_frames
from polydub.face.tracking import QuietSolution, quiet_mediapipe
from polydub.face.tracks import FaceTracks
from polydub.face.video import YuvFrame

DETECT_SIDE = 192  # MediaPipe's landmark model reads 192 px; 256 gave openings within 0.001 of these (corr 0.999)
CROP_COLUMNS = 6
PSNR_EVERY = 3  # changed frames: every third; untouched frames: every fifteenth
UNTOUCHED_EVERY = 15


@dataclass
class LineScores:
    frames: int
    lip_follow: float | None
    lip_follow_floor: float | None
    gap_in_silence: float | None
    gap_on_pbm: float | None
    jitter_ratio: float | None
    held_back_frames: int
    flips: int
    untouched_psnr: float | None
    detected: float  # share of frames where the output's mouth was found again
    crops: str | None = None

    def as_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


class MouthMeter:
    """Mouth opening of a face in a frame, detected afresh (no tracking memory between frames)."""

    def __init__(self) -> None:
        quiet_mediapipe()
        import mediapipe as mp

        self.mesh = QuietSolution(lambda: mp.solutions.face_mesh.FaceMesh(
            static_image_mode=True, max_num_faces=1, refine_landmarks=True, min_detection_confidence=0.3))

    def close(self) -> None:
        self.mesh.close()

    @staticmethod
    def crop(yuv: YuvFrame, near: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
        """The face around `near` (landmarks), RGB at DETECT_SIDE, with its scale and origin."""
        x0, y0 = near.min(axis=0)
        x1, y1 = near.max(axis=0)
        cx, cy, side = (x0 + x1) / 2, (y0 + y1) / 2, 1.5 * max(x1 - x0, y1 - y0)
        region = YuvFrame.region((cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2), yuv.width, yuv.height)
        crop = yuv.crop_bgr(region)
        scale = DETECT_SIDE / max(crop.shape[:2])
        small = cv2.resize(crop, (max(1, int(crop.shape[1] * scale)), max(1, int(crop.shape[0] * scale))),
                           interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(small, cv2.COLOR_BGR2RGB), scale, np.array(region[:2], dtype=np.float64)

    def gap_of(self, crop: tuple[np.ndarray, float, np.ndarray], height_per_eye_distance: float) -> float | None:
        small, scale, origin = crop
        result = self.mesh.process(small)
        if not result.multi_face_landmarks:
            return None
        lm = np.array([(p.x * small.shape[1], p.y * small.shape[0]) for p in result.multi_face_landmarks[0].landmark])
        lm = lm / scale + origin
        return mouth_gap(lm, face_frame(lm, height_per_eye_distance))


def _corr(a: np.ndarray, b: np.ndarray) -> float | None:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 8 or np.std(a[ok]) < 1e-9 or np.std(b[ok]) < 1e-9:
        return None
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


def jitter(values: np.ndarray) -> float | None:
    """Frame-to-frame noise: RMS of what a 7-frame quadratic fit does not explain."""
    from scipy.signal import savgol_filter

    v = values[np.isfinite(values)]
    if len(v) < 9:
        return None
    return float(np.sqrt(np.mean((v - savgol_filter(v, 7, 2)) ** 2)))


def _mouth_box(landmarks: np.ndarray) -> tuple[float, float, float, float]:
    width = float(np.linalg.norm(landmarks[OUTER_CORNERS[1]] - landmarks[OUTER_CORNERS[0]]))
    cx, cy = (landmarks[OUTER_CORNERS[0]] + landmarks[OUTER_CORNERS[1]]) / 2
    return cx - 0.85 * width, cy - 0.6 * width, cx + 0.85 * width, cy + 0.6 * width


def crop_strip(pairs: list[tuple[np.ndarray, np.ndarray]], title: str = "") -> np.ndarray:
    """Before (top row) / after (bottom row) mouth crops, 160x112 each."""
    cell = (160, 112)
    top = [cv2.resize(b, cell, interpolation=cv2.INTER_AREA) for b, _ in pairs]
    bottom = [cv2.resize(a, cell, interpolation=cv2.INTER_AREA) for _, a in pairs]
    strip = np.vstack([np.hstack(top), np.hstack(bottom)])
    band = np.full((18, strip.shape[1], 3), 255, np.uint8)
    cv2.putText(band, f"{title}  top: original, bottom: lip-synced", (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                (40, 40, 40), 1, cv2.LINE_AA)
    return np.vstack([band, strip])


def _psnr_outside(a: np.ndarray, b: np.ndarray, region: tuple[int, int, int, int] | None, pad: int = 4) -> float:
    """Luma PSNR of everything outside `region` (grown by `pad`), in OpenCV's C++ (a 1080p frame
    converted to float64 in numpy took ~15 ms, and this runs on every third re-animated frame)."""
    if region is None:
        sse, count = cv2.norm(a, b, cv2.NORM_L2SQR), a.size
    else:
        keep = np.full(a.shape, 255, np.uint8)
        x0, y0, x1, y1 = region
        keep[max(0, y0 - pad):y1 + pad, max(0, x0 - pad):x1 + pad] = 0
        sse, count = cv2.norm(a, b, cv2.NORM_L2SQR, mask=keep), int(np.count_nonzero(keep))
    mse = sse / max(1, count)
    return 99.0 if mse <= 1e-10 else float(10 * np.log10(255.0 ** 2 / mse))


class _Meters:
    """One MouthMeter per worker thread: MediaPipe releases the GIL while it runs, so the input's
    and the output's mouth are detected at the same time (measured 1.5x on 2 busy cores)."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._all: list[MouthMeter] = []
        self._lock = threading.Lock()

    def get(self) -> MouthMeter:
        meter = getattr(self._local, "meter", None)
        if meter is None:
            meter = self._local.meter = MouthMeter()
            with self._lock:
                self._all.append(meter)
        return meter

    def close(self) -> None:
        for meter in self._all:
            meter.close()


class LipMeter:
    """Measures a lip-sync while it is written: `render_video` shows it every input frame before
    anything changes (`see_input`) and every output frame as the encoder's own packets decode
    (`see_output`: the same pixels a player gets from the file, without reading it back).

    One decode of the input and one of the output, where measuring afterwards decoded both again;
    the mouth detections run on worker threads beside the renderer and x264 (measured on the 1080p
    clip: the separate pass took 15.5 s of a 60 s lip-sync)."""

    def __init__(self, tracks: FaceTracks, plans: list[LinePlan], workers: int = 2) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.tracks, self.plans = tracks, plans
        self.work = animated_frames(plans)
        n = len(tracks.times)
        self.out_gap, self.in_gap = np.full(n, np.nan), np.full(n, np.nan)
        self.changed_psnr: dict[int, list[float]] = {}
        self.untouched_psnr: list[float] = []
        self.crop_frames = _crop_frames(plans)
        self.crops: dict[int, dict[int, list]] = {}  # line id -> frame -> [before, after]
        self.lumas: dict[int, np.ndarray] = {}  # input luma of PSNR samples, until their output frame comes
        self.regions: dict[int, tuple[int, int, int, int] | None] = {}
        self.outputs = 0
        self.workers = max(1, workers)
        self.meters = _Meters()
        self.pool = ThreadPoolExecutor(self.workers, thread_name_prefix="polydub-lipmeter")
        self.pending: list = []

    def _landmarks(self, index: int) -> tuple[LinePlan, int, np.ndarray, float]:
        plan, k = self.work[index]
        track = self.tracks.track(int(plan.tracks[k]))
        return plan, k, track.smoothed[track.row(index)], track.height_per_eye_distance

    def _submit(self, fn, *args) -> None:
        self.pending.append(self.pool.submit(fn, *args))
        # Output frames wait in the queue as whole decoded pictures: keep only a few in flight.
        while len(self.pending) > 4 * self.workers:
            self.pending.pop(0).result()

    def see_input(self, index: int, yuv: YuvFrame | None, av_frame=None) -> None:
        """An input frame before the renderer touches it (`yuv` for frames to re-animate)."""
        if index not in self.work:
            if index % UNTOUCHED_EVERY == 0 and av_frame is not None:
                self.lumas[index] = YuvFrame(av_frame).luma().copy()
            return
        plan, k, landmarks, hped = self._landmarks(index)
        crop = MouthMeter.crop(yuv, landmarks)  # now: the renderer edits these planes next
        self._submit(self._gap_into, self.in_gap, index, crop, hped)
        if k % PSNR_EVERY == 0:
            self.lumas[index] = yuv.luma().copy()
        if index in self.crop_frames:
            box = YuvFrame.region(_mouth_box(landmarks), yuv.width, yuv.height)
            self.crops.setdefault(plan.line.id, {})[index] = [yuv.crop_bgr(box), None]

    def note_region(self, index: int, region: tuple[int, int, int, int] | None) -> None:
        """The area the renderer changed in this frame (PSNR is measured outside it)."""
        self.regions[index] = region

    def see_output(self, av_frame) -> None:
        """The next frame of the written video, decoded from the encoder's packets."""
        index = self.outputs
        self.outputs += 1
        self._submit(self._measure_output, index, av_frame)

    def _measure_output(self, index: int, av_frame) -> None:
        luma = self.lumas.pop(index, None)
        job = self.work.get(index)
        if job is None and luma is None:
            return
        yuv = YuvFrame(av_frame)
        if job is None:
            self.untouched_psnr.append(_psnr_outside(luma, yuv.luma(), None))
            return
        plan, _k, landmarks, hped = self._landmarks(index)
        self._gap_into(self.out_gap, index, MouthMeter.crop(yuv, landmarks), hped)
        if luma is not None:
            value = _psnr_outside(luma, yuv.luma(), self.regions.get(index))
            self.changed_psnr.setdefault(plan.line.id, []).append(value)
        cell = self.crops.get(plan.line.id, {}).get(index)
        if cell is not None:
            cell[1] = yuv.crop_bgr(YuvFrame.region(_mouth_box(landmarks), yuv.width, yuv.height))

    def _gap_into(self, gaps: np.ndarray, index: int, crop, hped: float) -> None:
        if index < len(gaps):
            gaps[index] = _nan(self.meters.get().gap_of(crop, hped))

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.meters.close()

    def finish(self, report: RenderReport, crops_dir: Path | None = None) -> tuple[dict[int, LineScores], dict]:
        """Scores per lip-synced line and for the whole video (see module doc)."""
        try:
            for future in self.pending:
                future.result()
        finally:
            self.close()
        stats = {s.frame: s for line in report.stats.values() for s in line}
        scores: dict[int, LineScores] = {}
        for plan in self.plans:
            if plan.status != "lipsync":
                continue
            frames = plan.frames[plan.animated]
            line_stats = [stats[f] for f in frames if f in stats]
            scores[plan.line.id] = _line_scores(plan, frames, self.out_gap, self.in_gap, line_stats,
                                                self.changed_psnr.get(plan.line.id, []))
            pairs = [(a, b) for _f, (a, b) in sorted(self.crops.get(plan.line.id, {}).items()) if b is not None]
            if crops_dir is not None and pairs:
                crops_dir.mkdir(parents=True, exist_ok=True)
                path = crops_dir / f"line_{plan.line.id:04d}.png"
                cv2.imwrite(str(path), crop_strip(pairs, f"line {plan.line.id}"))
                scores[plan.line.id].crops = str(path)
        return scores, _job_scores(scores, self.changed_psnr, self.untouched_psnr)


def _nan(value: float | None) -> float:
    return np.nan if value is None else value


def _crop_frames(plans: list[LinePlan]) -> set[int]:
    chosen: set[int] = set()
    for plan in plans:
        if plan.status != "lipsync":
            continue
        frames = plan.frames[plan.animated & (plan.weights >= 0.99)]
        if len(frames):
            picks = np.linspace(0, len(frames) - 1, min(CROP_COLUMNS, len(frames))).round().astype(int)
            chosen.update(int(frames[p]) for p in picks)
    return chosen


def _line_scores(plan: LinePlan, frames: np.ndarray, out_gap, in_gap, line_stats, psnrs) -> LineScores:
    index = {int(f): k for k, f in enumerate(plan.frames)}
    ks = np.array([index[int(f)] for f in frames], dtype=int)
    loud = plan.curves.loudness[ks]
    full = plan.weights[ks] >= 0.99
    silent = full & ~plan.curves.speaking[ks]
    pbm = full & (plan.curves.closure[ks] >= 0.8)
    out, inp = out_gap[frames], in_gap[frames]
    out_jitter, in_jitter = jitter(out), jitter(inp)
    return LineScores(
        frames=int(len(frames)),
        lip_follow=_corr(out, loud),
        lip_follow_floor=_corr(inp, loud),
        gap_in_silence=float(np.nanmedian(out[silent])) if np.isfinite(out[silent]).any() else None,
        gap_on_pbm=float(np.nanmean(out[pbm])) if np.isfinite(out[pbm]).any() else None,
        jitter_ratio=out_jitter / in_jitter if out_jitter is not None and in_jitter else None,
        held_back_frames=int(sum(s.held_back < 0.999 for s in line_stats)),
        flips=int(sum(s.flips for s in line_stats)),
        untouched_psnr=float(np.min(psnrs)) if psnrs else None,
        detected=float(np.isfinite(out).mean()) if len(out) else 0.0,
    )


def _job_scores(scores: dict[int, LineScores], changed_psnr, untouched_psnr) -> dict:
    lines = list(scores.values())
    weights = np.array([s.frames for s in lines], dtype=float)

    def mean(name: str) -> float | None:
        values = np.array([getattr(s, name) if getattr(s, name) is not None else np.nan for s in lines])
        ok = np.isfinite(values)
        return round(float(np.average(values[ok], weights=weights[ok])), 4) if ok.any() else None

    all_psnr = [p for v in changed_psnr.values() for p in v]
    return {
        "lines": len(lines),
        "frames": int(weights.sum()),
        "lip_follow": mean("lip_follow"),
        "lip_follow_floor": mean("lip_follow_floor"),
        "gap_in_silence": mean("gap_in_silence"),
        "gap_on_pbm": mean("gap_on_pbm"),
        "jitter_ratio": mean("jitter_ratio"),
        "held_back_frames": int(sum(s.held_back_frames for s in lines)),
        "flips": int(sum(s.flips for s in lines)),
        "untouched_psnr": round(float(min(all_psnr)), 2) if all_psnr else None,
        "unchanged_frames_psnr": round(float(np.min(untouched_psnr)), 2) if untouched_psnr else None,
    }
