"""The inside of the mouth: what shows between the lips when the renderer opens them.

Pixels come from a real open mouth of the same face (this frame's own when it is open enough,
otherwise one of the track's most open frames) and are placed the way a mouth works: the upper
teeth hang from the upper lip and the lower teeth ride on the lower lip, each at their real size.
Opening wider than the source shows more of the dark cavity between them; closing hides the middle
of it. Nothing is squeezed, so a closing mouth never shows flattened teeth in the lip seam. A face
that is never seen open (a photo) gets a soft procedural interior built from its own lip and skin
colours.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from polydub.face.landmarks import (
    LIPS_INNER_LOWER,
    LIPS_INNER_UPPER,
    LIPS_OUTER_LOWER,
    LIPS_OUTER_UPPER,
    FaceFrame,
    contour_y,
    face_frame,
)


def lip_colour(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Mean BGR of the lips (outer contour minus the opening)."""
    outer = np.vstack([landmarks[list(LIPS_OUTER_UPPER)], landmarks[list(LIPS_OUTER_LOWER)][::-1]])
    inner = np.vstack([landmarks[list(LIPS_INNER_UPPER)], landmarks[list(LIPS_INNER_LOWER)][::-1]])
    x0, y0 = np.floor(outer.min(axis=0)).astype(int)
    x1, y1 = np.ceil(outer.max(axis=0)).astype(int) + 1
    h, w = image.shape[:2]
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return np.array([90.0, 90.0, 160.0])
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(mask, [np.round(outer - [x0, y0]).astype(np.int32)], 1)
    cv2.fillPoly(mask, [np.round(inner - [x0, y0]).astype(np.int32)], 0)
    pixels = image[y0:y1, x0:x1][mask > 0]
    return pixels.mean(axis=0) if len(pixels) else np.array([90.0, 90.0, 160.0])


def painting_canvas(half_width: float, gap: float, scale: float, w: int, h: int):
    """For painting an interior: (its face frame, upper and lower inner lip contours as half
    ellipses `gap` apart, and the face coordinates x, y of every pixel of a w x h image)."""
    frame = FaceFrame(origin=np.array([w / 2, h / 2]), x_axis=np.array([1.0, 0.0]), y_axis=np.array([0.0, 1.0]),
                      height=scale)
    xs = np.linspace(-half_width, half_width, 11)
    profile = np.sqrt(np.clip(1 - (xs / half_width) ** 2, 0, 1))
    upper = np.stack([xs, -gap / 2 * profile], axis=1)
    lower = np.stack([xs, gap / 2 * profile], axis=1)
    gx, gy = np.meshgrid((np.arange(w) - w / 2) / scale, (np.arange(h) - h / 2) / scale)
    return frame, upper, lower, gx, gy


@dataclass
class InteriorSource:
    """An open mouth to take interior pixels from: image, its face frame, inner contours in face
    coordinates, and its lip colour (for colour matching)."""

    image: np.ndarray
    frame: FaceFrame
    upper: np.ndarray  # (11, 2) inner upper lip, face coords
    lower: np.ndarray  # (11, 2) inner lower lip, face coords
    colour: np.ndarray  # lip BGR
    gap: float  # opening at the middle, face heights
    synthetic: bool = False

    @classmethod
    def from_landmarks(cls, image: np.ndarray, landmarks: np.ndarray, height_per_eye_distance: float,
                       frame: FaceFrame | None = None) -> InteriorSource:
        frame = frame or face_frame(landmarks, height_per_eye_distance)
        upper = frame.to_face(landmarks[list(LIPS_INNER_UPPER)])
        lower = frame.to_face(landmarks[list(LIPS_INNER_LOWER)])
        gap = float(max(0.0, np.median((lower - upper)[4:7, 1])))
        return cls(image=image, frame=frame, upper=upper, lower=lower,
                   colour=lip_colour(image, landmarks), gap=gap)

    @classmethod
    def procedural(cls, lips_bgr: np.ndarray, skin_bgr: np.ndarray, half_width: float) -> InteriorSource:
        """A believable, deliberately soft mouth interior for a face never seen open."""
        scale = 600.0  # pixels per face height
        gap = 0.1
        w, h = int(2.8 * half_width * scale) | 1, int(0.16 * scale) | 1
        frame, upper, lower, gx, gy = painting_canvas(half_width, gap, scale, w, h)
        s = np.clip(np.abs(gx) / half_width, 0, 1)
        top = contour_y(upper, gx)
        bottom = contour_y(lower, gx)
        lips = np.asarray(lips_bgr, dtype=np.float32)
        skin_luma = float(np.dot(np.asarray(skin_bgr, dtype=np.float32), [0.114, 0.587, 0.299]))
        light = np.clip(skin_luma / 190.0, 0.5, 1.15)
        image = np.empty((h, w, 3), np.float32)
        image[:] = lips * 0.14 + np.array([4, 4, 10], np.float32)  # dark cavity
        tongue = ((gx / (0.65 * half_width)) ** 2 + ((gy - bottom) / 0.04) ** 2) < 1.0
        image[tongue] = lips * 0.5
        across = (0.4 + 0.6 * (1 - s ** 1.6))[..., None]
        upper_teeth = (gy >= top) & (gy <= top + 0.028)
        depth = np.clip((gy - top) / 0.028, 0, 1)
        shade = (0.72 + 0.28 * np.sin(np.pi * np.clip(depth * 0.9 + 0.1, 0, 1)))[..., None]
        teeth = np.array([206, 214, 222], np.float32) * light
        image = np.where(upper_teeth[..., None], teeth * shade * across, image)
        lower_teeth = (gy <= bottom) & (gy >= bottom - 0.01)
        image = np.where(lower_teeth[..., None], teeth * 0.5 * across, image)
        for edge in (0.17, 0.38, 0.58, 0.76):  # faint gaps between teeth
            near = np.abs(s - edge) < 0.006
            image[near & (upper_teeth | lower_teeth)] *= 0.86
        image = cv2.GaussianBlur(image, (0, 0), 0.003 * scale)
        return cls(image=np.clip(image, 0, 255).astype(np.uint8), frame=frame, upper=upper, lower=lower,
                   colour=lips.astype(np.float64), gap=gap, synthetic=True)


def interior_maps(source: InteriorSource, target_frame: FaceFrame, upper: np.ndarray, lower: np.ndarray,
                  region: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """remap maps (region-sized) into `source.image` for a target mouth whose inner contours are
    `upper`/`lower` (face coords of `target_frame`), the target opening at every pixel, and how
    central each pixel is between the lips (0 at a lip edge, 1 midway)."""
    x0, y0, x1, y1 = region
    gx, gy = np.meshgrid(np.arange(x0, x1, dtype=np.float64), np.arange(y0, y1, dtype=np.float64))
    face = target_frame.to_face(np.stack([gx, gy], axis=-1))
    xq, yq = face[..., 0], face[..., 1]
    top_t, bottom_t = contour_y(upper, xq), contour_y(lower, xq)
    centre_t = (upper[0, 0] + upper[-1, 0]) / 2
    half_t = max(abs(upper[-1, 0] - upper[0, 0]) / 2, 1e-4)
    centre_r = (source.upper[0, 0] + source.upper[-1, 0]) / 2
    half_r = max(abs(source.upper[-1, 0] - source.upper[0, 0]) / 2, 1e-4)
    xr = centre_r + (xq - centre_t) / half_t * half_r * 0.97  # stay inside the source's corners
    top_r, bottom_r = contour_y(source.upper, xr), contour_y(source.lower, xr)
    # Detected inner contours tend to sit on the lips' wet inner edge: start a little inside them,
    # or the interior brings a second copy of the lip along.
    inset = np.minimum(0.12 * np.maximum(bottom_r - top_r, 0.0), 0.008)
    top_r, bottom_r = top_r + inset, bottom_r - inset
    half_gap_r = np.maximum(bottom_r - top_r, 0.0) / 2
    gap_t = np.maximum(bottom_t - top_t, 0.0)
    from_top = yq - top_t
    from_bottom = bottom_t - yq
    upper_half = from_top <= gap_t / 2
    yr = np.where(upper_half, top_r + np.minimum(np.maximum(from_top, 0), half_gap_r),
                  bottom_r - np.minimum(np.maximum(from_bottom, 0), half_gap_r))
    src = source.frame.to_image(np.stack([xr, yr], axis=-1))
    central = np.clip(np.minimum(from_top, from_bottom) / np.maximum(gap_t / 2, 1e-6), 0.0, 1.0)
    return src[..., 0].astype(np.float32), src[..., 1].astype(np.float32), gap_t, central


def sample(source: InteriorSource, map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
    return cv2.remap(source.image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
