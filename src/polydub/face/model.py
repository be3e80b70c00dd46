"""What the renderer knows about one face, and how a mouth pose moves its lower face.

`FaceModel` is built once per face track (or from a single still image): its average shape, the
triangulation (built with the mouth open), fixed anchor points around the lower face, how far this
person opens their mouth when speaking, and references for the inside of the mouth.

`MouthPose` is what a driver asks for in one frame, independent of any face. `lower_face_motion`
turns a pose into per-landmark displacements in the face's own frame: the jaw carries the lower lip
and chin, the upper lip lifts a little, every move runs along the face's vertical axis, and the
inner lips may meet but never cross.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from matplotlib.path import Path

from polydub.face.landmarks import (
    FACE_OVAL,
    INNER_CORNERS,
    LIPS_INNER_LOWER,
    LIPS_INNER_UPPER,
    LIPS_OUTER_LOWER,
    LIPS_OUTER_UPPER,
    OUTER_CORNERS,
    RIGID,
    FaceFrame,
    contour_y,
    eye_distance,
    face_frame,
    mouth_gap,
    mouth_width,
)
from polydub.face.mesh import Triangulation
from polydub.face.tracks import MouthReference, _similarity

MESH_POINTS = 468  # face mesh without the iris points
NOSE_BASE = 2
UPPER_SHARE = 0.3  # of an opening, the upper lip's part; the jaw (lower lip, chin) does the rest
MIN_MAX_OPEN, MAX_MAX_OPEN = 0.06, 0.1  # face heights: range allowed for a speaker's widest opening
CLOSED_GAP_MAX = 0.006  # face heights
ROLL_IN, ROLL_IN_MAX = 0.0, 0.02  # share of a closing's distance the lower lip rolls in, and its cap


@dataclass
class MouthPose:
    """One frame of mouth motion, face-independent (a driver's output, the renderer's input)."""

    open: float = 0.0  # 0 closed .. 1 this face's widest speaking opening
    spread: float = 0.0  # 0..1 lips pulled wide (i, e)
    round: float = 0.0  # 0..1 lips rounded and narrowed (o, u, w)
    closure: float = 0.0  # 0..1 lips pressed together (p, b, m)
    weight: float = 1.0  # 0..1 how much of this pose to apply (fades in and out of a line)



def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)


@dataclass
class Motion:
    displacement: np.ndarray  # (n, 2) face coordinates (face heights)
    source_gap: float
    target_gap: float


def lower_face_motion(points: np.ndarray, target_gap: float, width_factor: float = 1.0,
                      roundness: float = 0.0) -> Motion:
    """Displacements of the control points (face coords; the first 468 are mesh landmarks, any
    further ones are fixed anchors) that give the mouth an inner opening of `target_gap` (face
    heights) and a width of `width_factor` times its current one."""
    p = np.asarray(points, dtype=np.float64)
    n = len(p)
    iu, il = p[list(LIPS_INNER_UPPER)], p[list(LIPS_INNER_LOWER)]
    ou, ol = p[list(LIPS_OUTER_UPPER)], p[list(LIPS_OUTER_LOWER)]
    centre_x = (p[INNER_CORNERS[0], 0] + p[INNER_CORNERS[1], 0]) / 2
    half_inner = max(abs(p[INNER_CORNERS[1], 0] - p[INNER_CORNERS[0], 0]) / 2, 1e-3)
    half_outer = max(abs(p[OUTER_CORNERS[1], 0] - p[OUTER_CORNERS[0], 0]) / 2, half_inner)
    x = p[:, 0] - centre_x
    y = p[:, 1]
    upper_inner_y = contour_y(iu, p[:, 0])
    lower_inner_y = contour_y(il, p[:, 0])
    seam = (upper_inner_y + lower_inner_y) / 2
    middle = [2, 3, 4, 5, 6, 7, 8]
    gaps = il[middle, 1] - iu[middle, 1]
    source_gap = float(max(0.0, np.median(gaps[2:5])))
    delta = target_gap - source_gap
    jaw, lip = (1 - UPPER_SHARE) * delta, UPPER_SHARE * delta

    ax = np.abs(x)
    # How the opening changes across the mouth: when closing, in proportion to the gap the source
    # has at each point (so the lips meet everywhere at once and never cross); when opening, a
    # rounded-rectangle profile (rounder for rounded vowels), zero at the corners.
    # Inner-lip pairs with the corners (gap 0) at both ends.
    pair_x = (iu[:, 0] + il[:, 0]) / 2
    pair_gap = np.maximum(il[:, 1] - iu[:, 1], 0.0)
    pair_gap[[0, -1]] = 0.0
    order = np.argsort(pair_x)
    if delta < 0 and source_gap > 1e-4:
        # Every point above or below the opening follows the source's gap at its x.
        ratio = np.clip(pair_gap / source_gap, 0.0, 1.0)
        share = np.interp(p[:, 0], pair_x[order], ratio[order], left=0.0, right=0.0)
        # The rest of the lips move as bodies out to their outer corners, so no lip point stays
        # behind between inner lip and jaw skin that both rise (that would fold the corner).
        inner = np.zeros(n, dtype=bool)
        inner[list(LIPS_INNER_UPPER) + list(LIPS_INNER_LOWER)] = True
        body = np.clip(1.0 - (ax / half_outer) ** 2, 0.0, 1.0)
        share = np.where(inner, share, np.maximum(share, body))
    else:
        k = 4.0 - 2.0 * np.clip(roundness, 0.0, 1.0)
        share = np.clip(1.0 - (ax / half_inner) ** k, 0.0, 1.0)
    # Below the seam the lips follow that profile and the chin follows the jaw, whose pull fades
    # towards the jaw's angles; between them the weight blends smoothly (skin stretches, never
    # folds). Beside the mouth both are zero at the seam line and grow with depth.
    outer_lower_y = contour_y(ol, p[:, 0])
    jaw_lateral = 1.0 - _smoothstep((ax - 0.3 * half_outer) / (1.1 * half_outer))
    to_chin = _smoothstep((y - outer_lower_y + 0.005) / max(0.12, 1.6 * abs(jaw)))
    w_low = (1 - to_chin) * share + to_chin * jaw_lateral
    # The upper lip moves with the same profile, fading above the lip towards the nose.
    outer_upper_y = contour_y(ou, p[:, 0])
    nose_y = p[NOSE_BASE, 1]
    to_lip = _smoothstep((y - nose_y) / np.maximum(outer_upper_y - nose_y, 1e-3))
    w_up = share * to_lip
    below = y > seam
    dy = np.where(below, jaw * w_low, -lip * w_up)
    # Lips that close roll their wet inner edge in: the lower lip's inner edge rises a little past
    # the upper one and is drawn under it (the renderer draws the upper lip last), so a closed
    # mouth does not show the band of lip that only an open mouth shows. Otherwise inner lips may
    # meet but never cross.
    up_idx, low_idx = list(LIPS_INNER_UPPER[1:-1]), list(LIPS_INNER_LOWER[1:-1])
    roll = 0.0
    if delta < 0:
        roll = min(ROLL_IN * (source_gap - max(target_gap, 0.0)), ROLL_IN_MAX) * _smoothstep(1.0 - target_gap / 0.02)
        dy[low_idx] -= roll * share[low_idx]
    limit = p[up_idx, 1] + dy[up_idx] - p[low_idx, 1] - roll * share[low_idx]
    dy[low_idx] = np.maximum(dy[low_idx], limit)

    # Width: corners move along the eye line, the lips follow in proportion, cheeks a little.
    width_now = 2 * half_outer
    dw = width_now * (width_factor - 1.0)
    sx = np.where(ax <= half_outer, x / half_outer,
                  np.sign(x) * np.clip(1.0 - (ax - half_outer) / (0.8 * half_outer), 0.0, 1.0))
    sy = np.clip(1.0 - np.abs(y - seam) / 0.12, 0.0, 1.0)
    dx = 0.5 * dw * sx * sy
    disp = np.stack([dx, dy], axis=1)
    disp[MESH_POINTS:n] = 0.0  # anchors never move
    return Motion(displacement=disp, source_gap=source_gap, target_gap=float(target_gap))


@dataclass
class FaceModel:
    """A face's static facts for the renderer (see module doc)."""

    canonical: np.ndarray  # (468 + anchors, 2) average shape in its face frame, anchors appended
    triangulation: Triangulation
    height_per_eye_distance: float
    closed_gap: float  # inner-lip gap this face shows with the mouth closed (detector offset)
    max_open: float  # widest opening when speaking, face heights
    neutral_width: float
    references: list[MouthReference] = field(default_factory=list)
    lip_triangles: np.ndarray | None = None  # triangles of the lips and a thin ring of skin around them

    @property
    def anchors(self) -> int:
        return len(self.canonical) - MESH_POINTS

    @classmethod
    def from_landmarks(cls, landmarks: np.ndarray, references: list[MouthReference] | None = None,
                       height_per_eye_distance: float | None = None) -> FaceModel:
        """From a sequence of smoothed landmarks of one face, shape (k, 478, 2); k = 1 for a photo."""
        seq = np.asarray(landmarks, dtype=np.float64).reshape(-1, landmarks.shape[-2], 2)
        rigid = list(RIGID)
        base = seq[len(seq) // 2][rigid]
        aligned = []
        for lm in seq:
            t = _similarity(lm[rigid], base)
            aligned.append(lm @ t[:, :2].T + t[:, 2])
        mean = np.mean(aligned, axis=0)
        if height_per_eye_distance is None:
            height_per_eye_distance = face_frame(mean).height / max(eye_distance(mean), 1e-6)
        frames = [face_frame(lm, height_per_eye_distance) for lm in seq]
        gaps = np.array([mouth_gap(lm, f) for lm, f in zip(seq, frames, strict=True)])
        widths = np.array([mouth_width(lm, f) for lm, f in zip(seq, frames, strict=True)])
        closed_gap = float(np.percentile(gaps, 5)) if len(gaps) else 0.0
        # Closed lips read as closed: at most a hair's gap, even when this face rarely closes fully.
        closed_gap = min(closed_gap, CLOSED_GAP_MAX)
        speaking = float(np.percentile(gaps, 95)) if len(gaps) >= 10 else 0.06
        # A little wider than this speaker usually opens: the dub must read clearly on screen.
        max_open = float(np.clip(1.15 * speaking, MIN_MAX_OPEN, MAX_MAX_OPEN))
        closed = widths[gaps <= np.percentile(gaps, 30)] if len(widths) else widths
        neutral_width = float(np.median(closed if len(closed) else widths))
        frame = face_frame(mean, height_per_eye_distance)
        shape = frame.to_face(mean[:MESH_POINTS])
        anchors = _anchor_ring(shape)
        canonical = np.vstack([shape, anchors])
        opened = canonical + lower_face_motion(canonical, 0.12).displacement
        triangulation = Triangulation.build(opened, _control_subset(canonical))
        return cls(canonical=canonical, triangulation=triangulation,
                   height_per_eye_distance=float(height_per_eye_distance), closed_gap=closed_gap,
                   max_open=max_open, neutral_width=neutral_width, references=list(references or []),
                   lip_triangles=_lip_triangles(canonical, triangulation))

    @classmethod
    def from_track(cls, track) -> FaceModel:
        return cls.from_landmarks(track.smoothed, track.references, track.height_per_eye_distance)

    def frame(self, landmarks: np.ndarray) -> FaceFrame:
        return face_frame(landmarks, self.height_per_eye_distance)

    def control_points(self, landmarks: np.ndarray) -> np.ndarray:
        """Image coordinates of the mesh landmarks plus the anchors, which follow the head rigidly."""
        lm = np.asarray(landmarks, dtype=np.float64)
        rigid = list(RIGID)
        frame = self.frame(lm)
        canonical_rigid = self.canonical[rigid]
        t = _similarity(canonical_rigid, frame.to_face(lm[rigid]))
        anchors_face = self.canonical[MESH_POINTS:] @ t[:, :2].T + t[:, 2]
        return np.vstack([lm[:MESH_POINTS], frame.to_image(anchors_face)])

    def target_gap(self, pose: MouthPose) -> float:
        """Inner-lip opening for a pose, face heights: this face's resting gap (pressed shut by a
        closure) plus the opening on its own speaking scale. (A driver's `open` already falls to
        zero where it asks for a closure.)"""
        closed = self.closed_gap * (1.0 - np.clip(pose.closure, 0.0, 1.0))
        return float(closed + np.clip(pose.open, 0.0, 1.2) * self.max_open)

    @staticmethod
    def width_factor(pose: MouthPose) -> float:
        return float(1.0 + 0.06 * np.clip(pose.spread, 0, 1) - 0.14 * np.clip(pose.round, 0, 1))


def _lip_triangles(canonical: np.ndarray, triangulation: Triangulation) -> np.ndarray:
    """The lips' triangles (and the opening's) plus those of a ring of skin up to 0.03 face heights
    around the lips: what a shut-mouth reference is mapped onto."""
    from polydub.face.mesh import _inside

    outer = np.vstack([canonical[list(LIPS_OUTER_UPPER)], canonical[list(LIPS_OUTER_LOWER)][::-1]])
    centre = outer.mean(axis=0)
    grown = centre + (outer - centre) * 1.0 + 0.03 * (outer - centre) / np.maximum(
        np.linalg.norm(outer - centre, axis=1, keepdims=True), 1e-6)
    area = _inside(grown, canonical[:MESH_POINTS])
    contours = list(LIPS_OUTER_UPPER) + list(LIPS_OUTER_LOWER) + list(LIPS_INNER_UPPER) + list(LIPS_INNER_LOWER)
    area[contours] = True
    area = np.concatenate([area, np.zeros(len(canonical) - MESH_POINTS, dtype=bool)])
    tris = np.vstack([triangulation.hole, triangulation.triangles])
    return tris[area[tris].all(axis=1)]


def _control_subset(canonical: np.ndarray) -> np.ndarray:
    """Indices of the points the mesh is built on: all but the lips' intermediate rings, which run
    parallel to the lip contours and would only add slivers that fold at the mouth corners."""
    contours = set(LIPS_OUTER_UPPER) | set(LIPS_OUTER_LOWER) | set(LIPS_INNER_UPPER) | set(LIPS_INNER_LOWER)
    outer = np.vstack([canonical[list(LIPS_OUTER_UPPER)], canonical[list(LIPS_OUTER_LOWER)][::-1]])
    path = Path(outer)
    keep = [i for i in range(len(canonical))
            if i in contours or i >= MESH_POINTS or not path.contains_point(canonical[i], radius=-1e-4)]
    return np.asarray(keep)


def _anchor_ring(shape: np.ndarray) -> np.ndarray:
    """Fixed points around the lower face, outside the face oval and under the chin: the warp
    fades to nothing at them, so the jaw may move over the neck without touching the background
    beyond."""
    nose_y = shape[NOSE_BASE, 1]
    centre = shape[[NOSE_BASE, 152]].mean(axis=0)
    oval = shape[list(FACE_OVAL)]
    lower = oval[oval[:, 1] > nose_y - 0.05]
    direction = lower - centre
    direction /= np.maximum(np.linalg.norm(direction, axis=1, keepdims=True), 1e-6)
    ring = lower + 0.14 * direction
    chin = shape[152]
    extra = chin + np.array([[0.0, 0.24], [-0.18, 0.2], [0.18, 0.2], [-0.34, 0.12], [0.34, 0.12]])
    return np.vstack([ring, extra])
