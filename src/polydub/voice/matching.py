"""Voice matching: give each speaker the installed target-language voice that sounds most like them."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from polydub.audio import Audio
from polydub.paths import data_dir
from polydub.speakers.embedding import SpeakerEmbedder, cosine, normalize
from polydub.speakers.traits import median_pitch
from polydub.voice.base import Voice

# A few seconds of ordinary speech per language, spoken by every candidate voice once and cached.
PROBE_TEXT = {
    "en": "Thank you all for coming today. I would like to tell you a short story about my home town.",
    "es": "Gracias a todos por venir hoy. Me gustaría contarles una breve historia sobre mi ciudad natal.",
    "fr": "Merci à tous d'être venus aujourd'hui. J'aimerais vous raconter une courte histoire sur ma ville.",
    "pt": "Obrigado a todos por virem hoje. Eu gostaria de contar uma pequena história sobre a minha cidade.",
    "it": "Grazie a tutti per essere venuti oggi. Vorrei raccontarvi una breve storia sulla mia città natale.",
    "de": "Vielen Dank, dass Sie heute gekommen sind. Ich möchte Ihnen eine kurze Geschichte erzählen.",
    "ru": "Спасибо всем, что пришли сегодня. Я хочу рассказать вам короткую историю о моём родном городе.",
    "hi": "आज आने के लिए आप सभी का धन्यवाद। मैं आपको अपने शहर के बारे में एक छोटी कहानी सुनाना चाहता हूँ।",
    "ja": "今日は来てくれてありがとうございます。私の故郷について短い話をしたいと思います。",
    "zh": "谢谢大家今天来到这里。我想给你们讲一个关于我家乡的小故事。",
}
@dataclass
class VoiceChoice:
    speaker: str
    voice: Voice
    similarity: float
    default_similarity: float  # similarity of the language's default voice, for comparison
    ranking: list[tuple[str, float]]


_GENDER_MODELS: dict[tuple[str, bool], object] = {}


def _gender_model(registry, embedder: SpeakerEmbedder):
    """Logistic regression on the installed voices' embeddings, whose gender is known: the same
    embedding space as the speakers, so no extra model is needed."""
    key = (embedder.name, bool(getattr(registry, "commercial_safe", False)))
    if key not in _GENDER_MODELS:
        from sklearn.linear_model import LogisticRegression

        voices = [v for v in registry.voices() if v.quality >= 2 and v.gender in ("female", "male")]
        labels = [v.gender == "female" for v in voices]
        if len(set(labels)) < 2:
            _GENDER_MODELS[key] = None
        else:
            features = np.stack([voice_embedding(v, registry, embedder) for v in voices])
            _GENDER_MODELS[key] = LogisticRegression(C=1.0).fit(features, labels)
    return _GENDER_MODELS[key]


def likely_gender(audio: Audio, embedding: np.ndarray, registry, embedder: SpeakerEmbedder) -> str | None:
    """A coarse guess, used only to keep a woman from getting a man's voice and vice versa. Pitch alone
    misleads (an excited man speaks at 230 Hz), so it only settles clearly low voices; otherwise the
    embedding classifier decides when it is confident, and abstains when it is not."""
    pitch = median_pitch(audio)
    if pitch is not None and pitch < 135.0:
        return "male"
    model = _gender_model(registry, embedder)
    if model is None:
        return None
    p_female = float(model.predict_proba(embedding.reshape(1, -1))[0, 1])
    if p_female >= 0.6:
        return "female"
    if p_female <= 0.4:
        return "male"
    return None


def candidate_voices(registry, language: str, engine: str | None = None,
                     cross_lingual: bool = True) -> list[Voice]:
    """Voices worth matching: where natural-sounding engines exist, the robotic fallbacks are left out."""
    voices = registry.voices(language=language, engine=engine)
    good = [v for v in voices if v.quality >= 2]
    if cross_lingual:
        native = {v.name for v in good}
        for name in {v.engine for v in good}:
            eng = registry.engine(name)
            if not hasattr(eng, "cross_lingual"):
                continue
            for voice in registry.voices(engine=name):
                variant = eng.cross_lingual(voice, language) if voice.name not in native else None
                if variant is not None and variant.quality >= 2:  # < 2: accent hurts intelligibility
                    good.append(variant)
    return good or voices


def _cache_path(embedder: SpeakerEmbedder, voice: Voice):
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{voice.id}-{voice.language}")
    return data_dir() / "voice-embeddings" / embedder.name / f"{safe}.npy"


def voice_embedding(voice: Voice, registry, embedder: SpeakerEmbedder) -> np.ndarray:
    """Embedding of a voice speaking a probe sentence, cached on disk.

    A cross-lingual variant ("am_adam@es") shares the timbre of its base voice, so it reuses the
    base voice's embedding: each voice is synthesized once, not once per target language."""
    if "@" in voice.name:
        voice = registry.get_voice(voice.id.rpartition("@")[0])
    path = _cache_path(embedder, voice)
    if path.exists():
        return np.load(path)
    text = PROBE_TEXT.get(voice.language, PROBE_TEXT["en"])
    emb = normalize(embedder.embed(registry.synthesize(text, voice)))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, emb)
    except OSError:
        pass  # a read-only data dir only costs a re-synthesis next time
    return emb


def prepare_voice_embeddings(registry, embedder: SpeakerEmbedder) -> int:
    """Embed every installed natural voice once (set-up time), so matching costs nothing at dub time."""
    count = 0
    for voice in registry.voices():
        if voice.quality >= 2:
            voice_embedding(voice, registry, embedder)
            count += 1
    return count


def choose_voices(speaker_embeddings: dict[str, np.ndarray], candidates: list[Voice], registry,
                  embedder: SpeakerEmbedder, default: Voice,
                  genders: dict[str, str | None] | None = None) -> dict[str, VoiceChoice]:
    """Best total similarity with distinct voices per speaker while there are enough voices.

    A voice of the other gender than the speaker's (when both are known) is never chosen if a voice of
    the right gender exists."""
    speakers = sorted(speaker_embeddings)
    voice_embs = {v.id: voice_embedding(v, registry, embedder) for v in candidates}
    default_emb = voice_embs.get(default.id)
    if default_emb is None:
        default_emb = voice_embedding(default, registry, embedder)
    sims = np.array([[cosine(speaker_embeddings[s], voice_embs[v.id]) for v in candidates] for s in speakers])
    for i, spk in enumerate(speakers):
        gender = (genders or {}).get(spk)
        mismatch = np.array([bool(gender and v.gender and v.gender != gender) for v in candidates])
        if gender and not mismatch.all():
            sims[i, mismatch] -= 2.0  # out of reach of any right-gender voice, still a valid fallback
    assignment: dict[str, int] = {}
    if len(candidates) >= len(speakers):
        rows, cols = linear_sum_assignment(-sims)
        assignment = {speakers[r]: int(c) for r, c in zip(rows, cols, strict=True)}
    else:
        assignment = {s: int(np.argmax(sims[i])) for i, s in enumerate(speakers)}
    choices = {}
    for i, spk in enumerate(speakers):
        order = np.argsort(-sims[i])
        similarity = float(cosine(speaker_embeddings[spk], voice_embs[candidates[assignment[spk]].id]))
        choices[spk] = VoiceChoice(
            speaker=spk, voice=candidates[assignment[spk]], similarity=similarity,
            default_similarity=float(cosine(speaker_embeddings[spk], default_emb)),
            ranking=[(candidates[j].id, round(float(sims[i, j]), 3)) for j in order[:5] if sims[i, j] > -1])
    return choices


def profile_voice(store, profile, language: str, registry, embedder: SpeakerEmbedder):
    """The voice a profile speaks `language` with: the one saved for it, else the installed voice most
    like the person (then saved, so that it stays the same everywhere)."""
    if profile.voices.get(language):
        return registry.get_voice(profile.voices[language])
    default = registry.default_voice(language)
    candidates = candidate_voices(registry, language, default.engine)
    voice = choose_voices({profile.name: profile.embedding}, candidates, registry, embedder,
                          default)[profile.name].voice
    store.set_voice(profile.name, language, voice.id)
    return voice
