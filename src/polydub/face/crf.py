"""The x264 CRF a lip-synced video is re-encoded at, chosen by measurement so that the pixels
outside the re-animated mouth stay as they were (luma PSNR of the worst tile >= TARGET_PSNR)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from polydub.face.video import YuvFrame, _open, preset_for, read_frames, video_info

TARGET_PSNR = 47.5  # dB, worst tile: single frames fall ~2 dB below it; 45 dB is invisible loss
CRF_RANGE = (6.0, 23.0)
PSNR_PER_CRF = 0.6  # dB lost per CRF step (measured 0.5-0.65 on the shared clips)
PROBE_TILES = 4
# Later spots probed at the CRF the start chose, as fractions of the video's length. A video built of
# five clips scored 47.5 dB at its start and 40-41 dB on a later, noisier clip at that CRF (44.4 dB
# outside the face over the whole video). A spot only lowers the CRF when it falls clearly short:
# one within SPOT_MARGIN of the target is the same content give or take the probe's own spread.
LATER_SPOTS = (0.3, 0.55, 0.8)
SPOT_MARGIN = 1.5  # dB


def _probe_psnr(frames: list, crf: float, preset: str) -> float:
    """Luma PSNR of `frames` after an x264 round trip at `crf` (in memory), of the worst tile."""
    import av

    first = frames[0]
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height = first.width // 2 * 2, first.height // 2 * 2
    encoder.pix_fmt = "yuv420p"
    encoder.time_base = Fraction(1, 25)
    encoder.framerate = Fraction(25)
    encoder.options = {"crf": f"{crf:g}", "preset": preset}
    decoder = av.CodecContext.create("h264", "r")
    decoded = []
    originals = [YuvFrame(f) for f in frames]
    for n, yuv in enumerate(originals):
        frame = av.VideoFrame.from_ndarray(yuv.planes, format="yuv420p")
        frame.pts = n
        for packet in encoder.encode(frame):
            decoded += decoder.decode(packet)
    for packet in encoder.encode(None):
        decoded += decoder.decode(packet)
    decoded += decoder.decode(None)
    # Squared error per tile of a 4x4 grid, over all frames: the worst tile decides, so a noisy
    # part of the picture (one of two faces side by side, a textured wall) is kept as well.
    errors = np.zeros((PROBE_TILES, PROBE_TILES))
    for yuv, out in zip(originals, decoded, strict=False):
        diff = yuv.luma().astype(np.float64) - out.to_ndarray(format="yuv420p")[: yuv.height].astype(np.float64)
        h, w = diff.shape
        for i in range(PROBE_TILES):
            for j in range(PROBE_TILES):
                rows = slice(i * h // PROBE_TILES, (i + 1) * h // PROBE_TILES)
                tile = diff[rows, j * w // PROBE_TILES:(j + 1) * w // PROBE_TILES]
                errors[i, j] += float(np.mean(tile ** 2)) / len(originals)
    mse = float(errors.max())
    return 99.0 if mse < 1e-10 else float(10 * np.log10(255.0 ** 2 / mse))


def _frames_at(path: str | Path, times: list[float], count: int) -> list[list]:
    """`count` consecutive decoded frames from the keyframe before each of `times` (seconds):
    decoding forward to the exact time cost ~1 s a spot at 1080p with long GOPs."""
    container = _open(path)
    groups: list[list] = []
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        start = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
        for t in times:
            container.seek(int((start + t) / stream.time_base), stream=stream, backward=True)
            group = []
            for frame in container.decode(stream):
                group.append(frame)
                if len(group) >= count:
                    break
            if group:
                groups.append(group)
    finally:
        container.close()
    return groups


def _search(frames: list, target_psnr: float, preset: str, crf: float,
            measured: float | None = None) -> tuple[float, float]:
    """(highest CRF found that reaches the target on `frames`, its PSNR): move by the measured margin,
    at least one step down while short of it. `measured`: the PSNR at `crf`, when already known."""
    tried: dict[float, float] = {}
    for _ in range(4):
        tried[crf] = now = measured if measured is not None and not tried else _probe_psnr(frames, crf, preset)
        step = round((now - target_psnr) / PSNR_PER_CRF)
        following = float(np.clip(crf + (min(step, -1) if now < target_psnr else step), *CRF_RANGE))
        if following in tried:
            break
        crf = following
    passing = [c for c, m in tried.items() if m >= target_psnr]
    best = max(passing) if passing else min(tried)
    return best, tried[best]


def choose_crf(path: str | Path, target_psnr: float = TARGET_PSNR, preset: str | None = None,
               sample: int = 8) -> tuple[float, float]:
    """x264 CRF for re-encoding this video, measured: a few consecutive frames near its start are
    encoded at a probe CRF and the PSNR says how far to move; then a few frames at LATER_SPOTS are
    encoded at that CRF, and the hardest spot, if it falls clearly short, moves it down further.
    Noisy, high-bitrate sources get a lower CRF than clean ones. Returns (crf, measured PSNR)."""
    info = video_info(path)
    preset = preset or preset_for(info.width, info.height)
    skip = min(12, max(0, (info.frames or 0) - sample))  # past a fade-in, without decoding far
    frames = []
    for frame in read_frames(path):
        if frame.index >= skip:
            frames.append(frame.av_frame)
        if len(frames) >= sample:
            break
    if not frames:
        return 18.0, 99.0
    crf, measured = _search(frames, target_psnr, preset, 18.0)
    duration = info.duration or 0.0
    spots = [f * duration for f in LATER_SPOTS if f * duration > (skip + sample) / float(info.average_rate or 25)]
    worst: tuple[float, list] | None = None
    for group in _frames_at(path, spots, sample) if spots else []:
        psnr = _probe_psnr(group, crf, preset)
        if psnr < target_psnr - SPOT_MARGIN and (worst is None or psnr < worst[0]):
            worst = (psnr, group)
    if worst is not None:
        crf, measured = _search(worst[1], target_psnr, preset, crf, measured=worst[0])
    return crf, measured
