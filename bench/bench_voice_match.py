"""Speaker similarity of the dub to the original: matched voice vs the target language's default voice.

For each shared speech file, the lines are transcribed and translated once, then spoken twice: with the
default voice and with the voice chosen by matching. Similarity = cosine between the speaker embedding of
the original speech and of the dubbed speech, with every installed embedder (d-vector by default;
resemblyzer too when torch is installed).

Usage: .venv/bin/python bench/bench_voice_match.py [--media ../shared/media]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from polydub.audio import Audio
from polydub.pipeline import Dubber, DubOptions
from polydub.pipeline.stages import translate
from polydub.speakers.embedding import available_embedders, cosine, get_embedder
from polydub.speakers.traits import speaker_audio
from polydub.voice.matching import candidate_voices, choose_voices, likely_gender
from polydub.voice.registry import get_registry

CASES = [("audio/fw_jfk.flac", "es"), ("audio/st_RD_Radio31_000.wav", "es"), ("audio/vr_audio_1.wav", "es"),
         ("video/vr_face_1.mp4", "es"), ("video/vr_face_2.mp4", "pt"), ("video/st_ref_KatieHill_000.mp4", "fr"),
         ("audio/st_deyu.wav", "en"), ("audio/st_eluosi.wav", "en"), ("audio/st_fayu.wav", "en")]


def spoken(lines: list[str], voice, registry) -> Audio:
    parts = [registry.synthesize(text, voice).resample(16000).samples for text in lines if text.strip()]
    return Audio(np.concatenate(parts), 16000)


def measure(media: Path, clip: str, target: str, work: Path) -> dict:
    registry = get_registry()
    dubber = Dubber(work, DubOptions(target_language=target, diarize=False))
    project = dubber.transcribe_only(media / clip)
    translate(dubber, project)
    lines = [s.translation or "" for s in project.segments]
    original = speaker_audio(dubber.audio16k, project.segments, "S1")
    from polydub.speakers.embedding import default_embedder

    embedder = default_embedder()
    default = registry.default_voice(target)
    reference = embedder.embed(original)
    gender = likely_gender(original, reference, registry, embedder)  # as the pipeline does
    pick = choose_voices({"S1": reference}, candidate_voices(registry, target), registry, embedder, default,
                         {"S1": gender})["S1"]
    row = {"clip": clip, "target": target, "default": default.id, "matched": pick.voice.id, "gender": gender}
    dub_default, dub_matched = spoken(lines, default, registry), spoken(lines, pick.voice, registry)
    for name in available_embedders():
        emb = get_embedder(name)
        ref = emb.embed(original)
        row[f"{name}:default"] = cosine(ref, emb.embed(dub_default))
        row[f"{name}:matched"] = cosine(ref, emb.embed(dub_matched))
    return row


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--media", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared/media")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if not args.media.is_dir():
        print(f"test media not found at {args.media}", file=sys.stderr)
        return 2
    import tempfile

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (clip, target) in enumerate(CASES):
            rows.append(measure(args.media, clip, target, Path(tmp) / str(i)))
    names = available_embedders()
    table = Table(title="speaker similarity of the dub to the original (cosine)")
    for col in ("clip", "→", "default voice", "matched voice", *[f"{n} default/matched/gain" for n in names]):
        table.add_column(col)
    for r in rows:
        cells = [f"{r[f'{n}:default']:.3f} / {r[f'{n}:matched']:.3f} / {r[f'{n}:matched'] - r[f'{n}:default']:+.3f}"
                 for n in names]
        table.add_row(Path(r["clip"]).name, r["target"], r["default"], f"{r['matched']} ({r['gender'] or '?'})", *cells)
    means = [f"{np.mean([r[f'{n}:default'] for r in rows]):.3f} / {np.mean([r[f'{n}:matched'] for r in rows]):.3f}"
             f" / {np.mean([r[f'{n}:matched'] - r[f'{n}:default'] for r in rows]):+.3f}" for n in names]
    table.add_row("[bold]mean", "", "", "", *means)
    Console().print(table)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
