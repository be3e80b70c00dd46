"""Eye blinks for a still portrait: the upper lid is painted down over the eye, not warped.

Warping the lid (tried first) drags the lashes into smears and leaves white specks of the eyeball
at the seam. Instead each eye gets, once, a closed-lid image: the eye opening and the band of
upper lashes inpainted from the surrounding lid skin. A blink of amount b (0 open .. 1 shut)
shows that lid from above the lash line down to a curve that descends from the upper lid margin
towards the lower one, with a fresh lash line drawn along its edge in the eye's own lash colour.
Blinks come at natural, irregular intervals (about every 2-6 s, now and then a double blink) and
take about a quarter of a second: fast down, slower up.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Subject's right eye (image left), then left eye; each contour from the outer to the inner corner.
EYES = (
    ((33, 246, 161, 160, 159, 158, 157, 173, 133), (33, 7, 163, 144, 145, 153, 154, 155, 133)),
    ((263, 466, 388, 387, 386, 385, 384, 398, 362), (263, 249, 390, 373, 374, 380, 381, 382, 362)),
)
LASH_BAND = 0.17  # eye widths above the upper lid margin that hold the lashes
CLOSING_S, SHUT_S, OPENING_S = 0.075, 0.035, 0.15


def _curve(points: np.ndarray, xs: np.ndarray) -> np.ndarray:
    order = np.argsort(points[:, 0])
    return np.interp(xs, points[order, 0], points[order, 1])


@dataclass
class Eyelid:
    """One eye's closed lid, prepared once from the photo."""

    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in the image
    upper: np.ndarray  # (k, 2) lid margins in box coordinates
    lower: np.ndarray
    lid: np.ndarray  # float32 BGR of the box with the eye shut (no lash line yet)
    lash: np.ndarray  # BGR of the lashes
    width: float  # eye width, pixels

    @classmethod
    def from_landmarks(cls, image: np.ndarray, landmarks: np.ndarray, upper_idx, lower_idx) -> Eyelid | None:
        upper, lower = landmarks[list(upper_idx)].astype(np.float64), landmarks[list(lower_idx)].astype(np.float64)
        width = float(np.linalg.norm(upper[-1] - upper[0]))
        if width < 6:  # too small to see a blink: leave this eye alone
            return None
        h, w = image.shape[:2]
        pts = np.vstack([upper, lower])
        x0 = int(max(0, np.floor(pts[:, 0].min() - 0.3 * width)))
        x1 = int(min(w, np.ceil(pts[:, 0].max() + 0.3 * width)))
        y0 = int(max(0, np.floor(pts[:, 1].min() - 0.6 * width)))
        y1 = int(min(h, np.ceil(pts[:, 1].max() + 0.35 * width)))
        if x1 - x0 < 4 or y1 - y0 < 4:
            return None
        crop = image[y0:y1, x0:x1]
        upper_b, lower_b = upper - [x0, y0], lower - [x0, y0]
        band = LASH_BAND * width
        # What goes: the opening and the lashes above it (the lashes move down with the lid).
        hole = np.vstack([upper_b - [0, band], lower_b[::-1] + [0, 0.03 * width]])
        mask = np.zeros(crop.shape[:2], np.uint8)
        cv2.fillPoly(mask, [np.round(hole).astype(np.int32)], 255)
        mask = cv2.dilate(mask, np.ones((3, 3), np.uint8))
        lid = cv2.inpaint(crop, mask, max(3.0, 0.15 * width), cv2.INPAINT_TELEA).astype(np.float32)
        # A shut lid is a curved surface: a touch darker towards its edge, where it folds under.
        ys = np.arange(crop.shape[0], dtype=np.float64)[:, None]
        xs = np.arange(crop.shape[1], dtype=np.float64)[None, :]
        low = _curve(lower_b, xs.ravel())[None, :]
        shade = 1.0 - 0.12 * np.clip(1.0 - (low - ys) / (0.35 * width), 0, 1) * (mask > 0)
        lid *= shade[..., None].astype(np.float32)
        lash_region = np.zeros(crop.shape[:2], np.uint8)
        lash_polygon = np.vstack([upper_b - [0, band], upper_b[::-1] + [0, 1]])
        cv2.fillPoly(lash_region, [np.round(lash_polygon).astype(np.int32)], 1)
        lash_pixels = crop[lash_region > 0].reshape(-1, 3)
        if len(lash_pixels):
            luma = lash_pixels @ np.array([0.114, 0.587, 0.299])
            lash = lash_pixels[luma <= np.percentile(luma, 20)].mean(axis=0)
        else:
            lash = np.array([30.0, 30.0, 35.0])
        return cls(box=(x0, y0, x1, y1), upper=upper_b, lower=lower_b, lid=lid, lash=lash.astype(np.float32),
                   width=width)

    def apply(self, image: np.ndarray, amount: float) -> None:
        """Paint this eye `amount` (0..1) shut, in place."""
        if amount <= 0.02:
            return
        x0, y0, x1, y1 = self.box
        crop = image[y0:y1, x0:x1].astype(np.float32)
        ys = np.arange(y1 - y0, dtype=np.float64)[:, None]
        xs = np.arange(x1 - x0, dtype=np.float64)
        top = _curve(self.upper, xs)[None, :]
        bottom = _curve(self.lower, xs)[None, :]
        left, right = self.upper[:, 0].min(), self.upper[:, 0].max()
        inside_x = np.clip(np.minimum(xs - left, right - xs) / max(0.04 * self.width, 1.0), 0, 1)[None, :]
        # The lid edge descends from the upper margin to just above the lower one.
        edge = top + amount * (bottom - top + 0.02 * self.width)
        band = LASH_BAND * self.width
        feather = max(0.6, 0.02 * self.width)
        # Soft at the top, where the painted lid meets the real one above the lashes.
        soft_top = max(1.0, 0.06 * self.width)
        cover = np.clip((edge - ys) / feather + 0.5, 0, 1) * np.clip((ys - (top - band)) / soft_top + 0.3, 0, 1)
        cover = cover * inside_x
        # Towards the corners the lid meets skin, not eye: let the inpainted skin fade in softly.
        out = crop * (1 - cover[..., None]) + self.lid * cover[..., None]
        thick = (0.05 + 0.04 * amount) * self.width
        lash = np.exp(-((ys - (edge - 0.5 * thick)) / max(thick / 2, 0.5)) ** 2) * inside_x
        lash *= np.clip(0.55 + 0.5 * amount, 0, 0.95)
        out = out * (1 - lash[..., None]) + self.lash * lash[..., None]
        image[y0:y1, x0:x1] = np.clip(out + 0.5, 0, 255).astype(np.uint8)


def blink_amount(t: np.ndarray, start: float) -> np.ndarray:
    """How shut the eyes are at times `t` for a blink starting at `start`."""
    d = np.asarray(t, dtype=np.float64) - start
    closing = np.clip(d / CLOSING_S, 0, 1)
    opening = np.clip((d - CLOSING_S - SHUT_S) / OPENING_S, 0, 1)
    down = closing * closing * (3 - 2 * closing)
    up = opening * opening * (3 - 2 * opening)
    return np.where(d < 0, 0.0, down * (1 - up))


def blink_starts(duration: float, rng: np.random.Generator) -> list[float]:
    """Blink start times over `duration` seconds: irregular, about every 2-6 s, sometimes double."""
    starts, t = [], float(rng.uniform(0.6, 1.8))
    while t < duration - 0.25:
        starts.append(t)
        if rng.random() < 0.12 and t + 0.6 < duration - 0.25:
            t += 0.38
            starts.append(t)
        t += float(np.clip(rng.gamma(4.0, 0.9), 1.8, 6.5))
    return starts


def blink_curve(times: np.ndarray, starts: list[float]) -> np.ndarray:
    """Eye closure (0..1) at each frame time; each frame shows the mean over its display time."""
    times = np.asarray(times, dtype=np.float64)
    step = float(np.median(np.diff(times))) if len(times) > 1 else 0.04
    out = np.zeros(len(times))
    for s in starts:
        near = (times > s - step) & (times < s + CLOSING_S + SHUT_S + OPENING_S + step)
        if near.any():
            sub = times[near][:, None] + np.linspace(0, step, 5, endpoint=False)[None, :]
            out[near] = np.maximum(out[near], blink_amount(sub, s).mean(axis=1))
    return out


class Eyelids:
    """Both eyes of one portrait."""

    def __init__(self, image: np.ndarray, landmarks: np.ndarray) -> None:
        lids = [Eyelid.from_landmarks(image, landmarks, up, low) for up, low in EYES]
        self.lids = [lid for lid in lids if lid is not None]

    def apply(self, image: np.ndarray, amount: float) -> None:
        for lid in self.lids:
            lid.apply(image, amount)
