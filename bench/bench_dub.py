"""Benchmark: dub a ~60 s input built from the shared clips; print seconds, RTF per stage, peak memory.

Usage: .venv/bin/python bench/bench_dub.py [--to es] [--from en|ru] [--mt ENGINE] [--input FILE]
       [--seconds 60] [--media ../shared/media]

--from ru builds a Russian input: the shared 6 s clip st_eluosi.wav (real speech) followed by Russian
sentences from bench/mt/ru-en.tsv spoken by RHVoice voices (aleksandr, anna, irina; espeak-ng where
RHVoice is absent), because the shared media hold only 6 s of Russian speech.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from polydub.audio import Audio
from polydub.media.decode import decode_audio
from polydub.pipeline import DubOptions, dub

RUSSIAN_CLIP = "audio/st_eluosi.wav"
RUSSIAN_LINES = Path(__file__).resolve().parent / "mt" / "ru-en.tsv"
RHVOICE_VOICES = ("aleksandr", "anna", "irina")
ENGLISH_CLIPS = ["video/vr_face_1.mp4", "audio/st_RD_Radio31_000.wav", "video/vr_face_2.mp4",
                 "audio/fw_jfk.flac", "video/st_ref_KatieHill_000.mp4", "audio/vr_audio_1.wav",
                 "video/ls_demo3_video.mp4"]


def _russian_speech(media: Path, folder: Path, rate: int, seconds: float) -> list[Audio]:
    """The real Russian clip, then synthetic Russian sentences until `seconds` are reached."""
    clips = [decode_audio(media / RUSSIAN_CLIP, rate=rate, channels=2)]
    total = clips[0].duration
    sentences = [line.split("\t")[0] for line in RUSSIAN_LINES.read_text(encoding="utf-8").splitlines()[1:]]
    for n, text in enumerate(sentences):
        if total >= seconds:
            break
        wav = folder / f"ru{n}.wav"
        if shutil.which("RHVoice-test"):
            subprocess.run(["RHVoice-test", "-p", RHVOICE_VOICES[n % len(RHVOICE_VOICES)], "-o", str(wav)],
                           input=text.encode("utf-8"), check=True, capture_output=True)
        else:
            subprocess.run(["espeak-ng", "-v", "ru", "-w", str(wav), text], check=True, capture_output=True)
        clips.append(decode_audio(wav, rate=rate, channels=2))
        total += clips[-1].duration + 0.6
    return clips


def build_input(media: Path, seconds: float, folder: Path, language: str = "en") -> Path:
    rate = 44100
    parts, total = [], 0.0
    if language == "ru":
        for audio in _russian_speech(media, folder, rate, seconds):
            parts += [audio.samples, np.zeros((int(0.6 * rate), 2), dtype=np.float32)]
            total += audio.duration + 0.6
    while total < seconds:
        for clip in ENGLISH_CLIPS:
            audio = decode_audio(media / clip, rate=rate, channels=2)
            parts += [audio.samples, np.zeros((int(0.6 * rate), 2), dtype=np.float32)]
            total += audio.duration + 0.6
            if total >= seconds:
                break
    samples = np.concatenate(parts)[: int(seconds * rate)]
    wav = Audio(samples, rate).write(folder / "bench.wav")
    video = folder / "bench60.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc2=size=640x360:rate=25:duration={seconds}", "-i", str(wav), "-c:v", "libx264",
                    "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(video)],
                   check=True)
    return video


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--to", default="es")
    parser.add_argument("--from", dest="source", default="en", choices=("en", "ru"),
                        help="language of the built input (ru: see the module docstring)")
    parser.add_argument("--input", type=Path, help="dub this media file instead of a built input")
    parser.add_argument("--mt", default=None, help="translation engine (default: the registry's choice)")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--media", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared/media")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    parser.add_argument("--no-quality", action="store_true", help="skip the quality checks and repairs")
    parser.add_argument("--no-separation", action="store_true", help="duck instead of separating")
    parser.add_argument("--adapt-voices", action="store_true", help="adapt matched voices (pitch/formants)")
    parser.add_argument("--warm", action="store_true",
                        help="dub twice and report the second run (models loaded, as in a server or batch job)")
    args = parser.parse_args()
    if not args.media.is_dir() and args.input is None:
        print(f"test media not found at {args.media}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source = args.input or build_input(args.media, args.seconds, folder, args.source)
        options = DubOptions(target_language=args.to, quality_checks=not args.no_quality,
                             separation=not args.no_separation, adapt_voices=args.adapt_voices,
                             mt_engine=args.mt)
        if args.warm:  # load every model once; the timed run below still does all the work (fresh folder)
            dub(source, folder / "warm-up", options)
        began = time.perf_counter()
        report = dub(source, folder / "out", options)
        wall = time.perf_counter() - began
    media_s = report["timing"]["media_seconds"]
    peak_mb = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    config = ", ".join(name for name, on in (("quality", not args.no_quality), ("separation", not args.no_separation),
                                              ("adaptation", args.adapt_voices)) if on) or "core only"
    config += ", warm" if args.warm else ", cold start"
    src = report.get("source_language") or args.source
    table = Table(title=f"dub {media_s:.1f} s {src}→{args.to} [{config}] ({len(report['segments'])} lines, "
                        f"mt={report['engines']['mt']['name']}, tts={report['engines']['tts']})")
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    table.add_column("RTF", justify="right")
    for stage, secs in report["timing"]["stages"].items():
        table.add_row(stage, f"{secs:.2f}", f"{secs / media_s:.3f}")
    table.add_row("whole dub", f"{wall:.2f}", f"{wall / media_s:.3f}")
    table.add_row("peak RSS (MB)", f"{peak_mb:.0f}", "")
    Console().print(table)
    if args.json:
        args.json.write_text(json.dumps({"media_seconds": media_s, "wall_seconds": wall, "rtf": wall / media_s,
                                         "stages": report["timing"]["stages"], "peak_rss_mb": peak_mb}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
