"""Unit tests of the face package: driver, mouth model, mesh guard, planning, Wav2Lip graph (fast)."""

from __future__ import annotations

import numpy as np
import pytest

from polydub.audio import Audio
from polydub.face.driver import MouthDriver, align_to_audio, frame_loudness, speech_islands
from polydub.face.lipsync import LineSpeech, line_ranges
from polydub.face.mesh import Triangulation, flip_guard, triangle_flips
from polydub.face.visemes import Phone, from_kokoro, split_ipa

RATE = 16000


def _bursts(spans: list[tuple[float, float]], total: float) -> Audio:
    """Voiced-like bursts (a 150 Hz buzz with harmonics) at the given spans, silence elsewhere."""
    t = np.arange(int(total * RATE)) / RATE
    buzz = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 6)).astype(np.float32) * 0.2
    envelope = np.zeros_like(t)
    for a, b in spans:
        inside = (t >= a) & (t < b)
        envelope[inside] = np.sin(np.pi * (t[inside] - a) / (b - a)) ** 0.5
    return Audio((buzz * envelope).astype(np.float32), RATE)


def test_driver_closes_in_pauses_and_opens_with_the_voice() -> None:
    audio = _bursts([(0.2, 0.6), (0.9, 1.4), (2.0, 2.5)], 3.0)
    times = np.arange(0, 3.0, 0.04)
    curves = MouthDriver().drive(audio, times)
    loud = frame_loudness(audio, times)
    assert np.corrcoef(curves.open, loud)[0, 1] > 0.8
    quiet = (times > 1.55) & (times < 1.85)  # the middle of the long pause
    assert curves.open[quiet].max() < 0.02 and not curves.speaking[quiet].any()
    assert curves.open[(times > 1.05) & (times < 1.25)].mean() > 0.4


def test_driver_closes_the_lips_on_p_b_m() -> None:
    audio = _bursts([(0.1, 1.1)], 1.3)
    phones = [Phone("a", 0.1, 0.4), Phone("m", 0.4, 0.52), Phone("a", 0.52, 0.8), Phone("p", 0.8, 0.88),
              Phone("a", 0.88, 1.1)]
    times = np.arange(0, 1.3, 0.04)
    curves = MouthDriver(lead=0.0).drive(audio, times, phones)
    at_m = int(round(0.44 / 0.04))  # the frame shown 0.44-0.48 s, inside the m (0.40-0.52 s)
    assert curves.closure[at_m] > 0.8 and curves.open[at_m] < 0.15
    assert curves.open[np.argmin(np.abs(times - 0.66))] > 0.5  # the vowel between opens again


def test_frames_average_what_they_show() -> None:
    # 25 fps frames over a 50 ms click: the frame holding it sees it, the others do not.
    audio = _bursts([(0.5, 0.55)], 1.0)
    times = np.arange(0, 1.0, 0.04)
    loud = frame_loudness(audio, times)
    assert loud[np.searchsorted(times, 0.5, side="right") - 1] > 0.3
    assert loud[:10].max() == 0.0


def test_kokoro_symbols_become_ipa_phones() -> None:
    symbols = [("ˈ", 0.0, 0.05), ("h", 0.05, 0.1), ("ə", 0.1, 0.15), ("l", 0.15, 0.2), ("O", 0.2, 0.35),
               (",", 0.35, 0.55), ("m", 0.55, 0.6), ("A", 0.6, 0.8), (" ", 0.8, 0.82), ("ʧ", 0.82, 0.9)]
    phones = from_kokoro(symbols)
    assert [p.symbol for p in phones] == ["h", "ə", "l", "oʊ", "sil", "m", "eɪ", "tʃ"]
    assert phones[0].start == 0.05 and phones[-2].end == 0.82  # the short space joins the previous phone
    assert split_ipa("həlˈoʊ tʃˈɛk") == ["h", "ə", "l", "oʊ", "tʃ", "ɛ", "k"]


def test_predicted_timing_is_mapped_onto_the_heard_speech() -> None:
    # Predicted: two islands at 0.2-0.8 and 1.2-1.6; the audio was trimmed and its pause shortened.
    phones = [Phone("a", 0.2, 0.8), Phone("sil", 0.8, 1.2), Phone("o", 1.2, 1.6)]
    audio = _bursts([(0.05, 0.65), (0.85, 1.25)], 1.5)
    _, db = __import__("polydub.face.driver", fromlist=["envelope_db"]).envelope_db(audio)
    heard = speech_islands(db)
    assert len(heard) == 2
    aligned = align_to_audio(phones, audio)
    assert abs(aligned[0].start - heard[0][0]) < 0.02 and abs(aligned[2].end - heard[1][1]) < 0.02


def test_line_ranges_never_overlap() -> None:
    a = LineSpeech(0, "S1", 0.0, 2.0, 0.1, Audio.silence(2.5, RATE))
    b = LineSpeech(1, "S1", 2.3, 4.0, 2.5, Audio.silence(1.0, RATE))
    ranges = line_ranges([a, b], 5.0)
    assert ranges[0][0] == 0.0 and ranges[0][1] <= ranges[1][0] and ranges[1][1] <= 5.0


def test_flip_guard_scales_motion_back_instead_of_folding() -> None:
    points = np.array([[0, 0], [10, 0], [0, 10], [10, 10]], dtype=float)
    tri = Triangulation.build(points, mouth_hole=False).triangles
    push = np.zeros_like(points)
    push[3] = [-25, -25]  # would drag a corner across the opposite edge
    alpha = flip_guard(points, push, tri)
    assert 0.0 < alpha < 1.0
    assert triangle_flips(points, points + alpha * push, tri) == 0
    assert triangle_flips(points, points + push, tri) > 0


def test_wav2lip_graph_has_the_public_architecture() -> None:
    onnx = pytest.importorskip("onnx")
    from polydub.errors import InputMediaError
    from polydub.face.wav2lip import build_onnx, mel_frames, random_state_dict

    sd = random_state_dict(1)
    params = sum(v.size for k, v in sd.items() if not k.endswith(("running_mean", "running_var")))
    assert abs(params - 36.3e6) < 0.1e6  # the public generator's size
    model = build_onnx({"module." + k: v for k, v in sd.items()})  # checkpoints carry a module. prefix
    onnx.checker.check_model(model)
    assert [i.name for i in model.graph.input] == ["mel", "face"]
    del sd["output_block.1.weight"]
    with pytest.raises(InputMediaError):
        build_onnx(sd)
    mel = mel_frames(_bursts([(0.1, 0.9)], 1.0))
    assert mel.shape[0] == 80 and abs(mel.shape[1] - 81) <= 1 and mel.min() >= -4 and mel.max() <= 4


def test_closed_form_inverses_match_linalg() -> None:
    from polydub.face.mesh import _vertex_inverse
    from polydub.face.metrics import _psnr_outside
    from polydub.face.tracks import smooth_landmarks

    rng = np.random.default_rng(3)
    corners = rng.random((40, 3, 2)) * 200
    corners[5] = [[1, 1], [2, 2], [3, 3]]  # degenerate: identity
    keep = np.ones(40, dtype=bool)
    inverse = _vertex_inverse(corners, keep)
    ok = np.arange(40) != 5
    expected = np.linalg.inv(np.concatenate([corners[ok], np.ones((39, 3, 1))], axis=2))
    assert np.allclose(inverse[ok], expected, atol=1e-9)
    assert np.allclose(inverse[5], np.eye(3))
    # A rigidly moving, otherwise still face comes back from smoothing where it was.
    face = rng.random((478, 2)) * 100
    angles = np.linspace(0, 0.2, 30)
    frames = np.stack([face @ np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]).T + [5 * a, 0]
                       for a in angles])
    assert np.abs(smooth_landmarks(frames, 25.0) - frames).max() < 1e-2
    # PSNR outside a region, against the plain numpy formula.
    a = rng.integers(0, 255, (120, 160), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-3, 4, a.shape), 0, 255).astype(np.uint8)
    b[40:60, 50:80] = 0
    keep_px = np.ones(a.shape, dtype=bool)
    keep_px[36:64, 46:84] = False
    mse = np.mean((a[keep_px].astype(float) - b[keep_px].astype(float)) ** 2)
    assert _psnr_outside(a, b, (50, 40, 80, 60)) == pytest.approx(10 * np.log10(255 ** 2 / mse))
