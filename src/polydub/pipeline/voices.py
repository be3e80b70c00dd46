"""Voice per speaker: user choice, then a voice profile, then the best-matching installed voice."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from polydub.errors import PolydubError
from polydub.project import Project
from polydub.speakers.traits import speaker_embeddings

if TYPE_CHECKING:
    from polydub.pipeline.dubber import Dubber

log = logging.getLogger(__name__)
def _profile_store():
    try:
        from polydub.speakers.profiles import ProfileStore

        return ProfileStore()
    except Exception as exc:  # a broken profile database must not stop a dub
        log.warning("voice profiles unavailable: %s", exc)
        return None


def assign_voices(dubber: Dubber, project: Project, registry) -> dict[str, object]:
    opts = dubber.options
    tgt = opts.target_language
    speakers = sorted({s.speaker for s in project.segments})
    default = registry.default_voice(tgt, opts.tts_engine)
    chosen: dict[str, object] = {}
    store = _profile_store() if opts.voice_matching or opts.voices else None
    for spk in speakers:
        info = project.speakers.setdefault(spk, {})
        if spk in opts.voices:
            wanted = opts.voices[spk]
            profile = store.get(wanted) if store is not None else None
            if profile is not None and profile.voices.get(tgt):
                info["profile"] = profile.name
                voice = _profile_voice(registry, profile, tgt)
                if voice is None:
                    continue  # its voice is excluded by --commercial-safe: matched below instead
                chosen[spk] = voice
            else:
                chosen[spk] = registry.get_voice(wanted)
            info["voice_source"] = "user"
    if opts.voice_matching:
        from polydub.speakers.embedding import default_embedder

        embedder = default_embedder()
        embs = speaker_embeddings(dubber.work, dubber.audio16k, project, embedder)
        profiles = {}
        for spk in speakers:
            info = project.speakers[spk]
            if store is None or info.get("voice_source") == "user":
                continue
            profile, score = store.match(embs[spk])
            info["profile"] = profile.name if profile else None
            info["profile_score"] = round(float(score), 3)
            if profile is None:
                continue
            profiles[spk] = profile
            voice = _profile_voice(registry, profile, tgt)
            if voice is not None:
                chosen[spk] = voice
                info["voice_source"] = "profile"
        remaining = [s for s in speakers if s not in chosen]
        if remaining:
            from polydub.speakers.traits import speaker_audio
            from polydub.voice.matching import candidate_voices, choose_voices, likely_gender

            candidates = [v for v in candidate_voices(registry, tgt, opts.tts_engine or default.engine)
                          if v.id not in {c.id for c in chosen.values()}] or [default]
            genders = {s: likely_gender(speaker_audio(dubber.audio16k, project.segments, s), embs[s], registry,
                                        embedder) for s in remaining}
            picks = choose_voices({s: embs[s] for s in remaining}, candidates, registry, embedder, default, genders)
            for spk, pick in picks.items():
                chosen[spk] = pick.voice
                if spk in profiles and not profiles[spk].voices.get(tgt):
                    # Remember it: this person keeps this voice in later videos.
                    store.set_voice(profiles[spk].name, tgt, pick.voice.id)
                project.speakers[spk].update({
                    "voice_source": "matched", "match_similarity": round(pick.similarity, 3),
                    "gender_guess": genders.get(spk),
                    "default_voice_similarity": round(pick.default_similarity, 3),
                    "match_ranking": pick.ranking})
        project.engines["speaker_embedder"] = embedder.name
        if opts.clone_voices:
            from polydub.pipeline.cloning import clone_speakers

            clone_speakers(dubber, project, chosen, embs, store, registry)
    else:
        pool = sorted(registry.voices(language=tgt, engine=default.engine),
                      key=lambda v: (-v.quality, v.id != default.id, v.id))
        used = {v.id for v in chosen.values()}
        for spk in speakers:
            if spk not in chosen:
                free = [v for v in pool if v.id not in used] or [default]
                chosen[spk] = free[0]
                used.add(free[0].id)
                project.speakers[spk]["voice_source"] = "default"
    if opts.voice_matching and opts.adapt_voices:
        for spk in speakers:
            if project.speakers[spk].get("voice_source") == "matched":
                chosen[spk] = _adapted(dubber, project, spk, chosen[spk], embs[spk], registry, embedder)
    for spk in speakers:
        chosen[spk] = _after_voice_change(project.speakers[spk], chosen[spk], registry)
    for spk, voice in chosen.items():
        project.speakers[spk].update({"voice": voice.id, "voice_language": tgt, "engine": voice.engine})
        if voice.extra.get("evolved"):  # a profile's evolved voice, found now or in an earlier dub
            project.speakers[spk]["voice_source"] = "evolved"
    return chosen


def _profile_voice(registry, profile, language: str):
    """The voice a profile keeps for `language`; None when it has none or it is not allowed now."""
    from polydub.errors import LicenceError

    if not profile.voices.get(language):
        return None
    try:
        return registry.get_voice(profile.voices[language])
    except LicenceError:
        return None


def _after_voice_change(info: dict, voice, registry):
    """A speaker whose voice the quality stage replaced (for all their lines, because it failed most
    of them) keeps the replacement on later runs, as long as the same voice would be chosen again."""
    change = info.get("voice_change") or {}
    if info.get("voice_source") == "user" or change.get("from") != voice.id:
        return voice
    try:
        return registry.get_voice(change["to"])
    except PolydubError:  # uninstalled since, or excluded by --commercial-safe: choose afresh
        info.pop("voice_change", None)
        return voice


def _intelligibility(audio, text: str, language: str) -> float:
    """The quality stage's own check (padded, greedy Whisper), so both judge a line the same way."""
    from polydub.quality.checks import Thresholds, Tools
    from polydub.quality.metrics import cer

    return cer(text, Tools(Thresholds()).transcribe(audio, language) or "")


def _adapted(dubber: Dubber, project: Project, spk: str, voice, embedding, registry, embedder):
    """Adapt the matched voice towards the speaker when that measurably helps (cached per voice)."""
    from polydub.speakers.traits import speaker_audio
    from polydub.voice.adapt import Adaptation, adapted_voice
    from polydub.voice.adaptation import choose_adaptation

    info = project.speakers[spk]
    key = f"{voice.id}|{project.stage_keys.get('speaker_embeddings', '')}"
    if info.get("adaptation_key") != key:
        lines = sorted((s.translation or "" for s in project.segments if s.speaker == spk), key=len)
        probe_text = next((t for t in reversed(lines) if len(t) <= 200), lines[-1] if lines else "")[:200]
        if not probe_text.strip():
            return voice
        probe = registry.synthesize(probe_text, voice)
        choice = choose_adaptation(speaker_audio(dubber.audio16k, project.segments, spk), embedding, probe,
                                   probe_text, voice.language, embedder, intelligibility=_intelligibility)
        info.update({"adaptation": choice.adaptation.as_dict() if not choice.adaptation.is_identity else None,
                     "adaptation_reason": choice.reason,
                     "probe_similarity_plain": round(choice.similarity_before, 3),
                     "probe_similarity_adapted": round(choice.similarity_after, 3),
                     "adaptation_key": key})
    return adapted_voice(voice, Adaptation.from_dict(info.get("adaptation")))
