"""`polydub voices`: installed voices and speaker profiles that persist across videos."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from polydub.errors import PolydubError

voices_app = typer.Typer(help="Installed voices and speaker profiles (the same person keeps the same voice).",
                         no_args_is_help=True)
out = Console()


def _store():
    from polydub.speakers.profiles import ProfileStore

    return ProfileStore()


def _need(store, name: str):
    profile = store.get(name)
    if profile is None:
        names = ", ".join(p.name for p in store.list()) or "none yet"
        raise PolydubError(f"no voice profile named '{name}'", f"profiles: {names}; create one with 'voices add'")
    return profile


def speech_embedding(path: Path):
    """Embed only the speech in a sample (Silero VAD), so silence and music don't colour the profile."""
    from polydub.media.decode import decode_for_asr
    from polydub.media.probe import probe
    from polydub.speakers.embedding import default_embedder
    from polydub.speakers.enrol import speech_embedding as embed_speech

    probe(path)
    embedder = default_embedder()
    embedding, seconds = embed_speech(decode_for_asr(path), embedder, path.name)
    return embedding, embedder.name, seconds


@voices_app.command("installed")
def installed(lang: str | None = typer.Option(None, "--lang", help="only voices of this language"),
              commercial_safe: bool = typer.Option(False, "--commercial-safe",
                                                   help="only voices licensed for commercial use")) -> None:
    """List installed TTS voices, with each voice's licence."""
    from polydub.voice.licences import is_explicit_only, is_non_commercial, voice_licence
    from polydub.voice.registry import get_registry

    registry = get_registry().restricted(commercial_safe)
    table = Table(title="installed voices")
    voices = sorted(registry.voices(language=lang, include_explicit=True), key=lambda v: (v.language, -v.quality, v.id))
    # an id is copied into commands: never cut it
    table.add_column("id", no_wrap=True, min_width=max([2, *(len(v.id) for v in voices)]))
    for col in ("language", "gender", "quality", "licence"):
        table.add_column(col)
    for v in voices:
        licence = voice_licence(v, registry.installed_engine(v.engine))
        if is_non_commercial(v):
            licence = f"NON-COMMERCIAL: {licence}"
        if v.extra.get("evolved"):
            clone = v.extra.get("clone") or {}
            licence = (f"evolved for profile {v.extra.get('profile')}: similarity {clone.get('similarity_evolved')} "
                       f"(stock {clone.get('similarity_stock')}); {licence}")
        if is_explicit_only(v):
            licence += " (only when asked for by id)"
        table.add_row(v.id, v.language, v.gender or "", str(v.quality), licence[:110])
    out.print(table)


@voices_app.command("list")
def list_profiles() -> None:
    """List speaker profiles."""
    table = Table(title="voice profiles")
    for col in ("name", "samples", "voices", "updated"):
        table.add_column(col)
    for p in _store().list():
        voices = ", ".join(f"{lang}={vid}" for lang, vid in sorted(p.voices.items()))
        table.add_row(p.name, str(len(p.samples)), voices, str(p.updated or "")[:19])
    out.print(table)


@voices_app.command("show")
def show(name: str) -> None:
    """Show one profile: samples, preferred voice per language, adaptation."""
    p = _need(_store(), name)
    out.print(f"[bold]{p.name}[/bold]  embedder={p.embedder}  embeddings={len(p.embeddings)}")
    for sample in p.samples:
        out.print(f"  sample: {sample}")
    evolved = {e.language: e for e in _store().evolved(p.name)}
    for lang, vid in sorted(p.voices.items()):
        note = ""
        if lang in evolved and vid == evolved[lang].voice_id:
            info = evolved[lang].info
            note = (f"  (evolved: similarity {info.get('similarity_evolved')} vs stock {info.get('stock_voice')} "
                    f"{info.get('similarity_stock')}, CER {info.get('cer_evolved')}, "
                    f"{info.get('syntheses')} syntheses in {info.get('search_seconds')} s)")
        out.print(f"  voice[{lang}]: {vid}{note}")
    if p.adaptation:
        out.print(f"  adaptation: {p.adaptation}")


@voices_app.command("add")
def add(name: str, samples: list[Path] = typer.Argument(..., help="recordings of this person")) -> None:
    """Create a profile from samples (or add more samples to an existing one)."""
    embs, embedder, seconds = [], "", 0.0
    for sample in samples:
        emb, embedder, secs = speech_embedding(sample)
        embs.append(emb)
        seconds += secs
    try:
        _store().add(name, embs, samples=samples, embedder=embedder)
    except ValueError as exc:
        raise PolydubError(str(exc), "choose another profile name") from None
    out.print(f"[green]profile {name}[/green]: {len(samples)} sample(s), {seconds:.1f} s of speech")


@voices_app.command("rename")
def rename(old: str, new: str) -> None:
    """Rename a profile."""
    store = _store()
    _need(store, old)
    try:
        store.rename(old, new)
    except ValueError as exc:
        raise PolydubError(str(exc), "choose another name") from None
    out.print(f"renamed {old} → {new}")


@voices_app.command("rm")
def remove(name: str, lang: str | None = typer.Option(
        None, "--lang", help="delete only the voice evolved for this language, keep the profile")) -> None:
    """Delete a profile with its samples and evolved voices (or one evolved voice with --lang)."""
    store = _store()
    _need(store, name)
    if lang:
        if not store.remove_evolved(name, lang):
            raise PolydubError(f"profile '{name}' has no evolved voice for {lang!r}", "see `polydub voices show`")
        out.print(f"removed the evolved {lang} voice of {name}")
        return
    store.remove(name)
    out.print(f"removed {name}")


def parse_budget(text: str) -> float:
    """'90', '90s', '2m', '1m30s' -> seconds."""
    import re

    match = re.fullmatch(r"\s*(?:(\d+(?:\.\d+)?)\s*m)?\s*(?:(\d+(?:\.\d+)?)\s*s?)?\s*", text or "")
    if not match or not (match[1] or match[2]):
        raise PolydubError(f"cannot read the budget {text!r}", "give seconds or minutes, e.g. 60s, 90, 2m")
    seconds = float(match[1] or 0) * 60 + float(match[2] or 0)
    if seconds < 5:
        raise PolydubError(f"a budget of {seconds:g} s is too short to search a voice", "give at least 5s")
    return seconds


@voices_app.command("clone")
def clone(name: str, samples: list[Path] = typer.Argument(None, help="recordings of this person (default: the "
                                                               "profile's own samples)"),
          lang: str = typer.Option(..., "--lang", help="language the cloned voice will speak"),
          budget: str = typer.Option("60s", "--budget", help="search time, e.g. 60s, 2m (more: closer voice)"),
          steps: int | None = typer.Option(None, "--steps", help="stop after this many syntheses (reproducible)"),
          seed: int = typer.Option(0, "--seed", help="random seed of the search")) -> None:
    """Evolve a voice that sounds like this person, kept in their profile for every later dub."""
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    from polydub.languages import normalize_language
    from polydub.pipeline.cloning import clone_profile
    from polydub.voice.evolve import CloneSettings

    settings = CloneSettings(budget_s=parse_budget(budget), max_syntheses=steps, seed=seed)
    with Progress(TextColumn("[bold]cloning"), BarColumn(), TaskProgressColumn(), TextColumn("{task.description}"),
                  TimeElapsedColumn(), console=Console(stderr=True)) as bar:
        task = bar.add_task("", total=100)
        outcome = clone_profile(name, normalize_language(lang), samples or None, settings,
                                progress=lambda f, m: bar.update(task, completed=100 * f, description=m[:70]))
    info = outcome.info
    for warning in info.get("warnings") or []:
        out.print(f"[yellow]warning:[/yellow] {warning}")
    out.print(f"similarity to {name} on held-out sentences (d-vector): stock {info.get('stock_voice')} "
              f"{info.get('similarity_stock')}, evolved {info.get('similarity_evolved')}; CER stock "
              f"{info.get('cer_stock')}, evolved {info.get('cer_evolved')}; {info.get('syntheses')} syntheses, "
              f"{info.get('search_seconds')} s")
    if outcome.voice_source == "evolved" and not outcome.reused and info.get("accepted"):
        out.print(f"[green]{name}[/green] speaks {outcome.language} with {outcome.voice}")
    else:
        out.print(f"[yellow]no evolved voice beat the stock one[/yellow] ({info.get('reason')}); "
                  f"{name} speaks {outcome.language} with {outcome.voice}")


@voices_app.command("set")
def set_voice(name: str, voice: str, lang: str = typer.Option(..., "--lang")) -> None:
    """Choose the voice a profile speaks with in one language."""
    from polydub.voice.registry import get_registry

    store = _store()
    _need(store, name)
    chosen = get_registry().get_voice(voice)
    store.set_voice(name, lang, chosen.id)
    out.print(f"{name} speaks {lang} with {chosen.id}")


@voices_app.command("preview")
def preview(name: str, text: str, lang: str = typer.Option(..., "--lang"),
            output: Path = typer.Option(Path("preview.wav"), "-o", "--output"),
            commercial_safe: bool = typer.Option(False, "--commercial-safe",
                                                 help="only voices licensed for commercial use")) -> None:
    """Speak a text with the voice a profile would get in a language."""
    from polydub.speakers.embedding import default_embedder
    from polydub.voice.licences import is_non_commercial, voice_licence
    from polydub.voice.matching import profile_voice
    from polydub.voice.registry import get_registry

    store = _store()
    profile = _need(store, name)
    registry = get_registry().restricted(commercial_safe)
    voice = profile_voice(store, profile, lang, registry, default_embedder())
    registry.synthesize(text, voice).write(output)
    out.print(f"[green]{name}[/green] ({voice.id}): {output}")
    if is_non_commercial(voice):
        licence = voice_licence(voice, registry.installed_engine(voice.engine))
        out.print(f"  [yellow]non-commercial voice:[/yellow] {licence}", highlight=False)
