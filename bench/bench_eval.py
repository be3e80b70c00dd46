"""Quality benchmark: dub the shared media (videos to es; de/ru/fr speech to en; jfk to pt and de)
and print one table with % in slot, tempo, round-trip CER, similarity, flagged lines and RTF.

Usage: .venv/bin/python bench/bench_eval.py [--media ../shared/media] [--out /tmp/polydub-bench-eval]
       [--only es]  (run one target language only)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console

from polydub.quality.evaluate import evaluate, print_table, totals, write_rows

JOBS: list[tuple[str, list[str]]] = [
    ("es", ["video/vr_face_1.mp4", "video/vr_face_2.mp4", "video/st_ref_KatieHill_000.mp4",
            "video/ls_demo3_video.mp4"]),
    ("en", ["audio/st_deyu.wav", "audio/st_eluosi.wav", "audio/st_fayu.wav"]),
    ("pt", ["audio/fw_jfk.flac"]),
    ("de", ["audio/fw_jfk.flac"]),
]


def main() -> None:
    here = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--media", type=Path, default=here.parent / "shared" / "media")
    parser.add_argument("--out", type=Path, default=Path("/tmp/polydub-bench-eval"))
    parser.add_argument("--only", default=None, help="one target language")
    args = parser.parse_args()
    console = Console(width=200)  # the table has 14 columns; a pipe must not squeeze it
    rows = []
    for lang, files in JOBS:
        if args.only and lang != args.only:
            continue
        rows += evaluate([args.media / f for f in files], lang, args.out / lang)
    print_table(rows + [totals(rows)], console, title="polydub quality benchmark")
    csv_path, json_path = write_rows(rows, args.out)
    kokoro = [r for r in rows if r.get("tts") and "kokoro" in str(r["tts"])]
    console.print(json.dumps({"all": totals(rows), "kokoro_targets": totals(kokoro)}, ensure_ascii=False))
    console.print(f"written {csv_path} {json_path}")


if __name__ == "__main__":
    main()
