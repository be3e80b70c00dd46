"""Independent lip-sync checker for tests and benchmarks: dlib's 68-point landmarks (not MediaPipe,
which the product uses), so the product is not graded by its own detector.

Test/bench only: dlib-bin and face-recognition-models are never imported by polydub; the 68-point
model is trained on iBUG 300-W (non-commercial licence).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from polydub.audio import Audio
from polydub.face.driver import frame_loudness
from polydub.face.video import read_frames

DETECT_SIDE = 720


@dataclass
class MouthTrace:
    times: np.ndarray
    gap: np.ndarray  # inner-lip opening / face height (nan where no face)
    face_height: np.ndarray  # pixels


class DlibMouth:
    def __init__(self) -> None:
        import dlib
        import face_recognition_models

        self.dlib = dlib
        self.detector = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())

    def _detect(self, gray: np.ndarray):
        scale = DETECT_SIDE / max(gray.shape)
        small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else gray
        scale = min(scale, 1.0)
        found = self.detector(small, 1)
        return [self.dlib.rectangle(int(r.left() / scale), int(r.top() / scale), int(r.right() / scale),
                                    int(r.bottom() / scale)) for r in found]

    def trace(self, video: str | Path, near: tuple[float, float] | None = None, every: int = 8) -> MouthTrace:
        """Mouth opening per frame of the face nearest `near` (x, y) (default: the largest)."""
        times, gaps, heights = [], [], []
        box = None
        for frame in read_frames(video):
            gray = frame.av_frame.to_ndarray(format="gray")
            if box is None or frame.index % every == 0:
                rects = self._detect(gray)
                if rects:
                    if near is not None:
                        box = min(rects, key=lambda r: (r.center().x - near[0]) ** 2 + (r.center().y - near[1]) ** 2)
                    else:
                        box = max(rects, key=lambda r: r.area())
            times.append(frame.time)
            if box is None:
                gaps.append(np.nan)
                heights.append(np.nan)
                continue
            shape = self.predictor(gray, box)
            pts = np.array([(shape.part(i).x, shape.part(i).y) for i in range(68)], dtype=np.float64)
            height = float(pts[:, 1].max() - pts[:, 1].min())  # brows to chin
            gap = np.mean([np.linalg.norm(pts[66] - pts[62]), np.linalg.norm(pts[67] - pts[61]),
                           np.linalg.norm(pts[65] - pts[63])])
            gaps.append(gap / height)
            heights.append(height)
            x0, y0 = pts.min(axis=0)
            x1, y1 = pts.max(axis=0)
            pad = 0.15 * (x1 - x0)
            box = self.dlib.rectangle(int(x0 - pad), int(y0 - 2 * pad), int(x1 + pad), int(y1 + pad / 2))
        return MouthTrace(np.asarray(times), np.asarray(gaps), np.asarray(heights))


def dub_speech_loudness(out_dir: Path, report: dict, times: np.ndarray, line_ids: list[int] | None = None):
    """Per frame: the dub's loudness (each line's own clean speech at its place) and whether dubbed
    speech is heard."""
    loud = np.zeros(len(times))
    for seg in report["segments"]:
        if not seg.get("audio") or (line_ids is not None and seg["id"] not in line_ids):
            continue
        audio = Audio.read(out_dir / seg["audio"])
        inside = (times >= seg["dub_start"]) & (times < seg["dub_start"] + audio.duration)
        loud[inside] = frame_loudness(audio, times[inside], start=seg["dub_start"])
    return loud


def corr(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


def jitter(values: np.ndarray) -> float:
    from scipy.signal import savgol_filter

    v = values[np.isfinite(values)]
    return float(np.sqrt(np.mean((v - savgol_filter(v, 7, 2)) ** 2)))
