"""Voice licences: which voices may be used commercially, and what one dub used.

A voice whose terms forbid commercial use carries `Voice.extra["non_commercial"] = True` (an engine
whose every voice is so, like MBROLA, also sets `TTSEngine.non_commercial`); `extra["licence"]`
names its own licence when it differs from the engine's. Such voices are never a *silent* choice:
every dub lists the licence of each voice it used and warns about non-commercial ones, and
`--commercial-safe` (DubOptions.commercial_safe) leaves them out altogether.
"""

from __future__ import annotations

NON_COMMERCIAL = "non_commercial"
# Offered only when asked for by id: never a default, never matched, never used by a repair.
EXPLICIT_ONLY = "explicit_only"
LICENCE = "licence"


def is_non_commercial(voice) -> bool:
    return bool(voice.extra.get(NON_COMMERCIAL))


def is_explicit_only(voice) -> bool:
    return bool(voice.extra.get(EXPLICIT_ONLY))


def voice_licence(voice, engine=None) -> str:
    return str(voice.extra.get(LICENCE) or getattr(engine, "licence", "") or "")


def base_voice_id(voice_id: str) -> str:
    """An adapted or cross-lingual variant ("kokoro:am_adam@es~f1p0r1") has its base voice's licence."""
    return voice_id.split("~")[0]


def licence_summary(registry, voices_by_speaker: dict[str, str], commercial_safe: bool) -> dict:
    """report.json's `licences`: every voice the dub used, its licence and who spoke with it."""
    rows: dict[str, dict] = {}
    for speaker, voice_id in sorted(voices_by_speaker.items()):
        if not voice_id:
            continue
        key = base_voice_id(voice_id)
        if key not in rows:
            voice = registry.get_voice(key, allow_non_commercial=True)
            engine = registry.installed_engine(voice.engine)
            rows[key] = {"voice": key, "engine": voice.engine, "licence": voice_licence(voice, engine),
                         "non_commercial": is_non_commercial(voice), "speakers": []}
        rows[key]["speakers"].append(speaker)
    used = list(rows.values())
    return {"commercial_safe": commercial_safe, "voices": used,
            "non_commercial": [r["voice"] for r in used if r["non_commercial"]]}


def non_commercial_warnings(summary: dict) -> list[str]:
    return [f"voice {r['voice']} (speakers {', '.join(r['speakers'])}) is licensed for non-commercial use "
            f"only ({r['licence']}); do not sell this dub or use it in a sold product, or run again with "
            f"--commercial-safe" for r in summary["voices"] if r["non_commercial"]]
