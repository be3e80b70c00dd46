"""Command-line interface: a thin layer over the library."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from polydub.errors import PolydubError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="polydub: offline AI dubbing. Video in, dubbed video and subtitles out.")
console = Console(stderr=True)
out_console = Console()


_registered = False


def _register_subcommands() -> None:
    """Sub-apps are attached lazily so that `polydub --help` stays fast (no server imports at load)."""
    global _registered
    if _registered:
        return
    from polydub.cli_avatar import avatar_command, lecture_command
    from polydub.cli_eval import eval_command
    from polydub.cli_lipsync import lipsync_command
    from polydub.cli_live import live_command
    from polydub.cli_voices import voices_app
    from polydub.server.cli import serve_command
    from polydub.server.cli_ops import jobs_app, worker_command

    app.add_typer(voices_app, name="voices")
    app.command("serve")(serve_command)
    app.command("worker")(worker_command)
    app.add_typer(jobs_app, name="jobs")
    app.command("eval")(eval_command)
    app.command("live")(live_command)
    app.command("lipsync")(lipsync_command)
    app.command("avatar")(avatar_command)
    app.command("lecture")(lecture_command)
    _registered = True


def _progress_bar():
    return Progress(TextColumn("[bold]{task.fields[stage]:<11}"), BarColumn(), TaskProgressColumn(),
                    TextColumn("{task.fields[message]}"), TimeElapsedColumn(), console=console,
                    transient=False)


def _summary(report: dict) -> None:
    timing = report.get("timing", {})
    media_s = timing.get("media_seconds") or 0
    table = Table(title="polydub summary", show_lines=False)
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    table.add_column("RTF", justify="right")
    for stage, secs in timing.get("stages", {}).items():
        table.add_row(stage, f"{secs:.2f}", f"{secs / media_s:.3f}" if media_s else "-")
    table.add_row("[bold]total", f"{timing.get('total_seconds', 0):.2f}",
                  f"{timing.get('real_time_factor') or 0:.3f}")
    console.print(table)
    engines = report.get("engines", {})
    for name in ("asr", "speakers", "mt", "tts", "separation", "lipsync"):
        if name in engines:
            value = engines[name]
            if isinstance(value, dict) and name == "lipsync":
                value = f"{value.get('name')} (x264 crf {value.get('crf')}; {value.get('licence')})"
            elif isinstance(value, dict):
                value = f"{value.get('name')} (tier: {value.get('tier')})"
            console.print(f"  [dim]{name}:[/dim] {value}")
    summary = report.get("summary") or {}
    if summary.get("checked"):
        passing, checked = summary.get("passing", {}), summary["checked"]
        rates = ", ".join(f"{name} {passing.get(name, 0)}/{checked}"
                          for name in ("timing", "intelligibility", "voice", "translation"))
        console.print(f"  [dim]quality:[/dim] {rates}; in slot {summary.get('in_slot_percent')} %, "
                      f"tempo mean {summary.get('tempo_mean')}, mean CER {summary.get('mean_cer')}")
        if summary.get("flagged"):
            console.print(f"  [yellow]flagged lines:[/yellow] {summary['flagged']} (see report.html)")
    for row in (report.get("licences") or {}).get("voices", []):
        mark = "[yellow]non-commercial[/yellow] " if row.get("non_commercial") else ""
        console.print(f"  [dim]voice licence:[/dim] {row['voice']} ({', '.join(row['speakers'])}): "
                      f"{mark}{row['licence']}", highlight=False)
    lips = (report.get("lipsync") or {}).get("summary") or {}
    if report.get("lipsync"):
        info = report["lipsync"]
        console.print(f"  [dim]lip-sync:[/dim] {info.get('lines_lipsynced')} lines re-animated, "
                      f"{info.get('lines_untouched')} untouched; lip_follow {lips.get('lip_follow')} "
                      f"(untouched video {lips.get('lip_follow_floor')}), PSNR outside the face "
                      f"{lips.get('untouched_psnr')} dB")
    for spk, info in (report.get("speakers") or {}).items():
        clone = info.get("clone") if isinstance(info, dict) else None
        if clone and clone.get("similarity_evolved") is not None:
            how = "reused from profile" if clone.get("reused") else f"{clone.get('syntheses')} syntheses, " \
                                                                   f"{clone.get('search_seconds')} s"
            console.print(f"  [dim]clone {spk}:[/dim] {info.get('voice')} similarity {clone['similarity_evolved']} "
                          f"(stock {clone.get('similarity_stock')}), {how}")
    for warning in report.get("warnings", []):
        console.print(f"  [yellow]warning:[/yellow] {warning}")


@app.command()
def dub(
    input: Path = typer.Argument(..., help="video or audio file to dub"),
    to: str = typer.Option(..., "--to", help="target language, e.g. es"),
    output: Path = typer.Option(Path("out"), "-o", "--output", help="output folder (the project)"),
    source: str | None = typer.Option(None, "--from", help="source language (default: detect)"),
    asr_model: str = typer.Option("base", "--asr-model", help="base, tiny.en, or a CTranslate2 folder"),
    mt: str | None = typer.Option(None, "--mt", help="translation engine (see 'polydub models')"),
    tts: str | None = typer.Option(None, "--tts", help="voice engine (see 'polydub models')"),
    voice: list[str] = typer.Option([], "--voice", help="per-speaker voice, e.g. S1=kokoro:ef_dora"),
    speakers: int | None = typer.Option(None, "--speakers", help="force the number of speakers"),
    keep_original: bool = typer.Option(False, "--keep-original", help="keep the original audio track"),
    no_separation: bool = typer.Option(False, "--no-separation", help="duck the original, don't separate"),
    original_voice_db: float | None = typer.Option(None, "--original-voice-db",
                                                   help="voice-over: keep the original voice at this dB"),
    adapt_voices: bool = typer.Option(False, "--adapt-voices",
                                      help="adapt matched voices towards each speaker (pitch, formants)"),
    no_quality: bool = typer.Option(False, "--no-quality", help="skip the per-line quality checks and repairs"),
    clone_voices: bool = typer.Option(False, "--clone-voices",
                                      help="evolve a voice like each speaker's (kept in their profile)"),
    clone_budget: str = typer.Option("60s", "--clone-budget", help="voice search time per speaker, e.g. 60s, 2m"),
    min_tempo: float = typer.Option(0.85, help="slowest allowed speech rate"),
    max_tempo: float = typer.Option(1.25, help="fastest allowed speech rate"),
    lipsync: bool = typer.Option(False, "--lipsync", help="re-animate the speakers' mouths to follow the dub"),
    lipsync_model: Path | None = typer.Option(None, "--lipsync-model",
                                              help="a Wav2Lip-compatible model (.onnx, or .pth with torch): "
                                                   "your own weights; implies --lipsync"),
    commercial_safe: bool = typer.Option(False, "--commercial-safe",
                                         help="use no engine or weights licensed for non-commercial use only"),
    audio_track: int | None = typer.Option(None, "--audio-track",
                                           help="which audio track to dub, 0 = first (default: the one in the "
                                                "--from language, else the default track); others are kept"),
) -> None:
    """Dub a video or audio file into another language."""
    from polydub.cli_voices import parse_budget
    from polydub.pipeline import DubOptions
    from polydub.pipeline import dub as run_dub

    voices = {}
    for item in voice:
        if "=" not in item:
            raise PolydubError(f"--voice expects SPEAKER=VOICE, got '{item}'", "e.g. --voice S1=kokoro:ef_dora")
        spk, vid = item.split("=", 1)
        voices[spk.strip()] = vid.strip()
    options = DubOptions(target_language=to, source_language=source, asr_model=asr_model, mt_engine=mt,
                         tts_engine=tts, voices=voices, num_speakers=speakers, keep_original=keep_original,
                         separation=not no_separation, original_voice_db=original_voice_db,
                         min_tempo=min_tempo, max_tempo=max_tempo, adapt_voices=adapt_voices,
                         quality_checks=not no_quality, commercial_safe=commercial_safe,
                         clone_voices=clone_voices, clone_budget_s=parse_budget(clone_budget),
                         lipsync=lipsync or lipsync_model is not None,
                         lipsync_model=str(lipsync_model) if lipsync_model else None, audio_track=audio_track)
    with _progress_bar() as bar:
        task = bar.add_task("dub", total=100, stage="start", message="")

        def on_progress(event) -> None:
            bar.update(task, completed=event.percent, stage=event.stage, message=event.message)

        report = run_dub(input, output, options, progress=on_progress)
    _summary(report)
    if (output / "report.html").exists():
        console.print(f"  [dim]report:[/dim] {output / 'report.html'}")
    out_console.print(f"[green]dubbed:[/green] {output / report['outputs']['media']}")


@app.command()
def transcribe(
    input: Path = typer.Argument(..., help="video or audio file"),
    output: Path = typer.Option(Path("out"), "-o", "--output", help="output folder"),
    source: str | None = typer.Option(None, "--from", help="language (default: detect)"),
    asr_model: str = typer.Option("base", "--asr-model"),
    speakers: int | None = typer.Option(None, "--speakers"),
) -> None:
    """Transcribe with timestamps and speakers: subtitles (SRT, VTT) and project.json."""
    from polydub.pipeline import Dubber, DubOptions
    from polydub.render.subtitles import write_subtitles

    options = DubOptions(target_language=source or "en", source_language=source, asr_model=asr_model,
                         num_speakers=speakers)
    with _progress_bar() as bar:
        task = bar.add_task("transcribe", total=100, stage="start", message="")
        dubber = Dubber(output, options, lambda e: bar.update(task, completed=min(100, e.percent * 2.5),
                                                             stage=e.stage, message=e.message))
        project = dubber.transcribe_only(input)
    files = write_subtitles(project.segments, output / "source", use_translation=False)
    console.print(f"language: {project.source_language}, lines: {len(project.segments)}, "
                  f"speakers: {len(project.speakers)}")
    out_console.print(f"[green]subtitles:[/green] {files['srt']} {files['vtt']}")


@app.command()
def translate(
    subtitles: Path = typer.Argument(..., help="subtitle file (.srt, .vtt, .ass)"),
    to: str = typer.Option(..., "--to", help="target language"),
    source: str = typer.Option("en", "--from", help="language of the subtitles"),
    mt: str | None = typer.Option(None, "--mt", help="translation engine"),
    output: Path | None = typer.Option(None, "-o", "--output", help="output file"),
) -> None:
    """Translate a subtitle file, keeping its timing."""
    import pysubs2

    from polydub.languages import normalize_language
    from polydub.translation.registry import TranslationRegistry

    if not subtitles.exists():
        raise PolydubError(f"subtitle file not found: {subtitles}", "check the path")
    try:
        subs = pysubs2.load(str(subtitles))
    except Exception as exc:  # pysubs2 raises several types for unreadable files
        raise PolydubError(f"cannot read subtitles from {subtitles.name}: {exc}",
                           "give an SRT, VTT or ASS file") from None
    src, tgt = normalize_language(source), normalize_language(to)
    registry = TranslationRegistry()
    events = [e for e in subs if not e.is_comment]
    began = time.perf_counter()
    done = registry.translate_document([e.plaintext for e in events], src, tgt, prefer=mt)
    for event, text in zip(events, done.texts, strict=True):
        event.plaintext = text
    target = output or subtitles.with_name(f"{subtitles.stem}.{tgt}{subtitles.suffix}")
    subs.save(str(target))
    for note in done.notes + [f"line {i + 1}: {n}" for i, n in sorted(done.line_notes.items())]:
        console.print(f"[yellow]note:[/yellow] {note}", highlight=False)
    console.print(f"{len(events)} lines with {done.engine} ({done.tier}) in {time.perf_counter() - began:.1f}s")
    out_console.print(f"[green]translated:[/green] {target}")


@app.command()
def speak(
    text: str = typer.Argument(..., help="text to speak"),
    lang: str = typer.Option("en", "--lang", help="language of the text"),
    voice: str | None = typer.Option(None, "--voice", help="voice id (see 'polydub voices')"),
    tts: str | None = typer.Option(None, "--tts", help="voice engine"),
    speed: float = typer.Option(1.0, "--speed"),
    output: Path = typer.Option(Path("speech.wav"), "-o", "--output"),
    commercial_safe: bool = typer.Option(False, "--commercial-safe",
                                         help="only voices licensed for commercial use"),
) -> None:
    """Speak a text with an installed voice into a WAV file."""
    from polydub.languages import normalize_language
    from polydub.voice.licences import is_non_commercial, voice_licence
    from polydub.voice.registry import VoiceRegistry

    registry = VoiceRegistry(commercial_safe=commercial_safe)
    chosen = registry.get_voice(voice) if voice else registry.default_voice(normalize_language(lang), tts)
    audio = registry.synthesize(text, chosen, speed=speed)
    try:
        audio.write(output)
    except OSError as exc:
        raise PolydubError(f"cannot write {output}: {exc.strerror}", "choose a writable path") from None
    out_console.print(f"[green]spoke[/green] {audio.duration:.2f}s with {chosen.id}: {output}")
    if is_non_commercial(chosen):
        console.print(f"  [yellow]non-commercial voice:[/yellow] {voice_licence(chosen, registry.engine_for(chosen))}",
                      highlight=False)


@app.command()
def models() -> None:
    """List installed engines: languages, quality tier, licence."""
    from polydub.speech.models import BUNDLED_MODELS, available_models
    from polydub.translation.registry import TranslationRegistry
    from polydub.voice.registry import VoiceRegistry

    installed = available_models()
    asr = Table(title="Speech recognition")
    for col in ("model", "installed", "description", "licence"):
        asr.add_column(col)
    for name, (desc, lic) in BUNDLED_MODELS.items():
        asr.add_row(name, "yes" if name in installed else "no", desc, lic)
    out_console.print(asr)
    mt = Table(title="Translation")
    for col in ("engine", "installed", "pairs", "tier", "licence"):
        mt.add_column(col)
    for row in TranslationRegistry().describe():
        pairs = sorted(row.get("pairs", []))
        shown = ", ".join(pairs[:10]) + (f" … ({len(pairs)} pairs)" if len(pairs) > 10 else "")
        tiers = ", ".join(sorted(set(row.get("tiers", {}).values()))) or "-"
        installed = "yes" if row.get("available") else f"no: {row.get('install_hint', '')}"
        mt.add_row(str(row.get("name")), installed, shown, tiers, str(row.get("licence", "")))
    out_console.print(mt)
    for row in TranslationRegistry().describe():
        if row.get("provenance"):
            out_console.print(f"  [dim]{row['name']} weights:[/dim] {row['provenance']}", highlight=False)
    tts = Table(title="Voices")
    for col in ("engine", "installed", "languages", "voices", "native rate", "cloning", "licence"):
        tts.add_column(col)
    for row in VoiceRegistry().describe():
        langs = row.get("languages", [])
        licence = str(row.get("licence", ""))
        if row.get("non_commercial"):
            licence = f"NON-COMMERCIAL: {licence}"
        elif row.get("non_commercial_voices"):
            licence += f" ({len(row['non_commercial_voices'])} non-commercial voices: by id only)"
        tts.add_row(str(row.get("name")), "yes" if row.get("available") else "no",
                    ", ".join(sorted(langs)[:14]) + (" …" if len(langs) > 14 else ""),
                    str(row.get("voices", "")), "yes" if row.get("native_rate") else "no",
                    "yes" if row.get("cloning") else "no", licence)
    out_console.print(tts)
    out_console.print("Non-commercial voices are never used silently: a dub names them in its output and "
                      "report.json; `--commercial-safe` excludes them.")


@app.command()
def sample(output: Path = typer.Argument(Path("sample.mp4"), help="where to write the sample video")) -> None:
    """Render a short English sample video offline, to try polydub without media of your own."""
    from polydub.sample import make_sample

    make_sample(output)
    out_console.print(f"[green]sample:[/green] {output}  (try: polydub dub {output} --to es -o out/)")


def main(argv: list[str] | None = None) -> int:
    """Entry point: user mistakes become one-line errors with a hint, never a traceback."""
    import click

    try:
        _register_subcommands()
        app(args=argv, standalone_mode=False)
        return 0
    except PolydubError as exc:
        console.print(f"[red]error:[/red] {exc.message}", highlight=False)
        if exc.hint:
            console.print(f"  [dim]what to do:[/dim] {exc.hint}", highlight=False)
        code = exc.exit_code
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.exceptions.Abort:
        console.print("[red]aborted[/red]")
        code = 130
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except KeyboardInterrupt:
        console.print("[red]interrupted[/red]: the project folder keeps finished stages; run again to resume")
        code = 130
    if __name__ == "__main__" or argv is None:
        sys.exit(code)
    return code


if __name__ == "__main__":
    main()
