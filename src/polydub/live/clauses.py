"""Cut a translation into the pieces that are synthesized one after another: a short first piece,
so that the listener hears something as soon as possible, then pieces that grow (each at most twice
the one before, up to `rest_chars`), so that each is synthesized while the one before it plays:
Kokoro voices a second of speech in about 0.45 s on 2 cores, so a piece twice as long as the one
playing is ready before it ends, while one piece with all the rest leaves a silent gap."""

from __future__ import annotations

from polydub.voice.text import clean_text, split_text

MIN_FIRST_CHARS = 12  # a lone "Y" or "So" sounds clipped: join it to what follows
GROWTH = 2.0
CLAUSE_MARKS = ",.;:!?)»\""


def split_clauses(text: str, first_chars: int = 20, rest_chars: int = 160) -> list[str]:
    text = clean_text(text)
    if not text:
        return []
    pieces = split_text(text, first_chars)
    first = pieces.pop(0)
    while pieces and len(first) < MIN_FIRST_CHARS and len(first) + 1 + len(pieces[0]) <= first_chars * 1.5:
        first = f"{first} {pieces.pop(0)}"
    out = [first]
    words = " ".join(pieces).split()
    while words:
        limit = min(rest_chars, max(first_chars, int(len(out[-1]) * GROWTH)))
        taken, length, cut = 0, -1, 0
        while taken < len(words) and (taken == 0 or length + 1 + len(words[taken]) <= limit):
            length += 1 + len(words[taken])
            taken += 1
            if words[taken - 1][-1] in CLAUSE_MARKS and length >= limit / 2:
                cut = taken  # prefer ending a piece where the text pauses
        cut = taken if taken == len(words) or not cut else cut
        out.append(" ".join(words[:cut]))
        words = words[cut:]
    return out
