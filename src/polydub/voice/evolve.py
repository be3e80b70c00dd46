"""Voice cloning without cloning weights: evolve a Kokoro style tensor toward a speaker.

A Kokoro voice is a 510x256 style tensor (one row per input length): the first 128 columns steer
the decoder (timbre), the last 128 the prosody predictor (durations, pitch, energy). No cloning
model installs offline, but new tensors can be searched for (the idea of the public KVoiceWalk
project): speak a few short probe sentences with a candidate tensor, embed the result, keep what
sounds more like the speaker. The search here (measured in bench/bench_clone.py, shared/MODELS.md):

1. rank the stock voices of the speaker's gender by the cached d-vector, speak the best few and
   the blends of the best two and three;
2. CMA-ES from the best of those over a small space: the blend directions toward the next best
   stock voices plus the top principal components of the 54 stock tensors, each half (timbre,
   prosody) on its own, in units of the stock voices' spread so that every move stays a
   plausible voice;
3. every candidate's pitch is first moved to the speaker's along the prosody direction that
   predicts pitch across the stock voices; the model's F0 predictor, cut out of the graph, says
   what a candidate's pitch will be for ~3 % of a synthesis, so this costs no extra synthesis;
4. score = d-vector similarity minus a pitch term (an embedder alone is gamed by the search);
   the best candidates are then checked on held-out sentences: similarity must beat the stock
   voice and Whisper's round-trip CER must stay within the stock voice's + 0.03, else the stock
   voice is kept (a stock voice is never presented as a clone).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from polydub.audio import Audio
from polydub.errors import PolydubError

MIN_SPEECH_SECONDS = 4.0  # under this a d-vector of the speaker is too noisy to steer a search
GOOD_SPEECH_SECONDS = 10.0  # below this the result is noticeably less close (a warning says so)
MAX_TARGET_SECONDS = 60.0
MAX_CER_INCREASE = 0.03
HALF = 128  # style columns: [:128] decoder (timbre), [128:] predictor (prosody)

# Probe sentences per language: short (each ~2 s spoken), varied in sounds. The search speaks the
# first group; the check on held-out text uses the second, which the search never heard.
PROBES: dict[str, tuple[list[str], list[str]]] = {
    "es": (["El verano pasado visitamos a mis abuelos en el campo.", "¿Sabes dónde está la estación de tren?"],
           ["Nuestro equipo trabajó muy duro durante todo el año para terminar este proyecto.",
            "Por la mañana siempre tomo un café y leo las noticias."]),
    "en": (["Last summer we visited my grandparents in the country.", "Do you know where the train station is?"],
           ["Our team worked very hard all year long to finish this project.",
            "In the morning I always have a coffee and read the news."]),
    "fr": (["L'été dernier, nous avons rendu visite à mes grands-parents.", "Savez-vous où se trouve la gare ?"],
           ["Notre équipe a travaillé très dur toute l'année pour finir ce projet.",
            "Le matin, je bois toujours un café en lisant les nouvelles."]),
    "it": (["L'estate scorsa abbiamo visitato i miei nonni in campagna.", "Sai dove si trova la stazione?"],
           ["La nostra squadra ha lavorato molto per finire questo progetto.",
            "La mattina prendo sempre un caffè e leggo le notizie."]),
    "pt": (["No verão passado visitamos os meus avós no campo.", "Você sabe onde fica a estação de trem?"],
           ["Nossa equipe trabalhou muito durante o ano todo para terminar este projeto.",
            "De manhã eu sempre tomo um café e leio as notícias."]),
    "hi": (["पिछली गर्मियों में हम अपने दादा दादी से मिलने गए।", "क्या आप जानते हैं कि स्टेशन कहाँ है?"],
           ["हमारी टीम ने इस परियोजना को पूरा करने के लिए पूरे साल मेहनत की।",
            "सुबह मैं हमेशा चाय पीता हूँ और अख़बार पढ़ता हूँ।"]),
}


class CloneError(PolydubError):
    """A voice cannot be cloned from this input (too little speech, unsupported language)."""


@dataclass
class CloneSettings:
    """Knobs of the search; the defaults are what bench/bench_clone.py measured best."""

    budget_s: float = 60.0  # wall clock for the whole clone, checks on held-out text included
    max_syntheses: int | None = None  # a hard cap (tests, benches: reproducible on a busy machine)
    seed: int = 0
    stock_candidates: int = 4  # best stock voices (by the cached d-vector) spoken in stage 1
    blend_voices: int = 4  # stock voices whose directions the search may blend in
    timbre_components: int = 10
    prosody_components: int = 6
    popsize: int = 6
    sigma0: float = 0.35  # in units of the stock voices' spread
    bound: float = 2.5
    pitch_weight: float = 0.35  # score lost per octave of pitch difference (beyond 1 semitone)
    match_pitch: bool = True  # move each candidate's pitch to the speaker's before speaking it
    # Score = d-vector similarity - envelope_weight * (cepstral distance / the matched voice's) - pitch
    # term: an ensemble, because a search on the d-vector alone games it (shared/MODELS.md).
    envelope_weight: float = 0.25
    equalize: bool = False  # also give each candidate an EQ curve toward the speaker's long-term spectrum
    # The d-vector is scored over a few perturbed copies of the probe audio (level, spectral tilt):
    # a search can exploit one embedder's quirks, not ones that hold across such small changes.
    views: tuple[tuple[float, float], ...] = ((0.0, 0.0), (0.0, 1.5), (0.0, -1.5))  # (gain dB, tilt dB/octave)
    max_pitch_shift_st: float = 5.0  # never move a voice's pitch further than this (semitones)
    finalists: int = 2  # best search candidates checked on held-out text


@dataclass
class CloneResult:
    """What a search produced and how it compares with the best stock voice, on held-out text."""

    language: str
    gender: str | None
    style: np.ndarray | None  # (510, 256) when accepted
    accepted: bool
    reason: str
    stock_voice: str
    blend: dict[str, float] = field(default_factory=dict)
    similarity_stock: float = 0.0
    similarity_stock_eq: float | None = None  # the stock voice with its own EQ curve (how much the EQ gives)
    similarity_evolved: float | None = None
    eq_db: list[float] = field(default_factory=list)  # band gains the evolved voice is spoken with
    cer_stock: float | None = None
    cer_evolved: float | None = None
    pitch_target: float | None = None
    pitch_stock: float | None = None
    pitch_evolved: float | None = None
    speech_seconds: float = 0.0
    search_seconds: float = 0.0
    syntheses: int = 0
    generations: int = 0
    warnings: list[str] = field(default_factory=list)

    def info(self) -> dict:
        """JSON-ready summary (the report's and the profile's record of the search)."""
        keys = ("language", "gender", "accepted", "reason", "stock_voice", "blend", "similarity_stock",
                "similarity_stock_eq", "similarity_evolved", "cer_stock", "cer_evolved", "pitch_target",
                "pitch_stock", "pitch_evolved", "speech_seconds", "search_seconds", "syntheses", "generations",
                "warnings")
        out = {}
        for key in keys:
            value = getattr(self, key)
            out[key] = round(value, 3) if isinstance(value, float) else value
        out["eq_db"] = [round(float(g), 2) for g in self.eq_db]
        return out


Progress = Callable[[float, str], None]
Intelligibility = Callable[[Audio, str, str], float]  # (audio, text, language) -> CER


class VoiceCloner(ABC):
    """Makes a new voice for a speaker from their speech; one class per method."""

    name: str = ""
    licence: str = ""

    @abstractmethod
    def is_available(self) -> bool:
        """True when the engine it builds on is installed."""

    @abstractmethod
    def languages(self) -> list[str]:
        """Languages a cloned voice can speak."""

    @abstractmethod
    def clone(self, speech: Audio, language: str, gender: str | None = None,
              settings: CloneSettings | None = None, progress: Progress | None = None,
              cancel: Callable[[], None] | None = None) -> CloneResult:
        """Search a voice close to `speech` (the speaker's clean speech) speaking `language`."""


def check_speech(speech: Audio) -> list[str]:
    """Raise CloneError when there is too little speech; warnings when there is little."""
    if speech.duration < MIN_SPEECH_SECONDS:
        raise CloneError(f"only {speech.duration:.1f} s of speech: cloning a voice needs at least "
                         f"{MIN_SPEECH_SECONDS:.0f} s", f"give {GOOD_SPEECH_SECONDS:.0f} s or more of the person "
                         "speaking; the stock voice that matches best is used meanwhile")
    if speech.duration < GOOD_SPEECH_SECONDS:
        return [f"cloned from {speech.duration:.1f} s of speech; {GOOD_SPEECH_SECONDS:.0f} s or more "
                "gives a closer voice"]
    return []
