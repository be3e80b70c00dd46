"""Overflow repairs: shorter renderings (other engines, text edits) at the speaker's own voice.

A faster voice is not a repair: one person keeps one voice (quality/speaker_voice.py)."""

from __future__ import annotations

import contextlib

from polydub.project import USER_TRANSLATION, Segment
from polydub.quality.checks import FLAG_OVERFLOW, is_draft
from polydub.quality.context import Context, Snapshot, current_voice, fit_score, fits, render
from polydub.quality.llm_shorten import char_budget, with_llm_shorter
from polydub.quality.shorten import shorter_variants
from polydub.timing.lines import PREDICTION_SLACK_S, Window, predicted_overflow
from polydub.translation.base import uses_llm


def _shorter_candidates(ctx: Context, seg: Segment, engines: bool, q: dict | None = None,
                        max_chars: int | None = None) -> list[tuple[str, str]]:
    """(action, text) renderings shorter than the current one, meaning-preserving first; with a
    character budget, the LLM's same-meaning rewrite when the lossless edits are not enough."""
    current = (seg.translation or "").strip()
    if seg.mt_engine == USER_TRANSLATION:  # a person's own words: only lossless edits (pauses), no rewording
        engines = False
    found: list[tuple[str, str]] = []
    allow_draft = is_draft(ctx.mt, seg.mt_engine, ctx.src, ctx.tgt)
    for engine in ctx.mt.candidates(ctx.src, ctx.tgt) if engines else []:
        if engine.name == seg.mt_engine or (not allow_draft and is_draft(ctx.mt, engine.name, ctx.src, ctx.tgt)):
            continue  # a draft LLM may invent content: only worth it if we already use one
        llm = uses_llm(engine)
        if llm and not ctx.tools.llm_time_left():
            continue  # the LLM's time for this job is used (seconds a line): the other engines still run
        try:
            with ctx.tools.llm_time() if llm else contextlib.nullcontext():
                text = engine.translate([seg.text], ctx.src, ctx.tgt)[0].strip()
        except Exception:
            continue
        if text and len(text) < len(current):
            found.append((f"retranslate:{engine.name}", text))
    found.sort(key=lambda item: len(item[1]))
    found += [(label, text) for label, text in shorter_variants(current, ctx.tgt)]
    for label, text in list(found[:1]):  # the alternative engine's text may itself have fillers
        found += [(f"{label}+{v_label}", v) for v_label, v in shorter_variants(text, ctx.tgt)]
    unique: dict[str, str] = {}
    for label, text in found:
        unique.setdefault(text, label)
    out = [(label, text) for text, label in unique.items()]
    return with_llm_shorter(ctx, seg, out, max_chars, q) if engines and q is not None and max_chars else out


def _first_round(ctx: Context, seg: Segment, q: dict, max_chars: int) -> list[tuple[str, str]]:
    """The first round's candidates (other engines and the LLM included), worked out once: when
    planned before voicing (plan_shorter), voicing finds them here and needs no LLM."""
    key = (seg.text, (seg.translation or "").strip(), max_chars)
    if key not in ctx.shorter:
        ctx.shorter[key] = _shorter_candidates(ctx, seg, engines=True, q=q, max_chars=max_chars)
    return list(ctx.shorter[key])


def _predicted_overflow(ctx: Context, window: Window, voice, text: str, known_only: bool = False) -> float | None:
    key = (voice.id, text, window.earliest, window.latest)
    if key not in ctx.predictions:
        if known_only:  # the voices may not be loaded now; do not load them for a prediction
            return None
        ctx.predictions[key] = predicted_overflow(ctx.voices, voice, text, window, ctx.policy)
    return ctx.predictions[key]


def predict_deferred(ctx: Context, seg: Segment, window: Window) -> None:
    """While the voices are loaded: how far a deferred line would overflow (plan_shorter needs it)."""
    if seg.metrics.get("render_deferred"):
        _predicted_overflow(ctx, window, current_voice(ctx, seg), (seg.translation or "").strip())


def _deferred_budget(ctx: Context, seg: Segment, window: Window, known_only: bool = False
                     ) -> tuple[float | None, int | None]:
    """(predicted overflow, character budget) of a deferred line's text; no budget when it fits."""
    text = (seg.translation or "").strip()
    before = _predicted_overflow(ctx, window, current_voice(ctx, seg), text, known_only)
    if before is None or before <= PREDICTION_SLACK_S:
        return before, None
    return before, char_budget(text, window.latest - window.earliest, before)


def _overflow_budget(seg: Segment) -> int:
    spoken = (seg.dub_end or 0.0) - (seg.dub_start or 0.0)
    return char_budget(seg.translation or "", spoken, seg.overflow or 0.0)


def plan_shorter(ctx: Context, seg: Segment, window: Window, q: dict) -> None:
    """Before voicing, while the LLM is loaded: the first-round shorter renderings of a line that
    does not fit its slot (or, deferred, is predicted not to)."""
    if seg.metrics.get("render_deferred"):
        budget = _deferred_budget(ctx, seg, window, known_only=True)[1]
    else:
        budget = None if fits(ctx, seg) else _overflow_budget(seg)
    if budget:
        _first_round(ctx, seg, q, budget)


def _predicted_choices(ctx: Context, window: Window, voice, candidates: list[tuple[str, str]],
                       overflow_now: float) -> list[tuple[float, str, str]] | None:
    """(predicted overflow, label, text) of the candidates predicted to fit, in their order; when
    none does, the one that overflows least if it beats `overflow_now`. None when the engine
    cannot predict every candidate."""
    scored = [(_predicted_overflow(ctx, window, voice, text), label, text) for label, text in candidates]
    if not scored or any(over is None for over, _, _ in scored):
        return None
    fitting = [item for item in scored if item[0] <= PREDICTION_SLACK_S]
    least = min(scored, key=lambda item: item[0])
    return fitting or ([least] if least[0] < overflow_now else [])


def _likely_to_fit(ctx: Context, seg: Segment, window: Window, candidates: list[tuple[str, str]]
                   ) -> list[tuple[str, str]]:
    """Candidates short enough to fit (each try costs a synthesis): by the engine's prediction
    when it has one, else estimated from characters per second of the current rendering; when
    none fits, only the one that overflows least is worth a try."""
    choices = _predicted_choices(ctx, window, current_voice(ctx, seg), candidates, seg.overflow or 0.0)
    if choices is not None:
        return [(label, text) for _over, label, text in choices]
    current = len((seg.translation or "").strip()) or 1
    spoken = max(1e-3, (seg.dub_end or 0.0) - (seg.dub_start or 0.0))
    budget = current * spoken / (spoken + (seg.overflow or 0.0)) * 1.02  # 2 %: Kokoro's own error
    likely = [c for c in candidates if len(c[1]) <= budget]
    return likely or sorted(candidates, key=lambda c: len(c[1]))[:1]


def repair_overflow(ctx: Context, seg: Segment, window: Window, q: dict) -> None:
    """Rounds of shorter renderings: each round starts from the best so far, so a retranslation
    that helped but did not fit can still lose its fillers in the next round."""
    if fits(ctx, seg):
        return
    best, best_score = Snapshot.take(seg, ctx.out_dir), fit_score(seg)
    voice = current_voice(ctx, seg)
    tried, renders, first_round = {(seg.translation or "").strip()}, 0, True
    while renders < ctx.th.max_repair_tries and not fits(ctx, seg):
        budget = _overflow_budget(seg)
        found = _first_round(ctx, seg, q, budget) if first_round else _shorter_candidates(ctx, seg, engines=False)
        candidates = [c for c in found if c[1] not in tried]
        first_round, improved = False, False
        for label, text in _likely_to_fit(ctx, seg, window, candidates) if candidates else []:
            if renders >= ctx.th.max_repair_tries:
                break
            ctx.dubber.check_cancel()
            tried.add(text)
            renders += 1
            before = seg.overflow or 0.0
            render(ctx, seg, window, voice, text)
            kept = fit_score(seg) < best_score
            q["repairs"].append({"check": FLAG_OVERFLOW, "action": label, "text": text,
                                 "before": round(before, 3), "after": seg.overflow, "tempo": seg.tempo,
                                 "kept": kept})
            if kept:
                best, best_score, improved = Snapshot.take(seg, ctx.out_dir), fit_score(seg), True
                break  # next round starts from this text
            best.restore(seg, ctx.out_dir)
        if not improved:
            break
    best.restore(seg, ctx.out_dir)
    if renders == 0:
        q["repairs"].append({"check": FLAG_OVERFLOW, "action": "shorten",
                             "result": "no shorter rendering found"})


def render_deferred(ctx: Context, seg: Segment, window: Window, q: dict) -> None:
    """Render a line that synthesis left to this stage because its engine predicted it would not
    fit. The text is chosen by prediction, with the same preferences as the repairs above
    (meaning-preserving shorter renderings), so the line is synthesized once instead of once plus
    once per repair; the voice stays the speaker's."""
    voice = current_voice(ctx, seg)
    text = (seg.translation or "").strip()
    before, budget = _deferred_budget(ctx, seg, window)
    chosen: list[dict] = []
    if budget:
        choices = _predicted_choices(ctx, window, voice, _first_round(ctx, seg, q, budget), before or 0.0)
        if choices:
            _overflow, label, text = choices[0]
            chosen.append({"check": FLAG_OVERFLOW, "action": label, "text": text})
    render(ctx, seg, window, voice, text)
    for repair in chosen:  # decided before synthesis: "before" is the prediction for the original
        q["repairs"].append(repair | {"before": round(before or 0.0, 3), "after": seg.overflow,
                                      "tempo": seg.tempo, "kept": True, "predicted": True})
