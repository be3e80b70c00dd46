"""Diarization benchmark: speaker counts on the shared short single-speaker clips, and word-level
attribution on tracks where two shared speakers alternate mid-sentence (the cases of
tests/test_diarization_turns.py), with the time diarization itself takes (RTF, transcription excluded).

Usage: .venv/bin/python bench/bench_diarize.py [--media ../shared/media]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from polydub.media.decode import decode_for_asr  # noqa: E402
from polydub.speakers.diarize import diarize  # noqa: E402
from polydub.speakers.embedding import default_embedder  # noqa: E402
from polydub.speech.asr import WhisperRecognizer  # noqa: E402
from polydub.speech.segmentation import LinePolicy, words_to_lines  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--media", type=Path, default=REPO.parent / "shared" / "media")
    args = parser.parse_args()
    os.environ["POLYDUB_TEST_MEDIA"] = str(args.media)  # read by the test helpers below
    from tests.test_diarization_turns import (
        MID_SENTENCE_TRACKS,
        SINGLE_SPEAKER_CLIPS,
        build_track,
        whisper_segments,
        word_accuracy,
    )

    table = Table(title="diarization")
    for col in ("case", "lines", "speakers (true)", "speakers found", "word accuracy", "diarize s", "RTF"):
        table.add_column(col, justify="right" if col != "case" else "left")
    recognizer = WhisperRecognizer("base", beam_size=1, temperature_fallback=False)
    default_embedder().embed(decode_for_asr(args.media / SINGLE_SPEAKER_CLIPS[0]))  # load the encoder first
    total_audio = total_time = 0.0
    for clip in SINGLE_SPEAKER_CLIPS:
        audio = decode_for_asr(args.media / clip)
        lines = words_to_lines(recognizer.transcribe(audio).words, LinePolicy(max_seconds=8.0))
        began = time.perf_counter()
        result = diarize(audio, lines)
        seconds = time.perf_counter() - began
        total_audio, total_time = total_audio + audio.duration, total_time + seconds
        table.add_row(clip, str(len(lines)), "1", str(len(result.speakers)), "-", f"{seconds:.2f}",
                      f"{seconds / audio.duration:.3f}")
    for name, pieces in sorted(MID_SENTENCE_TRACKS.items()):
        audio, truth = build_track(pieces)
        segments = whisper_segments(audio)
        began = time.perf_counter()
        result = diarize(audio, segments)
        seconds = time.perf_counter() - began
        total_audio, total_time = total_audio + audio.duration, total_time + seconds
        accuracy, words = word_accuracy(result.segments, truth)
        table.add_row(f"mid-sentence {name}", str(len(segments)), "2", str(len(result.speakers)),
                      f"{accuracy:.3f} ({words} words)", f"{seconds:.2f}", f"{seconds / audio.duration:.3f}")
    table.add_row("all", "", "", "", "", f"{total_time:.2f}", f"{total_time / total_audio:.3f}")
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
