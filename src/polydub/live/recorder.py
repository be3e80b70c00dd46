"""Collect a live session's events into lines, a dub track and files (used by the CLI and tests)."""

from __future__ import annotations

import csv
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from polydub.audio import Audio
from polydub.live.events import LiveEvent
from polydub.live.pcm import pcm16_to_float
from polydub.live.stats import latency_summary

LATENCY_COLUMNS = ("utterance", "speaker", "start", "end", "vad_ms", "asr_ms", "mt_ms", "tts_first_ms",
                   "first_audio_ms", "lag_s", "tempo")


@dataclass
class LiveLine:
    utterance: int
    start: float
    end: float
    speaker: str = ""
    text: str = ""
    translation: str = ""
    chunks: list[tuple[float, np.ndarray]] = field(default_factory=list)  # (plays_at, samples)
    metrics: dict = field(default_factory=dict)
    skipped: str | None = None

    @property
    def dub_start(self) -> float | None:
        return self.chunks[0][0] if self.chunks else None

    def audio(self) -> np.ndarray:
        return np.concatenate([c for _, c in self.chunks]) if self.chunks else np.zeros(0, dtype=np.float32)


class LiveRecorder:
    """Thread-safe sink for LiveSession events."""

    def __init__(self) -> None:
        self.lines: dict[int, LiveLine] = {}
        self.speakers: dict[str, dict] = {}
        self.errors: list[str] = []
        self.summary: dict | None = None
        self.rate = 24000
        self._lock = threading.Lock()
        self.done = threading.Event()

    def __call__(self, event: LiveEvent) -> None:
        data = event.data
        with self._lock:
            if event.type == "end":
                self.summary = data
                self.done.set()
                return
            if event.type == "error":
                self.errors.append(data.get("message", ""))
            if event.type == "speaker":
                self.speakers[data["speaker"]] = data
            if "utterance" not in data or "start" not in data:
                if event.type == "metrics" and data.get("utterance") in self.lines:
                    self.lines[data["utterance"]].metrics = data
                return
            line = self.lines.setdefault(data["utterance"], LiveLine(data["utterance"], data["start"], data["end"]))
            if event.type == "transcript":
                line.text, line.speaker = data["text"], data["speaker"]
            elif event.type == "translation":
                line.translation = data["text"]
            elif event.type == "audio" and event.pcm is not None:
                self.rate = data["sample_rate"]
                line.chunks.append((data["plays_at"], pcm16_to_float(event.pcm)))
            elif event.type == "skipped":
                line.skipped = data["reason"]

    def ordered(self) -> list[LiveLine]:
        with self._lock:
            return [self.lines[k] for k in sorted(self.lines)]

    def dub_track(self, min_seconds: float = 0.0) -> Audio:
        """The dub as a listener hears it: every chunk at the time it starts playing."""
        chunks = [(at, c) for line in self.ordered() for at, c in line.chunks]
        end = max([min_seconds] + [at + len(c) / self.rate for at, c in chunks])
        track = np.zeros(int(np.ceil(end * self.rate)) + 1, dtype=np.float32)
        for at, c in chunks:
            i = int(round(at * self.rate))
            track[i:i + len(c)] += c[: len(track) - i]
        return Audio(np.clip(track, -1.0, 1.0), self.rate)

    def latency_rows(self) -> list[dict]:
        rows = []
        for line in self.ordered():
            if line.metrics:
                rows.append({k: line.metrics.get(k) for k in LATENCY_COLUMNS} | {"start": line.start, "end": line.end})
        return rows

    def write(self, out_dir: Path, source_seconds: float = 0.0) -> dict[str, Path]:
        """dub.wav, source/target .srt/.vtt, lines.json, latency.csv; each written whole, then renamed."""
        from polydub.project import Segment
        from polydub.render.subtitles import write_subtitles

        out_dir.mkdir(parents=True, exist_ok=True)
        tmp = out_dir / ".live-partial"
        tmp.mkdir(exist_ok=True)
        lines = self.ordered()
        segments = [Segment(id=n, start=line.start, end=line.end, text=line.text, speaker=line.speaker or "S1",
                            translation=line.translation, dub_start=line.dub_start,
                            dub_end=(line.dub_start + len(line.audio()) / self.rate) if line.chunks else None)
                    for n, line in enumerate(lines) if line.text]
        made = {"dub": self.dub_track(source_seconds).write(tmp / "dub.wav")}
        made |= {f"source_{k}": v for k, v in write_subtitles(segments, tmp / "source", False).items()}
        made |= {f"target_{k}": v for k, v in write_subtitles(segments, tmp / "target", True).items()}
        made["lines"] = tmp / "lines.json"
        made["lines"].write_text(json.dumps({
            "summary": self.summary, "speakers": self.speakers, "errors": self.errors,
            "lines": [{"utterance": line.utterance, "start": line.start, "end": line.end, "speaker": line.speaker,
                       "text": line.text, "translation": line.translation, "dub_start": line.dub_start,
                       "dub_seconds": round(len(line.audio()) / self.rate, 3), "skipped": line.skipped,
                       "metrics": line.metrics} for line in lines]}, ensure_ascii=False, indent=1), "utf-8")
        made["latency"] = tmp / "latency.csv"
        with made["latency"].open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=LATENCY_COLUMNS)
            writer.writeheader()
            writer.writerows(self.latency_rows())
        final = {}
        for key, path in made.items():
            target = out_dir / path.name
            path.replace(target)
            final[key] = target
        tmp.rmdir()
        return final

    def latency(self) -> dict:
        return latency_summary([line.metrics for line in self.ordered() if line.metrics])
