"""Independent checks of a talking-head video (test/bench only): dlib's 68-point landmarks (not the
MediaPipe mesh the product animates with) give the mouth opening and the eyes' aspect ratio per
frame; frame differences show whether the picture ever freezes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from polydub.face.video import read_frames
from tests.lipsync_check import DlibMouth


@dataclass
class FaceTrace:
    times: np.ndarray
    gap: np.ndarray  # inner-lip opening / brows-to-chin height (nan: no face)
    eyes: np.ndarray  # mean eye aspect ratio of both eyes (nan: no face)
    eye_light: np.ndarray  # mean brightness inside both eyes' outlines (a shut lid hides the dark iris)
    still_run_s: float  # longest run of frames (seconds) identical to the next


def _ear(pts: np.ndarray, first: int) -> float:
    p = pts[first:first + 6]
    return float((np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4])) / (2 * np.linalg.norm(p[0] - p[3])))


def trace_face(checker: DlibMouth, video: str | Path, start: float = 0.0, end: float = 1e9) -> FaceTrace:
    times, gaps, eyes, light = [], [], [], []
    box = None
    previous, run, longest = None, 0, 0
    for frame in read_frames(video):
        gray = frame.av_frame.to_ndarray(format="gray")
        if previous is not None and start <= frame.time <= end:
            same = float(np.abs(gray.astype(np.int16) - previous).mean()) < 0.05
            run = run + 1 if same else 0
            longest = max(longest, run)
        previous = gray.astype(np.int16)
        if box is None or frame.index % 25 == 0:  # the head moves only a few pixels
            rects = checker._detect(gray)
            if rects:
                box = max(rects, key=lambda r: r.area())
        times.append(frame.time)
        if box is None:
            gaps.append(np.nan)
            eyes.append(np.nan)
            light.append(np.nan)
            continue
        shape = checker.predictor(gray, box)
        pts = np.array([(shape.part(i).x, shape.part(i).y) for i in range(68)], dtype=np.float64)
        height = float(pts[:, 1].max() - pts[:, 1].min())
        gap = np.mean([np.linalg.norm(pts[66] - pts[62]), np.linalg.norm(pts[67] - pts[61]),
                       np.linalg.norm(pts[65] - pts[63])])
        gaps.append(gap / height)
        eyes.append((_ear(pts, 36) + _ear(pts, 42)) / 2)
        light.append(np.mean([_eye_light(gray, pts[i:i + 6]) for i in (36, 42)]))
    fps = 1.0 / float(np.median(np.diff(times))) if len(times) > 1 else 25.0
    return FaceTrace(np.asarray(times), np.asarray(gaps), np.asarray(eyes), np.asarray(light), longest / fps)


def _eye_light(gray: np.ndarray, eye: np.ndarray) -> float:
    import cv2

    centre = eye.mean(axis=0)
    grown = centre + (eye - centre) * [1.1, 1.6]  # dlib's outline hugs the lids: take a little more
    mask = np.zeros(gray.shape, np.uint8)
    cv2.fillPoly(mask, [np.round(grown).astype(np.int32)], 1)
    return float(gray[mask > 0].mean()) if mask.any() else np.nan


def _runs(flags: np.ndarray) -> int:
    return int(np.sum(flags[1:] & ~flags[:-1]) + int(flags[0])) if len(flags) else 0


def shut_frames(trace: FaceTrace, ratio: float = 0.7, brighter: float = 1.2) -> np.ndarray:
    """Separate runs of frames where the eyes look shut: the eye aspect ratio falls below `ratio` x its
    median, or (where landmarks cannot follow a lid, e.g. behind glasses) the eyes get `brighter` x
    their median brightness because the lid covers the iris."""
    ok = np.isfinite(trace.eyes) & np.isfinite(trace.eye_light)
    if not ok.any():
        return np.zeros(len(trace.times), dtype=bool)
    shut = ok & (np.where(ok, trace.eyes, 0) < ratio * np.median(trace.eyes[ok]))
    shut |= ok & (np.where(ok, trace.eye_light, 0) > brighter * np.median(trace.eye_light[ok]))
    return shut


def blinks_seen(trace: FaceTrace, starts: list[float], length: float = 0.3) -> tuple[int, int]:
    """(planned blinks during which the eyes are seen shut, runs of shut frames outside any blink)."""
    shut = shut_frames(trace)
    inside = np.zeros(len(trace.times), dtype=bool)
    seen = 0
    for s in starts:
        window = (trace.times >= s - 0.02) & (trace.times <= s + length)
        inside |= window
        seen += bool((shut & window).any())
    return seen, _runs(shut & ~inside)
