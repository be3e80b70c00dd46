"""Subtitles for source and target, SRT and VTT (pysubs2)."""

from __future__ import annotations

from pathlib import Path

import pysubs2

from polydub.project import Segment


def write_subtitles(segments: list[Segment], base: Path, use_translation: bool) -> dict[str, Path]:
    """Write base.srt and base.vtt; returns {"srt": path, "vtt": path}."""
    subs = pysubs2.SSAFile()
    for seg in segments:
        text = (seg.translation if use_translation else seg.text) or ""
        if not text.strip():
            continue
        start, end = seg.start, seg.end
        if use_translation and seg.dub_start is not None and seg.dub_end is not None:
            start, end = seg.dub_start, seg.dub_end  # target subtitles follow the dubbed voice
        subs.append(pysubs2.SSAEvent(start=int(start * 1000), end=int(end * 1000), text=text.strip()))
    out = {}
    for ext in ("srt", "vtt"):
        path = base.with_suffix(f".{ext}")
        subs.save(str(path), format_=ext)
        out[ext] = path
    return out


def read_subtitle_lines(path: str | Path) -> list[tuple[float, float, str]]:
    subs = pysubs2.load(str(path))
    return [(e.start / 1000, e.end / 1000, e.plaintext) for e in subs if not e.is_comment]
