"""Each speaker's own speech and what is measured on it (embedding, pitch): what voice matching,
cloning and the quality checks compare voices against."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from polydub.audio import Audio
from polydub.project import Project, Segment
from polydub.speakers.embedding import SpeakerEmbedder

MAX_SPEAKER_SECONDS = 30.0


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


EMBEDDINGS_FILE = "speaker_embeddings.npz"


def speaker_embeddings(work: Path, audio16k: Audio, project: Project,
                       embedder: SpeakerEmbedder) -> dict[str, np.ndarray]:
    """Embedding of each speaker's original speech (<= 30 s), cached in the work folder: voice
    matching and the quality checks judge a voice against the same vector."""
    path = Path(work) / EMBEDDINGS_FILE
    speakers = sorted({s.speaker for s in project.segments})
    key = project.stage_keys.get("speakers", "") + embedder.name
    if path.exists() and project.stage_keys.get("speaker_embeddings") == key:
        cached = dict(np.load(path))
        if set(cached) == set(speakers):
            return cached
    embs = {spk: embedder.embed(speaker_audio(audio16k, project.segments, spk)) for spk in speakers}
    np.savez(path, **embs)
    project.stage_keys["speaker_embeddings"] = key
    return embs


def median_pitch(audio: Audio) -> float | None:
    """Median F0 (Hz) of voiced frames, or None when too little is voiced to tell."""
    import parselmouth

    if audio.duration < 0.5:
        return None
    sound = parselmouth.Sound(audio.mono().samples.astype(np.float64), sampling_frequency=audio.rate)
    f0 = sound.to_pitch(time_step=0.01, pitch_floor=65.0, pitch_ceiling=450.0).selected_array["frequency"]
    voiced = f0[f0 > 0]
    return float(np.median(voiced)) if len(voiced) >= 20 else None
