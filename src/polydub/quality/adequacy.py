"""Does a translation say what the source said? Invented, dropped and swapped content.

Two kinds of evidence, combined into one flag (thresholds tuned on bench/mt/adequacy.tsv, see
bench/bench_mt.py and the README table):
- lexical: numbers that differ, a phrase repeated in the output but not in the source (Whisper's
  "…but I haven't seen it yet" loops), source words left untranslated;
- model-based, Prism-style: an LLM (Qwen) force-decodes the source as the translation of the line
  back into the source language, and the line as the translation of the source. A line that lost a
  clause leaves source tokens unexplained; a swapped noun makes its counterpart improbable; an
  invented clause makes the forward decode improbable. The line is scored by its worst tokens (a
  swapped noun is one or two tokens), not only the average. The forward decode is also compared
  with the same line decoded as the translation of an empty line: tokens the source does not make
  more likely than no source at all were not translated from it, and three such tokens in a row
  are an invented stretch ("…with her dog in the park", "…because of an accident on the bridge").
- word substitution, for a draft line that passed the above: its least likely words (forward decode)
  are each replaced by the word Qwen says there instead, and the reverse decode tells how much more
  likely that makes the source. A swapped noun gains a lot ("plane" -> "train" for «Поезд»); a
  paraphrase's word gains little or loses, because Qwen's word does not fit the rest of the line.
The model never scores itself forward: a line the LLM translated is judged by the reverse decode,
which its own greedy choice does not inflate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from polydub.translation.leaks import leak_problem

# Thresholds from bench/bench_mt.py --adequacy (labelled set bench/mt/adequacy.tsv); see README.
PMI_WORST_MIN = -4.0  # a source token the line makes this much less likely than no line at all
GAIN_MIN = 0.5  # mean log-probability the line adds to the source
FORWARD_MEAN_MIN = -2.5  # mean log-probability of a draft line given the source
FORWARD_PMI_WINDOW_MIN = -1.6  # three tokens in a row that the source makes this much less likely
PMI_WINDOW = 3
SUBSTITUTION_GAIN_MIN = 3.0  # nats the source gains when a word of the line is replaced by Qwen's
SUBSTITUTED_WORDS = 2  # the line's least likely words that are tried
WORST_K = 1  # a swapped noun is often a single token: averaging hides it ("country" -> "Landwirtschaft")

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
_TRAILING = re.compile(r"[^\w'-]+$")
_SAID_WORD = re.compile(r"[^\W_][\w'-]*")


@dataclass
class Adequacy:
    """One line's verdict: `flagged` with human-readable `reasons`, and the measurements behind it."""

    flagged: bool
    reasons: list[str] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)
    scorer: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"flagged": self.flagged, "reasons": list(self.reasons),
                "scores": {k: round(v, 3) for k, v in self.scores.items()}, "scorer": self.scorer}


def numbers(text: str) -> list[str]:
    return sorted(n.replace(",", ".").rstrip(".") for n in _NUMBER.findall(text))


def _units(text: str) -> list[str]:
    """Words, or characters for scripts written without spaces."""
    if _CJK.search(text):
        return [c for c in text if c.isalnum()]
    return [w.lower() for w in _WORD.findall(text)]


def repeated_phrase(source: str, output: str) -> str | None:
    """A phrase of >= 4 words (>= 6 CJK characters) said twice in the output but not in the source."""
    if _first_repeat(_units(source), 6 if _CJK.search(source) else 4):
        return None  # the speaker repeated themselves: so may the translation
    units = _units(output)
    repeat = _first_repeat(units, 6 if _CJK.search(output) else 4)
    return " ".join(repeat) if repeat else None


def _first_repeat(units: list[str], size: int) -> tuple[str, ...] | None:
    seen: set[tuple[str, ...]] = set()
    for i in range(len(units) - size + 1):
        gram = tuple(units[i:i + size])
        if gram in seen:
            return gram
        seen.add(gram)
    return None


def lexical_reasons(source: str, output: str, src: str, tgt: str) -> list[str]:
    reasons = []
    if numbers(source) != numbers(output):
        reasons.append(f"numbers differ: {numbers(source)} vs {numbers(output)}")
    repeated = repeated_phrase(source, output)
    if repeated:
        reasons.append(f"repeats '{repeated}'")
    leak = leak_problem(source, output, src, tgt)
    if leak:
        reasons.append(leak)
    return reasons


def worst(values: list[float], k: int = WORST_K) -> float:
    low = sorted(values)[:k]
    return sum(low) / len(low) if low else 0.0


class AdequacyScorer:
    """Scores lines with the Qwen GGUF when it is installed (and POLYDUB_NO_LLM is unset); without
    it only the lexical checks run, and `scorer` says so."""

    name = "qwen-prism"
    version = "2"  # what measure_raw decodes: stored verdicts and benchmark caches are keyed by it

    def __init__(self) -> None:
        from polydub.translation.qwen import QwenTranslator

        self._qwen = QwenTranslator()
        self._ready: bool | None = None
        self._base: dict[tuple[str, str, str], list[float]] = {}

    def available(self) -> bool:
        if self._ready is None:
            self._ready = self._qwen.is_available()
        return self._ready

    def _logprobs(self, text: str, translation: str, src: str, tgt: str) -> list[float]:
        from polydub.translation.llama_models import chatml
        from polydub.translation.qwen import QWEN, Conversation

        conversation = Conversation(src, tgt)
        return QWEN.continuation_logprobs(chatml(conversation.messages(text)), translation + "<|im_end|>",
                                          prefix=conversation.prefix())

    def measure_raw(self, source: str, output: str, src: str, tgt: str,
                    produced_by: str | None) -> dict[str, list[float]]:
        """Token log-probabilities: the source given the line ("reverse"), the source given nothing
        ("reverse_base", the prior that turns it into pointwise mutual information) and, for lines
        the LLM did not write, the line given the source ("forward") and given an empty line
        ("forward_base"). Empty without a scorer."""
        if not self.available() or not source.strip() or not output.strip():
            return {}
        pairs = self._qwen.pairs()
        raw: dict[str, list[float]] = {}
        if (tgt, src) in pairs:
            raw["reverse"] = self._logprobs(output, source, tgt, src)
            key = (source, tgt, src)
            if key not in self._base:
                self._base[key] = self._logprobs("", source, tgt, src)
            raw["reverse_base"] = self._base[key]
        if (src, tgt) in pairs and produced_by != self._qwen.name:
            raw["forward"] = self._logprobs(source, output, src, tgt)
            raw["forward_base"] = self._logprobs("", output, src, tgt)
        return raw

    def substitutions(self, source: str, output: str, src: str, tgt: str,
                      raw: dict[str, list[float]]) -> list[dict[str, Any]]:
        """The line's least likely words by the forward decode, each replaced by the word Qwen says
        at that place, with the log-probability the source gains in the reverse decode ("gain")."""
        from polydub.translation.llama_models import chatml
        from polydub.translation.qwen import QWEN, Conversation

        forward, reverse = raw.get("forward") or [], raw.get("reverse") or []
        if _CJK.search(output):
            return []  # words are found by their spaces
        pieces = QWEN.token_pieces(output)
        if not reverse or len(forward) < len(pieces):
            return []
        spans = word_spans(pieces)
        parts = [split_word(b"".join(pieces[start:end]).decode("utf-8", "replace")) for start, end in spans]
        words = []
        for n, ((start, end), (lead, core, trail)) in enumerate(zip(spans, parts, strict=True)):
            if len(core) >= 3 and core[0].isalpha():
                after = parts[n + 1][1] if n + 1 < len(parts) else ""
                words.append((min(forward[start:end]), start, end, lead, core, trail, after))
        conversation = Conversation(src, tgt)
        prompt = chatml(conversation.messages(source))
        found = []
        for _, start, end, lead, core, trail, after in sorted(words)[:SUBSTITUTED_WORDS]:
            head = b"".join(pieces[:start]).decode("utf-8", "replace")
            said, _ = QWEN.complete(prompt + head, max_tokens=8, prefix=conversation.prefix())
            alternative = replacement(said, after)
            if not replaces(core, alternative):
                continue
            line = head + lead + alternative + trail + b"".join(pieces[end:]).decode("utf-8", "replace")
            gain = sum(self._logprobs(line, source, tgt, src)) - sum(reverse)
            found.append({"word": core, "alternative": alternative, "gain": gain})
        return found

    def judge(self, source: str, output: str, src: str, tgt: str, produced_by: str | None = None,
              model: bool = True) -> Adequacy:
        """The verdict on one line; `model=False` runs only the lexical checks (for engines that
        cannot invent content: rule-based and classic neural MT)."""
        if not source.strip() or src == tgt:
            return Adequacy(False)
        reasons = lexical_reasons(source, output, src, tgt)
        raw = self.measure_raw(source, output, src, tgt, produced_by) if model else {}
        scores = features(raw)
        reasons += model_reasons(scores)
        if not reasons and raw.get("forward"):  # the costlier test, only where nothing else was found
            found = self.substitutions(source, output, src, tgt, raw)
            if found:
                scores["substitution_gain"] = max(f["gain"] for f in found)
            reasons += substitution_reasons(found)
        return Adequacy(bool(reasons), reasons, scores, self.name if scores else None)


def word_spans(pieces: list[bytes]) -> list[tuple[int, int]]:
    """Token ranges of a line's words: a token that begins with a space begins a word."""
    starts = [i for i, piece in enumerate(pieces) if i == 0 or piece.startswith(b" ")]
    return [(start, starts[n + 1] if n + 1 < len(starts) else len(pieces)) for n, start in enumerate(starts)]


def split_word(text: str) -> tuple[str, str, str]:
    """(leading space, word, trailing punctuation)."""
    core = text.lstrip()
    lead = text[:len(text) - len(core)]
    trail = _TRAILING.search(core)
    return (lead, core[:trail.start()], trail.group()) if trail else (lead, core, "")


def replacement(said: str, after: str) -> str:
    """What Qwen says in place of a word: its words up to where it goes on as the line does (the
    word `after`), so "The rents in our city" replaces "Taxes" before "in"; else its first word."""
    words = _SAID_WORD.findall(said.split("<|")[0])
    for n in range(1, min(len(words), 4)):
        if after and words[n].lower() == after.lower():
            return " ".join(words[:n])
    return words[0] if words else ""


def replaces(word: str, alternative: str) -> bool:
    """Whether Qwen's words say something else than the word, not the word itself with more around it
    ("The rents" for "Rents" would credit the article, not a different noun)."""
    return bool(alternative) and word.lower() not in alternative.lower().split()


def substitution_reasons(found: list[dict[str, Any]], gain_min: float = SUBSTITUTION_GAIN_MIN) -> list[str]:
    best = max((f for f in found if replaces(f["word"], f["alternative"])), key=lambda f: f["gain"], default=None)
    if best is None or best["gain"] < gain_min:
        return []
    return [f"'{best['word']}' where the source suggests '{best['alternative']}' "
            f"(which makes the source {best['gain']:.1f} more likely)"]


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def features(raw: dict[str, list[float]]) -> dict[str, float]:
    """Line-level scores from token log-probabilities. The reverse decode is compared token by token
    with the prior: a token the line makes *less* likely than no line at all is contradicted (a
    swapped noun) or missing (a dropped clause, or the end of the source where the line goes on)."""
    out: dict[str, float] = {}
    reverse, base, forward = raw.get("reverse") or [], raw.get("reverse_base") or [], raw.get("forward") or []
    forward_base = raw.get("forward_base") or []
    if reverse:
        out["reverse_mean"] = _mean(reverse)
        if len(base) == len(reverse):
            pmi = [a - b for a, b in zip(reverse, base, strict=True)]
            out["reverse_pmi_worst"] = worst(pmi)
            out["reverse_gain"] = _mean(reverse) - _mean(base)
    if forward:
        out["forward_mean"] = _mean(forward)
        out["forward_worst"] = worst(forward)
        if len(forward_base) == len(forward):
            pmi = [a - b for a, b in zip(forward, forward_base, strict=True)]
            out["forward_pmi_window"] = weakest_stretch(pmi)
    return out


def weakest_stretch(values: list[float], size: int = PMI_WINDOW) -> float:
    """The lowest mean of `size` consecutive values (of all of them when there are fewer)."""
    if len(values) <= size:
        return _mean(values)
    return min(_mean(values[i:i + size]) for i in range(len(values) - size + 1))


def model_reasons(scores: dict[str, float], pmi_worst_min: float = PMI_WORST_MIN, gain_min: float = GAIN_MIN,
                  forward_mean_min: float = FORWARD_MEAN_MIN,
                  forward_pmi_window_min: float = FORWARD_PMI_WINDOW_MIN) -> list[str]:
    reasons = []
    if scores.get("reverse_pmi_worst", 0.0) < pmi_worst_min:
        reasons.append("part of the source is contradicted or missing in the translation "
                       f"(worst tokens {scores['reverse_pmi_worst']:.1f})")
    elif scores.get("reverse_gain", 9.0) < gain_min:
        reasons.append(f"the translation explains little of the source (gain {scores['reverse_gain']:.2f})")
    if scores.get("forward_mean", 0.0) < forward_mean_min:
        reasons.append(f"the translation says things the source does not (forward {scores['forward_mean']:.2f})")
    elif scores.get("forward_pmi_window", 0.0) < forward_pmi_window_min:
        reasons.append("a stretch of the translation owes nothing to the source "
                       f"(forward against no source {scores['forward_pmi_window']:.1f})")
    return reasons
