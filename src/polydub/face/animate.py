"""Mouth animators: the engines that turn one frame's face + what should be said into new pixels.

`MeshAnimator` is the built-in classical renderer (mesh warp + interior, no weights needed).
`polydub.face.wav2lip.Wav2LipAnimator` runs a user's Wav2Lip-compatible model by path. Both get
the same tracking, speaker mapping and paste-back; `animator_for` picks one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from polydub.audio import Audio
from polydub.errors import EngineNotInstalledError
from polydub.face.model import FaceModel, MouthPose
from polydub.face.renderer import MouthRenderer, RenderResult
from polydub.face.tracks import FaceTrack


@dataclass
class FrameJob:
    """One frame to re-animate: whose face, which pose the driver wants, when in the dub audio."""

    frame: int
    time: float  # seconds on the video timeline (the dub audio shares it)
    track: FaceTrack
    row: int  # the track's row for this frame
    pose: MouthPose


class MouthAnimator(ABC):
    name: str = ""
    licence: str = ""
    non_commercial: bool = False

    def begin(self, speech: Audio | None) -> None:  # noqa: B027 - optional hook
        """Called once before a video's frames; `speech` is the dubbed speech on the video timeline
        (neural models read their audio windows from it)."""
        return None

    @abstractmethod
    def render(self, image: np.ndarray, landmarks: np.ndarray, job: FrameJob) -> RenderResult:
        """New pixels for `image` (BGR, a crop around the face) given the face's landmarks in that
        crop's coordinates."""

    def cache_tag(self) -> str:
        """Changes whenever the animator would draw different pixels for the same inputs."""
        return self.name


class MeshAnimator(MouthAnimator):
    """The classical renderer: one `FaceModel` + `MouthRenderer` per face track."""

    name = "mesh-warp"
    licence = "Apache-2.0 (polydub); MediaPipe face mesh Apache-2.0"
    VERSION = 2  # bump when the renderer draws differently (per-line caches are keyed by it)

    def __init__(self) -> None:
        self._renderers: dict[int, MouthRenderer] = {}

    def renderer(self, track: FaceTrack) -> MouthRenderer:
        if track.id not in self._renderers:
            self._renderers[track.id] = MouthRenderer(FaceModel.from_track(track))
        return self._renderers[track.id]

    def render(self, image: np.ndarray, landmarks: np.ndarray, job: FrameJob) -> RenderResult:
        return self.renderer(job.track).render(image, landmarks, job.pose)

    def cache_tag(self) -> str:
        return f"{self.name}-{self.VERSION}"


def animator_for(model_path: str | Path | None = None, commercial_safe: bool = False) -> MouthAnimator:
    """The built-in renderer, or a Wav2Lip-compatible model from `model_path` (.onnx, or .pth when
    torch is installed)."""
    if not model_path:
        return MeshAnimator()
    if commercial_safe:
        raise EngineNotInstalledError(
            "a Wav2Lip model was asked for, but --commercial-safe excludes it (its weights are licensed "
            "for non-commercial research only)", "drop --lipsync-model to use the built-in mesh renderer")
    from polydub.face.wav2lip import Wav2LipAnimator

    return Wav2LipAnimator.from_path(model_path)
