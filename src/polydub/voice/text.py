"""Text clean-up and splitting shared by the TTS engines.

Numbers, abbreviations and dates are left to each engine's front end (espeak-ng reads them
per language); what is removed here are characters that make phonemizers fail, speak
garbage ("asterisk", "underscore") or produce silence: markup, emoji, control characters.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np

from polydub.audio import Audio

# Quotes and dashes that some phonemizers choke on, mapped to plain equivalents.
_TRANSLATE = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2013": ", ", "\u2014": ", ", "\u2015": ", ", "\u2212": "-",
    "\u2026": "...", "\u00a0": " ", "\u202f": " ", "\u200b": "",
    "\t": " ", "\r": " ", "\n": " ",
})
# Subtitle/markdown leftovers: tags, {\an8}-style overrides, [music] cues, ♪ and friends.
_MARKUP = re.compile(r"<[^>]{0,200}>|\{[^}]{0,200}\}|\[[^\]]{0,100}\]|[*_#~^|\\`@♪♫♬]")
_SPACES = re.compile(r"\s+")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?。、！？])")
_REPEATED_PUNCT = re.compile(r"([,;:])[\s,;:]*(?=[,;:])")
# Unicode categories kept: letters, marks (accents, Devanagari vowel signs), numbers,
# punctuation, separators, currency/math signs ("$", "%", "+" are read by espeak).
_KEEP = ("L", "M", "N", "P", "Z", "Sc", "Sm")

# Sentence ends (Latin and CJK), then clause boundaries, used to split long texts.
SENTENCE_END = re.compile(r"(?<=[.!?;。！？])\s+|(?<=[。！？])")
CLAUSE_END = re.compile(r"(?<=[,:、，])\s*")


def clean_text(text: str) -> str:
    """Return `text` normalised for a phonemizer; "" when nothing speakable is left."""
    text = unicodedata.normalize("NFC", text or "").translate(_TRANSLATE)
    text = _MARKUP.sub(" ", text)
    text = "".join(ch for ch in text if unicodedata.category(ch).startswith(_KEEP) or ch == " ")
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", _SPACES.sub(" ", text)).strip()
    text = _REPEATED_PUNCT.sub("", text)
    # Text made only of punctuation ("...", "-") would phonemize to nothing or crash.
    if not any(unicodedata.category(ch)[0] in "LN" for ch in text):
        return ""
    return text


def split_text(text: str, max_chars: int) -> list[str]:
    """Split at sentence, then clause, then word boundaries so each piece is <= max_chars."""
    pieces: list[str] = []
    for sentence in (s.strip() for s in SENTENCE_END.split(text)):
        if not sentence:
            continue
        if len(sentence) <= max_chars:
            pieces.append(sentence)
            continue
        for clause in (c.strip() for c in CLAUSE_END.split(sentence)):
            if len(clause) <= max_chars:
                pieces.append(clause)
                continue
            words, current = clause.split(" "), ""
            for word in words:
                while len(word) > max_chars:  # one absurdly long "word": hard cut
                    pieces.append(word[:max_chars])
                    word = word[max_chars:]
                if current and len(current) + 1 + len(word) > max_chars:
                    pieces.append(current)
                    current = word
                else:
                    current = f"{current} {word}".strip()
            if current:
                pieces.append(current)
    return [p for p in pieces if p]


def pack(pieces: list[str], max_chars: int) -> list[str]:
    """Greedily join consecutive pieces up to max_chars: fewer model calls, natural prosody."""
    out: list[str] = []
    for piece in pieces:
        if out and len(out[-1]) + 1 + len(piece) <= max_chars:
            out[-1] = f"{out[-1]} {piece}"
        else:
            out.append(piece)
    return out


def short_silence(rate: int) -> Audio:
    """What an engine returns for empty text: a valid, short, silent clip instead of a crash."""
    return Audio.silence(0.1, rate)


def concat(chunks: list[np.ndarray], rate: int, gap: float = 0.0) -> Audio:
    """Join mono chunks with `gap` seconds of silence between them."""
    if not chunks:
        return short_silence(rate)
    pause = np.zeros(int(round(gap * rate)), dtype=np.float32)
    parts: list[np.ndarray] = []
    for i, chunk in enumerate(chunks):
        if i and gap > 0:
            parts.append(pause)
        parts.append(np.asarray(chunk, dtype=np.float32).ravel())
    return Audio(np.concatenate(parts), rate)


def time_stretch(audio: Audio, speed: float) -> Audio:
    """Change tempo by `speed` (>1 shorter) keeping pitch, with WSOLA (audiotsm).

    Used by engines whose own rate control is missing or inaccurate, so that
    `synthesize(..., speed)` means the same thing for every engine.
    """
    if abs(speed - 1.0) < 1e-3 or len(audio.samples) == 0:
        return audio
    from audiotsm import wsola
    from audiotsm.io.array import ArrayReader, ArrayWriter

    samples = np.asarray(audio.samples, dtype=np.float32).ravel()
    target = int(round(len(samples) / speed))
    # WSOLA drops the last frame or two; padding with silence and cutting to the exact
    # target length makes the result as long as asked (timing relies on it).
    padded = np.concatenate([samples, np.zeros(4096, dtype=np.float32)]).reshape(1, -1)
    reader, writer = ArrayReader(padded), ArrayWriter(channels=1)
    wsola(channels=1, speed=speed).run(reader, writer)
    out = writer.data[0][:target]
    out = np.pad(out, (0, target - len(out)))
    return Audio(np.clip(out, -1.0, 1.0).astype(np.float32), audio.rate)


def trim_silence(audio: Audio, pad: float = 0.06, threshold: float = 0.01, end: bool = True) -> Audio:
    """Cut leading/trailing near-silence (below `threshold` x peak), keeping `pad` seconds.

    Engines add up to half a second of silence at the edges (Kokoro's af_heart: 0.4 s + 0.5 s);
    the timing stage fits speech into subtitle slots, so every engine returns tight audio.
    `end=False` trims only the start.
    """
    samples = np.asarray(audio.samples, dtype=np.float32)
    peak = float(np.abs(samples).max()) if len(samples) else 0.0
    if peak == 0.0:
        return audio
    loud = np.flatnonzero(np.abs(samples) > threshold * peak)
    keep = int(round(pad * audio.rate))
    first = max(0, loud[0] - keep)
    last = min(len(samples), loud[-1] + 1 + keep) if end else len(samples)
    return Audio(samples[first:last], audio.rate)
