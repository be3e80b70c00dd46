"""Voice cloning (issue 12): where the search's start voice stands. Every same-gender stock voice speaks
each speaker's dubbed lines; resemblyzer (an embedder the search never sees; bench-only, as in
bench_clone.py) says which is really closest, and the table shows whether the voice search's ranking
of prepared stock voices (d-vector on both probe sets, voice/probe_cache.py) and matching's one-sentence
d-vector find it.

Usage: PYTHONPATH=<resemblyzer+torch> .venv/bin/python bench/bench_clone_stock.py [--cases jfk,katie,two,jfk-en]
(speaks the probe sets of every stock voice first, like `python -m polydub.prepare --clone`)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from bench_clone import CASES, _resemblyzer, case_speakers, spoken
from rich.console import Console
from rich.table import Table

from polydub.speakers.embedding import cosine, default_embedder
from polydub.voice import probe_cache
from polydub.voice.equalize import speech_rms
from polydub.voice.evolve import PROBES
from polydub.voice.matching import candidate_voices, voice_embedding
from polydub.voice.registry import get_registry


def survey(media: Path, name: str, work: Path, judge) -> list[dict]:
    registry, embedder = get_registry(), default_embedder()
    kokoro = registry.engine("kokoro")
    probe_cache.prepare(registry, CASES[name][1])
    rows = []
    for target, spk, lines, original, reference, gender, matched in case_speakers(media, name, work):
        pool = [v for v in candidate_voices(registry, target, engine="kokoro")
                if gender is None or v.gender in (None, gender)]
        truth, level = judge(original), speech_rms(original)
        voices = {}
        for voice in pool:
            style = kokoro.style_tensor(voice)
            voices[voice.id] = {
                "one sentence": cosine(reference, voice_embedding(voice, registry, embedder)),
                "two sets": float(np.mean([cosine(reference, probe_cache.embedding(style, texts, embedder, level))
                                           for texts in PROBES[target]])),
                "resemblyzer": cosine(truth, judge(spoken(lines, voice, registry, level)))}
        rows.append({"case": f"{name}→{target}", "speaker": spk, "matched": matched.id, "voices": voices})
        print(name, spk, gender, matched.id, {v: {k: round(x, 3) for k, x in m.items()} for v, m in voices.items()},
              flush=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--media", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared/media")
    parser.add_argument("--cases", default="jfk,katie,two,jfk-en")
    args = parser.parse_args()
    judge = _resemblyzer()
    if judge is None:
        print("this bench needs resemblyzer (pip install resemblyzer==0.1.4 with CPU torch)", file=sys.stderr)
        return 2
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.cases.split(","):
            rows += survey(args.media, name, Path(tmp) / name, judge)
    table = Table(title="stock voices: resemblyzer of the whole dub (matched / best / top of each ranking)")
    for col in ("case", "spk", "matched", "best by resemblyzer", "top by two sets", "top by one sentence",
                "r two sets", "r one sentence"):
        table.add_column(col)
    for row in rows:
        voices = row["voices"]
        res = {v: m["resemblyzer"] for v, m in voices.items()}

        def top(key: str, voices=voices) -> str:
            vid = max(voices, key=lambda vid: voices[vid][key])
            return f"{vid} {voices[vid]['resemblyzer']:.3f}"

        def r(key: str, voices=voices, res=res) -> str:
            return f"{np.corrcoef([voices[v][key] for v in voices], list(res.values()))[0, 1]:+.2f}"

        table.add_row(row["case"], row["speaker"], f"{row['matched']} {res.get(row['matched'], float('nan')):.3f}",
                      top("resemblyzer"), top("two sets"), top("one sentence"), r("two sets"), r("one sentence"))
    Console().print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
