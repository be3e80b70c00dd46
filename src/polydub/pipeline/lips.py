"""The lips stage: after the mix, re-animate the on-screen speakers' mouths to follow the dub.

Face tracking needs only the video, so it starts right after the media stage and runs beside
transcription, translation and synthesis (`start_face_tracking`), cached by the input's content.
The stage then matches speakers to faces, drives each dubbed line's mouth from its phoneme timing
(Kokoro's duration predictor, or Whisper word times for other voices) and loudness, renders the
lines (per-line cache: after an edit only changed lines are re-animated), encodes the video and
measures the result. Lines that cannot be lip-synced keep their original frames; the report says why.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from polydub.audio import Audio
from polydub.cache import value_key
from polydub.face.crf import LATER_SPOTS, SPOT_MARGIN, TARGET_PSNR
from polydub.face.tracks import FaceTracks
from polydub.face.video import LARGE_PRESET, PRESET

if TYPE_CHECKING:
    from polydub.pipeline.dubber import Dubber
    from polydub.project import Project

TRACKER_VERSION = 2
FACES_FILE = "faces.npz"
VIDEO_FILE = "lipsync.mp4"
LINE_CACHE = "lips"
CROPS_DIR = "lipsync"  # in the output folder: before/after mouth crops per line


class BackgroundTracking:
    """Face tracking of one input in a thread; `result()` waits and re-raises its error."""

    def __init__(self, video: Path, path: Path, cached: bool, cancel: threading.Event | None) -> None:
        self.video, self.path, self.cached, self.cancel = video, path, cached, cancel
        self._result: FaceTracks | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="polydub-faces", daemon=True)
        self.seconds = 0.0

    def start(self) -> BackgroundTracking:
        self._thread.start()
        return self

    def _run(self) -> None:
        import time

        began = time.perf_counter()
        try:
            if self.cached and self.path.exists():
                self._result = FaceTracks.load(self.path)
            else:
                from polydub.face.tracking import FaceTracker

                self._result = FaceTracker().track(self.video, cancel=self.cancel)
                self._result.save(self.path)
        except BaseException as exc:  # handed to the thread that asks for the result
            self._error = exc
        self.seconds = time.perf_counter() - began

    def result(self) -> FaceTracks:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result


def tracking_key(project: Project) -> str:
    return value_key(project.input_key, TRACKER_VERSION)


def start_face_tracking(dubber: Dubber, project: Project) -> BackgroundTracking | None:
    if not dubber.options.lipsync or project.media is None or not project.media.has_video:
        return None
    cached = project.stage_keys.get("faces") == tracking_key(project)
    return BackgroundTracking(Path(project.input), dubber.work / FACES_FILE, cached, dubber.cancel).start()


def _phones(dubber: Dubber, project: Project, seg, audio: Audio, driver):
    """The line's phonemes on its audio's timeline: Kokoro's own timing when it voiced the line,
    else Whisper's word times on the dubbed audio with espeak-ng phonemes."""
    from polydub.voice.registry import get_registry

    text = (seg.translation or "").strip()
    if not text:
        return None
    if seg.tts_engine == "kokoro" and seg.voice:
        registry = get_registry()
        try:
            voice = registry.get_voice(seg.voice)
            symbols = registry.engine_for(voice).phoneme_timing(text, voice)
        except Exception:  # noqa: BLE001 - a voice gone since: fall back to the recognizer
            symbols = None
        if symbols:
            return driver.phones_from_kokoro(symbols, audio)
    from polydub.speech.asr import WhisperRecognizer

    language = project.target_language or "en"
    model = dubber.options.asr_model
    if model.endswith(".en") and language != "en":
        model = "base"  # an English-only model cannot hear the dub's language
    recognizer = WhisperRecognizer(model, beam_size=1, temperature_fallback=False)
    try:
        words = recognizer.transcribe(audio, language).words
    except Exception:  # noqa: BLE001 - no words: loudness alone drives the mouth
        return None
    return driver.phones_from_words([(w.text.strip(), w.start, w.end) for w in words if w.text.strip()], language)


def lipsync(dubber: Dubber, project: Project) -> Path | None:
    """Run the stage; returns the lip-synced video (no audio) or None when nothing was re-animated."""
    from polydub.face.animate import animator_for
    from polydub.face.driver import MouthDriver
    from polydub.face.lipsync import LineCache, LineSpeech
    from polydub.face.mapping import match_speakers
    from polydub.face.run import lipsync_video

    opts = dubber.options
    media = project.media
    project.lipsync = {}
    if media is None or not media.has_video:
        project.warnings.append("lip-sync was asked for, but the input has no video")
        return None
    animator = animator_for(opts.lipsync_model, opts.commercial_safe)
    job = dubber.faces or start_face_tracking(dubber, project)
    dubber.progress("lips", 0.02, "tracking faces")
    tracks = job.result()
    project.stage_keys["faces"] = tracking_key(project)
    faces = match_speakers(tracks, [(s.speaker, s.start, s.end) for s in project.segments], dubber.audio16k)
    driver = MouthDriver()
    lines = []
    for seg in project.segments:
        audio = Audio.read(dubber.out_dir / seg.audio) if seg.audio else None
        phones = _phones(dubber, project, seg, audio, driver) if audio is not None else None
        lines.append(LineSpeech(id=seg.id, speaker=seg.speaker, start=seg.start, end=seg.end,
                                dub_start=seg.dub_start if seg.dub_start is not None else seg.start,
                                audio=audio, phones=phones, key=value_key(seg.audio_key, seg.audio, seg.dub_start)))
    saved = project.engines.get("lipsync") if isinstance(project.engines.get("lipsync"), dict) else {}
    crf_key = value_key(project.input_key, "crf", PRESET, LARGE_PRESET, TARGET_PSNR, LATER_SPOTS, SPOT_MARGIN)
    crf = saved.get("crf") if saved.get("crf_key") == crf_key else None
    shares = {"render": (0.1, 0.9)}
    words = {"render": "re-animating mouths and measuring lip sync"}
    result = lipsync_video(project.input, dubber.work / VIDEO_FILE, tracks, faces, lines, animator, media.duration,
                           cache=LineCache(dubber.work / LINE_CACHE), crops_dir=dubber.out_dir / CROPS_DIR, crf=crf,
                           progress=lambda stage, f: dubber.progress("lips", shares[stage][0] + shares[stage][1] * f,
                                                                     words[stage]),
                           cancel=dubber.cancel)
    for seg, plan in zip(project.segments, result.plans, strict=True):
        entry = {"status": plan.status, "reason": plan.reason, "face_track": plan.face_track,
                 "confidence": plan.confidence}
        if seg.id in result.scores:
            entry.update(result.scores[seg.id].as_dict())
            if entry.get("crops"):
                entry["crops"] = Path(entry["crops"]).relative_to(dubber.out_dir).as_posix()
        seg.metrics["lipsync"] = entry
    if result.crf is not None:
        project.engines["lipsync"] = {
            "name": animator.name, "licence": animator.licence, "non_commercial": animator.non_commercial,
            "crf": result.crf, "crf_probe_psnr": result.crf_probe_psnr if result.crf_probe_psnr is not None
            else saved.get("crf_probe_psnr"), "crf_key": crf_key}
    render = result.render
    project.lipsync = {
        "engine": animator.name, "licence": animator.licence, "non_commercial": animator.non_commercial,
        "faces": faces.as_dict(), "tracks": len(tracks.tracks), "shots": len(tracks.shots),
        "lines_lipsynced": len(result.animated), "lines_untouched": len(result.plans) - len(result.animated),
        "frames": render.frames if render else len(tracks.times), "frames_changed": render.changed if render else 0,
        "cached_lines": render.cached_lines if render else [], "crf": result.crf, "summary": result.summary,
    }
    if animator.non_commercial:
        project.warnings.append(f"lip-sync used {animator.name}: {animator.licence}")
    if result.video is None:
        reasons = sorted({p.reason for p in result.plans if p.reason})
        project.warnings.append("lip-sync changed no line: " + ("; ".join(reasons) or "no dubbed lines"))
    return result.video
