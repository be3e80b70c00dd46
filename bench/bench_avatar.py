"""Benchmark: talking avatars and lectures from the shared portraits.

Per configuration (10 s and 60 s of Russian speech; 512 px crop and the full photo): the avatar's
real-time factor end to end (speech synthesis + animation + encoding, models warm), the animation's
own frames per second, the encoder's, and peak memory (each configuration in its own process, so
the peak is its own). Then a 5-slide lecture end to end (default voice, and with a voice sample).

Usage: .venv/bin/python bench/bench_avatar.py [--media ../shared/media] [--quick]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
SENTENCES = [
    "Добрый день! Сегодня мы поговорим о том, как ухаживать за комнатными цветами.",
    "Первое правило простое: цветы любят свежую воду, но не любят, когда её слишком много.",
    "Второе правило: держите горшки подальше от батарей и от прямого полуденного солнца.",
    "Третье правило: раз в месяц подкармливайте растения удобрением.",
    "И наконец, не забывайте иногда протирать листья влажной тканью.",
]


def text_for(seconds: float) -> str:
    """About `seconds` of speech: whole words up to RHVoice aleksandr-hq's ~12.5 characters a second."""
    words = " ".join(SENTENCES[i % len(SENTENCES)] for i in range(int(seconds) // 5 + 2)).split()
    out: list[str] = []
    while words and len(" ".join(out + words[:1])) <= seconds * 12.5:
        out.append(words.pop(0))
    return " ".join(out).rstrip(",.:!") + "."


def run_one(media: Path, seconds: float, framing: str, photo: str) -> dict:
    from polydub.avatar import AvatarRequest, make_avatar

    with tempfile.TemporaryDirectory() as tmp:
        request = AvatarRequest(language="ru", framing=framing)
        make_avatar(media / photo, SENTENCES[0], Path(tmp) / "warm.mp4", request)  # models and caches warm
        began = time.perf_counter()
        summary = make_avatar(media / photo, text_for(seconds), Path(tmp) / "out.mp4", request)
        wall = time.perf_counter() - began
    anim = summary["animation"]
    return {"speech_s": summary["duration"], "size": "x".join(map(str, summary["size"])), "wall_s": wall,
            "rtf": wall / summary["duration"], "tts_s": summary["timing"]["speech_s"],
            "animation_fps": anim["frames"] / anim["render_s"], "encode_fps": anim["frames"] / anim["encode_s"],
            "mouth_renders": anim["mouth_renders"], "frames": anim["frames"],
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_lecture(media: Path, sample: bool) -> dict:
    from polydub.avatar import LectureRequest, make_lecture

    text = "\n---\n".join(SENTENCES)
    with tempfile.TemporaryDirectory() as tmp:
        request = LectureRequest(language="ru", voice_sample=media / "audio/st_eluosi.wav" if sample else None)
        began = time.perf_counter()
        summary = make_lecture(media / "portrait/st_people_0.png", text, Path(tmp) / "out", request)
        wall = time.perf_counter() - began
    return {"slides": summary["slides"], "fragments": len(summary["fragments"]), "speech_s": summary["duration"],
            "wall_s": wall, "rtf": wall / summary["duration"], "voice": summary["voice"]["id"],
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--media", type=Path, default=REPO.parent / "shared" / "media")
    parser.add_argument("--quick", action="store_true", help="10 s only, no voice-sample lecture")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: one configuration, JSON out
    args = parser.parse_args()
    if args.one:
        kind, *rest = args.one.split(":")
        out = run_lecture(args.media, rest[0] == "sample") if kind == "lecture" else \
            run_one(args.media, float(rest[0]), rest[1], rest[2])
        print("RESULT " + json.dumps(out))
        return
    configs = [("avatar", 10, "crop", "portrait/st_people_0.png"), ("avatar", 10, "full", "portrait/st_art_0.png")]
    if not args.quick:
        configs += [("avatar", 60, "crop", "portrait/st_people_0.png"), ("avatar", 60, "full", "portrait/st_art_0.png")]
    lectures = ["default"] if args.quick else ["default", "sample"]
    console = Console(width=150)
    table = Table(title="talking avatar (models warm; RTF = wall / speech)")
    for col in ("speech", "framing", "size", "RTF", "TTS s", "animation fps", "encode fps", "mouth renders",
                "peak RSS MB"):
        table.add_column(col)
    results = []

    def child(spec: str) -> dict:
        proc = subprocess.run([sys.executable, __file__, "--media", str(args.media), "--one", spec],
                              capture_output=True, text=True)
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if line is None:
            raise SystemExit(f"{spec} failed:\n{proc.stderr[-2000:]}")
        return json.loads(line[7:])

    for _kind, seconds, framing, photo in configs:
        r = child(f"avatar:{seconds}:{framing}:{photo}")
        results.append(r)
        table.add_row(f"{r['speech_s']:.1f} s", f"{framing} ({Path(photo).stem})", r["size"], f"{r['rtf']:.2f}",
                      f"{r['tts_s']:.2f}", f"{r['animation_fps']:.0f}", f"{r['encode_fps']:.0f}",
                      f"{r['mouth_renders']}/{r['frames']}", f"{r['peak_rss_mb']:.0f}")
    console.print(table)
    lecture_table = Table(title="lecture, 5 slides end to end (cold: models load inside)")
    for col in ("voice", "slides", "fragments", "speech", "wall", "RTF", "peak RSS MB"):
        lecture_table.add_column(col)
    for mode in lectures:
        r = child(f"lecture:{mode}")
        lecture_table.add_row(f"{r['voice']} ({mode})", str(r["slides"]), str(r["fragments"]), f"{r['speech_s']:.1f} s",
                              f"{r['wall_s']:.1f} s", f"{r['rtf']:.2f}", f"{r['peak_rss_mb']:.0f}")
    console.print(lecture_table)


if __name__ == "__main__":
    main()
