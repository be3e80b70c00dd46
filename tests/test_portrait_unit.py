"""Unit tests of the portrait animation's parts: lip seam, blinks, head motion, painted interior."""

from __future__ import annotations

import numpy as np

from polydub.face.eyelids import blink_curve, blink_starts
from polydub.face.head import NOD_DROP, SWAY_ROLL_DEG, plan_head, stressed_times
from polydub.face.landmarks import LIPS_INNER_LOWER, LIPS_INNER_UPPER, face_frame
from polydub.face.oral import painted_interior
from polydub.face.portrait import MIN_SEAM, separate_lips


def _face() -> np.ndarray:
    """A synthetic 478-point face: eyes level, forehead above, chin below, a closed mouth whose inner
    lower contour lies a little ABOVE the upper one (as the detector sometimes reports)."""
    lm = np.zeros((478, 2))
    lm[33], lm[263], lm[10], lm[152] = (100, 100), (200, 100), (150, 40), (150, 260)
    xs = np.linspace(120, 180, 11)
    lm[list(LIPS_INNER_UPPER), 0] = xs
    lm[list(LIPS_INNER_LOWER), 0] = xs
    lm[list(LIPS_INNER_UPPER), 1] = 200.2
    lm[list(LIPS_INNER_LOWER), 1] = 200.0
    lm[78], lm[308] = (120, 200.1), (180, 200.1)
    return lm


def test_crossed_inner_lips_are_moved_a_hair_apart() -> None:
    lm = _face()
    out = separate_lips(lm)
    frame = face_frame(out)
    gap = (frame.to_face(out[list(LIPS_INNER_LOWER[1:-1])]) - frame.to_face(out[list(LIPS_INNER_UPPER[1:-1])]))[:, 1]
    assert np.allclose(gap, MIN_SEAM, atol=1e-9)
    assert np.allclose(out[[78, 308]], lm[[78, 308]])  # corners untouched
    opened = out.copy()
    opened[list(LIPS_INNER_LOWER[1:-1]), 1] += 10  # an open mouth is left alone
    assert np.allclose(separate_lips(opened), opened)


def test_blinks_are_irregular_short_and_close_the_eyes() -> None:
    starts = blink_starts(120.0, np.random.default_rng(1))
    gaps = np.diff(starts)
    assert 20 <= len(starts) <= 60
    assert gaps.min() >= 0.38 - 1e-9 and gaps.max() <= 6.5 + 1e-9 and np.std(gaps) > 0.5
    times = np.arange(0, 3, 0.04)
    curve = blink_curve(times, [1.0])
    assert curve.max() >= 0.9 and curve[times < 0.96].max() == 0.0
    shut = times[curve > 0.05]
    assert 0.12 <= shut[-1] - shut[0] <= 0.3  # about a quarter of a second


def test_head_sways_a_little_and_nods_on_stressed_syllables() -> None:
    t = np.arange(0, 10, 0.04)
    loud = np.zeros(len(t))
    for peak in (1.0, 1.3, 3.0, 6.0):  # 1.0 and 1.3 are too close for two nods
        loud = np.maximum(loud, np.exp(-((t - peak) / 0.05) ** 2))
    speaking = (t > 0.5) & (t < 7)
    assert stressed_times(t, loud, speaking) == [1.0, 3.0, 6.0]
    pose = plan_head(t, loud, speaking, np.random.default_rng(0))
    assert pose.nods == 3 and np.abs(pose.roll).max() <= SWAY_ROLL_DEG + 1e-9
    assert pose.dy.max() <= NOD_DROP + 0.02 and np.ptp(pose.roll) > 0.2  # it does move
    still = plan_head(t, loud, np.zeros(len(t), bool), np.random.default_rng(0), idle=False)
    assert np.abs(still.roll).max() < 1e-6  # no idle motion asked for, nothing said: still


def test_painted_interior_has_teeth_a_tongue_and_a_dark_cavity() -> None:
    lips, skin = np.array([110.0, 110.0, 190.0]), np.array([150.0, 170.0, 210.0])
    src = painted_interior(lips, skin, 0.12)
    img = src.image.astype(float)
    luma = img @ [0.114, 0.587, 0.299]
    frame = src.frame
    top = frame.to_image(np.array([[0.0, src.upper[5, 1] + 0.015]]))[0].astype(int)  # upper incisors
    mid = frame.to_image(np.array([[0.0, 0.0]]))[0].astype(int)  # middle of the opening
    tongue = frame.to_image(np.array([[0.0, src.lower[5, 1] - 0.025]]))[0].astype(int)
    assert luma[top[1], top[0]] > 150  # teeth are bright
    assert luma[mid[1], mid[0]] < 40  # the cavity is dark
    b, g, r = img[tongue[1], tongue[0]]
    assert r > g + 15 and r > b + 15  # the tongue is red
