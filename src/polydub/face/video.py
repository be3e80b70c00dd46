"""Decode frames with their real timestamps and re-encode a video at the source's size and timing.

PyAV in-process: no pipes, no frame-rate guessing. Frames keep their presentation timestamps, so a
variable-frame-rate source (vr_face_1 nominally 30 fps, really ~22) comes out with the same frame
count, the same timestamps and the same duration. Untouched frames are passed to the encoder as
decoded (no colour conversion); changed frames are edited in YUV only inside the face mask.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from polydub.errors import InputMediaError, OutputError


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    time_base: Fraction
    average_rate: Fraction | None
    frames: int | None  # as declared by the container (None when unknown)
    duration: float | None
    pix_fmt: str | None
    # (range, space, primaries, transfer) as FFmpeg numbers; the output carries the same, or players
    # show other levels and colours (an untagged copy of a tv-range bt709 clip decoded 0.7 grey levels off)
    color: tuple[int, int, int, int] | None = None


def _open(path: str | Path):
    import av

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise InputMediaError(f"cannot read the video {Path(path).name}: {exc}",
                              "check the file plays in a media player") from None
    if not container.streams.video:
        container.close()
        raise InputMediaError(f"{Path(path).name} has no video stream", "lip-sync needs a video with a face")
    return container


def video_info(path: str | Path) -> VideoInfo:
    container = _open(path)
    try:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        duration = float(stream.duration * stream.time_base) if stream.duration else (
            container.duration / 1e6 if container.duration else None)
        return VideoInfo(width=ctx.width, height=ctx.height, time_base=stream.time_base,
                         average_rate=stream.average_rate, frames=stream.frames or None,
                         duration=duration, pix_fmt=ctx.pix_fmt,
                         color=(ctx.color_range, ctx.colorspace, ctx.color_primaries, ctx.color_trc))
    finally:
        container.close()


@dataclass
class Frame:
    index: int
    time: float  # presentation time in seconds, from the stream's timestamps
    av_frame: object  # av.VideoFrame as decoded


def read_frames(path: str | Path, threads: int | None = None) -> Iterator[Frame]:
    """Every frame in presentation order with its real time (first frame at its own pts)."""
    container = _open(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if threads:
            stream.codec_context.thread_count = threads
        last_time = -1.0
        for index, av_frame in enumerate(container.decode(stream)):
            if av_frame.pts is not None:
                time = float(av_frame.pts * stream.time_base)
            else:  # no timestamps: count at the average rate
                rate = float(stream.average_rate or 25)
                time = last_time + 1.0 / rate if index else 0.0
            last_time = time
            yield Frame(index=index, time=time, av_frame=av_frame)
    finally:
        container.close()


def frame_rgb(frame, max_side: int | None = None) -> tuple[np.ndarray, float]:
    """RGB pixels (scaled down so the long side is at most `max_side`) and the scale used.

    Scaled by area averaging: for a 1080x1920 frame to 1280 it takes 4.5 ms where swscale's default
    (bicubic) takes 8.3 ms, and it is the better filter for shrinking (measured: face tracking of
    ls_demo3 15.4 -> 12.7 s, landmarks 0.09 px apart on average)."""
    width, height = frame.width, frame.height
    scale = 1.0
    if max_side and max(width, height) > max_side:
        scale = max_side / max(width, height)
        width, height = max(2, int(round(width * scale))), max(2, int(round(height * scale)))
        return frame.reformat(width=width, height=height, format="rgb24", interpolation="AREA").to_ndarray(), scale
    return frame.to_ndarray(format="rgb24"), scale


_PLANAR_YUV = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12"}


def frame_luma(frame, step: int = 4) -> tuple[np.ndarray, bool] | None:
    """Every `step`-th row and column of an 8-bit YUV frame's luma, read from the decoded plane
    without converting the frame, and whether it is tv-range (16-235); None for other formats."""
    name = frame.format.name
    if name not in _PLANAR_YUV:
        return None
    plane = frame.planes[0]
    luma = np.frombuffer(plane, np.uint8).reshape(frame.height, plane.line_size)
    full_range = name.startswith("yuvj") or frame.color_range == 2  # AVCOL_RANGE_JPEG
    return np.ascontiguousarray(luma[::step, : frame.width : step]), not full_range


class YuvFrame:
    """An 8-bit 4:2:0 frame as three planes, editable in a region: pixels outside the region's
    mask keep their decoded YUV values exactly (no RGB round trip)."""

    def __init__(self, av_frame) -> None:
        self.width, self.height = av_frame.width, av_frame.height
        self.pts, self.time_base = av_frame.pts, av_frame.time_base
        if av_frame.format.name != "yuv420p" or self.width % 2 or self.height % 2:
            av_frame = av_frame.reformat(format="yuv420p", width=self.width // 2 * 2,
                                         height=self.height // 2 * 2)
            self.width, self.height = av_frame.width, av_frame.height
        self.planes = av_frame.to_ndarray(format="yuv420p")  # (H * 3 / 2, W)

    @staticmethod
    def region(box: tuple[float, float, float, float], width: int, height: int) -> tuple[int, int, int, int]:
        """An even-aligned (x0, y0, x1, y1) inside the frame covering `box`."""
        x0, y0, x1, y1 = box
        x0 = max(0, int(np.floor(x0)) // 2 * 2)
        y0 = max(0, int(np.floor(y0)) // 2 * 2)
        x1 = min(width, (int(np.ceil(x1)) + 1) // 2 * 2)
        y1 = min(height, (int(np.ceil(y1)) + 1) // 2 * 2)
        if (y1 - y0) % 4:  # I420 packs a chroma plane as rows of full width: keep its rows whole
            if y1 + 2 <= height:
                y1 += 2
            elif y0 >= 2:
                y0 -= 2
            else:
                y1 -= 2
        return x0, y0, x1, y1

    def _uv(self) -> tuple[np.ndarray, np.ndarray]:
        h, w = self.height, self.width
        chroma = self.planes[h:].reshape(2, h // 2, w // 2)
        return chroma[0], chroma[1]

    def crop_bgr(self, region: tuple[int, int, int, int]) -> np.ndarray:
        x0, y0, x1, y1 = region
        u, v = self._uv()
        y = self.planes[y0:y1, x0:x1]
        cu = u[y0 // 2:y1 // 2, x0 // 2:x1 // 2]
        cv = v[y0 // 2:y1 // 2, x0 // 2:x1 // 2]
        i420 = np.concatenate([y, cu.reshape(-1, (x1 - x0)), cv.reshape(-1, (x1 - x0))], axis=0)
        return cv2.cvtColor(np.ascontiguousarray(i420), cv2.COLOR_YUV2BGR_I420)

    def paste_bgr(self, region: tuple[int, int, int, int], bgr: np.ndarray, mask: np.ndarray) -> None:
        """Blend `bgr` into the region where mask (float 0..1, region-sized) is > 0."""
        x0, y0, x1, y1 = region
        h, w = y1 - y0, x1 - x0
        i420 = cv2.cvtColor(np.ascontiguousarray(bgr), cv2.COLOR_BGR2YUV_I420)
        new_y = i420[:h]
        chroma = i420[h:].reshape(2, h // 2, w // 2)
        alpha = np.clip(mask, 0.0, 1.0).astype(np.float32)
        y_plane = self.planes[y0:y1, x0:x1]
        y_plane[:] = _blend(y_plane, new_y, alpha)
        alpha_c = cv2.resize(alpha, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        u, v = self._uv()
        for plane, new in ((u, chroma[0]), (v, chroma[1])):
            part = plane[y0 // 2:y1 // 2, x0 // 2:x1 // 2]
            part[:] = _blend(part, new, alpha_c)

    def luma(self) -> np.ndarray:
        return self.planes[: self.height]

    def to_av(self):
        import av

        frame = av.VideoFrame.from_ndarray(self.planes, format="yuv420p")
        frame.pts, frame.time_base = self.pts, self.time_base
        return frame


def _blend(old: np.ndarray, new: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    changed = alpha > 0
    out = old.copy()
    a = alpha[changed]
    out[changed] = np.clip(np.rint(old[changed] * (1.0 - a) + new[changed] * a), 0, 255).astype(np.uint8)
    return out


# x264 preset of lip-synced videos. Measured on ls_demo3 (1080x1920, 600 frames, quiet 2 cores), each at
# the CRF that reaches the same PSNR target: veryfast 32.6 fps 9.8 MB, superfast 56.6 fps 12.9 MB,
# ultrafast 74.2 fps 19.7 MB (whole-video PSNR 50.0 / 49.9 / 48.8 dB). Encoding is the largest
# phase of a 1080p lip-sync. With superfast everywhere the independent dlib check of vr_face_1
# (700x700) fell from 0.71 to 0.63 lip follow, 0.37 above its floor, under the 0.4 the tests ask;
# on the 1080p clip it read 0.77 against veryfast's 0.76 (a mouth there is ~250 px wide, small
# coding losses do not move its outline). So full-HD frames get superfast, smaller ones veryfast.
PRESET = "veryfast"
LARGE_PRESET = "superfast"
LARGE_FRAME = 1920 * 1080 * 0.95  # pixels


def preset_for(width: int, height: int) -> str:
    """The x264 preset for re-encoding frames of this size (see above)."""
    return LARGE_PRESET if width * height >= LARGE_FRAME else PRESET


class VideoWriter:
    """H.264 (libx264, 4:2:0) at the source's size and timestamps; written under a temporary name
    and renamed by `close()`, so a failed run never leaves a plausible output."""

    def __init__(self, path: str | Path, width: int, height: int, time_base: Fraction,
                 average_rate: Fraction | None, crf: float, preset: str | None = None,
                 threads: int | None = None, color: tuple[int, int, int, int] | None = None,
                 on_output: Callable[[object], None] | None = None) -> None:
        """`on_output` receives every written frame decoded back from the encoder's packets (in
        presentation order, a few frames behind `write`): what the file holds, without reading it."""
        import av

        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix}")
        try:
            self.container = av.open(str(self.tmp), "w", format="mp4")
        except (av.error.FFmpegError, OSError) as exc:
            raise OutputError(f"cannot write {self.path}: {exc}", "choose a writable output folder") from None
        rate = average_rate or Fraction(25)
        self.stream = self.container.add_stream("libx264", rate=rate)
        self.stream.width, self.stream.height = width // 2 * 2, height // 2 * 2
        self.stream.pix_fmt = "yuv420p"
        self.stream.time_base = time_base
        self.stream.codec_context.time_base = time_base
        self.stream.codec_context.thread_count = threads or max(1, os.cpu_count() or 1)
        self.stream.codec_context.options = {"crf": f"{crf:g}", "preset": preset or preset_for(width, height)}
        self.color = color
        if color:
            ctx = self.stream.codec_context
            ctx.color_range, ctx.colorspace, ctx.color_primaries, ctx.color_trc = color
        self.frames = 0
        self.on_output = on_output
        self._decoder = None

    def _mux(self, packets) -> None:
        for packet in packets:
            if self.on_output is not None:  # before muxing: the muxer takes the packet's data
                self._decode(packet)
            self.container.mux(packet)

    def _decode(self, packet) -> None:
        import av

        if self._decoder is None:
            self._decoder = av.CodecContext.create("h264", "r")
            self._decoder.extradata = self.stream.codec_context.extradata  # mp4: SPS/PPS are not in-band
            self._decoder.thread_type = "AUTO"
        for frame in self._decoder.decode(packet):
            self.on_output(frame)

    def write(self, av_frame) -> None:
        if self.color:  # frames built from arrays carry no colour tags; the stream's must match the source
            av_frame.color_range, av_frame.colorspace, av_frame.color_primaries, av_frame.color_trc = self.color
        self._mux(self.stream.encode(av_frame))
        self.frames += 1

    def close(self) -> Path:
        self._mux(self.stream.encode(None))
        if self._decoder is not None:
            for frame in self._decoder.decode(None):
                self.on_output(frame)
        self.container.close()
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        with contextlib.suppress(Exception):  # already failing; the partial file goes below
            self.container.close()
        self.tmp.unlink(missing_ok=True)
