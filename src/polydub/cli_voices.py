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
    for col in ("id", "language", "gender", "quality", "licence"):
        table.add_column(col)
    for v in sorted(registry.voices(language=lang, include_explicit=True),
                    key=lambda v: (v.language, -v.quality, v.id)):
        licence = voice_licence(v, registry.installed_engine(v.engine))
        if is_non_commercial(v):
            licence = f"NON-COMMERCIAL: {licence}"
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
    for lang, vid in sorted(p.voices.items()):
        out.print(f"  voice[{lang}]: {vid}")
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
    _store().add(name, embs, samples=samples, embedder=embedder)
    out.print(f"[green]profile {name}[/green]: {len(samples)} sample(s), {seconds:.1f} s of speech")


@voices_app.command("rename")
def rename(old: str, new: str) -> None:
    """Rename a profile."""
    store = _store()
    _need(store, old)
    store.rename(old, new)
    out.print(f"renamed {old} → {new}")


@voices_app.command("rm")
def remove(name: str) -> None:
    """Delete a profile and its samples."""
    store = _store()
    _need(store, name)
    store.remove(name)
    out.print(f"removed {name}")


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
    from polydub.speakers.enrol import profile_voice
    from polydub.voice.licences import is_non_commercial, voice_licence
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
