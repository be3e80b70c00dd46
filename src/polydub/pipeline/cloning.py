"""Cloned voices for profiles and for the speakers of a dub: speech in, an evolved voice kept in the
speaker's profile out (reused by every later dub, live session and avatar without a new search)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from polydub.audio import Audio
from polydub.errors import PolydubError
from polydub.speakers.profiles import EVOLVED_ENGINE, ProfileStore
from polydub.voice.evolve import CloneError, CloneResult, CloneSettings

log = logging.getLogger(__name__)
EMBED_RATE = 16000


@dataclass
class CloneOutcome:
    """What a clone request left in the profile: the voice to use and the search's report."""

    profile: str
    language: str
    voice: str  # the voice id the profile now speaks `language` with
    voice_source: str  # "evolved", or "matched" when no evolved voice beat the stock one
    info: dict = field(default_factory=dict)
    reused: bool = False  # an evolved voice was already there: no search ran

    def as_dict(self) -> dict:
        return {"profile": self.profile, "language": self.language, "voice": self.voice,
                "voice_source": self.voice_source, "reused": self.reused, **self.info}


def speech_of(paths: list[Path]) -> Audio:
    """The speech in some recordings (Silero VAD), concatenated at 16 kHz."""
    from faster_whisper.vad import get_speech_timestamps

    from polydub.media.decode import decode_for_asr
    from polydub.media.probe import probe

    parts = []
    for path in paths:
        probe(path)
        audio = decode_for_asr(path)
        parts += [audio.samples[s["start"]:s["end"]] for s in get_speech_timestamps(audio.samples)]
    return Audio(np.concatenate(parts) if parts else np.zeros(0, np.float32), EMBED_RATE)


def intelligibility(audio: Audio, text: str, language: str) -> float:
    """Whisper round-trip CER, judged exactly like the quality stage judges a dubbed line."""
    from polydub.pipeline.voices import _intelligibility

    return _intelligibility(audio, text, language)


def evolve(speech: Audio, language: str, settings: CloneSettings, stock=None, gender: str | None = None,
           progress: Callable[[float, str], None] | None = None, cancel: Callable[[], None] | None = None,
           registry=None) -> CloneResult:
    """Run the voice search for one speaker (the stock voice to beat defaults to the matched one)."""
    from polydub.speakers.embedding import default_embedder
    from polydub.voice.evolve_kokoro import KokoroEvolver
    from polydub.voice.matching import candidate_voices, choose_voices, likely_gender
    from polydub.voice.registry import get_registry

    registry = registry or get_registry()
    embedder = default_embedder()
    cloner = KokoroEvolver(registry, embedder, intelligibility=intelligibility)
    if not cloner.is_available():
        raise CloneError("voice cloning needs the kokoro engine", registry.engine("kokoro").install_hint())
    if language not in cloner.languages():
        raise CloneError(f"a cloned voice cannot speak {language!r}",
                         f"cloning works for {', '.join(cloner.languages())}")
    speech = speech.mono().resample(EMBED_RATE)
    if stock is None or gender is None:
        from polydub.voice.evolve import check_speech

        check_speech(speech)  # fail before any synthesis
        embedding = embedder.embed(speech)
        gender = gender or likely_gender(speech, embedding, registry, embedder)
        if stock is None:
            candidates = candidate_voices(registry, language, engine="kokoro")
            default = registry.default_voice(language, "kokoro")
            stock = choose_voices({"x": embedding}, candidates, registry, embedder, default, {"x": gender})["x"].voice
    return cloner.clone(speech, language, gender, settings, progress=progress, cancel=cancel, stock=stock)


def clone_profile(name: str, language: str, samples: list[Path] | None = None, settings: CloneSettings | None = None,
                  progress: Callable[[float, str], None] | None = None, cancel: Callable[[], None] | None = None,
                  store: ProfileStore | None = None) -> CloneOutcome:
    """Evolve a voice for profile `name` in `language` from new samples (which are enrolled, creating
    the profile if needed) or from the samples the profile already holds."""
    from polydub.speakers.embedding import default_embedder

    store = store or ProfileStore()
    samples = [Path(p) for p in samples or []]
    for path in samples:
        if not path.is_file():
            raise PolydubError(f"voice sample not found: {path}", "give the path of a recording of the person")
    if samples:
        speech = speech_of(samples)
        if speech.duration < 0.5:
            raise CloneError("no speech found in the samples", "give a recording of the person speaking")
        embedder = default_embedder()
        try:
            store.add(name, [embedder.embed(speech)], samples=samples, embedder=embedder.name)
        except ValueError as exc:
            raise PolydubError(str(exc), "choose another profile name") from None
    profile = store.get(name)
    if profile is None:
        names = ", ".join(p.name for p in store.list()) or "none yet"
        raise PolydubError(f"no voice profile named '{name}'", f"give samples to create it; profiles: {names}")
    if not samples:
        speech = speech_of([p for p in profile.samples if p.is_file()]) if profile.samples else None
        if speech is None or speech.duration < 0.5:
            raise CloneError(f"profile '{name}' holds no speech samples", "add recordings: `polydub voices add`")
    try:
        result = evolve(speech, language, settings or CloneSettings(), progress=progress, cancel=cancel)
    except CloneError as exc:
        fallback = matched_voice(store, name, language)
        raise CloneError(exc.message, f"{exc.hint}; meanwhile {name} speaks {language} with the matched stock "
                                      f"voice {fallback}" if fallback else exc.hint) from None
    return _keep(store, name, result)


def matched_voice(store: ProfileStore, name: str, language: str) -> str | None:
    """The profile's voice for `language`; the matched stock voice (remembered) when it has none."""
    from polydub.speakers.embedding import default_embedder
    from polydub.voice.matching import candidate_voices, choose_voices
    from polydub.voice.registry import get_registry

    profile = store.get(name)
    if profile is None:
        return None
    if profile.voices.get(language):
        return profile.voices[language]
    registry = get_registry()
    try:
        default = registry.default_voice(language)
        pick = choose_voices({name: profile.embedding}, candidate_voices(registry, language), registry,
                             default_embedder(), default)[name].voice
    except PolydubError:
        return None
    store.set_voice(name, language, pick.id)
    return pick.id


def _keep(store: ProfileStore, name: str, result: CloneResult) -> CloneOutcome:
    """Store an accepted voice in the profile; otherwise the profile keeps (or gets) the stock one."""
    info = result.info()
    if result.accepted and result.style is not None:
        store.set_evolved(name, result.language, "kokoro", result.style, info)
        voice = f"{EVOLVED_ENGINE}:{name}@{result.language}"
        return CloneOutcome(name, result.language, voice, "evolved", info)
    profile = store.get(name)
    current = profile.voices.get(result.language) if profile else None
    if not current:
        store.set_voice(name, result.language, result.stock_voice)
        current = result.stock_voice
    source = "evolved" if current.startswith(f"{EVOLVED_ENGINE}:") else "matched"  # an earlier clone stays
    return CloneOutcome(name, result.language, current, source, info)


# ---------------------------------------------------------------------- speakers of a dub
def _speaker_speech(dubber, project, speaker: str) -> Audio:
    """The speaker's lines from the separated voice track when there is one (music and noise
    would colour the voice the search aims at), else from the original audio."""
    from polydub.pipeline.background import VOICE_FILE
    from polydub.speakers.traits import speaker_audio

    source = dubber.audio16k
    if dubber.separation is not None:
        try:
            dubber.separation.result()
        except Exception as exc:  # noqa: BLE001 - the mix stage reports it; cloning uses the original
            log.warning("separation failed, cloning from the original audio: %s", exc)
    voice_track = dubber.work / VOICE_FILE
    if voice_track.exists():
        source = Audio.read(voice_track)
    from polydub.voice.evolve import MAX_TARGET_SECONDS

    return speaker_audio(source, project.segments, speaker, max_seconds=MAX_TARGET_SECONDS)


def _profile_for(store: ProfileStore, project, speaker: str, embedding, speech: Audio, work: Path) -> str:
    """The speaker's profile, created when they have none: the evolved voice is kept there so that
    the same person is recognised and speaks with it in later videos, without a new search."""
    from polydub.speakers.embedding import default_embedder

    name = project.speakers[speaker].get("profile")
    if name and store.get(name) is not None:
        return name
    stem = "".join(c if c.isalnum() or c in "-_. " else "_" for c in Path(project.input).stem)[:60] or "speaker"
    base = f"{stem} {speaker}"
    name, n = base, 2
    while store.get(name) is not None:
        name, n = f"{base} ({n})", n + 1
    sample = speech.write(work / "clone-samples" / f"{speaker}.wav")
    store.add(name, [embedding], samples=[sample], embedder=default_embedder().name)
    project.speakers[speaker].update({"profile": name, "profile_created": True})
    return name


def clone_speakers(dubber, project, chosen: dict, embeddings: dict, store: ProfileStore | None, registry) -> None:
    """Give each speaker with enough speech an evolved voice (or their profile's, reused)."""
    from polydub.voice.evolve import MIN_SPEECH_SECONDS

    opts = dubber.options
    language = opts.target_language
    if store is None:
        project.warnings.append("voice cloning skipped: the voice profiles database cannot be opened")
        return
    speakers = [s for s in sorted(chosen) if project.speakers[s].get("voice_source") != "user"]
    for n, spk in enumerate(speakers):
        info = project.speakers[spk]
        if chosen[spk].id.startswith(f"{EVOLVED_ENGINE}:"):  # the profile already has one
            info.update({"voice_source": "evolved", "clone": {"reused": True, **_stored_info(store, chosen[spk].id)}})
            continue
        previous = info.get("clone") or {}
        if previous.get("language") == language and previous.get("voice_source") == "matched":
            continue  # searched before in this project and nothing beat the stock voice
        dubber.check_cancel()
        speech = _speaker_speech(dubber, project, spk)
        if speech.duration < MIN_SPEECH_SECONDS:
            message = (f"{spk}: only {speech.duration:.1f} s of speech, cloning needs at least "
                       f"{MIN_SPEECH_SECONDS:.0f} s; kept the matched voice {chosen[spk].id}")
            info["clone"] = {"skipped": message}
            project.warnings.append(message)
            continue

        def progress(fraction: float, message: str, spk=spk, n=n) -> None:
            dubber.progress("synthesize", 0.5 * (n + fraction) / len(speakers), f"cloning {spk}: {message}")

        try:
            result = evolve(speech, language, CloneSettings(budget_s=opts.clone_budget_s), stock=chosen[spk],
                            gender=info.get("gender_guess"), progress=progress, cancel=dubber.check_cancel,
                            registry=registry)
        except CloneError as exc:
            info["clone"] = {"skipped": str(exc)}
            project.warnings.append(f"{spk}: {exc}")
            continue
        name = _profile_for(store, project, spk, embeddings[spk], speech, dubber.work)
        outcome = _keep(store, name, result)
        info["clone"] = outcome.as_dict()
        if outcome.voice_source == "evolved":
            chosen[spk] = registry.get_voice(outcome.voice)
            info.update({"voice_source": "evolved", "similarity_stock": outcome.info.get("similarity_stock"),
                         "similarity_evolved": outcome.info.get("similarity_evolved")})


def _stored_info(store: ProfileStore, voice_id: str) -> dict:
    profile, _, language = voice_id.partition(":")[2].rpartition("@")
    found = store.evolved(profile, language)
    return dict(found[0].info) if found else {}


def job_speaker_sample(project_dir: Path, speaker: str, folder: Path) -> Path:
    """One speaker's speech from a finished dub's folder, as a wav to enrol (separated voice
    track when the dub kept one, else the original audio)."""
    from polydub.pipeline.background import VOICE_FILE
    from polydub.pipeline.dubber import WORK_DIR
    from polydub.project import Project
    from polydub.speakers.traits import speaker_audio
    from polydub.voice.evolve import MAX_TARGET_SECONDS

    project = Project.load_or_none(project_dir)
    if project is None or not any(s.speaker == speaker for s in project.segments):
        raise PolydubError(f"no speaker {speaker!r} in {project_dir}", "choose a speaker of a finished dub")
    work = project_dir / WORK_DIR
    track = work / VOICE_FILE if (work / VOICE_FILE).exists() else work / "asr16k.wav"
    speech = speaker_audio(Audio.read(track), project.segments, speaker, max_seconds=MAX_TARGET_SECONDS)
    return speech.write(folder / f"{speaker}.wav")
