"""The project model: one object that flows through every stage and is saved as project.json."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

PROJECT_FILE = "project.json"


class Word(BaseModel):
    start: float
    end: float
    text: str
    probability: float | None = None


# mt_engine of a line whose translation a person wrote: never re-translated or "repaired" by an engine
USER_TRANSLATION = "user"


class Segment(BaseModel):
    """One dub line: a span of original speech and everything derived from it."""

    id: int
    start: float
    end: float
    text: str
    speaker: str = "S1"
    words: list[Word] = Field(default_factory=list)
    translation: str | None = None
    mt_engine: str | None = None
    voice: str | None = None
    tts_engine: str | None = None
    audio: str | None = None  # per-line dubbed audio, relative to the project folder
    audio_key: str | None = None  # content key of what produced `audio`, for re-rendering only changes
    dub_start: float | None = None
    dub_end: float | None = None
    tempo: float | None = None
    overflow: float | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)

    @property
    def duration(self) -> float:
        return self.end - self.start


class MediaInfo(BaseModel):
    path: str
    container: str | None = None
    duration: float
    has_video: bool
    video_codec: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    audio_codec: str | None = None
    sample_rate: int | None = None
    channels: int | None = None
    # Every audio track of the input (polydub.media.tracks) and the one that is dubbed.
    audio_tracks: list[dict[str, Any]] = Field(default_factory=list)
    audio_track: int = 0
    audio_track_reason: str | None = None


class Project(BaseModel):
    version: int = 1
    input: str
    input_key: str = ""
    media: MediaInfo | None = None
    source_language: str | None = None
    target_language: str | None = None
    segments: list[Segment] = Field(default_factory=list)
    options: dict[str, Any] = Field(default_factory=dict)
    engines: dict[str, Any] = Field(default_factory=dict)
    speakers: dict[str, Any] = Field(default_factory=dict)
    stage_keys: dict[str, str] = Field(default_factory=dict)
    stage_seconds: dict[str, float] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
    licences: dict[str, Any] = Field(default_factory=dict)  # voice licences of the dub (report.json)
    lipsync: dict[str, Any] = Field(default_factory=dict)  # faces, speaker matches, job lip scores

    def save(self, folder: str | Path) -> Path:
        """Write atomically so a crash never leaves a half-written project.json."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / PROJECT_FILE
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(self.model_dump_json(indent=2), encoding="utf-8")
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, folder: str | Path) -> Project:
        path = Path(folder) / PROJECT_FILE
        return cls.model_validate(json.loads(path.read_text(encoding="utf-8")))

    @classmethod
    def load_or_none(cls, folder: str | Path) -> Project | None:
        path = Path(folder) / PROJECT_FILE
        if not path.exists():
            return None
        try:
            return cls.load(folder)
        except (ValueError, OSError):
            return None
