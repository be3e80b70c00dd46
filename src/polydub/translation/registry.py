"""Which engine translates a pair: direct engines and two-engine chains, ranked by quality tier."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from polydub.errors import EngineNotInstalledError, UnsupportedLanguageError
from polydub.languages import normalize_language
from polydub.translation.apertium import ApertiumTranslator
from polydub.translation.base import TIER_BEST, TIER_NAMES, Translator
from polydub.translation.chain import ChainTranslator
from polydub.translation.ctranslate2_engine import CTranslate2Translator
from polydub.translation.deepl import DeepLTranslator
from polydub.translation.firefox import FastTranslateTranslator
from polydub.translation.gemma import GemmaTranslator
from polydub.translation.leaks import leak_problem
from polydub.translation.llama_models import llm_disabled
from polydub.translation.openai_chat import OpenAIChatTranslator
from polydub.translation.qwen import QwenTranslator


class CopyTranslator(Translator):
    """Source and target are the same language: re-voicing without translation."""

    name = "copy"
    licence = "n/a"
    description = "no translation (source and target language are the same)"

    def is_available(self) -> bool:
        return True

    def pairs(self) -> set[tuple[str, str]]:
        return set()

    def tier(self, source: str, target: str) -> int:
        return TIER_BEST

    def translate(self, lines: Sequence[str], source: str, target: str) -> list[str]:
        return [" ".join(line.split()) for line in lines]


def default_engines() -> list[Translator]:
    # Order breaks ties between engines of equal tier: offline ones before online/plug-ins.
    return [FastTranslateTranslator(), ApertiumTranslator(), CTranslate2Translator(), QwenTranslator(),
            GemmaTranslator(), OpenAIChatTranslator(), DeepLTranslator()]


@dataclass
class DocumentTranslation:
    """Translations of a document's lines, which engine produced each, and what the user should know."""

    texts: list[str]
    engines: list[str]  # per line: a line may have fallen back to the next engine
    engine: str  # the engine chosen for the pair
    tier: str
    problems: dict[int, str] = field(default_factory=dict)  # line index -> why it is still suspect
    line_notes: dict[int, str] = field(default_factory=dict)  # line index -> what happened to it
    notes: list[str] = field(default_factory=list)  # about the whole document, for the warnings

    def extend(self, part: DocumentTranslation) -> None:
        """Append the next batch of the same document (its line indices shift by this one's length)."""
        offset = len(self.texts)
        self.texts += part.texts
        self.engines += part.engines
        self.problems.update({offset + i: p for i, p in part.problems.items()})
        self.line_notes.update({offset + i: n for i, n in part.line_notes.items()})
        self.notes += [n for n in part.notes if n not in self.notes]


def score(engine: Translator, source: str, target: str) -> float:
    if isinstance(engine, ChainTranslator):
        return engine.score(source, target)
    return float(engine.tier(source, target))


class TranslationRegistry:
    def __init__(self, engines: Sequence[Translator] | None = None) -> None:
        self._engines = list(engines) if engines is not None else default_engines()
        self._available: dict[str, bool] = {}

    def engines(self) -> list[Translator]:
        return list(self._engines)

    def _is_available(self, engine: Translator) -> bool:
        if engine.name not in self._available:
            try:
                self._available[engine.name] = bool(engine.is_available())
            except Exception:  # a broken plug-in must not take the whole registry down
                self._available[engine.name] = False
        return self._available[engine.name]

    def available(self) -> list[Translator]:
        return [e for e in self._engines if self._is_available(e)]

    def candidates(self, source: str, target: str) -> list[Translator]:
        """Available direct engines and two-link chains for the pair, best first."""
        source, target = normalize_language(source), normalize_language(target)
        ready = self.available()
        ranked: list[tuple[float, int, int, Translator]] = []
        for order, engine in enumerate(ready):
            if (source, target) in engine.pairs():
                ranked.append((score(engine, source, target), 0, order, engine))
        for i, first in enumerate(ready):
            for pivot in sorted({t for s, t in first.pairs() if s == source and t != target}):
                for j, second in enumerate(ready):
                    if (pivot, target) in second.pairs():
                        chain = ChainTranslator([first, second], pivot)
                        ranked.append((score(chain, source, target), 1, i * len(ready) + j, chain))
        ranked.sort(key=lambda item: (-item[0], item[1], item[2]))
        return [item[3] for item in ranked]

    def _by_name(self, name: str) -> Translator:
        for engine in self._engines:
            if engine.name == name:
                return engine
        known = ", ".join(e.name for e in self._engines)
        raise EngineNotInstalledError(f"unknown translation engine '{name}'", f"known engines: {known}")

    def best(self, source: str, target: str, prefer: str | None = None) -> Translator:
        source, target = normalize_language(source), normalize_language(target)
        if source == target:
            return CopyTranslator()
        if prefer:
            wanted = [self._by_name(part) for part in prefer.split("+")]
            for engine in wanted:
                if not self._is_available(engine):
                    raise EngineNotInstalledError(f"translation engine '{engine.name}' is not installed",
                                                  engine.install_hint() or None)
            if len(wanted) == 1 and (source, target) in wanted[0].pairs():
                return wanted[0]
            # A preferred engine may still serve as one link of a chain ("prefer gemma" for en->es).
            for cand in self.candidates(source, target):
                names = [link.name for link in cand.links] if isinstance(cand, ChainTranslator) else [cand.name]
                if names == [w.name for w in wanted] or (len(wanted) == 1 and wanted[0].name in names):
                    return cand
            raise UnsupportedLanguageError(f"translation engine '{prefer}' cannot translate {source}->{target}",
                                           self._hint(source, target))
        found = self.candidates(source, target)
        if not found:
            raise UnsupportedLanguageError(f"no installed translation engine for {source}->{target}",
                                           self._hint(source, target))
        return found[0]

    def llm_opt_out_note(self, source: str, target: str, chosen: str | None) -> str | None:
        """What POLYDUB_NO_LLM=1 changed for this pair (None when nothing): never a silent downgrade."""
        if not llm_disabled():
            return None
        skipped = [e for e in self._engines if e.uses_llm and (source, target) in e.pairs()]
        if not skipped:
            return None
        names = ", ".join(f"{e.name} ({TIER_NAMES.get(e.tier(source, target), '?')})" for e in skipped)
        using = f"translating with {chosen}" if chosen else "no other engine covers the pair"
        return f"POLYDUB_NO_LLM=1: {names} not used for {source}->{target}; {using}"

    def translate_document(self, lines: Sequence[str], source: str, target: str,
                           prefer: str | None = None) -> DocumentTranslation:
        """Translate a document's lines in order (engines that use context see the neighbours). A
        line whose output is not in the target language (leaked source words, copied, empty) is
        given to the next engine for the pair; a line no engine gets right keeps the best attempt
        and a problem note. A preferred engine is never replaced."""
        src, tgt = normalize_language(source), normalize_language(target)
        chosen = self.best(src, tgt, prefer=prefer)
        tier = TIER_NAMES.get(chosen.tier(src, tgt), "?")
        texts = list(chosen.translate(list(lines), src, tgt))
        if len(texts) != len(lines):
            raise RuntimeError(f"{chosen.name} returned {len(texts)} lines for {len(lines)}")
        engines = [chosen.name] * len(lines)
        problems = {i: p for i, (line, text) in enumerate(zip(lines, texts, strict=True))
                    if (p := leak_problem(line, text, src, tgt))}
        notes = [note] if (note := self.llm_opt_out_note(src, tgt, f"{chosen.name} ({tier})")) else []
        line_notes: dict[int, str] = {}
        for engine in ([] if prefer or src == tgt else self.candidates(src, tgt)):
            if not problems:
                break
            if engine.name == chosen.name:
                continue
            todo = sorted(problems)
            try:
                alternatives = engine.translate([lines[i] for i in todo], src, tgt)
            except Exception as exc:  # one broken fallback must not lose the document
                notes.append(f"fallback translation with {engine.name} failed: {exc}")
                continue
            for i, text in zip(todo, alternatives, strict=True):
                if text.strip() and leak_problem(lines[i], text, src, tgt) is None:
                    line_notes[i] = (f"{chosen.name} output rejected ({problems.pop(i)}); used {engine.name} "
                                     f"({TIER_NAMES.get(engine.tier(src, tgt), '?')})")
                    texts[i], engines[i] = text, engine.name
        for i, problem in problems.items():
            line_notes[i] = f"{problem}; no engine did better, check the line"
        if line_notes:
            fell = sum(1 for e in engines if e != chosen.name)
            notes.append(f"{chosen.name}: {len(line_notes)} of {len(lines)} lines were not clean {tgt} "
                         f"({fell} translated by the next engine instead, {len(problems)} kept for review)")
        return DocumentTranslation(texts, engines, chosen.name, tier, problems, line_notes, notes)

    def _hint(self, source: str, target: str) -> str:
        note = self.llm_opt_out_note(source, target, None)
        if note:
            return note + " (unset POLYDUB_NO_LLM to use them)"
        could = [e for e in self._engines if (source, target) in e.pairs() and not self._is_available(e)]
        if could:
            return "could be served by: " + "; ".join(f"{e.name} ({e.install_hint()})" for e in could)
        ready = sorted({f"{s}-{t}" for e in self.available() for s, t in e.pairs()})
        return ("installed pairs: " + ", ".join(ready) + "; or set POLYDUB_LLM_URL/POLYDUB_CT2_MODEL_DIR"
                if ready else "no translation engine is installed; see `polydub models`")

    def describe(self) -> list[dict[str, Any]]:
        rows = []
        for engine in self._engines:
            pairs = sorted(engine.pairs())
            rows.append({
                "name": engine.name,
                "available": self._is_available(engine),
                "pairs": [f"{s}-{t}" for s, t in pairs],
                "tiers": {f"{s}-{t}": TIER_NAMES.get(engine.tier(s, t), "?") for s, t in pairs},
                "licence": engine.licence,
                "description": engine.description,
                "install_hint": engine.install_hint(),
                "provenance": engine.provenance(),
            })
        return rows


_DEFAULT: TranslationRegistry | None = None


def default_registry() -> TranslationRegistry:
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = TranslationRegistry()
    return _DEFAULT


def translate_lines(lines: Sequence[str], source: str, target: str,
                    engine: str | None = None) -> tuple[list[str], str, str]:
    """Translate subtitle lines with the best (or named) engine: (translations, engine name, tier name)."""
    done = default_registry().translate_document(lines, source, target, prefer=engine)
    return done.texts, done.engine, done.tier
