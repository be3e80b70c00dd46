"""The report's quality view: the public per-line `quality` dict and the top-level `summary`."""

from __future__ import annotations

from typing import Any

from polydub.quality.checks import (
    FLAG_INTELLIGIBILITY,
    FLAG_OVERFLOW,
    FLAG_TEMPO,
    FLAG_TRANSLATION,
    FLAG_VOICE,
    Thresholds,
)
from polydub.quality.metrics import mean, percentile

# What report.json shows per line; internal cache keys (audio_key, bt_key) stay in project.json.
PUBLIC_KEYS = ("tempo", "overflow_s", "cer", "similarity", "backtranslation_score", "flags", "repairs",
               "heard", "backtranslation", "mt_engine", "voice", "adequacy")


def public_quality(metrics: dict[str, Any]) -> dict[str, Any] | None:
    q = metrics.get("quality")
    if not q:
        return None
    return {k: q.get(k) for k in PUBLIC_KEYS}


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def build_summary(segments: list[dict], stages: dict[str, float], media_seconds: float,
                  min_tempo: float = 0.85, max_tempo: float = 1.25) -> dict[str, Any]:
    """Summary of report segments (each a report.json segment dict with an optional `quality`)."""
    th = Thresholds()
    checked = [s for s in segments if s.get("quality")]
    tempos = [float(s.get("tempo") or 1.0) for s in segments if s.get("audio")]

    def passing(*flags: str) -> int:
        return sum(1 for s in checked if not set(flags) & set(s["quality"].get("flags") or []))

    in_slot = sum(1 for s in segments if s.get("audio") and (s.get("overflow") or 0.0) <= 0.02
                  and min_tempo - 0.01 <= float(s.get("tempo") or 1.0) <= max_tempo + 0.01)
    cers = [s["quality"].get("cer") for s in checked]
    by_speaker: dict[str, list[float]] = {}
    for s in checked:
        if s["quality"].get("similarity") is not None:
            by_speaker.setdefault(s.get("speaker") or "S1", []).append(s["quality"]["similarity"])
    flagged = [s["id"] for s in checked if s["quality"].get("flags")]
    return {
        "lines": len(segments),
        "checked": len(checked),
        "passing": {
            "timing": passing(FLAG_OVERFLOW, FLAG_TEMPO),
            "intelligibility": passing(FLAG_INTELLIGIBILITY),
            "voice": passing(FLAG_VOICE),
            "translation": passing(FLAG_TRANSLATION),
            "all": passing(FLAG_OVERFLOW, FLAG_TEMPO, FLAG_INTELLIGIBILITY, FLAG_VOICE, FLAG_TRANSLATION),
        },
        "in_slot_percent": _r(100.0 * in_slot / len(tempos), 1) if tempos else None,
        "tempo_mean": _r(mean(tempos)),
        "tempo_p95": _r(percentile(tempos, 95)),
        "tempo_max": _r(max(tempos)) if tempos else None,
        "mean_cer": _r(mean(cers), 4),
        "mean_similarity": _r(mean(v for vals in by_speaker.values() for v in vals), 4),
        "similarity_per_speaker": {spk: _r(mean(vals), 4) for spk, vals in sorted(by_speaker.items())},
        "mean_backtranslation_score": _r(mean(s["quality"].get("backtranslation_score") for s in checked), 4),
        "rtf_per_stage": {name: _r(sec / media_seconds) for name, sec in stages.items()}
        if media_seconds else {},
        "repaired_lines": [s["id"] for s in checked
                           if any(r.get("kept") for r in s["quality"].get("repairs") or [])],
        "flagged": flagged,
        "limits": {"min_tempo": min_tempo, "max_tempo": max_tempo, "max_cer": th.max_cer,
                   "min_similarity": th.min_similarity, "min_backtranslation": th.min_backtranslation},
    }
