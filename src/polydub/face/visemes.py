"""Phonemes -> visemes -> mouth shapes.

Phoneme symbols are IPA (what espeak-ng and Kokoro speak in); openfacefx groups them into the 15
Oculus visemes and blends neighbours (coarticulation). Each viseme is given a mouth shape here:
how open, how spread, how rounded, and whether the lips close.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

SILENCE = "sil"

# Viseme -> (open, spread, round, closure); open is relative to the face's widest speaking opening.
VISEME_SHAPES: dict[str, tuple[float, float, float, float]] = {
    "sil": (0.0, 0.0, 0.0, 0.0),
    "PP": (0.0, 0.0, 0.0, 1.0),
    "FF": (0.12, 0.2, 0.0, 0.0),
    "TH": (0.25, 0.1, 0.0, 0.0),
    "DD": (0.3, 0.2, 0.0, 0.0),
    "kk": (0.38, 0.1, 0.0, 0.0),
    "CH": (0.25, 0.0, 0.6, 0.0),
    "SS": (0.14, 0.45, 0.0, 0.0),
    "nn": (0.22, 0.15, 0.0, 0.0),
    "RR": (0.28, 0.0, 0.45, 0.0),
    "aa": (1.0, 0.2, 0.0, 0.0),
    "E": (0.62, 0.55, 0.0, 0.0),
    "I": (0.4, 0.85, 0.0, 0.0),
    "O": (0.75, 0.0, 0.8, 0.0),
    "U": (0.35, 0.0, 1.0, 0.0),
}

# Kokoro's single-letter symbols (misaki's inventory) -> IPA.
KOKORO_IPA = {"A": "eɪ", "I": "aɪ", "W": "aʊ", "Y": "ɔɪ", "O": "oʊ", "Q": "əʊ", "ʤ": "dʒ", "ʧ": "tʃ",
              "ʦ": "ts", "ʣ": "dz", "ᵊ": "ə", "T": "ɾ"}
PUNCTUATION = frozenset(' .,;:!?¡¿—…"«»“”()-')
STRESS = frozenset("ˈˌː")

# Shorter reach than openfacefx's defaults (0.4 s): dubbed speech is fast and closures must land.
_COART = None
_lock = threading.Lock()


def _coart_params():
    global _COART
    with _lock:
        if _COART is None:
            from openfacefx import CoartParams

            _COART = CoartParams(lead={"basic": (0.12, 0.14), "jaw": (0.12, 0.14), "lips": (0.08, 0.08),
                                       "tongue": (0.06, 0.06)}, short_silence=0.12)
    return _COART


@dataclass(frozen=True)
class Phone:
    symbol: str  # IPA, or "sil"
    start: float
    end: float


def from_kokoro(symbols: list[tuple[str, float, float]], min_pause: float = 0.08) -> list[Phone]:
    """Kokoro's per-symbol timing -> IPA phones: stress and length marks join their neighbour, spaces
    and punctuation become silence when long enough to be a pause (else join the previous phone)."""
    out: list[Phone] = []
    for symbol, start, end in symbols:
        if symbol in STRESS or (symbol in PUNCTUATION and end - start < min_pause):
            if out:
                out[-1] = Phone(out[-1].symbol, out[-1].start, end)
            continue
        ipa = SILENCE if symbol in PUNCTUATION else KOKORO_IPA.get(symbol, symbol)
        if out and out[-1].symbol == SILENCE and ipa == SILENCE:
            out[-1] = Phone(SILENCE, out[-1].start, end)
        else:
            out.append(Phone(ipa, start, end))
    return out


def split_ipa(text: str) -> list[str]:
    """An IPA string -> phoneme symbols (diphthongs and affricates kept whole, marks dropped)."""
    from openfacefx.ipa import IPA_VOWELS

    text = "".join(ch for ch in text.replace("^", "") if ch not in STRESS and not ch.isspace())
    symbols: list[str] = []
    i = 0
    while i < len(text):
        pair = text[i:i + 2]
        if len(pair) == 2 and (pair in IPA_VOWELS or pair in ("tʃ", "dʒ", "ts", "dz")):
            symbols.append(pair)
            i += 2
            continue
        if text[i] not in PUNCTUATION:
            symbols.append(text[i])
        i += 1
    return symbols


def from_words(words: list[tuple[str, float, float]], ipa_of_word) -> list[Phone]:
    """Word timings (text, start, end) -> phones spread inside each word, vowels twice as long as
    consonants; silence between words that are apart."""
    from openfacefx.ipa import is_ipa_vowel

    phones: list[Phone] = []
    last = 0.0
    for text, start, end in words:
        if start - last > 0.05:
            phones.append(Phone(SILENCE, last, start))
        symbols = split_ipa(ipa_of_word(text)) or ["ə"]
        weights = np.array([2.0 if is_ipa_vowel(s) else 1.0 for s in symbols])
        edges = start + (end - start) * np.concatenate([[0.0], np.cumsum(weights) / weights.sum()])
        phones += [Phone(s, float(a), float(b)) for s, a, b in zip(symbols, edges[:-1], edges[1:], strict=True)]
        last = end
    return phones


def shape_curves(phones: list[Phone], rate: float = 100.0) -> tuple[np.ndarray, np.ndarray]:
    """(times, shapes) on a `rate` Hz grid from t=0: shapes[:, 0..3] = open, spread, round, closure."""
    from openfacefx import PhonemeSegment, build_viseme_curves
    from openfacefx.ipa import IPA_MAPPING

    if not phones:
        return np.zeros(0), np.zeros((0, 4))
    segments = [PhonemeSegment(p.symbol, p.start, max(p.end, p.start + 1e-3)) for p in phones]
    if segments[0].start > 0:
        segments.insert(0, PhonemeSegment(SILENCE, 0.0, segments[0].start))
    times, weights = build_viseme_curves(segments, fps=rate, mapping=IPA_MAPPING, params=_coart_params())
    names = [t.name for t in IPA_MAPPING.targets]
    table = np.array([VISEME_SHAPES.get(n, (0.0, 0.0, 0.0, 0.0)) for n in names])
    return np.asarray(times), np.asarray(weights) @ table
