""""Say it shorter": the LLM rewrites a line that cannot fit its slot, keeping its meaning.

The isochrony step of LLM dubbing tools: before a line is sped up past the tempo limit, cut or given
a faster voice, Qwen is asked for a shorter rendering of the same meaning. The rewrite must pass the
same adequacy check as any translation (quality/adequacy.py); a rejected rewrite is recorded in the
line's repairs with the reason.
"""

from __future__ import annotations

from typing import Any

from polydub.quality.checks import FLAG_OVERFLOW
from polydub.quality.shorten import remove_fillers

LABEL = "shorten_llm:qwen"
# Kokoro's own duration prediction errs by ~2 %; ask for a little less than the exact budget.
_MARGIN = 0.95


def char_budget(text: str, room_s: float, overflow_s: float) -> int:
    """Characters of `text` that fit when `text` overflows `room_s` of speech by `overflow_s`."""
    room_s = max(room_s, 1e-3)
    return max(1, int(len(text.strip()) * room_s / (room_s + max(0.0, overflow_s)) * _MARGIN))


def llm_shorter(ctx: Any, seg: Any, max_chars: int, q: dict) -> tuple[str, str] | None:
    """(label, text) of an adequate shorter rendering, or None (the reason goes into the repairs)."""
    current = (seg.translation or "").strip()
    if not current or not (seg.text or "").strip() or not ctx.tools.llm_time_left():
        return None
    shortener = ctx.tools.shortener()
    if shortener is None:
        return None
    try:
        with ctx.tools.llm_time():
            text = shortener.shorten(seg.text, current, ctx.src, ctx.tgt, max_chars)
    except Exception as exc:  # the model failed to load or run: the other repairs still work
        ctx.tools.warn(f"LLM shortening skipped: {exc}")
        return None
    if text is None:
        q["repairs"].append({"check": FLAG_OVERFLOW, "action": LABEL, "kept": False,
                             "result": "the LLM gave no shorter line in the target language"})
        return None
    # Fillers carry no meaning, so the shorter line is not asked to keep them: the adequacy check
    # compares it with the source minus its fillers.
    source = remove_fillers(seg.text, ctx.src) or seg.text
    verdict = ctx.tools.adequacy().judge(source, text, ctx.src, ctx.tgt, produced_by=shortener.name)
    if verdict.flagged:
        q["repairs"].append({"check": FLAG_OVERFLOW, "action": LABEL, "text": text, "kept": False,
                             "result": "rejected by the adequacy check: " + "; ".join(verdict.reasons)})
        return None
    return LABEL, text


def with_llm_shorter(ctx: Any, seg: Any, candidates: list[tuple[str, str]], max_chars: int,
                     q: dict) -> list[tuple[str, str]]:
    """Put the LLM's rewrite right after the edits that lose no words (fewer pauses), unless one of
    those is already short enough: the LLM costs seconds a line, so it is asked only when needed."""
    lossless = [c for c in candidates if c[0] == "fewer_pauses"]
    if any(len(text) <= max_chars for _, text in lossless):
        return candidates
    found = llm_shorter(ctx, seg, max_chars, q)
    if found is None or found[1] in {text for _, text in candidates}:
        return candidates
    return lossless + [found] + [c for c in candidates if c not in lossless]
