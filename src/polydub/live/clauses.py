"""Cut a translation into the pieces that are synthesized one after another: a short first piece,
so that the listener hears something as soon as possible, then longer ones for natural prosody
(each is synthesized while the previous one plays)."""

from __future__ import annotations

from polydub.voice.text import clean_text, pack, split_text

MIN_FIRST_CHARS = 12  # a lone "Y" or "So" sounds clipped: join it to what follows


def split_clauses(text: str, first_chars: int = 50, rest_chars: int = 160) -> list[str]:
    text = clean_text(text)
    if not text:
        return []
    pieces = split_text(text, first_chars)
    first = pieces.pop(0)
    while pieces and len(first) < MIN_FIRST_CHARS and len(first) + 1 + len(pieces[0]) <= first_chars * 1.5:
        first = f"{first} {pieces.pop(0)}"
    return [first, *pack(pieces, rest_chars)]
