"""One person, one voice: a repair may change a line's text or speed, never its speaker's voice.

A voice that fails one line stays (the line is flagged): a person changing voice mid-video is worse
than one unclear or clipped line. A voice that fails most of a speaker's lines is the voice's fault
(too slow for the slots, or not understood): the speaker gets another voice for ALL their lines, kept
only when their lines do better with it, and the speaker's entry in the report says what changed and
why (`voice_change`, or `voice_change_tried` when nothing did better).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from polydub.project import Segment
from polydub.quality.checks import FLAG_INTELLIGIBILITY, FLAG_OVERFLOW
from polydub.quality.context import Context, Snapshot, fits, render
from polydub.timing.lines import Window, predicted_overflow

# A speaker's voice is replaced when at least this share of their lines fails the same check.
SPEAKER_FAIL_SHARE = 0.5
_MEASURES = ("cer", "heard", "similarity", "audio_key")


def _score(ctx: Context, segments: list[Segment], qs: list[dict]) -> tuple[int, float, float]:
    """(lines failing timing or intelligibility, seconds of overflow, mean CER): lower is better."""
    cers = [q["cer"] for q in qs if q.get("cer") is not None]
    failing = sum(not fits(ctx, s) or (q.get("cer") or 0.0) > ctx.th.max_cer
                  for s, q in zip(segments, qs, strict=True))
    return failing, round(sum(s.overflow or 0.0 for s in segments), 3), (sum(cers) / len(cers) if cers else 0.0)


def _trigger(ctx: Context, segments: list[Segment], qs: list[dict]) -> str | None:
    """Which check fails on at least SPEAKER_FAIL_SHARE of the speaker's lines, if any."""
    late = sum(not fits(ctx, s) for s in segments)
    unclear = sum((q.get("cer") or 0.0) > ctx.th.max_cer for q in qs)
    need = SPEAKER_FAIL_SHARE * len(segments)
    if unclear and unclear >= need:
        return FLAG_INTELLIGIBILITY
    if late and late >= need:
        return FLAG_OVERFLOW
    return None


def _alternatives(ctx: Context, current: Any, taken: set[str]) -> list[Any]:
    """Voices to try for a whole speaker: the best-sounding first, the same engine first among equals,
    the speaker's gender kept where the language has such voices, other speakers' voices last (so
    speakers keep distinct voices where they can). An engine the user chose (--tts) is kept."""
    def base(voice) -> str:
        return voice.id.split("~")[0].split("@")[0]

    engine = ctx.dubber.options.tts_engine
    pool = [v for v in ctx.voices.voices(language=ctx.tgt, engine=engine) if base(v) != base(current)]
    if current.gender:
        pool = [v for v in pool if v.gender in (current.gender, None)] or pool
    pool.sort(key=lambda v: (v.id in taken, -v.quality, v.engine != current.engine, v.id))
    return pool


def _faster_first(ctx: Context, voices: list[Any], segments: list[Segment], windows: list[Window],
                  late_now: int) -> list[Any]:
    """For a speaker whose lines do not fit: the voices predicted to leave fewer lines overflowing,
    fewest first and, among equals, in their order of preference (engines that predict their
    durations: Kokoro, RHVoice, MBROLA); others come after them, since only rendering can tell."""
    scored, unknown = [], []
    for voice in voices:
        overs = [predicted_overflow(ctx.voices, voice, s.translation or "", w, ctx.policy)
                 for s, w in zip(segments, windows, strict=True)]
        if any(o is None for o in overs):
            unknown.append(voice)
            continue
        late = sum(o > ctx.th.max_overflow_s for o in overs)  # type: ignore[operator]
        if late < late_now:
            scored.append((late, voice))
    return [v for _, v in sorted(scored, key=lambda item: item[0])] + unknown


def repair_speaker_voices(ctx: Context, segments: list[Segment], windows: list[Window], qs: list[dict],
                          measure: Callable[[Context, Segment, dict], None]) -> None:
    """For each speaker whose voice fails most of their lines, try other voices on all those lines."""
    speakers: dict[str, list[int]] = {}
    for i, seg in enumerate(segments):
        if seg.audio and not seg.metrics.get("voice_pinned"):  # a line voiced by hand keeps its voice
            speakers.setdefault(seg.speaker, []).append(i)
    for speaker, idx in speakers.items():
        info = ctx.project.speakers.setdefault(speaker, {})
        segs, line_qs, wins = [segments[i] for i in idx], [qs[i] for i in idx], [windows[i] for i in idx]
        trigger = _trigger(ctx, segs, line_qs)
        if info.get("voice_source") == "user" or not info.get("voice") or trigger is None:
            continue
        if (info.get("voice_change_tried") or {}).get("from") == info["voice"] \
                or (info.get("voice_change") or {}).get("to") == info["voice"]:
            continue  # decided on an earlier pass: a speaker's voice changes at most once
        _change_voice(ctx, speaker, info, trigger, segs, wins, line_qs, measure)


def _snapshots(ctx: Context, segs: list[Segment], qs: list[dict]) -> list[tuple[Snapshot, dict]]:
    """Each line's rendering and measures, to undo a voice that did worse without re-synthesis."""
    return [(Snapshot.take(s, ctx.out_dir), {k: q.get(k) for k in _MEASURES}) for s, q in zip(segs, qs, strict=True)]


def _change_voice(ctx: Context, speaker: str, info: dict, trigger: str, segs: list[Segment],
                  wins: list[Window], qs: list[dict], measure: Callable[[Context, Segment, dict], None]) -> None:
    original = ctx.voices.get_voice(info["voice"])
    before = best = _score(ctx, segs, qs)
    best_voice = original
    taken = {str(v.get("voice")) for s, v in ctx.project.speakers.items() if s != speaker}
    candidates = _alternatives(ctx, original, taken)
    if trigger == FLAG_OVERFLOW:
        # A voice that fits only because it is a robotic one (espeak, or festival after RHVoice, for
        # Russian) is no repair: the speaker keeps a natural voice and the line its overflow flag.
        # Within one engine a lower-rated voice may still do (Kokoro's accented voices).
        candidates = [v for v in candidates if v.quality >= min(original.quality, 2)
                      and (v.engine == original.engine or v.quality >= original.quality)]
        candidates = _faster_first(ctx, candidates, segs, wins, sum(not fits(ctx, s) for s in segs))
    snapshots = _snapshots(ctx, segs, qs)
    listened = any(q.get("cer") is not None for q in qs)
    tries = []
    for voice in candidates[: ctx.th.max_repair_tries]:
        ctx.dubber.check_cancel()
        info["voice"] = voice.id  # the speaker's voice: render() pins nothing
        # A speaker with many lines takes minutes per voice: say where it is, line by line.
        for n, (seg, window) in enumerate(zip(segs, wins, strict=True), start=1):
            render(ctx, seg, window, voice, seg.translation or "")
            ctx.dubber.progress("quality", 0.9, f"speaker {speaker}: voicing line {n}/{len(segs)} with {voice.id}")
        ctx.tools.prefetch([(s.audio_key, ctx.out_dir / s.audio) for s in segs if s.audio_key and s.audio], ctx.tgt,
                           progress=lambda f, v=voice: ctx.dubber.progress(
                               "quality", 0.9, f"speaker {speaker}: listening to {v.id} ({100 * f:.0f} %)"))
        for seg, q in zip(segs, qs, strict=True):
            measure(ctx, seg, q)
        after = _score(ctx, segs, qs)
        kept = after < best
        tries.append({"voice": voice.id, "failing_lines": after[0], "overflow_s": after[1],
                      "mean_cer": round(after[2], 3) if listened else None, "kept": kept})
        if kept:
            best_voice, best = voice, after
            snapshots = _snapshots(ctx, segs, qs)
            if after[0] == 0:
                break
        else:
            for seg, q, (snap, measures) in zip(segs, qs, snapshots, strict=True):
                snap.restore(seg, ctx.out_dir)
                q.update(measures)
    info.update(voice=best_voice.id, engine=best_voice.engine)
    def describe(score: tuple[int, float, float]) -> str:
        return f"overflow {score[1]:.2f} s" + (f", mean CER {score[2]:.2f}" if listened else "")

    what = "do not fit their slots" if trigger == FLAG_OVERFLOW else "are unintelligible"
    reason = f"{before[0]} of {len(segs)} lines {what} with {original.id} ({describe(before)})"
    if best_voice.id != original.id:
        info["voice_change"] = {"from": original.id, "to": best_voice.id, "reason": reason,
                                "after": f"{best[0]} failing, {describe(best)}", "tried": tries}
        ctx.tools.warn(f"speaker {speaker}: voice changed from {original.id} to {best_voice.id} for all "
                       f"{len(segs)} of their lines: {reason}")
    else:
        info["voice_change_tried"] = {"from": original.id, "reason": reason, "tried": tries,
                                      "result": "no voice did better" if tries else "no other voice to try"}
    for q in qs:
        q["repairs"].append({"check": trigger, "action": f"speaker_voice:{best_voice.id}",
                             "scope": f"all lines of {speaker}", "kept": best_voice.id != original.id,
                             "before": before[0], "after": best[0]})
