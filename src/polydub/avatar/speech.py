"""What an avatar says and with which voice: text -> speech audio + phoneme timing.

The voice is, in order: a voice sample (the offline "cloned voice": the installed voice most like
the person, adapted towards them as the dubbing pipeline does, and kept in a voice profile when a
profile name is given), a named voice (`engine:voice`) or voice profile (its saved voice, e.g. an
evolved `kokoro-evolved:<profile>@<lang>`), or the best installed voice of the language.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from polydub.audio import Audio
from polydub.errors import InputMediaError, PolydubError
from polydub.face.driver import MouthDriver, Phone

LEAD_S, TAIL_S = 0.3, 0.45  # silence before and after the speech: the face is seen at rest first


@dataclass
class VoiceChoice:
    voice: object  # polydub.voice.base.Voice
    source: str  # "default" | "voice" | "profile" | "sample"
    licence: str
    non_commercial: bool
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"id": self.voice.id, "source": self.source, "licence": self.licence,
                "non_commercial": self.non_commercial, "notes": list(self.notes)}


@dataclass
class Speech:
    audio: Audio
    phones: list[Phone] | None  # on the audio's timeline (after the lead-in)
    text: str


def read_text(text: str) -> str:
    """`@file.txt` reads the text from a file (UTF-8)."""
    if text.startswith("@"):
        path = Path(text[1:])
        if not path.is_file():
            raise InputMediaError(f"text file not found: {path}", "give @path/to/text.txt or the text itself")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise InputMediaError(f"{path.name} is not UTF-8 text", "save the text as UTF-8") from None
    if not text.strip():
        raise InputMediaError("the text is empty", "give the words the avatar should say")
    return text.strip()


def guess_language(text: str) -> str | None:
    """Only the unambiguous case: Cyrillic text is Russian."""
    letters = re.findall(r"[^\W\d_]", text)
    if letters and sum("\u0400" <= ch <= "\u04ff" for ch in letters) / len(letters) > 0.6:
        return "ru"
    return None


def _licence(voice, registry) -> tuple[str, bool]:
    from polydub.voice.licences import is_non_commercial, voice_licence

    return voice_licence(voice, registry.installed_engine(voice.engine)), is_non_commercial(voice)


def _intelligibility(audio: Audio, text: str, language: str) -> float:
    """The dub's own check (Whisper CER), so an adaptation that garbles speech is dropped."""
    from polydub.quality.checks import Thresholds, Tools
    from polydub.quality.metrics import cer

    return cer(text, Tools(Thresholds()).transcribe(audio, language) or "")


def voice_from_sample(sample: str | Path, language: str, probe_text: str, registry, profile: str | None = None,
                      check_intelligibility: bool = True) -> VoiceChoice:
    """The installed voice closest to the person in `sample`, adapted towards them when that
    measurably helps; with `profile`, the person is enrolled (or enrolled further) into that voice
    profile and the choice is saved there."""
    from polydub.media.decode import decode_for_asr
    from polydub.media.probe import probe
    from polydub.speakers.embedding import default_embedder
    from polydub.speakers.enrol import speech_only
    from polydub.voice.adapt import Adaptation, adapted_voice
    from polydub.voice.adaptation import choose_adaptation
    from polydub.voice.matching import candidate_voices, choose_voices, likely_gender, profile_voice

    sample = Path(sample)
    probe(sample)
    audio = decode_for_asr(sample)
    speech = speech_only(audio, sample.name)
    embedder = default_embedder()
    embedding = embedder.embed(speech)
    notes = [f"voice sample {sample.name}: {speech.duration:.1f} s of speech"]
    store = None
    if profile:
        from polydub.speakers.profiles import ProfileStore

        store = ProfileStore()
        saved = store.add(profile, embedding[None], samples=[sample], embedder=embedder.name)
        voice = profile_voice(store, saved, language, registry, embedder)
        notes.append(f"enrolled into voice profile {profile!r}")
        if voice.extra.get("evolved") or saved.adaptation:
            adaptation = Adaptation.from_dict(saved.adaptation) if not voice.extra.get("evolved") else Adaptation()
            voice = adapted_voice(voice, adaptation)
            lic, nc = _licence(voice, registry)
            return VoiceChoice(voice, "sample", lic, nc, notes)
    else:
        default = registry.default_voice(language)
        candidates = candidate_voices(registry, language, default.engine) or [default]
        gender = likely_gender(speech, embedding, registry, embedder)
        voice = choose_voices({"sample": embedding}, candidates, registry, embedder, default,
                              genders={"sample": gender})["sample"].voice
    probe_text = probe_text[:200]
    choice = choose_adaptation(speech, embedding, registry.synthesize(probe_text, voice), probe_text, language,
                               embedder, intelligibility=_intelligibility if check_intelligibility else None)
    notes.append(f"closest installed voice {voice.id}; adaptation: {choice.reason} "
                 f"(similarity {choice.similarity_before:.3f} -> {choice.similarity_after:.3f})")
    if store is not None and profile:
        store.set_adaptation(profile, choice.adaptation.as_dict() if not choice.adaptation.is_identity else {})
    voice = adapted_voice(voice, choice.adaptation)
    lic, nc = _licence(voice, registry)
    return VoiceChoice(voice, "sample", lic, nc, notes)


def choose_voice(language: str, registry, voice: str | None = None, voice_sample: str | Path | None = None,
                 profile: str | None = None, probe_text: str = "") -> VoiceChoice:
    """See module doc. `voice` is a voice id or a profile name."""
    if voice_sample:
        return voice_from_sample(voice_sample, language, probe_text or "Hello.", registry, profile)
    if voice:
        try:
            found = registry.get_voice(voice)
            source = "voice"
        except PolydubError as not_a_voice:
            from polydub.speakers.profiles import ProfileStore

            store = ProfileStore()
            saved = store.get(voice)
            if saved is None:
                raise not_a_voice from None
            from polydub.speakers.embedding import default_embedder
            from polydub.voice.adapt import Adaptation, adapted_voice
            from polydub.voice.matching import profile_voice

            found = profile_voice(store, saved, language, registry, default_embedder())
            if saved.adaptation and not found.extra.get("evolved"):
                found = adapted_voice(found, Adaptation.from_dict(saved.adaptation))
            source = "profile"
        if found.language != language and "@" not in found.id:
            raise PolydubError(f"voice {found.id} speaks {found.language}, the text is {language}",
                               "choose a voice of the text's language (`polydub voices installed --lang "
                               f"{language}`)")
        lic, nc = _licence(found, registry)
        return VoiceChoice(found, source, lic, nc)
    found = registry.default_voice(language)
    lic, nc = _licence(found, registry)
    return VoiceChoice(found, "default", lic, nc, registry.fallback_notes(language))


def synthesize(text: str, choice: VoiceChoice, registry, driver: MouthDriver | None = None) -> Speech:
    """Speech for `text` with a short silence around it, and phoneme timing when the engine gives it."""
    from polydub.voice.text import clean_text

    spoken = clean_text(text)
    if not spoken:
        raise InputMediaError("the text has nothing to say (only symbols or markup)", "give words to say")
    audio = registry.synthesize(spoken, choice.voice).mono()
    symbols = None
    timing = getattr(registry.engine_for(choice.voice), "phoneme_timing", None)
    if timing is not None:
        try:
            symbols = timing(spoken, choice.voice)
        except Exception:  # noqa: BLE001 - timing is a refinement; loudness alone still drives the mouth
            symbols = None
    phones = (driver or MouthDriver()).phones_from_kokoro(symbols, audio) if symbols else None
    lead = np.zeros(int(LEAD_S * audio.rate), np.float32)
    tail = np.zeros(int(TAIL_S * audio.rate), np.float32)
    padded = Audio(np.concatenate([lead, audio.samples.astype(np.float32), tail]), audio.rate)
    if phones:
        phones = [Phone(p.symbol, p.start + LEAD_S, p.end + LEAD_S) for p in phones]
    return Speech(audio=padded, phones=phones, text=spoken)
