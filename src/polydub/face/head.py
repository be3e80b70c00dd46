"""Small head motion for a still portrait: a slow sway, nods on stressed syllables, stillness optional.

A talking head whose skull is nailed to the frame looks dead even when the mouth moves well. The
head here turns (roll) by a degree or so and drifts by a few pixels on a few slow, incommensurate
sine waves (never periodic), a little more while speaking than in pauses; on stressed syllables
(the loudest syllable nuclei, at most about one a second) it dips in a short nod. The motion is
applied as a smooth warp that is full over the head and fades to nothing towards the frame's
edges and below the neck, so the background and the shoulders stay where they are and nothing
tears.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from polydub.face.landmarks import CHIN, FOREHEAD, LEFT_EYE_OUTER, RIGHT_EYE_OUTER

SWAY_ROLL_DEG = 1.1
SWAY_SHIFT = 0.012  # face heights
NOD_DROP = 0.016  # face heights a nod moves the head down
NOD_S = 0.5
NOD_MIN_GAP_S = 0.9
PAUSE_SWAY = 0.55  # share of the sway left in pauses (idle motion)
COARSE = 8  # pixels between the motion field's samples


@dataclass
class HeadPose:
    """Per frame: roll (degrees), shift x/y (face heights), vertical squash (nod, 0..)."""

    roll: np.ndarray
    dx: np.ndarray
    dy: np.ndarray
    nod: np.ndarray
    nods: int

    def moving(self) -> bool:
        return bool(np.any(np.abs(self.roll) > 1e-4) or np.any(np.abs(self.dx) > 1e-6)
                    or np.any(np.abs(self.dy) > 1e-6))


def _smooth(values: np.ndarray, sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter1d

    return gaussian_filter1d(values.astype(np.float64), sigma, mode="nearest") if len(values) > 2 else values


def stressed_times(times: np.ndarray, loudness: np.ndarray, speaking: np.ndarray) -> list[float]:
    """The loudest syllable nuclei, at least `NOD_MIN_GAP_S` apart."""
    if len(times) < 3:
        return []
    level = _smooth(np.asarray(loudness, dtype=np.float64), 1.0)
    spoken = level[np.asarray(speaking, dtype=bool)]
    if not len(spoken):
        return []
    threshold = max(float(np.percentile(spoken, 80)), 0.35)
    peaks = [i for i in range(1, len(level) - 1)
             if level[i] >= threshold and level[i] >= level[i - 1] and level[i] > level[i + 1] and speaking[i]]
    chosen: list[float] = []
    for i in sorted(peaks, key=lambda i: -level[i]):
        if all(abs(times[i] - t) >= NOD_MIN_GAP_S for t in chosen):
            chosen.append(float(times[i]))
    return sorted(chosen)


def plan_head(times: np.ndarray, loudness: np.ndarray, speaking: np.ndarray, rng: np.random.Generator,
              idle: bool = True, nods: bool = True) -> HeadPose:
    """Head motion for frames at `times` (see module doc). `idle=False` keeps the head still in pauses."""
    t = np.asarray(times, dtype=np.float64)
    n = len(t)
    active = _smooth(np.asarray(speaking, dtype=np.float64), 6.0) if n else np.zeros(0)
    gain = PAUSE_SWAY + (1 - PAUSE_SWAY) * active if idle else active

    def sway(amplitude: float) -> np.ndarray:
        freqs = rng.uniform([0.07, 0.17, 0.31], [0.12, 0.26, 0.45])
        phases = rng.uniform(0, 2 * np.pi, 3)
        weights = np.array([0.6, 0.3, 0.15])
        wave = sum(w * np.sin(2 * np.pi * f * t + p) for w, f, p in zip(weights, freqs, phases, strict=True))
        return amplitude * wave / weights.sum()

    roll = sway(SWAY_ROLL_DEG) * gain
    dx = sway(SWAY_SHIFT) * gain
    dy = sway(0.6 * SWAY_SHIFT) * gain
    nod = np.zeros(n)
    stressed = stressed_times(t, loudness, speaking) if nods else []
    for peak in stressed:
        # down slightly before the stressed vowel, back up over the next ~half second
        d = (t - (peak - 0.12)) / NOD_S
        bump = np.where((d > 0) & (d < 1), np.sin(np.pi * np.clip(d, 0, 1)) ** 2, 0.0)
        nod = np.maximum(nod, bump)
    return HeadPose(roll=roll, dx=dx, dy=dy + NOD_DROP * nod, nod=nod, nods=len(stressed))


class HeadWarp:
    """Moves the head of one portrait image by a `HeadPose` frame, background and body kept still."""

    def __init__(self, shape: tuple[int, int], landmarks: np.ndarray) -> None:
        h, w = shape[:2]
        lm = np.asarray(landmarks, dtype=np.float64)
        self.face_height = float(np.linalg.norm(lm[CHIN] - lm[FOREHEAD]))
        eyes = (lm[LEFT_EYE_OUTER] + lm[RIGHT_EYE_OUTER]) / 2
        # The head turns about the top of the neck, a little below the chin.
        self.pivot = lm[CHIN] + 0.15 * (lm[CHIN] - eyes)
        centre = (eyes + lm[CHIN]) / 2 - [0, 0.15 * self.face_height]
        rx, ry = 0.95 * self.face_height, 1.05 * self.face_height
        # Only the part of the image near the head is warped (full images can be large).
        reach = 1.9
        x0, x1 = int(max(0, centre[0] - reach * rx)), int(min(w, centre[0] + reach * rx))
        y0, y1 = int(max(0, centre[1] - reach * ry)), int(min(h, centre[1] + reach * ry))
        self.region = (x0, y0, x1, y1)
        # The motion field is smooth: it is computed on a coarse grid and resized to the region.
        self.size = (x1 - x0, y1 - y0)
        gx, gy = np.meshgrid(np.linspace(x0, x1 - 1, max(2, (x1 - x0) // COARSE + 2), dtype=np.float32),
                             np.linspace(y0, y1 - 1, max(2, (y1 - y0) // COARSE + 2), dtype=np.float32))
        r = np.sqrt(((gx - centre[0]) / rx) ** 2 + ((gy - centre[1]) / ry) ** 2)
        weight = np.clip((reach - r) / (reach - 1.0), 0.0, 1.0)
        weight = weight * weight * (3 - 2 * weight)
        # The neck and shoulders below the chin stay (they belong to the body, not the head).
        below = np.clip((gy - (lm[CHIN][1] + 0.1 * self.face_height)) / (0.35 * self.face_height), 0.0, 1.0)
        weight *= 1.0 - below * below * (3 - 2 * below)
        # Nothing moves at the frame's own edges (no border to invent).
        edge = np.minimum.reduce([gx, gy, w - 1 - gx, h - 1 - gy]) / max(4.0, 0.04 * max(w, h))
        weight *= np.clip(edge, 0.0, 1.0)
        self.gx, self.gy, self.weight = gx, gy, weight.astype(np.float32)

    def apply(self, image: np.ndarray, roll_deg: float, dx: float, dy: float, nod: float) -> np.ndarray:
        """The moved image, in place (`image` is changed and returned)."""
        if abs(roll_deg) < 1e-4 and abs(dx) < 1e-6 and abs(dy) < 1e-6:
            return image
        x0, y0, x1, y1 = self.region
        a = np.deg2rad(roll_deg)
        cos, sin = np.cos(a), np.sin(a)
        squash = 1.0 - 0.02 * nod  # a nod tips the face down: it looks a little shorter
        px, py = self.pivot
        # Backward map: for each output pixel, where it comes from under the full motion.
        ux = self.gx - px - dx * self.face_height
        uy = self.gy - py - dy * self.face_height
        sx = cos * ux + sin * uy
        sy = (-sin * ux + cos * uy) / squash
        map_x = cv2.resize((self.gx + self.weight * (sx + px - self.gx)).astype(np.float32), self.size,
                           interpolation=cv2.INTER_LINEAR)
        map_y = cv2.resize((self.gy + self.weight * (sy + py - self.gy)).astype(np.float32), self.size,
                           interpolation=cv2.INTER_LINEAR)
        image[y0:y1, x0:x1] = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return image
