"""Settings of one live session, checked before any audio flows."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from polydub.languages import normalize_language
from polydub.live.pcm import LiveInputError, check_rate
from polydub.live.segmenter import SegmenterPolicy

MIN_OUTPUT_RATE, MAX_OUTPUT_RATE = 8000, 48000


@dataclass
class LiveConfig:
    target_language: str
    source_language: str | None = None  # None or "auto": detected from the first utterances
    sample_rate: int = 16000  # of the PCM the client sends
    output_sample_rate: int = 24000  # of the dubbed PCM sent back
    asr_model: str | None = None  # default: tiny.en for declared English, else base
    mt_engine: str | None = None  # default: the registry's best; "whisper" = Whisper's speech translation (→ en)
    tts_engine: str | None = None
    voice: str | None = None  # one voice for everybody
    preserve_voice: bool = True  # each speaker gets the installed voice most like theirs
    use_profiles: bool = True  # saved voice profiles are recognised and keep their voice
    realtime: bool = True  # audio arrives at the pace it was spoken (False: a file pushed at once)
    # Measured on the shared clips (README, "Live dubbing"): 0.5 s keeps sentences whole where 0.3 s
    # cut 20 s of travel story into 6 pieces instead of 4, and costs no latency because the line is
    # already being recognised from the first 0.2 s of pause on.
    end_pause_s: float = 0.5
    speculative_pause_s: float | None = 0.2
    max_utterance_s: float = 7.0  # from here on a 0.15 s pause ends the utterance; 2 s later any dip does
    max_tempo: float = 1.3
    max_lag_s: float = 12.0
    # ~1 s of speech, voiced by Kokoro in ~0.9 s on 2 quiet cores; 40 cost 0.5 s more (bench_live, 2026-11-30)
    first_clause_chars: int = 20
    clause_chars: int = 160

    @classmethod
    def from_dict(cls, data: dict) -> LiveConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise LiveInputError(f"unknown session option(s): {', '.join(unknown)}",
                                 f"known options: {', '.join(sorted(known))}")
        if not data.get("target_language"):
            raise LiveInputError("target_language is required", "e.g. {\"target_language\": \"es\"}")
        return cls(**data).validated()

    def validated(self) -> LiveConfig:
        def number(name: str, low: float, high: float) -> float:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
                raise LiveInputError(f"{name} must be a number between {low} and {high}, got {value!r}")
            return float(value)

        def language(value: object, name: str) -> str | None:
            if value is None or (isinstance(value, str) and value.strip().lower() in ("", "auto")):
                return None
            if not isinstance(value, str) or not value.strip().replace("-", "").replace("_", "").isalpha():
                raise LiveInputError(f"{name} must be a language code such as 'es', got {value!r}")
            return normalize_language(value)

        target = language(self.target_language, "target_language")
        if target is None:
            raise LiveInputError("target_language is required", "e.g. 'es'")
        spec = self.speculative_pause_s
        if spec is not None:
            spec = min(number("speculative_pause_s", 0.05, 2.0), float(self.end_pause_s))
        output_rate = check_rate(self.output_sample_rate)
        if not MIN_OUTPUT_RATE <= output_rate <= MAX_OUTPUT_RATE:
            raise LiveInputError(f"output_sample_rate must be {MIN_OUTPUT_RATE}-{MAX_OUTPUT_RATE} Hz")
        return replace(
            self, target_language=target, source_language=language(self.source_language, "source_language"),
            sample_rate=check_rate(self.sample_rate), output_sample_rate=output_rate,
            end_pause_s=number("end_pause_s", 0.1, 3.0), speculative_pause_s=spec,
            max_utterance_s=number("max_utterance_s", 2.0, 20.0), max_tempo=number("max_tempo", 1.0, 2.0),
            max_lag_s=number("max_lag_s", 1.0, 600.0),
            first_clause_chars=int(number("first_clause_chars", 10, 400)),
            clause_chars=int(number("clause_chars", 20, 400)),
            preserve_voice=bool(self.preserve_voice), use_profiles=bool(self.use_profiles),
            realtime=bool(self.realtime))

    def segmenter_policy(self) -> SegmenterPolicy:
        return SegmenterPolicy(end_pause_s=self.end_pause_s, speculative_pause_s=self.speculative_pause_s,
                               soft_max_s=self.max_utterance_s, hard_max_s=self.max_utterance_s + 2.0)
