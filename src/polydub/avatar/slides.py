"""Slides and the joined lecture: PDF pages or images as slide pictures, the talking head in a
corner, fragments joined into one MP4 with chapters and subtitles."""

from __future__ import annotations

from pathlib import Path

from polydub.errors import InputMediaError
from polydub.media.ffmpeg import ffmpeg_write
from polydub.voice.text import SENTENCE_END

SLIDE_WIDTH = 1280
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
HEAD_SHARE = 0.25  # of the slide's width
MARGIN = 0.02


def load_slides(source: str | Path, count: int, folder: Path) -> list[Path]:
    """One PNG per slide (SLIDE_WIDTH wide, even height) from a PDF or a folder of images; the deck
    must have as many slides as the text."""
    from PIL import Image, UnidentifiedImageError

    source = Path(source)
    folder.mkdir(parents=True, exist_ok=True)
    images = []
    if source.is_dir():
        files = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        try:
            images = [Image.open(p).convert("RGB") for p in files[:count]]
        except (UnidentifiedImageError, OSError) as exc:
            raise InputMediaError(f"a slide image in {source.name} cannot be read ({exc})",
                                  "use PNG, JPG or WebP slide images") from None
        found = len(files)
    elif source.is_file():
        import pypdfium2 as pdfium

        try:
            pdf = pdfium.PdfDocument(str(source))
        except pdfium.PdfiumError as exc:
            raise InputMediaError(f"{source.name} is not a readable PDF ({exc})",
                                  "export the slides as PDF, or give a folder of images") from None
        found = len(pdf)
        for i in range(min(found, count)):
            page = pdf[i]
            width = page.get_width() or 1.0
            images.append(page.render(scale=SLIDE_WIDTH / width).to_pil().convert("RGB"))
        pdf.close()
    else:
        raise InputMediaError(f"slides not found: {source}", "give a PDF or a folder of slide images")
    if found != count:
        raise InputMediaError(f"the deck has {found} slide(s), the text {count}",
                              "split the text into as many slides as the deck has (delimiter lines)")
    out = []
    first = images[0].size if images else (16, 9)
    height = max(2, int(round(SLIDE_WIDTH * first[1] / first[0])) // 2 * 2)
    for i, img in enumerate(images):
        canvas = Image.new("RGB", (SLIDE_WIDTH, height), "white")
        scale = min(SLIDE_WIDTH / img.width, height / img.height)
        fitted = img.resize((max(1, int(img.width * scale)), max(1, int(img.height * scale))), Image.LANCZOS)
        canvas.paste(fitted, ((SLIDE_WIDTH - fitted.width) // 2, (height - fitted.height) // 2))
        path = folder / f"slide_{i}.png"
        canvas.save(path)
        out.append(path)
    return out


def compose_fragment(head_video: Path, slide: Path, out_path: Path) -> Path:
    """The slide filling the frame and the talking head in its lower right corner."""
    from PIL import Image

    with Image.open(slide) as img:
        width, height = img.size
    head = int(width * HEAD_SHARE) // 2 * 2
    margin = int(width * MARGIN)
    graph = (f"[1:v]scale={head}:{head},pad={head + 4}:{head + 4}:2:2:white[h];"
             f"[0:v][h]overlay=W-w-{margin}:H-h-{margin}:shortest=1,format=yuv420p[v]")
    return ffmpeg_write(["-loop", "1", "-framerate", "25", "-i", str(slide), "-i", str(head_video),
                         "-filter_complex", graph, "-map", "[v]", "-map", "1:a:0", "-c:v", "libx264",
                         "-preset", "veryfast", "-crf", "23", "-tune", "stillimage", "-r", "25", "-c:a", "copy",
                         "-shortest"], out_path)


def _srt_time(seconds: float) -> str:
    ms = int(round(seconds * 1000))
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def write_srt(fragments: list[dict], path: Path) -> Path:
    """One cue per sentence, timed within its fragment's speech in proportion to its length."""
    from polydub.avatar.speech import LEAD_S, TAIL_S

    cues, offset = [], 0.0
    for f in fragments:
        sentences = [s for s in SENTENCE_END.split(f["text"]) if s.strip()] or [f["text"]]
        start, end = offset + LEAD_S, offset + max(LEAD_S, f["duration"] - TAIL_S)
        total = sum(len(s) for s in sentences) or 1
        t = start
        for s in sentences:
            length = (end - start) * len(s) / total
            cues.append((t, t + length, s.strip()))
            t += length
        offset += f["video_duration"]
    text = "".join(f"{i + 1}\n{_srt_time(a)} --> {_srt_time(b)}\n{s}\n\n" for i, (a, b, s) in enumerate(cues))
    path.write_text(text, encoding="utf-8")
    return path


def join_videos(videos: list[Path], out_path: Path, chapters: list[tuple[float, float, str]],
                subtitles: Path | None = None, language: str = "und") -> Path:
    """Fragments (same size, rate and codecs) joined without re-encoding; chapters and a subtitle
    track added. Written under a temporary name and renamed when complete."""
    from polydub.render.mux import ISO639_2

    folder = out_path.parent
    listing = folder / f".{out_path.stem}.concat.txt"
    listing.write_text("".join(f"file '{v.resolve().as_posix()}'\n" for v in videos), encoding="utf-8")
    meta = folder / f".{out_path.stem}.chapters.txt"
    lines = [";FFMETADATA1"]
    for a, b, title in chapters:
        clean = title.replace("\\", "\\\\").replace("=", "\\=").replace(";", "\\;").replace("#", "\\#")
        clean = clean.replace("\n", " ")
        lines += ["[CHAPTER]", "TIMEBASE=1/1000", f"START={int(a * 1000)}", f"END={int(b * 1000)}", f"title={clean}"]
    meta.write_text("\n".join(lines) + "\n", encoding="utf-8")
    cmd = ["-f", "concat", "-safe", "0", "-i", str(listing), "-i", str(meta)]
    if subtitles is not None:
        cmd += ["-i", str(subtitles)]
    cmd += ["-map", "0:v:0", "-map", "0:a:0"]
    if subtitles is not None:
        tag = ISO639_2.get(language, language)
        cmd += ["-map", "2:s:0", "-c:s", "mov_text", "-metadata:s:s:0", f"language={tag}"]
    cmd += ["-map_metadata", "1", "-map_chapters", "1", "-c:v", "copy", "-c:a", "copy", "-movflags", "+faststart"]
    try:
        return ffmpeg_write(cmd, out_path)
    finally:
        listing.unlink(missing_ok=True)
        meta.unlink(missing_ok=True)
