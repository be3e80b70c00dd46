"""`polydub avatar PHOTO TEXT` and `polydub lecture FACE TEXT`: a photo and a text become a speaking video."""

from __future__ import annotations

from pathlib import Path

import typer

from polydub.errors import OutputError

VOICE_HELP = "voice id (engine:voice, see `polydub voices installed`) or voice profile name"
SAMPLE_HELP = "a recording of the person: the closest installed voice, adapted towards it"


def _check_video_name(output: Path) -> None:
    if output.suffix.lower() not in (".mp4", ".m4v", ".mov"):
        raise OutputError(f"cannot write a video as {output.name}", "use an .mp4 name")


def avatar_command(
    photo: Path = typer.Argument(..., help="portrait photo (JPG, PNG, WebP)"),
    text: str = typer.Argument(..., help="what the portrait says, or @file.txt"),
    language: str | None = typer.Option(None, "--lang", help="language of the text (Cyrillic: ru by default)"),
    voice: str | None = typer.Option(None, "--voice", help=VOICE_HELP),
    voice_sample: Path | None = typer.Option(None, "--voice-sample", help=SAMPLE_HELP),
    profile: str | None = typer.Option(None, "--profile", help="enrol the voice sample into this voice profile"),
    output: Path = typer.Option(Path("avatar.mp4"), "-o", "--output", help="the talking-head video (MP4)"),
    frame: str = typer.Option("crop", "--frame", help="crop: 512x512 around the face; full: the whole photo"),
    size: int = typer.Option(512, "--size", help="side of the cropped video, pixels"),
    face: int | None = typer.Option(None, "--face", help="which face speaks when the photo has several (1 = largest)"),
    no_blinks: bool = typer.Option(False, "--no-blinks", help="keep the eyes open"),
    still: bool = typer.Option(False, "--still", help="no head motion (only mouth and eyes move)"),
    no_idle: bool = typer.Option(False, "--no-idle", help="head still in pauses"),
    seed: int = typer.Option(0, "--seed", help="other blinks and head motion"),
    commercial_safe: bool = typer.Option(False, "--commercial-safe", help="only voices cleared for commercial use"),
) -> None:
    """Make PHOTO say TEXT: a lip-synced talking-head video with blinks and small head motion."""
    from polydub.avatar import AvatarRequest, make_avatar
    from polydub.cli import _progress_bar, console, out_console

    _check_video_name(output)
    request = AvatarRequest(language=language, voice=voice, voice_sample=voice_sample, profile=profile,
                            framing=frame, size=size, face=face, blinks=not no_blinks, head_motion=not still,
                            idle=not no_idle, seed=seed, commercial_safe=commercial_safe)
    with _progress_bar() as bar:
        task = bar.add_task("avatar", total=100, stage="face", message="")
        summary = make_avatar(photo, text, output, request, progress=lambda stage, f, msg: bar.update(
            task, completed=100 * f if stage in ("animate", "done") else 0, stage=stage, message=msg))
    anim = summary["animation"]
    console.print(f"  voice {summary['voice']['id']} ({summary['voice']['licence']}), {summary['duration']:.1f} s, "
                  f"{anim['frames']} frames, {anim['blinks']} blinks, {anim['nods']} nods, "
                  f"RTF {summary['timing']['rtf']}")
    for note in summary["voice"]["notes"]:
        console.print(f"  [dim]{note}[/dim]")
    if summary.get("licence_warning"):
        console.print(f"  [yellow]licence:[/yellow] {summary['licence_warning']}")
    out_console.print(f"[green]avatar:[/green] {output}")


def lecture_command(
    face: Path = typer.Argument(..., help="portrait photo of the lecturer"),
    text: Path = typer.Argument(..., help="lecture text (UTF-8), slides separated by the delimiter"),
    voice_sample: Path | None = typer.Option(None, "--voice-sample", help=SAMPLE_HELP),
    voice: str | None = typer.Option(None, "--voice", help=VOICE_HELP),
    profile: str | None = typer.Option(None, "--profile", help="enrol the voice sample into this voice profile"),
    language: str | None = typer.Option(None, "--lang", help="language of the text (Cyrillic: ru by default)"),
    delimiter: str = typer.Option("---", "--delimiter", help="the line that separates slides"),
    slides: Path | None = typer.Option(None, "--slides", help="deck.pdf or a folder of slide images"),
    output: Path = typer.Option(Path("lecture"), "-o", "--output", help="output folder"),
    lecture_id: str = typer.Option("0", "--id", help="the <id> in the fragment file names"),
    max_chars: int = typer.Option(400, "--max-chars", help="longest fragment, characters (cut at sentence ends)"),
    frame: str = typer.Option("crop", "--frame", help="crop: 512x512 around the face; full: the whole photo"),
    face_index: int | None = typer.Option(None, "--face", help="which face speaks (1 = largest)"),
    commercial_safe: bool = typer.Option(False, "--commercial-safe", help="only voices cleared for commercial use"),
) -> None:
    """Turn a lecture text into talking-head fragments, lecture.mp4 and lecture.json."""
    from polydub.avatar import LectureRequest, make_lecture
    from polydub.cli import _progress_bar, console, out_console

    request = LectureRequest(language=language, voice=voice, voice_sample=voice_sample, profile=profile,
                             framing=frame, face=face_index, commercial_safe=commercial_safe, delimiter=delimiter,
                             max_fragment_chars=max_chars, slides=slides, lecture_id=lecture_id)
    with _progress_bar() as bar:
        task = bar.add_task("lecture", total=100, stage="face", message="")
        summary = make_lecture(face, f"@{text}", output, request, progress=lambda stage, f, msg: bar.update(
            task, completed=100 * f if stage in ("animate", "done") else None, stage=stage, message=msg))
    console.print(f"  {summary['slides']} slides, {len(summary['fragments'])} fragments, "
                  f"{summary['duration']:.1f} s, voice {summary['voice']['id']}, RTF {summary['timing']['rtf']}")
    console.print(f"  lecture.json: {summary['result']}")
    if summary.get("licence_warning"):
        console.print(f"  [yellow]licence:[/yellow] {summary['licence_warning']}")
    out_console.print(f"[green]lecture:[/green] {output / 'lecture.mp4'}")
