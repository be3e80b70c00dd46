"""Find and follow faces through a video with MediaPipe's face mesh (478 points, CPU, bundled model).

One decoding pass: shot cuts from frame thumbnails, face mesh per frame (MediaPipe's own tracking
carries a face from frame to frame, so its detector runs only when a face is missing), faces
linked into tracks by position, and the most open mouths of every track kept as references for
the mouth interior.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from polydub.errors import JobCancelledError
from polydub.face.landmarks import NOSE_TIP, OUTER_CORNERS, eye_distance, face_frame, mouth_gap
from polydub.face.tracks import FaceTrack, FaceTracks, MouthReference
from polydub.face.video import YuvFrame, frame_luma, frame_rgb, read_frames, video_info

MAX_FACES = 4
ANALYSIS_SIDE = 1280  # MediaPipe crops the face itself; a larger frame only costs time
COUNT_EVERY_S = 1.0  # how often the full-range detector counts faces (new faces, faces gone)
LINK_GAP_S = 0.5  # a face lost for less than this (same shot, same place) keeps its track
MIN_TRACK_S = 0.3
REFERENCES_PER_TRACK = 4
REFERENCE_MIN_GAP = 0.035  # face heights: open enough to show teeth and the mouth's inside
REFERENCE_SPACING_S = 0.4
CLOSED_REFERENCE_MAX_GAP = 0.015  # face heights: lips shut (the detector's contours sit slightly apart)
CLOSED_REFERENCES = 2


def quiet_mediapipe() -> None:
    """MediaPipe (glog/absl/TFLite) prints INFO lines on stderr; keep the CLI readable."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@contextlib.contextmanager
def _native_stderr_silenced():
    """MediaPipe's C++ code writes warnings straight to file descriptor 2 on a graph's first run
    (before its logging is initialised, no setting reaches them): point fd 2 at /dev/null then."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class QuietSolution:
    """A MediaPipe solution built and first run (when its graph starts and logs) with stderr
    silenced; `make` builds it."""

    def __init__(self, make) -> None:
        with _native_stderr_silenced():
            self.solution = make()
        self._quiet_calls = 1

    def process(self, image):
        if self._quiet_calls <= 0:
            return self.solution.process(image)
        self._quiet_calls -= 1
        with _native_stderr_silenced():
            return self.solution.process(image)

    def close(self) -> None:
        self.solution.close()


class ShotDetector:
    """A cut is a frame whose 32x18 grey thumbnail differs from the previous one far more than
    frames usually differ in this video (robust to camera motion and compression noise)."""

    def __init__(self, min_diff: float = 22.0, ratio: float = 5.0) -> None:
        self.min_diff, self.ratio = min_diff, ratio
        self.previous: np.ndarray | None = None
        self.history: list[float] = []

    def is_cut(self, image: np.ndarray, tv_range: bool = False) -> bool:
        """`image`: RGB, or grey levels (a video's luma; `tv_range`: 16-235, as most video stores it)."""
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
        thumb = cv2.resize(grey, (32, 18), interpolation=cv2.INTER_AREA).astype(np.float32)
        if tv_range:
            thumb = (thumb - 16.0) * (255.0 / 219.0)
        previous, self.previous = self.previous, thumb
        if previous is None:
            return False
        diff = float(np.abs(thumb - previous).mean())
        typical = float(np.median(self.history[-50:])) if len(self.history) >= 3 else 2.0
        self.history.append(diff)
        return diff > max(self.min_diff, self.ratio * typical)


class _Building:
    """A track while it is being built."""

    def __init__(self, track_id: int, shot: int) -> None:
        self.id, self.shot = track_id, shot
        self.frames: list[int] = []
        self.landmarks: list[np.ndarray] = []
        self.last_time = 0.0
        self.references: list[MouthReference] = []
        self.closed: list[MouthReference] = []

    def add(self, frame: int, time: float, landmarks: np.ndarray) -> None:
        self.frames.append(frame)
        self.landmarks.append(landmarks)
        self.last_time = time

    def offer_reference(self, frame: int, time: float, fps: float, landmarks: np.ndarray, yuv_source) -> None:
        """Keep this frame's mouth if it is among the track's most open (interior source) or most
        closed (how this face's lips look shut)."""
        gap = mouth_gap(landmarks, face_frame(landmarks))
        if gap >= REFERENCE_MIN_GAP:
            self.references = self._keep(self.references, frame, gap, fps, landmarks, yuv_source, False)
        elif gap <= CLOSED_REFERENCE_MAX_GAP:
            self.closed = self._keep(self.closed, frame, gap, fps, landmarks, yuv_source, True)

    @staticmethod
    def _keep(kept: list[MouthReference], frame: int, gap: float, fps: float, landmarks, yuv_source,
              closed: bool) -> list[MouthReference]:
        better = (lambda a, b: a < b) if closed else (lambda a, b: a > b)
        limit = CLOSED_REFERENCES if closed else REFERENCES_PER_TRACK
        near = [r for r in kept if abs(r.frame - frame) < REFERENCE_SPACING_S * fps]
        if near and not any(better(gap, r.gap) for r in near):
            return kept
        if len(kept) >= limit and not near and not any(better(gap, r.gap) for r in kept):
            return kept
        crop, crop_landmarks = _mouth_crop(yuv_source(), landmarks)
        if crop is None:
            return kept
        kept = [r for r in kept if r not in near]
        kept.append(MouthReference(frame=frame, gap=gap, image=crop, landmarks=crop_landmarks, closed=closed))
        kept.sort(key=lambda r: r.gap if closed else -r.gap)
        return kept[:limit]


def _mouth_crop(yuv: YuvFrame, landmarks: np.ndarray):
    """BGR pixels around the mouth (generous margin) and the landmarks in crop coordinates."""
    width = float(np.linalg.norm(landmarks[OUTER_CORNERS[1]] - landmarks[OUTER_CORNERS[0]]))
    centre = (landmarks[OUTER_CORNERS[0]] + landmarks[OUTER_CORNERS[1]]) / 2
    half = 0.9 * width
    box = (centre[0] - half, centre[1] - half, centre[0] + half, centre[1] + half)
    region = YuvFrame.region(box, yuv.width, yuv.height)
    if region[2] - region[0] < 8 or region[3] - region[1] < 8:
        return None, None
    crop = yuv.crop_bgr(region)
    return crop, (landmarks - np.array(region[:2], dtype=np.float32)).astype(np.float32)


class FaceTracker:
    """Faces with 478 landmarks in every frame of a video, linked into per-shot tracks."""

    def __init__(self, max_faces: int = MAX_FACES, analysis_side: int = ANALYSIS_SIDE) -> None:
        self.max_faces = max_faces
        self.analysis_side = analysis_side

    def track(self, path: str | Path, progress: Callable[[float], None] | None = None,
              cancel: threading.Event | None = None) -> FaceTracks:
        quiet_mediapipe()
        import mediapipe as mp

        info = video_info(path)
        expected = info.frames or int((info.duration or 1.0) * float(info.average_rate or 25)) or 1
        fps_hint = float(info.average_rate or 25)
        detector = QuietSolution(lambda: mp.solutions.face_detection.FaceDetection(
            model_selection=1, min_detection_confidence=0.6))
        wanted = 1
        mesh = self._mesh(mp, wanted)
        shots = ShotDetector()
        shot_starts = [0]
        building: list[_Building] = []
        finished: list[_Building] = []
        next_id = 0
        times: list[float] = []
        last_count = -1e9
        try:
            for frame in read_frames(path):
                if cancel is not None and cancel.is_set():
                    raise JobCancelledError("the job was cancelled", "start it again to resume")
                rgb, scale = frame_rgb(frame.av_frame, self.analysis_side)
                times.append(frame.time)
                luma = frame_luma(frame.av_frame)  # a quarter of the rows and columns: 0.4 ms, not 2.3
                cut = shots.is_cut(luma[0], tv_range=luma[1]) if luma is not None else shots.is_cut(rgb)
                if cut and frame.index > 0:
                    shot_starts.append(frame.index)
                    finished += building
                    building = []
                    mesh.close()
                    mesh = self._mesh(mp, wanted)
                    last_count = -1e9
                if frame.time - last_count >= COUNT_EVERY_S:
                    # The mesh only looks for faces while it has fewer than it was asked for, so
                    # asking for exactly as many as there are keeps its detector idle.
                    last_count = frame.time
                    found = detector.process(rgb).detections or []
                    count = max(1, min(self.max_faces, len(found)))
                    if count != wanted:
                        wanted = count
                        mesh.close()
                        mesh = self._mesh(mp, wanted)
                result = mesh.process(rgb)
                faces = [np.array([(p.x * rgb.shape[1], p.y * rgb.shape[0]) for p in f.landmark],
                                  dtype=np.float32) / scale for f in (result.multi_face_landmarks or [])]
                shot = len(shot_starts) - 1
                alive = [b for b in building if frame.time - b.last_time <= LINK_GAP_S]
                finished += [b for b in building if b not in alive]
                building = alive
                yuv_cache: list[YuvFrame] = []

                def yuv_source(av_frame=frame.av_frame, cache=yuv_cache) -> YuvFrame:
                    if not cache:
                        cache.append(YuvFrame(av_frame))
                    return cache[0]

                for b, landmarks in self._assign(building, faces):
                    if b is None:
                        b = _Building(next_id, shot)
                        next_id += 1
                        building.append(b)
                    b.add(frame.index, frame.time, landmarks)
                    b.offer_reference(frame.index, frame.time, fps_hint, landmarks, yuv_source)
                if progress and frame.index % 10 == 0:
                    progress(min(1.0, (frame.index + 1) / expected))
        finally:
            mesh.close()
            detector.close()
        finished += building
        times_arr = np.asarray(times, dtype=np.float64)
        fps = float((len(times_arr) - 1) / max(times_arr[-1] - times_arr[0], 1e-6)) if len(times_arr) > 1 else 25.0
        tracks = [FaceTrack(id=b.id, shot=b.shot, frames=np.asarray(b.frames, dtype=np.int64),
                            landmarks=np.stack(b.landmarks), fps=fps, references=b.references + b.closed)
                  for b in finished if b.frames and times_arr[b.frames[-1]] - times_arr[b.frames[0]] >= MIN_TRACK_S]
        tracks.sort(key=lambda t: t.id)
        if progress:
            progress(1.0)
        return FaceTracks(width=info.width, height=info.height, times=times_arr, shots=shot_starts, tracks=tracks)

    @staticmethod
    def _mesh(mp, faces: int):
        return QuietSolution(lambda: mp.solutions.face_mesh.FaceMesh(
            static_image_mode=False, max_num_faces=faces, refine_landmarks=True, min_detection_confidence=0.5,
            min_tracking_confidence=0.5))

    @staticmethod
    def _assign(building: list[_Building], faces: list[np.ndarray]):
        """Pair this frame's faces with the tracks of the last frames (nearest nose, within one eye
        distance); unpaired faces start new tracks."""
        pairs = []
        for i, face in enumerate(faces):
            for b in building:
                last = b.landmarks[-1]
                dist = float(np.linalg.norm(face[NOSE_TIP] - last[NOSE_TIP])) / max(eye_distance(last), 1.0)
                if dist < 1.0:
                    pairs.append((dist, i, b))
        pairs.sort(key=lambda p: p[0])
        used_faces, used_tracks, out = set(), set(), []
        for _dist, i, b in pairs:
            if i in used_faces or id(b) in used_tracks:
                continue
            used_faces.add(i)
            used_tracks.add(id(b))
            out.append((b, faces[i]))
        out += [(None, face) for i, face in enumerate(faces) if i not in used_faces]
        return out


def detect_landmarks(image_bgr: np.ndarray, max_faces: int = 1) -> list[np.ndarray]:
    """The 478 landmarks (pixels) of the faces in one still image, largest face first."""
    quiet_mediapipe()
    import mediapipe as mp

    mesh = QuietSolution(lambda: mp.solutions.face_mesh.FaceMesh(
        static_image_mode=True, max_num_faces=max_faces, refine_landmarks=True, min_detection_confidence=0.5))
    try:
        result = mesh.process(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB))
    finally:
        mesh.close()
    h, w = image_bgr.shape[:2]
    faces = [np.array([(p.x * w, p.y * h) for p in f.landmark], dtype=np.float32)
             for f in (result.multi_face_landmarks or [])]
    return sorted(faces, key=lambda lm: -float(np.ptp(lm[:, 1])))
