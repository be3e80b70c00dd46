"""report.json: the stable, documented summary of one dub (paths relative to the output folder)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from polydub import __version__
from polydub.project import Project
from polydub.quality.summary import build_summary, public_quality

REPORT_FILE = "report.json"


def build_report(project: Project, out_dir: Path, outputs: dict[str, str], total_seconds: float) -> dict:
    media_seconds = project.media.duration if project.media else 0.0
    stages = dict(project.stage_seconds)
    report: dict[str, Any] = {
        "polydub_version": __version__,
        "input": project.input,
        "source_language": project.source_language,
        "target_language": project.target_language,
        "engines": {k: v for k, v in project.engines.items()},
        "outputs": outputs,
        "speakers": project.speakers,
        "segments": [
            {"id": s.id, "start": s.start, "end": s.end, "speaker": s.speaker, "text": s.text,
             "translation": s.translation, "voice": s.voice, "dub_start": s.dub_start,
             "dub_end": s.dub_end, "tempo": s.tempo, "overflow": s.overflow, "audio": s.audio,
             "quality": public_quality(s.metrics), **_lipsync(s.metrics)}
            for s in project.segments
        ],
        "timing": {
            "total_seconds": round(total_seconds, 3),
            "media_seconds": round(media_seconds, 3),
            "real_time_factor": round(total_seconds / media_seconds, 3) if media_seconds else None,
            "stages": stages,
        },
        "warnings": project.warnings,
    }
    if project.media and len(project.media.audio_tracks) > 1:
        from polydub.media.tracks import output_plan

        suffix = Path(outputs.get("media") or "").suffix
        report["audio_tracks"] = output_plan(project.media, suffix, bool((project.options or {}).get("keep_original")))
    if project.lipsync:
        report["lipsync"] = project.lipsync  # added by the lips stage (faces, matches, job lip scores)
    opts = project.options or {}
    # Added by the quality stage; every key above stays as it was (report.json is a contract).
    report["summary"] = build_summary(report["segments"], stages, media_seconds,
                                      float(opts.get("min_tempo", 0.85)), float(opts.get("max_tempo", 1.25)))
    # Every voice used, its licence and speakers; non-commercial ones are also named in `warnings`.
    report["licences"] = project.licences
    return report


def _lipsync(metrics: dict[str, Any]) -> dict[str, Any]:
    return {"lipsync": metrics["lipsync"]} if "lipsync" in metrics else {}


def write_report(report: dict, out_dir: Path) -> Path:
    path = Path(out_dir) / REPORT_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)
    return path
