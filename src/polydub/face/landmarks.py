"""MediaPipe face-mesh landmark indices and the face's own coordinate frame.

Everything the lip-sync code measures is expressed in the face's frame: x along the eye line, y
perpendicular to it (down, towards the chin), lengths in face heights, so a measure means the same
on a 512 px close-up and on a small face in a 1080x1920 frame, and a tilted head opens its mouth
along its own vertical axis, not the image's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NUM_LANDMARKS = 478  # face mesh with refined lips, eyes and irises

# Lip contours, each from the subject's right mouth corner (image left) to the left one.
LIPS_OUTER_UPPER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
LIPS_OUTER_LOWER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
LIPS_INNER_UPPER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LIPS_INNER_LOWER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
INNER_TOP, INNER_BOTTOM = 13, 14
INNER_CORNERS = (78, 308)
OUTER_CORNERS = (61, 291)

RIGHT_EYE_OUTER, LEFT_EYE_OUTER = 33, 263
FOREHEAD, CHIN, NOSE_TIP = 10, 152, 1
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
             152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
# Points that do not move when the mouth or jaw moves: they carry the head's rigid motion.
RIGID = (33, 133, 362, 263, 168, 6, 197, 195, 5, 4, 151, 9, 8, 10, 109, 338, 67, 297, 234, 454,
         127, 356, 70, 300, 105, 334, 46, 276)


@dataclass(frozen=True)
class FaceFrame:
    """Origin at the inner mouth centre, unit axes of the face, and its size in pixels."""

    origin: np.ndarray  # (2,)
    x_axis: np.ndarray  # (2,) along the eye line, towards the subject's left eye
    y_axis: np.ndarray  # (2,) perpendicular, towards the chin
    height: float  # face height in pixels (forehead to chin with the mouth closed)

    def to_face(self, points: np.ndarray) -> np.ndarray:
        """Pixel coordinates -> face coordinates in face heights."""
        d = np.asarray(points, dtype=np.float64) - self.origin
        rot = np.stack([self.x_axis, self.y_axis], axis=1) / self.height  # columns: the axes
        return d @ rot

    def to_image(self, face_points: np.ndarray) -> np.ndarray:
        """Face coordinates (face heights) -> pixel coordinates."""
        rot = np.stack([self.x_axis, self.y_axis], axis=0) * self.height  # rows: the axes
        return np.asarray(face_points, dtype=np.float64) @ rot + self.origin


def eye_distance(landmarks: np.ndarray) -> float:
    return float(np.linalg.norm(landmarks[LEFT_EYE_OUTER] - landmarks[RIGHT_EYE_OUTER]))


def face_frame(landmarks: np.ndarray, height_per_eye_distance: float | None = None) -> FaceFrame:
    """The face's frame from one set of landmarks (pixels, shape (478, 2)).

    `height_per_eye_distance` fixes the face height as a multiple of the outer eye distance (a
    track's constant, so the unit does not change when the jaw drops); without it the forehead-
    chin distance of these landmarks is used."""
    lm = np.asarray(landmarks, dtype=np.float64)
    x = lm[LEFT_EYE_OUTER] - lm[RIGHT_EYE_OUTER]
    eyes = float(np.linalg.norm(x))
    x = x / max(eyes, 1e-6)
    y = np.array([-x[1], x[0]])
    if height_per_eye_distance is not None:
        height = eyes * height_per_eye_distance
    else:
        height = abs(float((lm[CHIN] - lm[FOREHEAD]) @ y))
    origin = (lm[INNER_CORNERS[0]] + lm[INNER_CORNERS[1]]) / 2
    return FaceFrame(origin=origin, x_axis=x, y_axis=y, height=max(height, 1e-3))


def mouth_gap(landmarks: np.ndarray, frame: FaceFrame) -> float:
    """Inner-lip opening at the middle of the mouth, in face heights (0 when closed)."""
    lm = np.asarray(landmarks, dtype=np.float64)
    upper = lm[[80, 81, 82, 13, 312, 311, 310]]
    lower = lm[[88, 178, 87, 14, 317, 402, 318]]
    gap = ((lower - upper) @ frame.y_axis) / frame.height
    # The middle three pairs: robust to one noisy point, still the opening a viewer sees.
    return float(max(0.0, np.median(gap[2:5])))


def mouth_width(landmarks: np.ndarray, frame: FaceFrame) -> float:
    """Distance between the outer mouth corners along the eye line, in face heights."""
    lm = np.asarray(landmarks, dtype=np.float64)
    return float(abs((lm[OUTER_CORNERS[1]] - lm[OUTER_CORNERS[0]]) @ frame.x_axis) / frame.height)


def contour_y(points: np.ndarray, x: np.ndarray) -> np.ndarray:
    """y of a lip contour (points in face coordinates) at x, flat beyond its ends."""
    order = np.argsort(points[:, 0])
    return np.interp(x, points[order, 0], points[order, 1])


def bounding_box(landmarks: np.ndarray) -> tuple[float, float, float, float]:
    lm = np.asarray(landmarks)
    x0, y0 = lm.min(axis=0)
    x1, y1 = lm.max(axis=0)
    return float(x0), float(y0), float(x1), float(y1)
