"""Cutting transcript segments into word-aligned speech chunks for speaker embedding.

Chunks are what diarization embeds and clusters: ~1.6 s of speech, cut at word boundaries (and
preferably at pauses) so that a speaker change can later be placed between two words.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from polydub.project import Segment, Word
from polydub.speakers.windows import SpeechWindows

CHUNK_TARGET = 1.6  # seconds: long enough for a stable d-vector, short enough to locate a change
CHUNK_MIN = 1.0  # a trailing chunk shorter than this joins the previous one (short = noisy vector)
PAUSE_CUT = 0.25  # a pause this long ends a chunk early (speaker changes mostly happen at pauses)
MAX_WORD = 0.6  # Whisper stretches a word over a preceding pause; trust at most this much of it
MIN_TURN = 1.0  # a speaker turn inside a segment shorter than this is not split off
# Change points inside a segment: the voice on the CHANGE_CONTEXT seconds before a word boundary is
# compared with the voice after it. One speaker's adjacent stretches of ~1.5 s measure 0.53-0.86
# cosine (mean 0.72) on the shared single-speaker clips; two speakers 0.04-0.47.
CHANGE_CONTEXT = 1.5
CHANGE_MIN_SIDE = 0.8  # each side needs one full encoder window of speech
CHANGE_NOVELTY = 0.45  # 1 - cosine above which a boundary may be a speaker change


@dataclass
class Chunk:
    seg: int  # index into the input segments
    words: list[Word]  # empty when the segment had no word timings
    start: float
    end: float
    emb: np.ndarray | None = None
    label: int = -1


def speech_start(word: Word) -> float:
    return max(word.start, word.end - MAX_WORD)


def speech_seconds(seg: Segment) -> float:
    """Seconds of voice in a line, from its words (capped: a stretched word is mostly silence)."""
    if not seg.words:
        return seg.duration
    return float(sum(min(max(w.end - w.start, 0.0), MAX_WORD) for w in seg.words))


def chunks_for(index: int, seg: Segment, windows: SpeechWindows | None = None) -> list[Chunk]:
    """Chunks of one segment; with `windows`, never across a likely speaker change."""
    words = [w for w in seg.words if w.text.strip()]  # Whisper sometimes emits empty "words"
    if not words:
        # No word timings: fixed chunks over the whole segment, so at least it gets a label.
        n = max(1, int(round(seg.duration / CHUNK_TARGET)))
        edges = np.linspace(seg.start, seg.end, n + 1)
        return [Chunk(index, [], float(a), float(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)]
    cuts = change_points(words, windows) if windows is not None else []
    pieces = [words[a:b] for a, b in zip([0, *cuts], [*cuts, len(words)], strict=True)]
    return [c for piece in pieces for c in _word_chunks(index, piece)]


def change_points(words: list[Word], windows: SpeechWindows) -> list[int]:
    """Indices of words that probably begin another speaker's turn: peaks of the dissimilarity
    between the voice just before and just after each word boundary, at least MIN_TURN apart."""
    novelty: list[tuple[float, int]] = []
    for k in range(1, len(words)):
        left_end, right_start = words[k - 1].end, speech_start(words[k])
        left_start = max(speech_start(words[0]), left_end - CHANGE_CONTEXT)
        right_end = min(words[-1].end, right_start + CHANGE_CONTEXT)
        if left_end - left_start < CHANGE_MIN_SIDE or right_end - right_start < CHANGE_MIN_SIDE:
            continue
        sim = float(windows.embed(left_start, left_end) @ windows.embed(right_start, right_end))
        if 1.0 - sim >= CHANGE_NOVELTY:
            novelty.append((1.0 - sim, k))
    cuts: list[int] = []
    for _score, k in sorted(novelty, reverse=True):
        at = speech_start(words[k])
        if all(abs(at - speech_start(words[c])) >= MIN_TURN for c in cuts):
            cuts.append(k)
    return sorted(cuts)


def _word_chunks(index: int, words: list[Word]) -> list[Chunk]:
    chunks: list[Chunk] = []
    current: list[Word] = []
    for i, word in enumerate(words):
        current.append(word)
        span = word.end - speech_start(current[0])
        nxt = words[i + 1] if i + 1 < len(words) else None
        pause = (speech_start(nxt) - word.end) if nxt else 0.0
        if nxt is None or span >= CHUNK_TARGET or (pause >= PAUSE_CUT and span >= MIN_TURN):
            chunks.append(Chunk(index, current, speech_start(current[0]), word.end))
            current = []
    if len(chunks) > 1 and chunks[-1].end - chunks[-1].start < CHUNK_MIN:
        tail = chunks.pop()
        chunks[-1].words += tail.words
        chunks[-1].end = tail.end
    return chunks


def refine_change(windows: SpeechWindows, left: Chunk, right: Chunk, cents: dict[int, np.ndarray]) -> None:
    """Move a speaker change from the chunk boundary to the best word boundary inside the two chunks.

    A chunk that straddles the change gets one label, so the first guess is off by up to a chunk;
    here every word boundary is tried and the cut whose sides best match their two speakers wins.
    """
    words = left.words + right.words
    if not left.words or not right.words or len(words) < 3:
        return
    best_k, best_score = len(left.words), -np.inf
    for k in range(1, len(words)):
        a0, a1 = speech_start(words[0]), words[k - 1].end
        b0, b1 = speech_start(words[k]), words[-1].end
        if a1 - a0 < MIN_TURN or b1 - b0 < MIN_TURN:
            continue  # shorter sides give noisy vectors and would become ghost-prone short lines
        ea, eb = windows.embed(a0, a1), windows.embed(b0, b1)
        # Contrast (own speaker minus the other) rather than raw similarity: centroids include the
        # straddling chunks, and contrast penalises a side that still holds the other voice.
        # Duration-weighted so that the longer, more reliable side counts more.
        cx, cy = cents[left.label], cents[right.label]
        score = (a1 - a0) * float(ea @ cx - ea @ cy) + (b1 - b0) * float(eb @ cy - eb @ cx)
        if score > best_score:
            best_k, best_score = k, score
    left.words, right.words = words[:best_k], words[best_k:]
    left.start, left.end = speech_start(left.words[0]), left.words[-1].end
    right.start, right.end = speech_start(right.words[0]), right.words[-1].end
