"""Triangle-mesh warping of the lower face: a fixed triangulation, a piecewise-affine backward map,
and a guard that scales a frame's motion back instead of letting a triangle flip.

The triangulation is built once per face from its average shape with the mouth held open: a plain
Delaunay triangulation of a closed mouth bridges the lip seam (upper and lower lip in one
triangle), so opening it would tear the lips. Built open, the inside of the mouth is a hole of its
own, the two lips never share a triangle, and the hole is filled by the mouth interior.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from polydub.face.landmarks import LIPS_INNER_LOWER, LIPS_INNER_UPPER

SUBPIXEL_SHIFT = 4  # fillConvexPoly works on 1/16 px coordinates: triangle edges meet without cracks


def inner_lip_polygon() -> list[int]:
    """The mouth opening as one closed polygon: upper inner lip left to right, lower back."""
    return list(LIPS_INNER_UPPER) + list(LIPS_INNER_LOWER[-2:0:-1])


def _inside(polygon: np.ndarray, points: np.ndarray) -> np.ndarray:
    contour = polygon.astype(np.float32).reshape(-1, 1, 2)
    return np.array([cv2.pointPolygonTest(contour, (float(x), float(y)), False) > 0 for x, y in points])


@dataclass(frozen=True)
class Triangulation:
    triangles: np.ndarray  # (t, 3) indices into the control points, face and skin
    hole: np.ndarray  # (h, 3) triangles inside the mouth opening

    @classmethod
    def build(cls, open_points: np.ndarray, subset: np.ndarray | None = None, mouth_hole: bool = True) -> Triangulation:
        """Delaunay triangulation of `open_points` (an average shape with the mouth opened),
        optionally of a subset of them; indices always refer to all points. With `mouth_hole`
        (face-mesh points) the triangles inside the lips are set apart as the hole."""
        from scipy.spatial import Delaunay

        subset = np.arange(len(open_points)) if subset is None else np.asarray(subset)
        tri = subset[Delaunay(open_points[subset]).simplices].astype(np.int32)
        if not mouth_hole:
            return cls(triangles=tri, hole=np.zeros((0, 3), np.int32))
        mouth = open_points[inner_lip_polygon()]
        centroids = open_points[tri].mean(axis=1)
        in_hole = _inside(mouth, centroids)
        return cls(triangles=tri[~in_hole], hole=tri[in_hole])


def signed_areas(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    a, b, c = points[triangles[:, 0]], points[triangles[:, 1]], points[triangles[:, 2]]
    return 0.5 * ((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]))


# Triangles thinner than this (pixels, their smallest height) are slivers along a lip line:
# folding one is invisible, and letting it veto a frame's motion would hold frames back for nothing.
MIN_HEIGHT_PX = 0.75


def _solid(points: np.ndarray, triangles: np.ndarray, areas: np.ndarray) -> np.ndarray:
    a, b, c = points[triangles[:, 0]], points[triangles[:, 1]], points[triangles[:, 2]]
    longest = np.max(np.stack([np.linalg.norm(b - a, axis=1), np.linalg.norm(c - b, axis=1),
                               np.linalg.norm(a - c, axis=1)]), axis=0)
    return 2 * np.abs(areas) / np.maximum(longest, 1e-9) > MIN_HEIGHT_PX


def flip_guard(source: np.ndarray, displacement: np.ndarray, triangles: np.ndarray,
               min_ratio: float = 0.05, steps: int = 6) -> float:
    """The largest fraction (1.0 = all) of `displacement` that flips no triangle and shrinks none
    below `min_ratio` of its area (binary search)."""
    before = signed_areas(source, triangles)
    solid = _solid(source, triangles, before)

    def ok(alpha: float) -> bool:
        after = signed_areas(source + alpha * displacement, triangles)
        ratio = after[solid] / before[solid]
        return bool(np.all(ratio > min_ratio))

    if ok(1.0):
        return 1.0
    lo, hi = 0.0, 1.0
    for _ in range(steps):
        mid = (lo + hi) / 2
        if ok(mid):
            lo = mid
        else:
            hi = mid
    return lo


def triangle_flips(source: np.ndarray, target: np.ndarray, triangles: np.ndarray) -> int:
    """How many triangles changed orientation between source and target (0 for a good warp)."""
    before, after = signed_areas(source, triangles), signed_areas(target, triangles)
    solid = _solid(source, triangles, before)
    return int(np.sum(np.sign(before[solid]) != np.sign(after[solid])))


def _vertex_inverse(corners: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Inverse of each triangle's [x y 1] vertex matrix (t, 3, 3), in closed form: a batched
    np.linalg.inv of hundreds of 3x3 matrices goes through LAPACK one by one and, with OpenBLAS
    threads on a busy machine, took 29 ms a frame instead of 0.1 ms. Dropped triangles get the
    identity."""
    x, y = corners[..., 0], corners[..., 1]
    adj = np.empty((len(corners), 3, 3))
    adj[:, 0, 0], adj[:, 0, 1], adj[:, 0, 2] = y[:, 1] - y[:, 2], y[:, 2] - y[:, 0], y[:, 0] - y[:, 1]
    adj[:, 1, 0], adj[:, 1, 1], adj[:, 1, 2] = x[:, 2] - x[:, 1], x[:, 0] - x[:, 2], x[:, 1] - x[:, 0]
    adj[:, 2, 0] = x[:, 1] * y[:, 2] - x[:, 2] * y[:, 1]
    adj[:, 2, 1] = x[:, 2] * y[:, 0] - x[:, 0] * y[:, 2]
    adj[:, 2, 2] = x[:, 0] * y[:, 1] - x[:, 1] * y[:, 0]
    det = x[:, 0] * adj[:, 0, 0] + x[:, 1] * adj[:, 0, 1] + x[:, 2] * adj[:, 0, 2]
    ok = keep & (np.abs(det) > 1e-12)
    adj[ok] /= det[ok, None, None]
    adj[~ok] = np.eye(3)
    return adj


def backward_maps(source: np.ndarray, target: np.ndarray, triangles: np.ndarray,
                  region: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """cv2.remap maps over `region` (x0, y0, x1, y1) that take every pixel of a target triangle to
    where it comes from in the source; pixels outside all triangles map to themselves.
    Returns (map_x, map_y, covered) in region coordinates (covered: bool)."""
    x0, y0, x1, y1 = region
    w, h = x1 - x0, y1 - y0
    index = np.full((h, w), -1, dtype=np.int32)
    offset = np.array([x0, y0], dtype=np.float64)
    dst = target[triangles] - offset  # (t, 3, 2)
    src = source[triangles] - offset
    areas = signed_areas(target, triangles)
    keep = np.abs(areas) >= 1e-4
    # Affine map of every triangle at once: [src] = A @ [dst; 1].
    coeffs = np.zeros((len(triangles) + 1, 6), dtype=np.float32)
    coeffs[:-1] = np.einsum("tij,tjk->tik", _vertex_inverse(dst, keep), src).transpose(0, 2, 1).reshape(-1, 6)
    coeffs[-1] = (1, 0, 0, 0, 1, 0)  # identity for uncovered pixels (index -1)
    scale = float(1 << SUBPIXEL_SHIFT)
    corners = np.round(dst * scale).astype(np.int32)
    for k in np.nonzero(keep)[0]:
        cv2.fillConvexPoly(index, corners[k], int(k), lineType=cv2.LINE_8, shift=SUBPIXEL_SHIFT)
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    c = coeffs[index]  # index -1 picks the identity row
    map_x = c[..., 0] * gx + c[..., 1] * gy + c[..., 2]
    map_y = c[..., 3] * gx + c[..., 4] * gy + c[..., 5]
    return map_x, map_y, index >= 0


def polygon_mask(points: np.ndarray, region: tuple[int, int, int, int]) -> np.ndarray:
    """Float mask (0/1) of a polygon in region coordinates, drawn with sub-pixel accuracy."""
    x0, y0, x1, y1 = region
    mask = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
    pts = np.round((np.asarray(points, dtype=np.float64) - [x0, y0]) * (1 << SUBPIXEL_SHIFT)).astype(np.int32)
    cv2.fillPoly(mask, [pts], 255, lineType=cv2.LINE_AA, shift=SUBPIXEL_SHIFT)
    return mask.astype(np.float32) / 255.0
