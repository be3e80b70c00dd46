"""Does a translation say what the source said? Invented, dropped and swapped content.

Two kinds of evidence, combined into one flag (thresholds tuned on bench/mt/adequacy.tsv, see
bench/bench_mt.py and the README table):
- lexical: numbers that differ, a phrase repeated in the output but not in the source (Whisper's
  "…but I haven't seen it yet" loops), source words left untranslated;
- model-based, Prism-style: an LLM (Qwen) force-decodes the source as the translation of the line
  back into the source language, and the line as the translation of the source. A line that lost a
  clause leaves source tokens unexplained; a swapped noun makes its counterpart improbable; an
  invented clause makes the forward decode improbable. The line is scored by its worst tokens (a
  swapped noun is one or two tokens), not only the average.
The model never scores itself forward: a line the LLM translated is judged by the reverse decode,
which its own greedy choice does not inflate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from polydub.translation.leaks import leak_problem

# Thresholds from bench/bench_mt.py --adequacy (labelled set bench/mt/adequacy.tsv); see README.
REVERSE_WORST_MIN = -5.0
FORWARD_WORST_MIN = -5.5
REVERSE_MEAN_MIN = -1.6
WORST_K = 2  # mean of the k least likely tokens

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


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

    def __init__(self) -> None:
        from polydub.translation.qwen import QwenTranslator

        self._qwen = QwenTranslator()
        self._ready: bool | None = None

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

    def measure(self, source: str, output: str, src: str, tgt: str, produced_by: str | None) -> dict[str, float]:
        """Prism-style measurements (empty when no scorer is installed or a language is not covered)."""
        if not self.available() or not source.strip() or not output.strip():
            return {}
        pairs = self._qwen.pairs()
        scores: dict[str, float] = {}
        if (tgt, src) in pairs:
            back = self._logprobs(output, source, tgt, src)
            if back:
                scores["reverse_mean"] = sum(back) / len(back)
                scores["reverse_worst"] = worst(back)
        if (src, tgt) in pairs and produced_by != self._qwen.name:
            fwd = self._logprobs(source, output, src, tgt)
            if fwd:
                scores["forward_mean"] = sum(fwd) / len(fwd)
                scores["forward_worst"] = worst(fwd)
        return scores

    def judge(self, source: str, output: str, src: str, tgt: str, produced_by: str | None = None,
              model: bool = True) -> Adequacy:
        """The verdict on one line; `model=False` runs only the lexical checks (for engines that
        cannot invent content: rule-based and classic neural MT)."""
        if not source.strip() or src == tgt:
            return Adequacy(False)
        reasons = lexical_reasons(source, output, src, tgt)
        scores = self.measure(source, output, src, tgt, produced_by) if model else {}
        reasons += model_reasons(scores)
        return Adequacy(bool(reasons), reasons, scores, self.name if scores else None)


def model_reasons(scores: dict[str, float]) -> list[str]:
    reasons = []
    if scores.get("reverse_worst", 0.0) < REVERSE_WORST_MIN or scores.get("reverse_mean", 0.0) < REVERSE_MEAN_MIN:
        reasons.append("part of the source is not in the translation (reverse score "
                       f"{scores.get('reverse_worst', 0.0):.1f}/{scores.get('reverse_mean', 0.0):.2f})")
    if scores.get("forward_worst", 0.0) < FORWARD_WORST_MIN:
        reasons.append(f"the translation says something the source does not (forward score "
                       f"{scores['forward_worst']:.1f})")
    return reasons
