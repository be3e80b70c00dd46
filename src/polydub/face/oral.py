"""A painted mouth interior for a face that is never seen open (a portrait photo).

The lip-sync renderer borrows the inside of the mouth from a video's own open frames; a photo has
none. A flat dark slot with a uniform grey band reads as fake once the video is watched at 2x, so
this one is built the way a mouth looks from the front: separate upper teeth, longest at the
incisors and fading into the shadow of the cheeks (the buccal corridor), shaded under the upper
lip and translucent at their edges; a few lower teeth, dimmer; a tongue behind them with a soft
highlight; and a deep cavity that is darkest in the middle. Colours come from the face itself
(lips and skin), so the interior sits in the photo's light.
"""

from __future__ import annotations

import cv2
import numpy as np

from polydub.face.interior import InteriorSource, painting_canvas
from polydub.face.landmarks import contour_y

SCALE = 600.0  # pixels per face height in the painted source
GAP = 0.1  # face heights between the painted lips: more than any speaking opening
# Tooth boundaries across the arch (0 middle, 1 mouth corner): incisors, laterals, canines, premolars.
UPPER_EDGES = (0.0, 0.19, 0.35, 0.5, 0.64, 0.78, 0.9)
LOWER_EDGES = (0.0, 0.12, 0.25, 0.38, 0.52)


def _teeth(s: np.ndarray, depth: np.ndarray, length: np.ndarray,
           edges: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(coverage 0..1, shading 0..1) of a row of teeth: `s` = |x| across the arch (0..1), `depth` =
    distance from the lip the teeth hang from, `length` = how far each tooth reaches at s."""
    edges_arr = np.asarray(edges)
    nearest = np.min(np.abs(s[..., None] - edges_arr[1:]), axis=-1) if len(edges_arr) > 1 else np.ones_like(s)
    # Each tooth's tip is rounded: it is a little shorter near its neighbours.
    tip = length * (1.0 - 0.18 * np.exp(-(nearest / 0.035) ** 2))
    cover = np.clip((tip - depth) / 0.003, 0.0, 1.0) * (depth > -0.006)  # nothing beyond the lip
    gaps = 1.0 - 0.35 * np.exp(-(nearest / 0.012) ** 2)  # the dark line between two teeth
    along = np.clip(depth / np.maximum(tip, 1e-4), 0.0, 1.0)
    # Root end in the lip's shadow, body bright, tip a little translucent (greyer).
    profile = 0.68 + 0.42 * np.sin(np.pi * np.clip(0.15 + 0.8 * along, 0, 1)) - 0.12 * along ** 6
    return cover, np.clip(profile * gaps, 0.0, 1.1)


def painted_interior(lips_bgr: np.ndarray, skin_bgr: np.ndarray, half_width: float) -> InteriorSource:
    """An `InteriorSource` (see `polydub.face.interior`) painted for this face's colours and mouth width
    (`half_width`: half the inner mouth width, face heights)."""
    w = int(2.8 * half_width * SCALE) | 1
    h = int((GAP + 0.06) * SCALE) | 1
    frame, upper, lower, gx, gy = painting_canvas(half_width, GAP, SCALE, w, h)
    s = np.clip(np.abs(gx) / half_width, 0.0, 1.5)
    top, bottom = contour_y(upper, gx), contour_y(lower, gx)
    lips = np.asarray(lips_bgr, dtype=np.float32)
    skin = np.asarray(skin_bgr, dtype=np.float32)
    light = float(np.clip(np.dot(skin, [0.114, 0.587, 0.299]) / 185.0, 0.55, 1.15))
    # The cavity: dark, reddish, darkest in the middle of the opening and towards the corners.
    mid = np.clip(1.0 - np.abs(gy) / (GAP / 2), 0.0, 1.0)
    cavity = (lips * 0.24 + np.array([4, 4, 10], np.float32))[None, None, :] * (
        1.0 - 0.35 * mid[..., None]) * (1.0 - 0.45 * np.clip(s, 0, 1)[..., None] ** 2)
    image = cavity.astype(np.float32)
    # The tongue: low, behind the lower teeth, lit from the front at its top.
    tongue_c = bottom - 0.012
    tongue_r = ((gx / (0.66 * half_width)) ** 2 + ((gy - tongue_c) / 0.03) ** 2)
    tongue = np.clip((1.0 - tongue_r) / 0.15, 0.0, 1.0) * (gy > tongue_c - 0.03)
    tongue_col = (0.55 * lips + 0.45 * np.array([100, 110, 200], np.float32)) * 0.82 * light
    highlight = np.exp(-((gx / (0.32 * half_width)) ** 2 + ((gy - (tongue_c - 0.018)) / 0.008) ** 2))
    rim = (tongue_r * (tongue_r < 1))[..., None]  # darker towards the tongue's edge
    tongue_px = tongue_col[None, None, :] * (0.75 + 0.45 * highlight[..., None] - 0.25 * rim)
    image = image * (1 - tongue[..., None]) + tongue_px * tongue[..., None]
    # Teeth: ivory, lit like the face, fading into the cheeks' shadow beyond the canines.
    enamel = np.array([196, 212, 226], np.float32) * light
    across = np.clip(1.0 - (np.clip(s, 0, 1.2) / 0.95) ** 2.2, 0.0, 1.0) ** 0.7
    up_len = 0.036 - 0.014 * np.clip(s, 0, 1) ** 2
    up_cover, up_shade = _teeth(s, gy - top, up_len, UPPER_EDGES)
    low_len = 0.017 - 0.007 * np.clip(s, 0, 1) ** 2
    low_cover, low_shade = _teeth(s, bottom - gy, low_len, LOWER_EDGES)
    low_cover = low_cover * (s < 0.7)
    for cover, shade, level in ((low_cover, low_shade, 0.62), (up_cover, up_shade, 1.0)):
        tooth = enamel[None, None, :] * (shade * level * (0.35 + 0.65 * across))[..., None]
        a = (cover * np.clip(across * 1.6, 0, 1))[..., None]
        image = image * (1 - a) + tooth * a
    # The upper lip's shadow on whatever is right below it.
    under_lip = 1.0 - 0.35 * np.exp(-np.maximum(gy - top, 0) / 0.004)
    image *= under_lip[..., None]
    image = cv2.GaussianBlur(image, (0, 0), 0.0022 * SCALE)
    return InteriorSource(image=np.clip(image, 0, 255).astype(np.uint8), frame=frame, upper=upper, lower=lower,
                          colour=lips.astype(np.float64), gap=GAP, synthetic=True)
