"""Shorter renderings of a line that keep its meaning: filler removal and parenthetical trimming.

Used when a line overflows its slot even at the maximum tempo. Alternative MT engines are tried
by the repair loop; these text edits need no model and work for any language.
"""

from __future__ import annotations

import re

# Words that carry (almost) no meaning in spoken lines. Conservative on purpose: removing a word
# that matters is worse than a line spoken a little fast.
FILLERS: dict[str, tuple[str, ...]] = {
    "en": ("well", "so", "you know", "i mean", "actually", "basically", "really", "just", "very",
           "like", "kind of", "sort of", "literally", "um", "uh"),
    "es": ("bueno", "pues", "o sea", "realmente", "básicamente", "simplemente", "muy", "en realidad",
           "este", "eh", "sabes", "la verdad", "solamente", "actualmente"),
    "pt": ("bem", "então", "tipo", "realmente", "basicamente", "simplesmente", "muito", "na verdade",
           "sabe", "né"),
    "fr": ("bon", "alors", "en fait", "vraiment", "juste", "très", "genre", "tu sais", "bref",
           "simplement"),
    "de": ("also", "halt", "eben", "eigentlich", "wirklich", "sehr", "einfach", "ja", "nun", "naja",
           "sozusagen"),
    "it": ("allora", "cioè", "praticamente", "veramente", "davvero", "molto", "proprio", "insomma"),
    "ru": ("ну", "вот", "так", "как бы", "действительно", "очень", "просто", "значит"),
}

# Second tier, only when fillers were not enough: words whose loss a listener barely notices.
LOW_CONTENT: dict[str, tuple[str, ...]] = {
    "en": ("own", "currently", "still", "also", "quite", "pretty", "that"),
    "es": ("propio", "propia", "propios", "propias", "mismo", "misma", "todavía", "también", "bastante"),
    "pt": ("próprio", "própria", "próprios", "próprias", "mesmo", "ainda", "também", "bastante"),
    "fr": ("propre", "propres", "encore", "aussi", "assez", "actuellement"),
    "de": ("eigenen", "eigene", "eigener", "noch", "auch", "ziemlich", "derzeit", "gerade"),
    "it": ("proprio", "propria", "propri", "proprie", "ancora", "anche", "abbastanza"),
    "ru": ("собственный", "собственные", "ещё", "тоже", "также", "довольно"),
}
# A line cut from the middle of a sentence often starts with "and"/"so": droppable when spoken.
LEADING_CONJUNCTIONS: dict[str, tuple[str, ...]] = {
    "en": ("and", "so", "but", "and so"), "es": ("y", "e", "pues", "así que"), "pt": ("e", "então"),
    "fr": ("et", "alors", "donc"), "de": ("und", "also"), "it": ("e", "ed", "quindi"), "ru": ("и", "а"),
}

_PARENS = re.compile(r"\s*[\(\[][^\)\]]*[\)\]]")
# Asides between dashes or commas after a discourse marker are usually droppable.
_DASHES = re.compile(r"\s*[—–]\s[^—–]*\s[—–]\s*")


def _tidy(text: str) -> str:
    text = re.sub(r"\s+([,.;:!?])", r"\1", text)
    text = re.sub(r"([,;:])(\s*[,;:])+", r"\1", text)
    text = re.sub(r"^\s*[,;:]\s*", "", text)
    text = " ".join(text.split())
    return text[:1].upper() + text[1:] if text and text[0].islower() and text[:1].isalpha() else text


def remove_words(text: str, words_: tuple[str, ...]) -> str:
    words = sorted(words_, key=len, reverse=True)  # multi-word entries first
    out = text
    for filler in words:
        out = re.sub(rf"(?i)(?<!\w){re.escape(filler)}(?!\w),?", "", out)
    return _tidy(out)


def remove_fillers(text: str, language: str) -> str:
    return remove_words(text, FILLERS.get(language, ()))


def drop_leading_conjunction(text: str, language: str) -> str:
    for conj in sorted(LEADING_CONJUNCTIONS.get(language, ()), key=len, reverse=True):
        match = re.match(rf"(?i)\s*{re.escape(conj)}(?!\w)[,\s]*", text)
        if match and match.end() < len(text):
            return _tidy(text[match.end():])
    return text


def remove_pauses(text: str) -> str:
    """Drop punctuation that only makes the voice pause (an ellipsis costs Kokoro ~70 ms, each comma
    a little): the words stay, the line gets shorter."""
    out = re.sub(r"\s*(\.\.\.|…)\s*$", ".", text.strip())
    out = re.sub(r"\s*(\.\.\.|…)\s*", ", ", out)
    out = re.sub(r"\s*[;:]\s*", ", ", out)
    out = re.sub(r"(?<=\w),(?=\s)", "", out)
    return _tidy(out)


def trim_parentheticals(text: str) -> str:
    return _tidy(_DASHES.sub(" ", _PARENS.sub("", text)))


def shorter_variants(text: str, language: str) -> list[tuple[str, str]]:
    """(label, text) variants strictly shorter than `text`, least destructive first, no duplicates.
    Each step includes the previous ones (remove_fillers also trims parentheticals, …)."""
    variants: list[tuple[str, str]] = []
    seen = {text.strip()}
    fewer_pauses = remove_pauses(text)
    no_parens = trim_parentheticals(fewer_pauses)
    no_conj = drop_leading_conjunction(no_parens, language)
    no_fillers = remove_fillers(no_conj, language)
    compact = remove_words(no_fillers, LOW_CONTENT.get(language, ()))
    for label, cand in (("fewer_pauses", fewer_pauses), ("trim_parentheticals", no_parens),
                        ("drop_leading_conjunction", no_conj), ("remove_fillers", no_fillers),
                        ("remove_low_content_words", compact)):
        cand = cand.strip()
        if cand and cand not in seen and len(cand) < len(text.strip()) and len(cand.split()) >= 1:
            variants.append((label, cand))
            seen.add(cand)
    return variants
