"""Machine translation: the engine interface every translator implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

# Quality tiers, declared per engine and pair; the registry picks the highest.
TIER_DRAFT = 1  # may invent content (small LLM), or word-by-word
TIER_BASIC = 2  # rule-based / literal
TIER_GOOD = 3  # neural, small
TIER_BEST = 4  # large neural or commercial

TIER_NAMES = {TIER_DRAFT: "draft", TIER_BASIC: "basic", TIER_GOOD: "good", TIER_BEST: "best"}


@dataclass(frozen=True)
class TranslationRequest:
    """Lines to translate in order; context gives neighbouring source lines for engines that use it."""

    lines: Sequence[str]
    source: str
    target: str


class Translator(ABC):
    """One class per engine. Engines are cheap to construct; models load lazily on first use."""

    name: str = ""
    licence: str = ""
    description: str = ""
    uses_llm: bool = False  # an in-process language model: POLYDUB_NO_LLM=1 turns it off

    @abstractmethod
    def is_available(self) -> bool:
        """True when the runtime and weights are installed (never downloads)."""

    @abstractmethod
    def pairs(self) -> set[tuple[str, str]]:
        """Language pairs (two-letter codes) this engine translates when available."""

    def tier(self, source: str, target: str) -> int:
        return TIER_BASIC

    def install_hint(self) -> str:
        return ""

    def provenance(self) -> str:
        """Where the weights came from and how they were verified (shown by `polydub models`)."""
        return ""

    @abstractmethod
    def translate(self, lines: Sequence[str], source: str, target: str) -> list[str]:
        """Translate each line; returns exactly one output per input, in order."""


def uses_llm(translator: object) -> bool:
    """True when the engine, or a link of a chain, is an in-process language model (seconds a line)."""
    links = getattr(translator, "links", None) or [translator]
    return any(getattr(link, "uses_llm", False) for link in links)
