"""One person, one voice: a repair may change a line's text or speed, never its speaker's voice.

A voice that fails one line stays (the line is flagged): a person changing voice mid-video is worse
than one unclear line. A voice that fails most of a speaker's lines is the voice's fault: the speaker
gets another voice for ALL their lines, kept only when it is understood better, and the speaker's
entry in the report says what changed and why (`voice_change`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from polydub.pipeline.lines import Window
from polydub.project import Segment
from polydub.quality.checks import FLAG_INTELLIGIBILITY
from polydub.quality.context import Context, Snapshot, render

# A speaker's voice is replaced when at least this share of their checked lines is unintelligible.
SPEAKER_FAIL_SHARE = 0.5
_MEASURES = ("cer", "heard", "similarity", "audio_key")


def _score(qs: list[dict], th) -> tuple[int, float]:
    """(unintelligible lines, mean CER) of one speaker's lines: fewer failures first."""
    cers = [q["cer"] for q in qs if q.get("cer") is not None]
    return sum(c > th.max_cer for c in cers), (sum(cers) / len(cers) if cers else 1.0)


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


def repair_speaker_voices(ctx: Context, segments: list[Segment], windows: list[Window], qs: list[dict],
                          measure: Callable[[Context, Segment, dict], None]) -> None:
    """For each speaker whose voice fails most of their lines, try other voices on all those lines."""
    speakers: dict[str, list[int]] = {}
    for i, seg in enumerate(segments):
        if seg.audio and not seg.metrics.get("voice_pinned"):  # a line voiced by hand keeps its voice
            speakers.setdefault(seg.speaker, []).append(i)
    for speaker, idx in speakers.items():
        info = ctx.project.speakers.setdefault(speaker, {})
        before = _score([qs[i] for i in idx], ctx.th)
        if info.get("voice_source") == "user" or not info.get("voice") or before[0] == 0 \
                or before[0] < SPEAKER_FAIL_SHARE * len(idx):
            continue
        if (info.get("voice_change_tried") or {}).get("from") == info["voice"] \
                or (info.get("voice_change") or {}).get("to") == info["voice"]:
            continue  # decided on an earlier pass: a speaker's voice changes at most once
        original = ctx.voices.get_voice(info["voice"])
        best_voice, best = original, before
        snapshots = {i: (Snapshot.take(segments[i], ctx.out_dir), {k: qs[i].get(k) for k in _MEASURES})
                     for i in idx}
        taken = {str(v.get("voice")) for s, v in ctx.project.speakers.items() if s != speaker}
        tries = []
        for voice in _alternatives(ctx, original, taken)[: ctx.th.max_repair_tries]:
            ctx.dubber.check_cancel()
            info["voice"] = voice.id  # the speaker's voice: render() pins nothing
            for i in idx:
                render(ctx, segments[i], windows[i], voice, segments[i].translation or "")
            ctx.tools.prefetch([(segments[i].audio_key, ctx.out_dir / segments[i].audio) for i in idx
                                if segments[i].audio_key and segments[i].audio], ctx.tgt)
            for i in idx:
                measure(ctx, segments[i], qs[i])
            after = _score([qs[i] for i in idx], ctx.th)
            kept = after < best
            tries.append({"voice": voice.id, "unintelligible_lines": after[0], "mean_cer": round(after[1], 3),
                          "kept": kept})
            if kept:
                best_voice, best = voice, after
                snapshots = {i: (Snapshot.take(segments[i], ctx.out_dir), {k: qs[i].get(k) for k in _MEASURES})
                             for i in idx}
                if after[0] == 0:
                    break
            else:
                for i, (snap, measures) in snapshots.items():
                    snap.restore(segments[i], ctx.out_dir)
                    qs[i].update(measures)
        info["voice"] = best_voice.id
        info["engine"] = best_voice.engine
        reason = (f"{before[0]} of {len(idx)} lines unintelligible with {original.id} "
                  f"(mean CER {before[1]:.2f})")
        if best_voice.id != original.id:
            info["voice_change"] = {"from": original.id, "to": best_voice.id, "reason": reason,
                                    "after": f"{best[0]} unintelligible, mean CER {best[1]:.2f}",
                                    "tried": tries}
            ctx.tools.warn(f"speaker {speaker}: voice changed from {original.id} to {best_voice.id} for all "
                           f"{len(idx)} of their lines: {reason}")
        else:
            info["voice_change_tried"] = {"from": original.id, "reason": reason, "tried": tries,
                                          "result": "no voice did better"}
        for i in idx:
            qs[i]["repairs"].append({"check": FLAG_INTELLIGIBILITY, "action": f"speaker_voice:{best_voice.id}",
                                     "scope": f"all lines of {speaker}", "kept": best_voice.id != original.id,
                                     "before": round(before[1], 3), "after": round(best[1], 3)})
