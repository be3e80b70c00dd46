"""Re-cut Whisper's words into dub-sized lines: sentence ends and pauses, never mid-word."""

from __future__ import annotations

from dataclasses import dataclass

from polydub.project import Segment, Word

SENTENCE_END = (".", "?", "!", "。", "？", "！", "…")
CLAUSE_END = (",", ";", ":", "，", "、", "—")


@dataclass
class LinePolicy:
    max_seconds: float = 8.0
    min_seconds: float = 1.0  # a sentence end shorter than this joins the next sentence
    pause_seconds: float = 0.6  # a silence this long always ends a line


def _text(words: list[Word]) -> str:
    return "".join(w.text for w in words).strip()


def _split_long(words: list[Word], policy: LinePolicy) -> list[list[Word]]:
    """Split a too-long run at its best inner boundary (clause mark or longest gap), recursively."""
    if len(words) < 2 or words[-1].end - words[0].start <= policy.max_seconds:
        return [words]
    best, best_score = None, -1.0
    for i in range(1, len(words)):
        left = words[i - 1].end - words[0].start
        right = words[-1].end - words[i].start
        if left < policy.min_seconds or right < policy.min_seconds:
            continue
        gap = words[i].start - words[i - 1].end
        score = gap + (0.5 if words[i - 1].text.strip().endswith(CLAUSE_END) else 0.0)
        score -= 0.02 * abs(left - right)  # prefer balanced halves among equal boundaries
        if score > best_score:
            best, best_score = i, score
    if best is None:
        best = len(words) // 2
    return _split_long(words[:best], policy) + _split_long(words[best:], policy)


def words_to_lines(words: list[Word], policy: LinePolicy | None = None) -> list[Segment]:
    policy = policy or LinePolicy()
    runs: list[list[Word]] = []
    current: list[Word] = []
    for word in words:
        if current:
            gap = word.start - current[-1].end
            length = current[-1].end - current[0].start
            ends_sentence = current[-1].text.strip().endswith(SENTENCE_END)
            if gap >= policy.pause_seconds or (ends_sentence and length >= policy.min_seconds):
                runs.append(current)
                current = []
        current.append(word)
    if current:
        runs.append(current)
    lines = [piece for run in runs for piece in _split_long(run, policy)]
    segments = []
    for words_in_line in lines:
        text = _text(words_in_line)
        if not text:
            continue
        segments.append(Segment(id=len(segments), start=round(words_in_line[0].start, 3),
                                end=round(words_in_line[-1].end, 3), text=text, words=words_in_line))
    return segments
