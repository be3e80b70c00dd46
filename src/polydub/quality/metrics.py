"""Pure text/number metrics used by the quality checks (no models, cheap, unit-testable)."""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable, Sequence

_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)


def normalize_text(text: str) -> str:
    """Lower-case, unify Unicode forms and drop punctuation.

    CER must not punish Whisper for writing "¿Qué?" vs "que" or "3" vs "3." — the check is whether
    the words are audible, not whether the orthography matches.
    """
    text = unicodedata.normalize("NFKC", text or "").lower()
    text = _PUNCT.sub(" ", text)
    return " ".join(text.split())


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn")


def edit_distance(a: Sequence[str], b: Sequence[str]) -> int:
    """Levenshtein distance (two-row DP: lines are short, so O(n*m) is fine)."""
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate of hypothesis against reference, after normalisation (accents ignored:
    Whisper often drops or adds them in a way a listener cannot hear). Capped at 1.0."""
    ref = _strip_accents(normalize_text(reference)).replace(" ", "")
    hyp = _strip_accents(normalize_text(hypothesis)).replace(" ", "")
    if not ref:
        return 0.0 if not hyp else 1.0
    return min(1.0, edit_distance(ref, hyp) / len(ref))


def text_similarity(a: str, b: str) -> float:
    """Meaning-agnostic closeness of two sentences in [0, 1]: the mean of a token-level and a
    character-level difflib ratio. Used for back-translation when no sentence-embedding model is
    installed (the PyPI MiniLM package pulls a multi-GB CUDA torch, so it is not a dependency)."""
    na, nb = normalize_text(a), normalize_text(b)
    if not na and not nb:
        return 1.0
    tokens = difflib.SequenceMatcher(None, na.split(), nb.split(), autojunk=False).ratio()
    chars = difflib.SequenceMatcher(None, na, nb, autojunk=False).ratio()
    return round(0.5 * (tokens + chars), 4)


def percentile(values: Iterable[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100); None for no values."""
    data = sorted(float(v) for v in values)
    if not data:
        return None
    pos = (len(data) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def mean(values: Iterable[float | None]) -> float | None:
    data = [float(v) for v in values if v is not None]
    return sum(data) / len(data) if data else None
