"""DeepL API (online, opt-in): used only when DEEPL_API_KEY is set, since it sends text off the machine."""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Sequence

from polydub.errors import EngineNotInstalledError, UnsupportedLanguageError
from polydub.translation.base import TIER_BEST, Translator
from polydub.translation.text import run_nonempty

_SOURCES = {"bg", "cs", "da", "de", "el", "en", "es", "et", "fi", "fr", "hu", "id", "it", "ja", "ko",
            "lt", "lv", "nb", "nl", "pl", "pt", "ro", "ru", "sk", "sl", "sv", "tr", "uk", "zh", "ar"}
# DeepL insists on a regional variant for these targets.
_TARGET_CODES = {"en": "EN-US", "pt": "PT-BR"}


def target_code(lang: str) -> str:
    return _TARGET_CODES.get(lang, lang.upper())


def api_url(key: str) -> str:
    # Free-plan keys end in ":fx" and live on a separate host.
    host = "api-free.deepl.com" if key.endswith(":fx") else "api.deepl.com"
    return f"https://{host}/v2/translate"


def build_request(lines: Sequence[str], source: str, target: str, key: str) -> urllib.request.Request:
    body = {"text": list(lines), "source_lang": source.upper(), "target_lang": target_code(target),
            "split_sentences": "nonewlines", "preserve_formatting": True}
    return urllib.request.Request(api_url(key), data=json.dumps(body).encode("utf-8"), method="POST",
                                  headers={"Authorization": f"DeepL-Auth-Key {key}",
                                           "Content-Type": "application/json"})


class DeepLTranslator(Translator):
    name = "deepl"
    licence = "commercial API (DeepL terms); text leaves this machine"
    description = "DeepL web API, only with DEEPL_API_KEY set (online)"

    def __init__(self, key: str | None = None) -> None:
        self.key = key if key is not None else os.environ.get("DEEPL_API_KEY", "")

    def is_available(self) -> bool:
        return bool(self.key)

    def pairs(self) -> set[tuple[str, str]]:
        return {(s, t) for s in _SOURCES for t in _SOURCES if s != t}

    def tier(self, source: str, target: str) -> int:
        return TIER_BEST

    def install_hint(self) -> str:
        return "set DEEPL_API_KEY (sends subtitles to DeepL)"

    def translate(self, lines: Sequence[str], source: str, target: str) -> list[str]:
        if (source, target) not in self.pairs():
            raise UnsupportedLanguageError(f"DeepL has no {source}->{target}")
        if not self.key:
            raise EngineNotInstalledError("DeepL needs an API key", self.install_hint())

        def batch(chunk: list[str]) -> list[str]:
            with urllib.request.urlopen(build_request(chunk, source, target, self.key), timeout=60) as resp:
                data = json.loads(resp.read().decode("utf-8"))
            return [item["text"] for item in data["translations"]]

        # DeepL accepts up to 50 texts per request.
        return run_nonempty(lines, batch, batch_size=50)
