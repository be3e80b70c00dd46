"""Voice cloning (issue 12): how much the dub sounds like the original speaker with (a) the target
language's default voice, (b) the matched stock voice, (c) the voice evolved for the speaker.

For each shared speech file (and a two-speaker build), the lines are transcribed, attributed to
speakers and translated once; each speaker's lines are then spoken with (a), (b) and (c), brought to
the original speech's level (as the mix does), and compared with the speaker's original speech by
the shipped d-vector (what the search optimises) AND by resemblyzer, an embedder the search never
saw (bench-only: `pip install resemblyzer==0.1.4` + CPU torch). CER: Whisper base round trip of each
dub. Search cost: wall seconds on this machine and syntheses (the machine-independent count).
`--steps` lists syntheses caps to compare (the search is re-run for each cap).

Usage: .venv/bin/python bench/bench_clone.py [--budget 60] [--steps 24,48] [--cases jfk,katie] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from polydub.audio import Audio
from polydub.pipeline import Dubber, DubOptions
from polydub.pipeline.stages import translate
from polydub.speakers.embedding import cosine, default_embedder, get_embedder
from polydub.speakers.traits import speaker_audio
from polydub.voice.equalize import match_level, speech_rms
from polydub.voice.evolve import CloneError, CloneSettings
from polydub.voice.matching import candidate_voices, choose_voices, likely_gender
from polydub.voice.registry import get_registry

RATE = 16000
# name -> (clip, target language, speakers); "two" is built from two clips (see _two_speakers).
CASES = {
    "jfk": ("audio/fw_jfk.flac", "es", 1), "radio": ("audio/st_RD_Radio31_000.wav", "es", 1),
    "katie": ("video/st_ref_KatieHill_000.mp4", "es", 1), "face1": ("video/vr_face_1.mp4", "es", 1),
    "face5": ("video/vr_face_5.mp4", "es", 1), "audio1": ("audio/vr_audio_1.wav", "es", 1),
    "two": ("two_speakers", "es", 2), "jfk-en": ("audio/fw_jfk.flac", "en", 1),
    "deyu": ("audio/st_deyu.wav", "en", 1), "fayu": ("audio/st_fayu.wav", "en", 1),
    "eluosi": ("audio/st_eluosi.wav", "en", 1),
}


def _two_speakers(media: Path, folder: Path) -> Path:
    from polydub.media.decode import decode_audio

    woman = decode_audio(media / "audio/st_RD_Radio31_000.wav", rate=RATE, channels=1).samples
    man = decode_audio(media / "audio/fw_jfk.flac", rate=RATE, channels=1).samples
    gap = np.zeros(int(0.8 * RATE), np.float32)
    parts = [woman[: int(4.0 * RATE)], gap, man[: int(5.5 * RATE)], gap, woman[int(4.0 * RATE):], gap,
             man[int(5.5 * RATE):]]
    return Audio(np.concatenate(parts), RATE).write(folder / "two_speakers.wav")


def _resemblyzer():
    try:
        from resemblyzer import VoiceEncoder, preprocess_wav
    except ImportError:
        return None
    encoder = VoiceEncoder(device="cpu", verbose=False)
    return lambda audio: encoder.embed_utterance(preprocess_wav(audio.samples, RATE))


def _whisper_cer(audio: Audio, text: str, language: str) -> float:
    from polydub.pipeline.cloning import intelligibility

    return intelligibility(audio, text, language)


def spoken(lines: list[str], voice, registry, level: float) -> Audio:
    gap = np.zeros(int(0.25 * RATE), np.float32)
    parts = []
    for text in lines:
        parts += [registry.synthesize(text, voice).mono().resample(RATE).samples, gap]
    return match_level(Audio(np.concatenate(parts), RATE), level)


def case_speakers(media: Path, name: str, work: Path):
    """Each speaker of a case, after transcribing, attributing and translating once: (target language,
    speaker, translated lines, original speech, its d-vector, gender guess, matched stock voice)."""
    clip, target, speakers = CASES[name]
    path = _two_speakers(media, work) if clip == "two_speakers" else media / clip
    registry, embedder = get_registry(), default_embedder()
    dubber = Dubber(work / "dub", DubOptions(target_language=target, diarize=speakers > 1, num_speakers=speakers))
    project = dubber.transcribe_only(path)
    translate(dubber, project)
    for spk in sorted({s.speaker for s in project.segments}):
        lines = [s.translation or "" for s in project.segments if s.speaker == spk and (s.translation or "").strip()]
        original = speaker_audio(dubber.audio16k, project.segments, spk, max_seconds=60)
        reference = embedder.embed(original)
        gender = likely_gender(original, reference, registry, embedder)
        matched = choose_voices({spk: reference}, candidate_voices(registry, target), registry, embedder,
                                registry.default_voice(target), {spk: gender})[spk].voice
        yield target, spk, lines, original, reference, gender, matched


def measure(media: Path, name: str, work: Path, budget: float, steps: list[int | None], judge) -> list[dict]:
    from polydub.pipeline.cloning import evolve

    registry, embedder = get_registry(), default_embedder()
    rows = []
    for target, spk, lines, original, reference, gender, matched in case_speakers(media, name, work):
        default = registry.default_voice(target)
        level = speech_rms(original)
        dubs = {"default": spoken(lines, default, registry, level), "matched": spoken(lines, matched, registry, level)}
        row = {"case": name, "target": target, "speaker": spk, "gender": gender,
               "speech_s": round(original.duration, 1), "default": default.id, "matched": matched.id, "searches": []}
        for cap in steps:
            began = time.perf_counter()
            try:
                result = evolve(original, target, CloneSettings(budget_s=budget, max_syntheses=cap), stock=matched,
                                gender=gender, registry=registry)
            except CloneError as exc:  # too little speech: the product keeps the matched voice and says so
                row["searches"].append({"cap": cap, "seconds": 0.0, "syntheses": 0, "accepted": False,
                                        "reason": f"skipped: {exc}"})
                dubs[f"evolved@{cap}"] = dubs["matched"]
                continue
            search = {"cap": cap, "seconds": round(time.perf_counter() - began, 1), "syntheses": result.syntheses,
                      "accepted": result.accepted, "reason": result.reason}
            if result.accepted:
                kokoro = registry.engine("kokoro")
                voice = kokoro.style_voice(result.style, f"bench-{name}-{spk}-{cap}", target)
                from polydub.voice.equalize import equalize

                parts = []
                for text in lines:
                    parts += [equalize(kokoro.synthesize(text, voice), result.eq_db).resample(RATE).samples,
                              np.zeros(int(0.25 * RATE), np.float32)]
                kokoro.forget_style(voice)
                dubs[f"evolved@{cap}"] = match_level(Audio(np.concatenate(parts), RATE), level)
            else:
                dubs[f"evolved@{cap}"] = dubs["matched"]  # the product keeps the stock voice
            row["searches"].append(search)
        text = " ".join(lines)
        for key, dub in dubs.items():
            row[f"dvec:{key}"] = round(cosine(reference, embedder.embed(dub)), 3)
            if judge is not None:
                row[f"resem:{key}"] = round(float(cosine(judge(original), judge(dub))), 3)
            row[f"cer:{key}"] = round(_whisper_cer(dub, text, target), 3)
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--media", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared/media")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per search")
    parser.add_argument("--steps", default="", help="syntheses caps to compare, e.g. 24,48 (empty: budget only)")
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if not args.media.is_dir():
        print(f"test media not found at {args.media}", file=sys.stderr)
        return 2
    steps = [int(s) for s in args.steps.split(",") if s.strip()] or [None]
    judge = _resemblyzer()
    if judge is None:
        print("resemblyzer is not installed: only the d-vector (which the search optimises) is reported",
              file=sys.stderr)
    else:
        get_embedder("resemblyzer")  # fail early if torch is broken
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.cases.split(","):
            rows += measure(args.media, name, Path(tmp) / name, args.budget, steps, judge)
    _table(rows, steps, judge is not None)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


def _table(rows: list[dict], steps: list, with_judge: bool) -> None:
    evolved = [f"evolved@{c}" for c in steps]
    table = Table(title="similarity of the dub to the original speaker (default / matched / evolved)")
    cols = ["case", "spk", "matched voice", "dvec", "resemblyzer", "CER", "search s", "syntheses"]
    for col in cols:
        table.add_column(col)
    keys = ["default", "matched", *evolved]

    def fmt(r: dict, kind: str) -> str:
        return " / ".join(f"{r.get(f'{kind}:{k}', float('nan')):.3f}" for k in keys)

    for r in rows:
        table.add_row(f"{r['case']}→{r['target']}", f"{r['speaker']} {r['gender'] or '?'} {r['speech_s']}s",
                      r["matched"], fmt(r, "dvec"), fmt(r, "resem") if with_judge else "-", fmt(r, "cer"),
                      " / ".join(str(s["seconds"]) for s in r["searches"]),
                      " / ".join(f"{s['syntheses']}{'' if s['accepted'] else ' (kept stock)'}" for s in r["searches"]))
    Console().print(table)
    summary = Table(title="means over speakers: gain of the evolved voice over the matched stock voice")
    for col in ("search", "dvec gain", "resemblyzer gain", "speakers worse (resemblyzer)", "mean CER",
                "mean search s", "mean syntheses"):
        summary.add_column(col)
    for cap, key in zip(steps, evolved, strict=True):
        gains = [r[f"dvec:{key}"] - r["dvec:matched"] for r in rows]
        judged = [r[f"resem:{key}"] - r["resem:matched"] for r in rows] if with_judge else []
        searches = [next(s for s in r["searches"] if s["cap"] == cap) for r in rows]
        summary.add_row(f"cap {cap}" if cap else "budget", f"{np.mean(gains):+.3f}",
                        f"{np.mean(judged):+.3f}" if judged else "-",
                        str(sum(1 for g in judged if g < 0)) if judged else "-",
                        f"{np.mean([r[f'cer:{key}'] for r in rows]):.3f}",
                        f"{np.mean([s['seconds'] for s in searches]):.1f}",
                        f"{np.mean([s['syntheses'] for s in searches]):.1f}")
    Console().print(summary)


if __name__ == "__main__":
    sys.exit(main())
