"""Faces: tracking, speaker-to-face matching, mouth driving and re-animation (lip-sync).

The two reusable halves, usable without a video or diarization (a still portrait, an avatar):

- `MouthDriver.drive(audio, frame_times, phones=None) -> MouthCurves`: speech (audio, optional
  phoneme timing from a TTS or words from a recognizer) -> one `MouthPose` per frame.
- `MouthRenderer(FaceModel).render(image, landmarks, pose) -> RenderResult`: one image + its 478
  face-mesh landmarks + a pose -> new pixels for the lower face (`RenderResult.apply(image)`).

`FaceModel.from_landmarks(landmarks[None])` builds the model from one photo (`detect_landmarks`
finds the landmarks); `FaceModel.from_track` from a tracked face in a video. Video lip-sync
(`polydub.face.run.lipsync_video`) puts tracking (`FaceTracker`), matching (`match_speakers`),
planning, rendering, encoding and measuring together. A still portrait is brought to life by
`polydub.face.portrait` (framing, painted mouth interior, eyelid blinks, head motion).
"""

from polydub.face.driver import MouthCurves, MouthDriver, Phone, frame_loudness
from polydub.face.model import FaceModel, MouthPose
from polydub.face.renderer import MouthRenderer, RenderResult
from polydub.face.tracking import FaceTracker, detect_landmarks

__all__ = ["FaceModel", "FaceTracker", "MouthCurves", "MouthDriver", "MouthPose", "MouthRenderer", "Phone",
           "RenderResult", "detect_landmarks", "frame_loudness"]
