"""Face tracks: who is where in every frame, smoothed, with a few mouth references each (open, shut).

A track is one face followed through one shot (tracks never cross a shot cut). Landmarks are
stored as detected; `FaceTrack.smoothed` removes detector jitter (head motion and mouth shape
smoothed separately, zero-phase), so landmark noise does not become mouth jitter after warping.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from polydub.face.landmarks import RIGID, eye_distance, face_frame, mouth_gap

# Smoothing windows in seconds: head motion is smoothed a little more than the lips, whose real
# movement (syllables at 4-6 Hz) must survive; both are Savitzky-Golay (keeps peaks, no lag).
HEAD_WINDOW_S = 0.25
LIPS_WINDOW_S = 0.17


@dataclass
class MouthReference:
    """An open mouth seen in the video: the pixels around it and the landmarks in that crop."""

    frame: int
    gap: float  # inner-lip opening in face heights
    image: np.ndarray  # BGR crop
    landmarks: np.ndarray  # (478, 2) in crop pixels
    closed: bool = False  # a shut mouth (how this face's lips look closed), else an open one


@dataclass
class FaceTrack:
    id: int
    shot: int
    frames: np.ndarray  # (k,) frame indices, increasing (gaps allowed where detection dropped)
    landmarks: np.ndarray  # (k, 478, 2) float32 pixels, as detected
    fps: float = 25.0
    references: list[MouthReference] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._row = {int(f): i for i, f in enumerate(self.frames)}

    def __len__(self) -> int:
        return len(self.frames)

    def row(self, frame: int) -> int | None:
        return self._row.get(int(frame))

    @property
    def first(self) -> int:
        return int(self.frames[0])

    @property
    def last(self) -> int:
        return int(self.frames[-1])

    @cached_property
    def smoothed(self) -> np.ndarray:
        return smooth_landmarks(self.landmarks, self.fps)

    @cached_property
    def height_per_eye_distance(self) -> float:
        """Face height (forehead-chin, mouth closed) in outer eye distances: a per-track constant."""
        ratios = []
        for lm in self.smoothed:
            frame = face_frame(lm)
            if mouth_gap(lm, frame) < 0.02:
                ratios.append(frame.height / max(eye_distance(lm), 1e-6))
        if not ratios:
            ratios = [face_frame(lm).height / max(eye_distance(lm), 1e-6) for lm in self.smoothed]
        return float(np.median(ratios))

    def frame_of(self, row: int):
        return face_frame(self.smoothed[row], self.height_per_eye_distance)

    @cached_property
    def gaps(self) -> np.ndarray:
        """Inner-lip opening per row, in face heights (smoothed landmarks)."""
        return np.array([mouth_gap(lm, self.frame_of(i)) for i, lm in enumerate(self.smoothed)])

    def box(self, row: int) -> tuple[float, float, float, float]:
        lm = self.smoothed[row]
        return float(lm[:, 0].min()), float(lm[:, 1].min()), float(lm[:, 0].max()), float(lm[:, 1].max())


def _similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2x3 similarity transform (rotation, uniform scale, shift) taking src points onto dst."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    var = (s ** 2).sum()
    a = (s[:, 0] * d[:, 0] + s[:, 1] * d[:, 1]).sum() / var
    b = (s[:, 0] * d[:, 1] - s[:, 1] * d[:, 0]).sum() / var
    rot = np.array([[a, -b], [b, a]])
    return np.hstack([rot, (mu_d - rot @ mu_s)[:, None]])


def _savgol(values: np.ndarray, window_s: float, fps: float) -> np.ndarray:
    from scipy.signal import savgol_filter

    n = len(values)
    window = int(round(window_s * fps)) | 1
    window = min(window, n if n % 2 else n - 1)
    if window < 5:
        return values
    return savgol_filter(values, window, 2, axis=0, mode="interp")


def smooth_landmarks(landmarks: np.ndarray, fps: float) -> np.ndarray:
    """Zero-phase smoothing of one track: the rigid head motion (a similarity transform fitted to
    points that do not move with the mouth) and the face's shape in its own frame separately."""
    lm = np.asarray(landmarks, dtype=np.float64)
    if len(lm) < 5:
        return lm.astype(np.float32)
    rigid = list(RIGID)
    mean = lm[:, rigid].mean(axis=0)
    transforms = np.stack([_similarity(mean, frame[rigid]) for frame in lm])  # (k, 2, 3)
    # a, b, tx, ty of each transform: smooth those, not the matrices' entries independently.
    params = np.stack([transforms[:, 0, 0], transforms[:, 1, 0], transforms[:, 0, 2], transforms[:, 1, 2]], axis=1)
    params = _savgol(params, HEAD_WINDOW_S, fps)
    # Each similarity [[a, -b], [b, a]] is inverted in closed form (per-frame np.linalg.inv goes
    # through threaded LAPACK, slow on a busy machine).
    a, b = transforms[:, 0, 0], transforms[:, 1, 0]
    norm = a ** 2 + b ** 2
    inverse = np.stack([np.stack([a, b], 1), np.stack([-b, a], 1)], 1) / norm[:, None, None]  # (k, 2, 2)
    local = np.einsum("kpj,kij->kpi", lm - transforms[:, None, :, 2], inverse)
    local = _savgol(local, LIPS_WINDOW_S, fps)
    out = np.empty_like(lm)
    for i, (a, b, tx, ty) in enumerate(params):
        rot = np.array([[a, -b], [b, a]])
        out[i] = local[i] @ rot.T + np.array([tx, ty])
    return out.astype(np.float32)


@dataclass
class FaceTracks:
    """The result of tracking one video (what the project caches)."""

    width: int
    height: int
    times: np.ndarray  # (n,) presentation time of every frame, seconds
    shots: list[int]  # first frame of every shot
    tracks: list[FaceTrack]

    @property
    def fps(self) -> float:
        if len(self.times) < 2:
            return 25.0
        return float((len(self.times) - 1) / max(self.times[-1] - self.times[0], 1e-6))

    def track(self, track_id: int) -> FaceTrack:
        return next(t for t in self.tracks if t.id == track_id)

    def visible(self, frame: int) -> list[FaceTrack]:
        return [t for t in self.tracks if t.row(frame) is not None]

    def frames_between(self, start: float, end: float) -> np.ndarray:
        return np.nonzero((self.times >= start) & (self.times < end))[0]

    def shot_of(self, frame: int) -> int:
        return int(np.searchsorted(self.shots, frame, side="right") - 1)

    # -- cache -----------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        path = Path(path)
        arrays: dict[str, np.ndarray] = {"times": self.times, "shots": np.asarray(self.shots, dtype=np.int64)}
        meta = {"width": self.width, "height": self.height, "tracks": []}
        for t in self.tracks:
            arrays[f"t{t.id}_frames"] = t.frames
            arrays[f"t{t.id}_landmarks"] = t.landmarks.astype(np.float32)
            refs = []
            for j, ref in enumerate(t.references):
                arrays[f"t{t.id}_r{j}_image"] = ref.image
                arrays[f"t{t.id}_r{j}_landmarks"] = ref.landmarks.astype(np.float32)
                refs.append({"frame": ref.frame, "gap": ref.gap, "closed": ref.closed})
            meta["tracks"].append({"id": t.id, "shot": t.shot, "fps": t.fps, "references": refs})
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez_compressed(tmp, **arrays)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> FaceTracks:
        with np.load(path) as data:
            meta = json.loads(bytes(data["meta"]).decode("utf-8"))
            tracks = []
            for m in meta["tracks"]:
                tid = m["id"]
                refs = [MouthReference(frame=r["frame"], gap=r["gap"], image=data[f"t{tid}_r{j}_image"],
                                       landmarks=data[f"t{tid}_r{j}_landmarks"], closed=r.get("closed", False))
                        for j, r in enumerate(m["references"])]
                tracks.append(FaceTrack(id=tid, shot=m["shot"], frames=data[f"t{tid}_frames"],
                                        landmarks=data[f"t{tid}_landmarks"], fps=m["fps"], references=refs))
            return cls(width=meta["width"], height=meta["height"], times=data["times"],
                       shots=[int(s) for s in data["shots"]], tracks=tracks)
