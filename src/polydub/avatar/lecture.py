"""A lecture text -> one talking-head video per fragment, the joined lecture and its map.

The text is split into slides at a delimiter line (`---` by default) and long slides into fragments
at sentence ends. Per fragment n (numbered through the whole lecture from 0) the output folder
gets the reference service's files, `audio_fragment_<id>_<n>.wav` and `video_fragment_<id>_<n>_1.mp4`;
at the end `lecture.json` (slides -> fragment numbers, `[[0, 1], [2]]`), `lecture.mp4` (every
fragment joined, one chapter per slide, the text as a subtitle track), `lecture.srt`, and
`lecture.report.json` (voice, licence, durations, timings). With slides (PDF pages or images) each
slide fills the lecture's frame and the talking head sits in its lower right corner.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from polydub.avatar.make import AvatarRequest, Progress, registry_for, resolve_language
from polydub.avatar.slides import compose_fragment, join_videos, load_slides, write_srt
from polydub.avatar.speech import choose_voice, read_text, synthesize
from polydub.errors import InputMediaError, JobCancelledError
from polydub.face.portrait import Portrait, PortraitAnimator
from polydub.voice.text import SENTENCE_END, pack, split_text

MAX_FRAGMENT_CHARS = 400


@dataclass
class LectureRequest(AvatarRequest):
    delimiter: str = "---"
    max_fragment_chars: int = MAX_FRAGMENT_CHARS
    slides: str | Path | None = None  # a PDF, or a folder of images (sorted by name)
    lecture_id: str = "0"  # the <id> in the reference's file names


def split_lecture(text: str, delimiter: str = "---", max_chars: int = MAX_FRAGMENT_CHARS) -> list[list[str]]:
    """Slides (split at lines holding only the delimiter, or at the delimiter anywhere when no line
    does), each a list of fragments cut at sentence ends; empty slides are dropped."""
    if not delimiter:
        raise InputMediaError("the slide delimiter is empty", "use e.g. --delimiter '---'")
    line = re.compile(rf"^\s*{re.escape(delimiter)}\s*$", re.MULTILINE)
    parts = line.split(text) if line.search(text) else text.split(delimiter)
    slides = []
    for part in parts:
        flat = " ".join(part.split())
        if not flat:
            continue
        sentences = [s for s in SENTENCE_END.split(flat) if s.strip()]
        pieces = [p for s in sentences for p in split_text(s, max_chars)]
        slides.append(pack(pieces, max_chars))
    if not slides:
        raise InputMediaError("the lecture text is empty", "give the text of at least one slide")
    return slides


def fragment_names(lecture_id: str, n: int) -> tuple[str, str]:
    return f"audio_fragment_{lecture_id}_{n}.wav", f"video_fragment_{lecture_id}_{n}_1.mp4"


def make_lecture(face: str | Path, text: str, out_dir: str | Path, request: LectureRequest | None = None,
                 progress: Progress | None = None, cancel: threading.Event | None = None,
                 on_fragment: Callable[[dict], None] | None = None) -> dict:
    """Write the lecture's files into `out_dir` (see module doc); returns the report."""
    request = request or LectureRequest()
    report = progress or (lambda *_: None)
    started = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    text = read_text(text)
    slides = split_lecture(text, request.delimiter, request.max_fragment_chars)
    if not re.fullmatch(r"[\w.-]{1,64}", request.lecture_id):
        raise InputMediaError(f"lecture id {request.lecture_id!r} cannot be part of a file name",
                              "use letters, digits, '-', '_' or '.'")
    deck = load_slides(request.slides, len(slides), out_dir / ".slides") if request.slides else None
    language = resolve_language(text, request)
    report("face", 0.0, "finding the face")
    portrait = Portrait.load(face, request.framing, request.size, request.face)
    registry = registry_for(request)
    report("voice", 0.0, "choosing the voice")
    voice = choose_voice(language, registry, request.voice, request.voice_sample, request.profile,
                         probe_text=slides[0][0])
    total_chars = sum(len(f) for s in slides for f in s)
    done_chars = 0
    fragments: list[dict] = []
    result: list[list[int]] = []
    composed: list[Path] = []
    n = 0
    for slide_index, slide in enumerate(slides):
        numbers = []
        for fragment in slide:
            if cancel is not None and cancel.is_set():
                raise JobCancelledError("the lecture was cancelled", "start it again to make the rest")
            audio_name, video_name = fragment_names(request.lecture_id, n)
            t = time.perf_counter()
            speech = synthesize(fragment, voice, registry)
            tts_s = time.perf_counter() - t
            wav = out_dir / audio_name
            tmp = wav.with_name(f".{wav.stem}.partial.wav")
            speech.audio.write(tmp)
            tmp.replace(wav)
            options = request.animation()
            options.seed = request.seed + n
            animator = PortraitAnimator(portrait, options)

            def step(f: float, base=done_chars, size=len(fragment)) -> None:
                report("animate", (base + f * size) / total_chars, f"fragment {len(fragments) + 1}")

            stats = animator.render_video(speech.audio, out_dir / video_name, speech.phones, progress=step,
                                          cancel=cancel)
            if deck is not None:
                composed.append(compose_fragment(out_dir / video_name, deck[slide_index],
                                                 out_dir / ".slides" / f"fragment_{n}.mp4"))
            info = {"n": n, "slide": slide_index, "text": fragment, "audio": audio_name, "video": video_name,
                    "duration": round(speech.audio.duration, 3),
                    "video_duration": round(stats.frames / stats.fps, 3), "speech_s": round(tts_s, 3),
                    "animation": stats.as_dict()}
            fragments.append(info)
            numbers.append(n)
            if on_fragment:
                on_fragment(info)
            done_chars += len(fragment)
            n += 1
        result.append(numbers)
    report("join", 0.0, "joining the lecture")
    videos = composed or [out_dir / f["video"] for f in fragments]
    srt = write_srt(fragments, out_dir / "lecture.srt")
    join_videos(videos, out_dir / "lecture.mp4", chapters=_chapters(fragments, len(slides)), subtitles=srt,
                language=language)
    map_path = out_dir / "lecture.json"
    map_path.write_text(json.dumps(result), encoding="utf-8")
    total = time.perf_counter() - started
    duration = sum(f["video_duration"] for f in fragments)
    summary = {"id": request.lecture_id, "result": result, "slides": len(slides), "fragments": fragments,
               "lecture": "lecture.mp4", "subtitles": "lecture.srt", "with_slides": deck is not None,
               "language": language, "voice": voice.as_dict(), "duration": round(duration, 3),
               "timing": {"total_s": round(total, 3), "rtf": round(total / max(duration, 1e-6), 3)}}
    if voice.non_commercial:
        summary["licence_warning"] = f"the voice {voice.voice.id} is licensed for non-commercial use only"
    (out_dir / "lecture.report.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    report("done", 1.0, str(out_dir / "lecture.mp4"))
    return summary


def _chapters(fragments: list[dict], slides: int) -> list[tuple[float, float, str]]:
    """(start, end, title) per slide on the joined lecture's timeline."""
    chapters, t = [], 0.0
    for s in range(slides):
        mine = [f for f in fragments if f["slide"] == s]
        length = sum(f["video_duration"] for f in mine)
        title = mine[0]["text"][:60] if mine else ""
        chapters.append((t, t + length, f"Slide {s + 1}: {title}"))
        t += length
    return chapters
