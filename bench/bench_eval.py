"""Quality benchmark: dub the shared media (videos to es; de/ru/fr speech to en; jfk to pt; jfk,
KatieHill and vr_face_2 to ru and de; jfk and KatieHill to ja) and print one table with % in slot,
tempo, round-trip CER, similarity, flagged lines and RTF, then the mean round-trip CER per target.

Usage: .venv/bin/python bench/bench_eval.py [--media ../shared/media] [--out /tmp/polydub-bench-eval]
       [--only es]  (run one target language only; --only ru,de for several)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console

from polydub.pipeline.evaluate import evaluate, print_table, totals, write_rows

JOBS: list[tuple[str, list[str]]] = [
    ("es", ["video/vr_face_1.mp4", "video/vr_face_2.mp4", "video/st_ref_KatieHill_000.mp4",
            "video/ls_demo3_video.mp4"]),
    ("en", ["audio/st_deyu.wav", "audio/st_eluosi.wav", "audio/st_fayu.wav"]),
    ("pt", ["audio/fw_jfk.flac"]),
    # Russian (RHVoice) and German (MBROLA) voices; ja needs an en->ja translator (none installed by
    # default: the row then says so).
    ("ru", ["audio/fw_jfk.flac", "video/st_ref_KatieHill_000.mp4", "video/vr_face_2.mp4"]),
    ("de", ["audio/fw_jfk.flac", "video/st_ref_KatieHill_000.mp4", "video/vr_face_2.mp4"]),
    ("ja", ["audio/fw_jfk.flac", "video/st_ref_KatieHill_000.mp4"]),
]


def main() -> None:
    here = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--media", type=Path, default=here.parent / "shared" / "media")
    parser.add_argument("--out", type=Path, default=Path("/tmp/polydub-bench-eval"))
    parser.add_argument("--only", default=None, help="target language(s), comma-separated")
    args = parser.parse_args()
    console = Console(width=200)  # the table has 14 columns; a pipe must not squeeze it
    rows = []
    for lang, files in JOBS:
        if args.only and lang not in args.only.split(","):
            continue
        rows += evaluate([args.media / f for f in files], lang, args.out / lang)
    print_table(rows + [totals(rows)], console, title="polydub quality benchmark")
    csv_path, json_path = write_rows(rows, args.out)
    kokoro = [r for r in rows if r.get("tts") and "kokoro" in str(r["tts"])]
    console.print(json.dumps({"all": totals(rows), "kokoro_targets": totals(kokoro)}, ensure_ascii=False))
    # Mean round-trip CER per target language and voice engine (goal: ru and de <= 0.05).
    for lang, _files in JOBS:
        done = [r for r in rows if str(r.get("languages", "")).endswith(f"→{lang}") and r.get("mean_cer") is not None]
        if done:
            cers = [float(r["mean_cer"]) for r in done]
            engines = ", ".join(sorted({str(r.get("tts")) for r in done}))
            console.print(f"→{lang}: mean round-trip CER {sum(cers) / len(cers):.3f} over {len(done)} dubs "
                          f"(worst {max(cers):.3f}; voices: {engines})")
    console.print(f"written {csv_path} {json_path}")


if __name__ == "__main__":
    main()
