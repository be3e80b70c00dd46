"""Any OpenAI-compatible /v1/chat/completions endpoint (a local llama.cpp server, vLLM, Ollama...).

Env: POLYDUB_LLM_URL (base like http://127.0.0.1:8080/v1, or the full .../chat/completions URL),
POLYDUB_LLM_MODEL, optional POLYDUB_LLM_API_KEY, POLYDUB_LLM_TIER (draft|basic|good|best, default good),
POLYDUB_LLM_PAIRS ("en-de,en-ja"; default every pair of languages polydub knows)."""

from __future__ import annotations

import json
import os
import re
import urllib.request
from collections.abc import Sequence
from typing import Any

from polydub.errors import EngineNotInstalledError, UnsupportedLanguageError
from polydub.languages import LANGUAGE_NAMES, language_name
from polydub.translation.base import TIER_GOOD, TIER_NAMES, Translator
from polydub.translation.ctranslate2_engine import parse_pairs
from polydub.translation.text import run_nonempty

_BATCH = 20


def chat_url(base: str) -> str:
    base = base.rstrip("/")
    if base.endswith("/chat/completions"):
        return base
    return base + "/chat/completions" if base.endswith("/v1") else base + "/v1/chat/completions"


def build_messages(lines: Sequence[str], source: str, target: str) -> list[dict[str, str]]:
    # A JSON array in and out keeps line boundaries checkable; plain text lets models merge lines.
    system = (f"You translate subtitle lines from {language_name(source)} to {language_name(target)} "
              "for dubbing. Reply with only a JSON array of strings: one translation per input line, "
              "same order, same count, no notes.")
    return [{"role": "system", "content": system},
            {"role": "user", "content": json.dumps(list(lines), ensure_ascii=False)}]


def parse_reply(content: str, expected: int) -> list[str] | None:
    match = re.search(r"\[.*\]", content, flags=re.DOTALL)
    if not match:
        return None
    try:
        items = json.loads(match.group(0))
    except json.JSONDecodeError:
        return None
    if not isinstance(items, list) or len(items) != expected:
        return None
    return [" ".join(str(item).split()) for item in items]


class OpenAIChatTranslator(Translator):
    name = "llm"
    licence = "depends on the model served at POLYDUB_LLM_URL"
    description = "Your OpenAI-compatible chat endpoint (POLYDUB_LLM_URL + POLYDUB_LLM_MODEL)"

    def __init__(self, url: str | None = None, model: str | None = None, api_key: str | None = None,
                 timeout_s: float = 120.0) -> None:
        self.url = url if url is not None else os.environ.get("POLYDUB_LLM_URL", "")
        self.model = model if model is not None else os.environ.get("POLYDUB_LLM_MODEL", "")
        self.api_key = api_key if api_key is not None else os.environ.get("POLYDUB_LLM_API_KEY", "")
        self.timeout_s = timeout_s
        names = {v: k for k, v in TIER_NAMES.items()}
        self._tier = names.get(os.environ.get("POLYDUB_LLM_TIER", "good").lower(), TIER_GOOD)
        spec = os.environ.get("POLYDUB_LLM_PAIRS", "")
        self._pairs = parse_pairs(spec) if spec else {
            (s, t) for s in LANGUAGE_NAMES for t in LANGUAGE_NAMES if s != t}

    def is_available(self) -> bool:
        return bool(self.url and self.model)

    def pairs(self) -> set[tuple[str, str]]:
        return set(self._pairs)

    def tier(self, source: str, target: str) -> int:
        return self._tier

    def install_hint(self) -> str:
        return "set POLYDUB_LLM_URL (e.g. http://127.0.0.1:8080/v1) and POLYDUB_LLM_MODEL"

    def _chat(self, messages: list[dict[str, str]]) -> str:
        body = {"model": self.model, "messages": messages, "temperature": 0}
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        req = urllib.request.Request(chat_url(self.url), data=json.dumps(body).encode("utf-8"),
                                     headers=headers, method="POST")
        with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
            data: Any = json.loads(resp.read().decode("utf-8"))
        return str(data["choices"][0]["message"]["content"])

    def translate(self, lines: Sequence[str], source: str, target: str) -> list[str]:
        if (source, target) not in self._pairs:
            raise UnsupportedLanguageError(f"the LLM endpoint is not set up for {source}->{target}")
        if not self.is_available():
            raise EngineNotInstalledError("no LLM endpoint configured", self.install_hint())

        def batch(chunk: list[str]) -> list[str]:
            parsed = parse_reply(self._chat(build_messages(chunk, source, target)), len(chunk))
            if parsed is not None:
                return parsed
            # The model broke the format: ask one line at a time, which small models manage.
            out = []
            for line in chunk:
                one = parse_reply(self._chat(build_messages([line], source, target)), 1)
                if one is None:
                    raise RuntimeError(f"the LLM at {self.url} did not return a JSON array for one line")
                out.extend(one)
            return out

        return run_nonempty(lines, batch, batch_size=_BATCH)
