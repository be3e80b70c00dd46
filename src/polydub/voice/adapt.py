"""Voice adaptation: nudge a stock voice towards a speaker (pitch level/range, formants) with Praat."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from polydub.audio import Audio


@dataclass(frozen=True)
class Adaptation:
    formant_ratio: float = 1.0  # >1 shorter vocal tract (brighter), <1 longer (darker)
    pitch_median_hz: float = 0.0  # new median F0; 0 keeps the voice's own
    pitch_range: float = 1.0  # factor on the F0 excursions around the median

    @property
    def is_identity(self) -> bool:
        return self.formant_ratio == 1.0 and self.pitch_median_hz == 0.0 and self.pitch_range == 1.0

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> Adaptation:
        return cls(**data) if data else cls()


SEPARATOR = "~"


def adapted_voice(voice, adaptation: Adaptation):
    """The same voice with an adaptation; the adaptation is part of its id, so caches see the change."""
    from dataclasses import replace

    base_id = voice.id.split(SEPARATOR)[0]
    if adaptation.is_identity:
        return replace(voice, id=base_id, extra={k: v for k, v in voice.extra.items() if k != "adaptation"})
    tag = f"f{adaptation.formant_ratio:g}p{adaptation.pitch_median_hz:g}r{adaptation.pitch_range:g}"
    return replace(voice, id=f"{base_id}{SEPARATOR}{tag}", extra={**voice.extra, "adaptation": adaptation.as_dict()})


def parse_tag(tag: str) -> Adaptation:
    import re

    match = re.fullmatch(r"f([\d.]+)p([\d.]+)r([\d.]+)", tag)
    if not match:
        raise ValueError(f"bad voice adaptation tag {tag!r}")
    return Adaptation(float(match[1]), float(match[2]), float(match[3]))


def adapt(audio: Audio, adaptation: Adaptation) -> Audio:
    """Praat's "Change gender" (PSOLA): duration is unchanged, so timing decisions stay valid."""
    if adaptation.is_identity or audio.duration < 0.2:
        return audio
    import parselmouth
    from parselmouth.praat import call

    sound = parselmouth.Sound(audio.mono().samples.astype(np.float64), sampling_frequency=audio.rate)
    changed = call(sound, "Change gender", 60.0, 500.0, adaptation.formant_ratio,
                   adaptation.pitch_median_hz, adaptation.pitch_range, 1.0)
    samples = changed.values[0].astype(np.float32)
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    if peak > 0.99:
        samples *= 0.99 / peak
    return Audio(samples[: len(audio.samples)], audio.rate)
