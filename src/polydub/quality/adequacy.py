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
PMI_WORST_MIN = -4.0  # a source token the line makes this much less likely than no line at all
GAIN_MIN = 0.5  # mean log-probability the line adds to the source
FORWARD_MEAN_MIN = -2.5  # mean log-probability of a draft line given the source
WORST_K = 1  # a swapped noun is often a single token: averaging hides it ("country" -> "Landwirtschaft")

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
        the LLM did not write, the line given the source ("forward"). Empty without a scorer."""
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
        return raw

    def measure(self, source: str, output: str, src: str, tgt: str, produced_by: str | None) -> dict[str, float]:
        return features(self.measure_raw(source, output, src, tgt, produced_by))

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


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def features(raw: dict[str, list[float]]) -> dict[str, float]:
    """Line-level scores from token log-probabilities. The reverse decode is compared token by token
    with the prior: a token the line makes *less* likely than no line at all is contradicted (a
    swapped noun) or missing (a dropped clause, or the end of the source where the line goes on)."""
    out: dict[str, float] = {}
    reverse, base, forward = raw.get("reverse") or [], raw.get("reverse_base") or [], raw.get("forward") or []
    if reverse:
        out["reverse_mean"] = _mean(reverse)
        if len(base) == len(reverse):
            pmi = [a - b for a, b in zip(reverse, base, strict=True)]
            out["reverse_pmi_worst"] = worst(pmi)
            out["reverse_gain"] = _mean(reverse) - _mean(base)
    if forward:
        out["forward_mean"] = _mean(forward)
        out["forward_worst"] = worst(forward)
    return out


def model_reasons(scores: dict[str, float], pmi_worst_min: float = PMI_WORST_MIN, gain_min: float = GAIN_MIN,
                  forward_mean_min: float = FORWARD_MEAN_MIN) -> list[str]:
    reasons = []
    if scores.get("reverse_pmi_worst", 0.0) < pmi_worst_min:
        reasons.append("part of the source is contradicted or missing in the translation "
                       f"(worst tokens {scores['reverse_pmi_worst']:.1f})")
    elif scores.get("reverse_gain", 9.0) < gain_min:
        reasons.append(f"the translation explains little of the source (gain {scores['reverse_gain']:.2f})")
    if scores.get("forward_mean", 0.0) < forward_mean_min:
        reasons.append(f"the translation says things the source does not (forward {scores['forward_mean']:.2f})")
    return reasons
