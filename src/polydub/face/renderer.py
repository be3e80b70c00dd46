"""Re-animate the lower face of one frame: image + landmarks + mouth pose -> new pixels.

Per frame: the face's control points (mesh landmarks + fixed anchors) are moved by the pose
(`model.lower_face_motion`), a flip guard scales the motion back where a triangle would fold, the
skin and lips are warped piecewise-affinely (backward mapping, bilinear), the opening is filled
with a mouth interior (`interior`), colour-matched and shaded by how far the mouth is open, and
its edge is feathered. Pixels outside the moving triangles are not touched at all.

Works on any image: a video frame, a crop of one, or a still photo (issue: talking avatars). The
caller passes landmarks in the image's own pixel coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from polydub.face.interior import InteriorSource, interior_maps, lip_colour, sample
from polydub.face.landmarks import (
    LIPS_INNER_LOWER,
    LIPS_INNER_UPPER,
    LIPS_OUTER_LOWER,
    LIPS_OUTER_UPPER,
    OUTER_CORNERS,
)
from polydub.face.mesh import backward_maps, flip_guard, inner_lip_polygon, polygon_mask, triangle_flips
from polydub.face.model import MESH_POINTS, FaceModel, MouthPose, lower_face_motion

MOVE_EPS_PX = 0.05


@dataclass
class RenderResult:
    region: tuple[int, int, int, int] | None  # (x0, y0, x1, y1) of the changed area; None = unchanged
    image: np.ndarray | None  # BGR pixels of that region after rendering
    mask: np.ndarray | None  # float 0..1: where the region's pixels differ from the input
    held_back: float = 1.0  # fraction of the requested motion applied (flip guard)
    flips: int = 0  # triangles that changed orientation (0 unless the guard is bypassed)
    source_gap: float = 0.0
    target_gap: float = 0.0
    target_points: np.ndarray | None = None  # (468, 2) landmarks after the motion, image coords

    def apply(self, image: np.ndarray) -> np.ndarray:
        """The whole image with this result pasted in (a copy)."""
        out = image.copy()
        if self.region is None:
            return out
        x0, y0, x1, y1 = self.region
        a = self.mask[..., None]
        out[y0:y1, x0:x1] = np.clip(out[y0:y1, x0:x1] * (1 - a) + self.image * a + 0.5, 0, 255).astype(np.uint8)
        return out


class MouthRenderer:
    """Renders mouth poses onto one face (one `FaceModel`); keep one per face track."""

    # Below this inner-lip gap (face heights) the frame's own mouth is too shut to lend its inside.
    OWN_INTERIOR_MIN_GAP = 0.012

    def __init__(self, model: FaceModel, guard: bool = True) -> None:
        self.model = model
        self.guard = guard
        self._references: list[InteriorSource] | None = None
        self._procedural: InteriorSource | None = None

    # -- interior sources ------------------------------------------------------------------------
    def references(self) -> list[InteriorSource]:
        if self._references is None:
            self._references = [InteriorSource.from_landmarks(r.image, r.landmarks, self.model.height_per_eye_distance)
                                for r in self.model.references if not r.closed]
            self._references.sort(key=lambda s: -s.gap)
        return self._references

    def _fallback(self, image: np.ndarray, landmarks: np.ndarray, half_width: float) -> InteriorSource:
        if self._procedural is None:
            lips = lip_colour(image, landmarks)
            cheek = landmarks[[205, 425, 50, 280]].astype(int)
            h, w = image.shape[:2]
            samples = [image[min(max(y, 0), h - 1), min(max(x, 0), w - 1)] for x, y in cheek]
            self._procedural = InteriorSource.procedural(lips, np.mean(samples, axis=0), half_width)
        return self._procedural

    # -- rendering -------------------------------------------------------------------------------
    def render(self, image: np.ndarray, landmarks: np.ndarray, pose: MouthPose) -> RenderResult:
        model = self.model
        landmarks = np.asarray(landmarks, dtype=np.float64)
        frame = model.frame(landmarks)
        points = model.control_points(landmarks)
        face = frame.to_face(points)
        motion = lower_face_motion(face, model.target_gap(pose), model.width_factor(pose), pose.round)
        shut = self._shut_weight(motion.source_gap, motion.target_gap)
        if shut > 0:
            motion.displacement = self._shut_shape(face, motion.displacement, shut)
        weight = float(np.clip(pose.weight, 0.0, 1.0))
        moved = frame.to_image(face + weight * motion.displacement)
        motion.target_gap = motion.source_gap + weight * (motion.target_gap - motion.source_gap)
        displacement = moved - points
        moving = np.linalg.norm(displacement, axis=1) > MOVE_EPS_PX
        tris = model.triangulation.triangles
        active = tris[moving[tris].any(axis=1)]
        result = RenderResult(region=None, image=None, mask=None, source_gap=motion.source_gap,
                              target_gap=motion.target_gap)
        if not len(active):
            result.target_points = points[:MESH_POINTS]
            return result
        alpha = flip_guard(points, displacement, active) if self.guard else 1.0
        target = points + alpha * displacement
        result.held_back, result.flips = alpha, triangle_flips(points, target, active)
        result.target_points = target[:MESH_POINTS]
        result.target_gap = motion.source_gap + alpha * (motion.target_gap - motion.source_gap)
        hole = model.triangulation.hole
        used = np.unique(np.concatenate([active.ravel(), hole.ravel()]))
        span = np.vstack([points[used], target[used]])
        h, w = image.shape[:2]
        x0, y0 = np.maximum(np.floor(span.min(axis=0)).astype(int) - 2, 0)
        x1, y1 = np.minimum(np.ceil(span.max(axis=0)).astype(int) + 3, [w, h])
        if x1 - x0 < 2 or y1 - y0 < 2:
            return result
        region = (int(x0), int(y0), int(x1), int(y1))
        # The opening's own triangles first: under the interior's feathered edge they give the
        # warped source rather than nothing. The upper lip last: where a closing lower lip rolls
        # in under it, the upper lip is what shows.
        above = frame.to_face(target[active].mean(axis=1))[:, 1] < 0
        ordered = np.vstack([hole, active[~above], active[above]])
        map_x, map_y, covered = backward_maps(points, target, ordered, region)
        warped = cv2.remap(image, map_x + x0, map_y + y0, cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
        mask = covered.astype(np.float32)
        mouth = target[inner_lip_polygon()]
        feather = max(0.5, 0.0025 * frame.height)
        pad = int(np.ceil(3 * feather)) + 1
        hx0, hy0 = np.maximum(np.floor(mouth.min(axis=0)).astype(int) - pad, [x0, y0])
        hx1, hy1 = np.minimum(np.ceil(mouth.max(axis=0)).astype(int) + pad + 1, [x1, y1])
        hole_region = (int(hx0), int(hy0), int(hx1), int(hy1))
        hole_mask = polygon_mask(mouth, hole_region) if hx1 > hx0 and hy1 > hy0 else np.zeros((0, 0))
        if hole_mask.any() and result.target_gap > 0:
            target_face = frame.to_face(target)
            upper, lower = target_face[list(LIPS_INNER_UPPER)], target_face[list(LIPS_INNER_LOWER)]
            interior = self._interior(image, landmarks, frame, motion.source_gap, result.target_gap,
                                      upper, lower, hole_region)
            soft = cv2.GaussianBlur(hole_mask, (0, 0), feather)
            soft = np.maximum(soft * hole_mask, soft * 0.85)[..., None]  # soft on both sides of the edge
            sub = (slice(hy0 - y0, hy1 - y0), slice(hx0 - x0, hx1 - x0))
            warped[sub] = warped[sub] * (1 - soft) + interior * soft
            mask[sub] = np.maximum(mask[sub], soft[..., 0])
        if shut * weight > 0:
            warped = self._shut_lips(image, landmarks, warped, target, region, frame, 0.5 * shut * weight)
        result.region, result.mask = region, np.clip(mask, 0.0, 1.0)
        result.image = np.clip(warped, 0, 255).astype(np.uint8)
        return result

    def _interior(self, image, landmarks, frame, source_gap, target_gap, upper, lower, region) -> np.ndarray:
        """Interior pixels for the target opening over `region` (float BGR)."""
        own_weight = float(np.clip((source_gap / max(target_gap, 1e-4) - 0.35) / 0.4, 0, 1)
                           * np.clip((source_gap - self.OWN_INTERIOR_MIN_GAP) / 0.015, 0, 1))
        current = lip_colour(image, landmarks)
        parts, weights = [], []
        if own_weight > 0:
            own = InteriorSource.from_landmarks(image, landmarks, self.model.height_per_eye_distance, frame)
            mx, my, gap_map, central = interior_maps(own, frame, upper, lower, region)
            parts.append(sample(own, mx, my).astype(np.float32))
            weights.append(own_weight)
        if own_weight < 1:
            refs = self.references()
            ref = refs[0] if refs else self._fallback(image, landmarks, abs(upper[-1, 0] - upper[0, 0]) / 2)
            mx, my, gap_map, central = interior_maps(ref, frame, upper, lower, region)
            pixels = sample(ref, mx, my).astype(np.float32)
            gain = np.clip(current / np.maximum(ref.colour, 1.0), 0.75, 1.33).astype(np.float32)
            light = 0.8 + 0.2 * float(np.clip(target_gap / max(ref.gap, 1e-3), 0, 1))
            parts.append(pixels * gain * light)
            weights.append(1 - own_weight)
        interior = sum(p * wgt for p, wgt in zip(parts, weights, strict=True))
        # Up to the gap this face shows with its lips closed (landmarks sit a little inside the lips)
        # the opening is lips meeting: lip colour with a thin contact shadow in the middle. Beyond
        # it the interior fades in over a few pixels.
        closed_px = self.model.closed_gap * frame.height
        gap_px = gap_map * frame.height
        from_middle = (1.0 - central) * gap_px / 2
        contact = np.exp(-(from_middle / 0.8) ** 2)
        dark = (current[None, None, :] * (0.92 - 0.45 * contact[..., None])).astype(np.float32)
        shadow = np.clip(1.0 - (gap_px - closed_px) / 4.0, 0.0, 1.0)[..., None].astype(np.float32)
        return interior * (1 - shadow) + dark * shadow

    def _shut_weight(self, source_gap: float, target_gap: float) -> float:
        """How much of a shut-mouth reference to show: closing an open mouth all the way."""
        closed = self.model.closed_gap
        shut = float(np.clip(1.0 - (target_gap - closed) / 0.015, 0.0, 1.0))
        return shut * float(np.clip((source_gap - closed - 0.005) / 0.02, 0.0, 1.0))

    def _closed_lips(self) -> list[tuple[list[int], np.ndarray]] | None:
        """This face's shut lips from its most closed frame: per lip contour, its points relative to
        the mouth corners' midpoint, in mouth widths."""
        if not hasattr(self, "_closed_shape"):
            shut = [r for r in self.model.references if r.closed]
            self._closed_shape = None
            if shut:
                lm = shut[0].landmarks.astype(np.float64)
                face = self.model.frame(lm).to_face(lm)
                corners = face[list(OUTER_CORNERS)]
                width = max(float(np.linalg.norm(corners[1] - corners[0])), 1e-6)
                self._closed_shape = [(list(c), (face[list(c)] - corners.mean(axis=0)) / width)
                                      for c in (LIPS_OUTER_UPPER, LIPS_OUTER_LOWER, LIPS_INNER_UPPER, LIPS_INNER_LOWER)]
        return self._closed_shape

    def _shut_shape(self, face: np.ndarray, displacement: np.ndarray, weight: float) -> np.ndarray:
        """Lips pulled shut from an open frame keep an open mouth's shape (stretched, their wet
        inner edges showing). Where the mouth closes all the way, each lip contour takes the height
        profile of this face's own shut lips (only vertically, between the target's corners)."""
        closed = self._closed_lips()
        if closed is None:
            return displacement
        target = face + displacement
        corners = target[list(OUTER_CORNERS)]
        middle, width = corners.mean(axis=0), float(np.linalg.norm(corners[1] - corners[0]))
        out = displacement.copy()
        moved = {}
        for indices, shape in closed:
            order = np.argsort(shape[:, 0])
            x = (target[indices, 0] - middle[0]) / width
            y = middle[1] + width * np.interp(x, shape[order, 0], shape[order, 1])
            out[indices, 1] = (1 - weight) * displacement[indices, 1] + weight * (y - face[indices, 1])
            moved[indices[1]] = (indices, out[indices, 1] - displacement[indices, 1])
        # The skin next to the lips follows their change, fading with distance, so nothing folds.
        rest = np.ones(len(face), dtype=bool)
        rest[[i for c, _ in closed for i in c]] = False
        rest[MESH_POINTS:] = False
        for first, reach, sign in ((LIPS_OUTER_UPPER[1], 0.06, -1), (LIPS_OUTER_LOWER[1], 0.1, 1)):
            indices, change = moved[first]
            order = np.argsort(face[indices, 0])
            edge = np.interp(face[:, 0], face[indices, 0][order], face[indices, 1][order])
            lateral = np.clip(1.5 - np.abs(face[:, 0] - middle[0]) / width * 2.0, 0.0, 1.0)
            beyond = sign * (face[:, 1] - edge)  # distance outward from this lip's outer edge
            fade = np.clip(1.0 - np.maximum(beyond, 0.0) / reach, 0.0, 1.0) * lateral
            fade *= sign * (face[:, 1] - middle[1]) > 0  # only this lip's side of the mouth
            shift = np.interp(face[:, 0], face[indices, 0][order], change[order])
            out[:, 1] += np.where(rest, shift * fade, 0.0)
        return out

    def _shut_lips(self, image, landmarks, warped, target, region, frame, weight: float) -> np.ndarray:
        """Closed lips from the track's own shut-mouth frame, warped onto the closing lips.

        Lips pulled shut from an open frame keep the look of open lips (stretched, their wet
        inner edges showing); the same face's real closed lips, mapped landmark to landmark onto
        the target shape and colour-matched, look closed."""
        shut = [r for r in self.model.references if r.closed]
        if not shut or self.model.lip_triangles is None or not len(self.model.lip_triangles):
            return warped
        ref = shut[0]
        x0, y0, x1, y1 = region
        source = np.vstack([ref.landmarks[:MESH_POINTS].astype(np.float64) + [x0, y0],
                            np.zeros((len(target) - MESH_POINTS, 2))])
        map_x, map_y, covered = backward_maps(source, target, self.model.lip_triangles, region)
        patch = cv2.remap(ref.image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        gain = np.clip(lip_colour(image, landmarks) / np.maximum(lip_colour(ref.image, ref.landmarks), 1.0),
                       0.75, 1.33).astype(np.float32)
        outer = np.vstack([target[list(LIPS_OUTER_UPPER)], target[list(LIPS_OUTER_LOWER)][::-1]])
        lips = polygon_mask(outer, region)
        lips = cv2.GaussianBlur(lips, (0, 0), max(0.7, 0.003 * frame.height)) * covered
        alpha = (weight * lips)[..., None]
        return warped * (1 - alpha) + patch.astype(np.float32) * gain * alpha
