"""Two engines glued through a pivot language (e.g. en->pt neural, then pt->es rule-based)."""

from __future__ import annotations

from collections.abc import Sequence

from polydub.translation.base import TIER_BASIC, TIER_GOOD, Translator

# Each hop loses some meaning; a chain ranks just below an equally good direct engine.
CHAIN_PENALTY = 0.25


def link_score(engine: Translator, source: str, target: str) -> float:
    return float(engine.tier(source, target))


class ChainTranslator(Translator):
    """Translate source -> pivot with the first engine and pivot -> target with the second."""

    def __init__(self, links: Sequence[Translator], pivot: str) -> None:
        if len(links) != 2:
            raise ValueError("a chain has exactly two engines")
        self.links = list(links)
        self.pivot = pivot
        self.name = f"{links[0].name}+{links[1].name}"
        self.licence = "; ".join(dict.fromkeys(link.licence for link in links if link.licence))
        self.description = f"{links[0].name} then {links[1].name} through {pivot}"

    def is_available(self) -> bool:
        return all(link.is_available() for link in self.links)

    def pairs(self) -> set[tuple[str, str]]:
        first, second = self.links
        return {(s, t) for s, p in first.pairs() if p == self.pivot
                for p2, t in second.pairs() if p2 == self.pivot and t != s}

    def score(self, source: str, target: str) -> float:
        """Float rank: a neural first hop carries most of the meaning, so GOOD then BASIC (measured
        4.2/5 for en->pt->es) counts as a slightly penalised GOOD, above a direct BASIC (3.1/5)."""
        first = link_score(self.links[0], source, self.pivot)
        second = link_score(self.links[1], self.pivot, target)
        base = first if first >= TIER_GOOD and second >= TIER_BASIC else min(first, second)
        return base - CHAIN_PENALTY

    def tier(self, source: str, target: str) -> int:
        # Rounded up so a GOOD->BASIC chain reports "good"; the registry sorts by score().
        return int(self.score(source, target) + CHAIN_PENALTY)

    def install_hint(self) -> str:
        return "; ".join(h for h in (link.install_hint() for link in self.links) if h)

    def translate(self, lines: Sequence[str], source: str, target: str) -> list[str]:
        middle = self.links[0].translate(lines, source, self.pivot)
        return self.links[1].translate(middle, self.pivot, target)
