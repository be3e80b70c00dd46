"""A still portrait brought to life: one photo + speech -> a talking-head video.

`Portrait.load` reads any photo Pillow can (JPG, PNG, WebP, palette images; the format is sniffed
from the data, never the file name), finds the face with MediaPipe's face mesh and frames it: a
square crop around the face (512 px by default, the size talking-head tools use) or the whole
picture. `PortraitAnimator` drives every frame from the speech with the lip-sync stage's mouth
driver and renderer (with a painted mouth interior, `oral.py`), paints blinks (`eyelids.py`) and
moves the head a little (`head.py`); `render_video` encodes H.264 + AAC at 25 fps.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from polydub.audio import Audio
from polydub.errors import InputMediaError, JobCancelledError
from polydub.face.driver import MouthCurves, MouthDriver, Phone
from polydub.face.eyelids import Eyelids, blink_curve, blink_starts
from polydub.face.head import HeadPose, HeadWarp, plan_head
from polydub.face.interior import lip_colour
from polydub.face.landmarks import CHIN, FOREHEAD
from polydub.face.model import FaceModel, MouthPose
from polydub.face.oral import painted_interior
from polydub.face.renderer import MouthRenderer
from polydub.face.tracking import detect_landmarks

FRAMINGS = ("crop", "full")
MAX_SOURCE_SIDE = 2048  # larger photos are scaled down before anything else
MAX_FULL_SIDE = 1280  # `--frame full` output, long side
CROP_PER_FACE = 2.0  # crop side in face heights (forehead to chin)
MIN_FACE_PX = 40
POSE_STEP = 1 / 48  # mouth poses this close render identically (and are rendered once)
# A photo shows no speaking scale of its own (the lip-sync stage learns it from the video): open
# as wide as a clear, energetic speaker, so the words read on screen.
PORTRAIT_MAX_OPEN = 0.085  # face heights


@dataclass
class Portrait:
    """The framed picture the animation is drawn on, and the face's 478 landmarks in it."""

    image: np.ndarray  # BGR, output size
    landmarks: np.ndarray  # (478, 2) pixels in `image`
    faces: int  # faces found in the photo
    face: int  # which one speaks (1 = the largest)
    source_size: tuple[int, int]  # (width, height) of the photo as read
    box: tuple[int, int, int, int]  # the framed region of the photo (x0, y0, x1, y1), source pixels

    @classmethod
    def load(cls, path: str | Path, framing: str = "crop", size: int = 512, face: int | None = None) -> Portrait:
        image = read_image(path)
        return cls.from_image(image, Path(path).name, framing, size, face)

    @classmethod
    def from_image(cls, image: np.ndarray, name: str = "the photo", framing: str = "crop", size: int = 512,
                   face: int | None = None) -> Portrait:
        if framing not in FRAMINGS:
            raise InputMediaError(f"unknown framing {framing!r}", f"use one of: {', '.join(FRAMINGS)}")
        faces = detect_landmarks(image, max_faces=8)
        faces = [lm for lm in faces if float(np.ptp(lm[:, 1])) >= MIN_FACE_PX]
        if not faces:
            raise InputMediaError(f"no face found in {name}",
                                  "use a photo with one clearly visible face, looking roughly at the camera, "
                                  f"at least {MIN_FACE_PX} px tall")
        if face is None and len(faces) > 1:
            raise InputMediaError(f"{len(faces)} faces found in {name}",
                                  f"choose who speaks with --face N (1 = the largest, up to {len(faces)})")
        index = (face or 1) - 1
        if not 0 <= index < len(faces):
            raise InputMediaError(f"--face {face}: {name} has {len(faces)} face(s)", f"use 1..{len(faces)}")
        landmarks = faces[index].astype(np.float64)
        h, w = image.shape[:2]
        if framing == "full":
            scale = min(1.0, MAX_FULL_SIDE / max(w, h))
            out_w, out_h = max(2, int(w * scale) // 2 * 2), max(2, int(h * scale) // 2 * 2)
            box = (0, 0, w, h)
        else:
            height = float(np.linalg.norm(landmarks[CHIN] - landmarks[FOREHEAD]))
            side = min(CROP_PER_FACE * height / 0.82, w, h)  # the mesh's forehead point is below the hairline
            cx = float(landmarks[:, 0].mean())
            cy = float((landmarks[FOREHEAD][1] + landmarks[CHIN][1]) / 2 - 0.04 * side)
            x0 = int(round(np.clip(cx - side / 2, 0, w - side)))
            y0 = int(round(np.clip(cy - side / 2, 0, h - side)))
            box = (x0, y0, x0 + int(side), y0 + int(side))
            out_w = out_h = size
        x0, y0, x1, y1 = box
        sx, sy = out_w / (x1 - x0), out_h / (y1 - y0)
        interp = cv2.INTER_AREA if sx < 1 else cv2.INTER_CUBIC
        framed = cv2.resize(image[y0:y1, x0:x1], (out_w, out_h), interpolation=interp)
        landmarks = separate_lips((landmarks - [x0, y0]) * [sx, sy])
        return cls(image=np.ascontiguousarray(framed), landmarks=landmarks, faces=len(faces), face=index + 1,
                   source_size=(w, h), box=box)


MIN_SEAM = 0.003  # face heights between the inner lip contours of a closed mouth


def separate_lips(landmarks: np.ndarray) -> np.ndarray:
    """Inner lip contours that touch or cross (a shut mouth in a photo; the detector may put the
    lower one a fraction of a pixel above the upper one) moved a hair apart around their middle
    line: the renderer tells the lips apart by which side of that line a point is on, and a crossed
    pair would move both inner contours with the jaw (the mouth would open as a stretched lip). The
    mouth corners stay: both contours meet there."""
    from polydub.face.landmarks import LIPS_INNER_LOWER, LIPS_INNER_UPPER, face_frame

    out = np.array(landmarks, dtype=np.float64)
    frame = face_frame(out)
    up, low = list(LIPS_INNER_UPPER[1:-1]), list(LIPS_INNER_LOWER[1:-1])
    fu, fl = frame.to_face(out[up]), frame.to_face(out[low])
    tight = (fl[:, 1] - fu[:, 1]) < MIN_SEAM
    if not tight.any():
        return out
    middle = (fu[:, 1] + fl[:, 1]) / 2
    fu[tight, 1], fl[tight, 1] = middle[tight] - MIN_SEAM / 2, middle[tight] + MIN_SEAM / 2
    out[up], out[low] = frame.to_image(fu), frame.to_image(fl)
    return out


def read_image(path: str | Path) -> np.ndarray:
    """BGR pixels of a photo (format sniffed from its bytes; transparency over white)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise InputMediaError(f"photo not found: {path}", "check the path")
    try:
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img)
            if img.mode in ("RGBA", "LA", "P", "PA"):
                img = img.convert("RGBA")
                white = Image.new("RGBA", img.size, (255, 255, 255, 255))
                img = Image.alpha_composite(white, img)
            rgb = np.asarray(img.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise InputMediaError(f"{path.name} is not a readable image ({exc.__class__.__name__})",
                              "use a JPG, PNG or WebP photo") from None
    h, w = rgb.shape[:2]
    if max(w, h) > MAX_SOURCE_SIDE:
        scale = MAX_SOURCE_SIDE / max(w, h)
        rgb = cv2.resize(rgb, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


class PortraitMouth(MouthRenderer):
    """The lip-sync renderer with a painted interior: a photo has no open frames to borrow from, and
    its own mouth is used only when it is clearly open in the photo."""

    OWN_INTERIOR_MIN_GAP = 0.035

    def _fallback(self, image: np.ndarray, landmarks: np.ndarray, half_width: float):
        if self._procedural is None:
            h, w = image.shape[:2]
            cheek = np.round(landmarks[[205, 425, 50, 280]]).astype(int)
            skin = np.mean([image[min(max(y, 0), h - 1), min(max(x, 0), w - 1)] for x, y in cheek], axis=0)
            self._procedural = painted_interior(lip_colour(image, landmarks), skin, half_width)
        return self._procedural


@dataclass
class AnimationOptions:
    fps: int = 25
    blinks: bool = True
    head_motion: bool = True
    idle: bool = True  # keep the head gently moving in pauses
    seed: int = 0  # the same seed gives the same blinks and head motion


@dataclass
class AnimationStats:
    frames: int = 0
    fps: int = 25
    duration: float = 0.0
    blinks: int = 0
    nods: int = 0
    render_s: float = 0.0  # animation only (no speech synthesis, no encoding)
    encode_s: float = 0.0
    mouth_renders: int = 0  # distinct mouth poses rendered (the rest came from the cache)
    blink_times: list[float] = field(default_factory=list)  # when each blink starts, seconds
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"frames": self.frames, "fps": self.fps, "duration": round(self.duration, 3), "blinks": self.blinks,
                "nods": self.nods, "render_s": round(self.render_s, 3), "encode_s": round(self.encode_s, 3),
                "animation_fps": round(self.frames / self.render_s, 1) if self.render_s else None,
                "mouth_renders": self.mouth_renders, "blink_times": [round(t, 3) for t in self.blink_times],
                **self.extra}


class PortraitAnimator:
    """Frames of one portrait speaking (see module doc). One per portrait; not thread-safe."""

    def __init__(self, portrait: Portrait, options: AnimationOptions | None = None) -> None:
        self.portrait = portrait
        self.options = options or AnimationOptions()
        model = FaceModel.from_landmarks(portrait.landmarks[None])
        model.max_open = PORTRAIT_MAX_OPEN
        self.mouth = PortraitMouth(model)
        self.eyelids = Eyelids(portrait.image, portrait.landmarks)
        self.head = HeadWarp(portrait.image.shape, portrait.landmarks)
        self.driver = MouthDriver()
        self._cache: dict[tuple, tuple | None] = {}

    def frame_times(self, duration: float) -> np.ndarray:
        n = max(1, int(np.ceil(duration * self.options.fps - 1e-6)))
        return np.arange(n) / self.options.fps

    def plan(self, speech: Audio, phones: list[Phone] | None = None
             ) -> tuple[MouthCurves, np.ndarray, HeadPose, list[float]]:
        """(mouth curves, eye closure per frame, head pose, blink start times) for `speech`."""
        times = self.frame_times(speech.duration)
        rng = np.random.default_rng(self.options.seed)
        curves = self.driver.drive(speech, times, phones)
        starts = blink_starts(speech.duration, rng) if self.options.blinks and self.eyelids.lids else []
        eyes = blink_curve(times, starts)
        if self.options.head_motion:
            head = plan_head(times, curves.loudness, curves.speaking, rng, idle=self.options.idle)
        else:
            zero = np.zeros(len(times))
            head = HeadPose(zero, zero, zero, zero, 0)
        return curves, eyes, head, starts

    def _mouth(self, pose: MouthPose) -> tuple[tuple[int, int, int, int], np.ndarray] | None:
        """(region, final pixels of that region) for a pose: the photo never changes under the mouth,
        so a pose's pixels are computed once and pasted in every frame that asks for it."""
        key = tuple(int(round(v / POSE_STEP)) for v in (pose.open, pose.spread, pose.round, pose.closure))
        if key not in self._cache:
            q = [k * POSE_STEP for k in key]
            result = self.mouth.render(self.portrait.image, self.portrait.landmarks,
                                       MouthPose(open=q[0], spread=q[1], round=q[2], closure=q[3]))
            patch = None
            if result.region is not None:
                x0, y0, x1, y1 = result.region
                patch = (result.region, result.apply(self.portrait.image)[y0:y1, x0:x1].copy())
            if len(self._cache) > 4000:
                self._cache.clear()
            self._cache[key] = patch
        return self._cache[key]

    def frames(self, speech: Audio, phones: list[Phone] | None = None,
               stats: AnimationStats | None = None) -> Iterator[np.ndarray]:
        curves, eyes, head, blinks = self.plan(speech, phones)
        if stats is not None:
            stats.frames, stats.fps, stats.duration = len(curves), self.options.fps, speech.duration
            stats.blinks, stats.blink_times, stats.nods = len(blinks), list(blinks), head.nods
        base = self.portrait.image
        for i in range(len(curves)):
            frame = base.copy()
            patch = self._mouth(curves.pose(i))
            if patch is not None:
                (x0, y0, x1, y1), pixels = patch
                frame[y0:y1, x0:x1] = pixels
            if eyes[i] > 0:
                self.eyelids.apply(frame, float(eyes[i]))
            yield self.head.apply(frame, float(head.roll[i]), float(head.dx[i]), float(head.dy[i]), float(head.nod[i]))
        if stats is not None:
            stats.mouth_renders = len(self._cache)

    def render_video(self, speech: Audio, out_path: str | Path, phones: list[Phone] | None = None,
                     progress: Callable[[float], None] | None = None, cancel: threading.Event | None = None,
                     crf: int = 20) -> AnimationStats:
        """Write `out_path` (MP4: H.264 + AAC of `speech`); written under a temporary name, renamed
        when complete. Cancel within a frame's time when `cancel` is set. Frames are drawn on this
        thread while the encoder works on the previous ones in another (two cores: about half the
        wall time of doing both in turn)."""
        out_path = Path(out_path)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        stats = AnimationStats()
        h, w = self.portrait.image.shape[:2]
        silent = out_path.with_name(f".{out_path.stem}.video.mp4")
        encoder = _Encoder(silent, w, h, self.options.fps, crf)
        wav = out_path.with_name(f".{out_path.stem}.speech.wav")
        try:
            started = time.perf_counter()
            total = max(1, len(self.frame_times(speech.duration)))
            for i, frame in enumerate(self.frames(speech, phones, stats)):
                if cancel is not None and cancel.is_set():
                    raise JobCancelledError("the animation was cancelled", "start it again when you are ready")
                encoder.put(frame)
                if progress and (i % 10 == 0 or i == total - 1):
                    progress((i + 1) / total)
            drawn = time.perf_counter()
            encoder.close()
            speech.write(wav)
            mux_speech(silent, wav, out_path)
            stats.render_s = drawn - started - encoder.waited
            stats.encode_s = encoder.busy + time.perf_counter() - drawn
            stats.extra["wall_s"] = round(time.perf_counter() - started, 3)
        except BaseException:
            encoder.abort()
            raise
        finally:
            silent.unlink(missing_ok=True)
            wav.unlink(missing_ok=True)
        return stats


class _Encoder:
    """H.264 on a background thread, fed through a short queue (the drawing thread waits when the
    encoder falls behind, so memory stays bounded)."""

    def __init__(self, path: Path, width: int, height: int, fps: int, crf: int) -> None:
        import queue

        from polydub.face.video import PRESET, VideoWriter

        # A fixed CRF, not one measured per preset: the preset stays the one that CRF was chosen for.
        self.writer = VideoWriter(path, width, height, Fraction(1, fps), Fraction(fps), crf=crf, threads=2,
                                  preset=PRESET)
        self.fps = fps
        self.queue: queue.Queue = queue.Queue(maxsize=8)
        self.error: BaseException | None = None
        self.busy = 0.0  # seconds spent encoding
        self.waited = 0.0  # seconds the drawing thread waited for room in the queue
        self.thread = threading.Thread(target=self._run, name="portrait-encoder", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        import av

        index = 0
        while True:
            frame = self.queue.get()
            if frame is None:
                return
            if self.error is not None:
                continue  # drain: the drawing thread learns of the error on its next put
            try:
                t = time.perf_counter()
                av_frame = av.VideoFrame.from_ndarray(frame, format="bgr24")
                av_frame.pts = index
                av_frame.time_base = Fraction(1, self.fps)
                self.writer.write(av_frame)
                self.busy += time.perf_counter() - t
                index += 1
            except BaseException as exc:  # noqa: BLE001 - handed to the drawing thread
                self.error = exc

    def put(self, frame: np.ndarray) -> None:
        if self.error is not None:
            raise self.error
        t = time.perf_counter()
        self.queue.put(frame)
        self.waited += time.perf_counter() - t

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error
        self.writer.close()

    def abort(self) -> None:
        if self.thread.is_alive():
            self.error = self.error or JobCancelledError("stopped", "")
            self.queue.put(None)
            self.thread.join()
        self.writer.abort()


def mux_speech(video: Path, speech_wav: Path, out_path: Path) -> Path:
    """Video stream copied, speech encoded as AAC; temporary name until complete."""
    from polydub.media.ffmpeg import ffmpeg_write

    return ffmpeg_write(["-i", str(video), "-i", str(speech_wav), "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy",
                         "-c:a", "aac", "-b:a", "160k", "-movflags", "+faststart"], out_path)
