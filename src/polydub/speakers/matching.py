"""Voice matching: give each speaker the installed target-language voice that sounds most like them."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from polydub.audio import Audio
from polydub.paths import data_dir
from polydub.project import Segment
from polydub.speakers.embedding import SpeakerEmbedder, cosine, normalize
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
MAX_SPEAKER_SECONDS = 30.0


@dataclass
class VoiceChoice:
    speaker: str
    voice: Voice
    similarity: float
    default_similarity: float  # similarity of the language's default voice, for comparison
    ranking: list[tuple[str, float]]


def speaker_audio(audio16k: Audio, segments: list[Segment], speaker: str,
                  max_seconds: float = MAX_SPEAKER_SECONDS) -> Audio:
    """Up to max_seconds of one speaker's original speech, concatenated."""
    parts, total = [], 0.0
    for seg in segments:
        if seg.speaker != speaker:
            continue
        clip = audio16k.slice(seg.start, seg.end).mono()
        parts.append(clip.samples)
        total += clip.duration
        if total >= max_seconds:
            break
    samples = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
    return Audio(samples[: int(max_seconds * audio16k.rate)], audio16k.rate)


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
                if variant is not None:
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
                  embedder: SpeakerEmbedder, default: Voice) -> dict[str, VoiceChoice]:
    """Best total similarity with distinct voices per speaker while there are enough voices."""
    speakers = sorted(speaker_embeddings)
    voice_embs = {v.id: voice_embedding(v, registry, embedder) for v in candidates}
    default_emb = voice_embs.get(default.id)
    if default_emb is None:
        default_emb = voice_embedding(default, registry, embedder)
    sims = np.array([[cosine(speaker_embeddings[s], voice_embs[v.id]) for v in candidates] for s in speakers])
    assignment: dict[str, int] = {}
    if len(candidates) >= len(speakers):
        rows, cols = linear_sum_assignment(-sims)
        assignment = {speakers[r]: int(c) for r, c in zip(rows, cols, strict=True)}
    else:
        assignment = {s: int(np.argmax(sims[i])) for i, s in enumerate(speakers)}
    choices = {}
    for i, spk in enumerate(speakers):
        order = np.argsort(-sims[i])
        choices[spk] = VoiceChoice(
            speaker=spk, voice=candidates[assignment[spk]], similarity=float(sims[i, assignment[spk]]),
            default_similarity=float(cosine(speaker_embeddings[spk], default_emb)),
            ranking=[(candidates[j].id, round(float(sims[i, j]), 3)) for j in order[:5]])
    return choices
