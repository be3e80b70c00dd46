"""Choose, per speaker, a voice adaptation that raises speaker similarity without hurting intelligibility."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from polydub.audio import Audio
from polydub.speakers.embedding import SpeakerEmbedder, cosine
from polydub.speakers.traits import median_pitch
from polydub.voice.adapt import Adaptation, adapt

MIN_GAIN = 0.02  # below this the change is noise in the embedder, not a better likeness
MAX_CER_INCREASE = 0.05


@dataclass
class AdaptationChoice:
    adaptation: Adaptation
    similarity_before: float
    similarity_after: float
    reason: str


def _candidates(voice_pitch: float | None, speaker_pitch: float | None) -> list[Adaptation]:
    formants = (0.9, 0.95, 1.0, 1.05, 1.1)
    pitches = [0.0]
    if voice_pitch and speaker_pitch:
        # Move part or all of the way to the speaker's pitch; never more than ±30 %.
        target = float(np.clip(speaker_pitch, voice_pitch * 0.7, voice_pitch * 1.3))
        pitches += [round((voice_pitch + target) / 2, 1), round(target, 1)]
    return [Adaptation(f, p) for f in formants for p in pitches if not (f == 1.0 and p == 0.0)]


def choose_adaptation(speaker_audio: Audio, speaker_embedding: np.ndarray, probe: Audio, probe_text: str,
                      language: str, embedder: SpeakerEmbedder, intelligibility=None) -> AdaptationChoice:
    """Try a small grid on one probe line; keep the best only if it helps and stays intelligible.

    intelligibility(audio, text, language) -> CER; None skips that check (e.g. in unit tests)."""
    before = cosine(speaker_embedding, embedder.embed(probe))
    scored = []
    for candidate in _candidates(median_pitch(probe), median_pitch(speaker_audio)):
        changed = adapt(probe, candidate)
        scored.append((cosine(speaker_embedding, embedder.embed(changed)), candidate, changed))
    best_sim, best, best_audio = max(scored, key=lambda item: item[0])
    if best_sim - before < MIN_GAIN:
        return AdaptationChoice(Adaptation(), before, before, f"no gain (best {best_sim - before:+.3f})")
    if intelligibility is not None:
        cer_plain = intelligibility(probe, probe_text, language)
        cer_adapted = intelligibility(best_audio, probe_text, language)
        if cer_adapted > cer_plain + MAX_CER_INCREASE:
            return AdaptationChoice(Adaptation(), before, before,
                                    f"dropped: CER {cer_plain:.2f} -> {cer_adapted:.2f}")
    return AdaptationChoice(best, before, best_sim, "similarity gain")
