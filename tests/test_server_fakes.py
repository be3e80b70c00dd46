"""Fake pipeline functions the server tests run in real worker processes (no models, fast)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from types import SimpleNamespace

STAGES = ("media", "transcribe", "speakers", "translate", "synthesize", "timing", "mix", "render")


def _emit(progress, stage: str, percent: float, seconds: dict) -> None:
    progress(SimpleNamespace(stage=stage, percent=percent, message=f"{stage}…", stage_seconds=dict(seconds)))


def _line_audio(out: Path, i: int, translation: str) -> str:
    rel = f"lines/{i:04d}.wav"
    (out / "lines").mkdir(exist_ok=True)
    (out / rel).write_bytes(b"RIFF" + hashlib.sha1(translation.encode()).digest())
    return rel


def _finish(out: Path, project, input_path: str, progress, seconds: dict) -> dict:
    from polydub.project import Project

    assert isinstance(project, Project)
    project.save(out)
    shutil.copyfile(input_path, out / "dubbed.es.mp4")
    (out / "dubbed.es.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nHola\n")
    report = {"outputs": {"media": "dubbed.es.mp4", "subtitles_target": "dubbed.es.srt"},
              "engines": {"mt": "fake", "tts": "fake"}, "segments": [s.model_dump() for s in project.segments],
              "timing": {"total_seconds": 0.1, "stages": seconds}, "warnings": []}
    (out / "report.json").write_text(json.dumps(report))
    _emit(progress, "done", 100.0, seconds)
    return report


def fake_dub(input_path: str, out_dir: str, options: dict, progress, cancel) -> dict:
    from polydub.project import Project, Segment

    out = Path(out_dir)
    slow = Path(input_path).name.startswith("slow")
    seconds: dict[str, float] = {}
    for n, stage in enumerate(STAGES):
        for _ in range(40 if slow else 1):
            if cancel is not None and cancel.is_set():
                from polydub.errors import JobCancelledError

                raise JobCancelledError("the job was cancelled")
            time.sleep(0.05 if slow else 0.01)
        seconds[stage] = 0.01
        _emit(progress, stage, 100.0 * (n + 1) / (len(STAGES) + 1), seconds)
    project = Project(input=input_path, source_language="en", target_language=options["target_language"],
                      segments=[Segment(id=i, start=i, end=i + 0.9, text=f"Hello {i}", translation=f"Hola {i}")
                                for i in range(3)])
    for i, seg in enumerate(project.segments):
        seg.audio = _line_audio(out, i, seg.translation or "")
    return _finish(out, project, input_path, progress, seconds)


def fake_rerender(input_path: str, out_dir: str, options: dict, progress, cancel) -> dict:
    from polydub.project import Project

    out = Path(out_dir)
    project = Project.load(out)
    seconds = {"synthesize": 0.01}
    for i, seg in enumerate(project.segments):
        current = (out / seg.audio).read_bytes() if seg.audio and (out / seg.audio).exists() else b""
        if current != b"RIFF" + hashlib.sha1((seg.translation or "").encode()).digest():
            seg.audio = _line_audio(out, i, seg.translation or "")
    _emit(progress, "synthesize", 50.0, seconds)
    return _finish(out, project, input_path, progress, seconds)


def stubborn_dub(input_path: str, out_dir: str, options: dict, progress, cancel) -> dict:
    """Ignores the cancel event (like a model stuck in native code)."""
    _emit(progress, "transcribe", 10.0, {})
    time.sleep(60)
    return {}


def crashing_dub(input_path: str, out_dir: str, options: dict, progress, cancel) -> dict:
    _emit(progress, "media", 1.0, {})
    os._exit(3)


def failing_dub(input_path: str, out_dir: str, options: dict, progress, cancel) -> dict:
    from polydub.errors import UnsupportedLanguageError

    raise UnsupportedLanguageError("no engine translates en to xx", "pick another target language")
