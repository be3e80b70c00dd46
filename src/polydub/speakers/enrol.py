"""Enrolling a person into a voice profile from recordings (the voice they speak with is chosen in
`voice.matching.profile_voice`)."""

from __future__ import annotations

import numpy as np

from polydub.audio import Audio
from polydub.errors import NothingToDubError
from polydub.speakers.embedding import SpeakerEmbedder

MIN_SPEECH_S = 1.0  # less than this says too little about a voice to recognise it later


def speech_only(audio: Audio, what: str = "the recording") -> Audio:
    """The speech of a recording (Silero VAD), so silence and music do not colour a profile."""
    from faster_whisper.vad import get_speech_timestamps

    mono = audio.mono().resample(16000)
    spans = get_speech_timestamps(mono.samples)
    if not spans:
        raise NothingToDubError(f"no speech found in {what}", "give a recording of the person speaking")
    speech = Audio(np.concatenate([mono.samples[s["start"]:s["end"]] for s in spans]), 16000)
    if speech.duration < MIN_SPEECH_S:
        raise NothingToDubError(f"only {speech.duration:.1f} s of speech in {what}",
                                f"give at least {MIN_SPEECH_S:.0f} s of the person speaking (5-30 s is best)")
    return speech


def speech_embedding(audio: Audio, embedder: SpeakerEmbedder, what: str = "the recording") -> tuple[np.ndarray, float]:
    """(embedding of the speech only, seconds of speech)."""
    speech = speech_only(audio, what)
    return embedder.embed(speech), speech.duration
