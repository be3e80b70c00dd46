"""Running counts and latency statistics of a live session (for /api/sessions and the CLI)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class SessionStats:
    utterances: int = 0  # utterances the segmenter closed
    lines: int = 0  # dubbed and sent
    empty: int = 0  # no words recognised (noise, music)
    abandoned: int = 0  # dropped because the dub fell too far behind, failed, or the session closed
    speculations_wasted: int = 0  # early starts thrown away because the speaker went on
    dub_seconds: float = 0.0
    lines_metrics: list[dict] = field(default_factory=list)

    def add_line(self, metrics: dict) -> None:
        self.lines += 1
        self.lines_metrics.append(metrics)
        if len(self.lines_metrics) > 1000:  # a session may run for hours
            del self.lines_metrics[:100]

    def describe(self) -> dict:
        return {"utterances": self.utterances, "lines": self.lines, "empty": self.empty,
                "abandoned": self.abandoned, "speculations_wasted": self.speculations_wasted,
                "dub_seconds": round(self.dub_seconds, 2), "latency": latency_summary(self.lines_metrics)}


def latency_summary(metrics: list[dict]) -> dict:
    """Median and 95th percentile of each stage, in ms, over the lines so far."""
    out: dict[str, dict | int | None] = {"count": len(metrics)}
    for key in ("first_audio_ms", "vad_ms", "asr_ms", "mt_ms", "tts_first_ms"):
        values = [m[key] for m in metrics if m.get(key) is not None]
        out[key] = {"median": int(np.median(values)), "p95": int(np.percentile(values, 95)),
                    "last": int(values[-1])} if values else None
    return out
