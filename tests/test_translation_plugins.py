"""Plug-in engines (DeepL, OpenAI-compatible endpoint, CTranslate2 folder) and registry ranking with fakes."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from polydub.errors import EngineNotInstalledError, UnsupportedLanguageError
from polydub.translation.base import TIER_BASIC, TIER_DRAFT, TIER_GOOD, Translator
from polydub.translation.ctranslate2_engine import CTranslate2Translator, parse_pairs
from polydub.translation.deepl import DeepLTranslator, api_url, build_request
from polydub.translation.openai_chat import OpenAIChatTranslator, chat_url, parse_reply
from polydub.translation.registry import TranslationRegistry
from polydub.translation.text import match_initial_case, run_nonempty


class Fake(Translator):
    def __init__(self, name: str, pairs: set[tuple[str, str]], tier: int, available: bool = True) -> None:
        self.name, self._pairs, self._tier, self._available = name, pairs, tier, available
        self.licence = "test"

    def is_available(self) -> bool:
        return self._available

    def pairs(self) -> set[tuple[str, str]]:
        return self._pairs

    def tier(self, source: str, target: str) -> int:
        return self._tier

    def install_hint(self) -> str:
        return f"install {self.name}"

    def translate(self, lines: Sequence[str], source: str, target: str) -> list[str]:
        return [f"{line}>{target}" if line else "" for line in lines]


def fake_registry() -> TranslationRegistry:
    return TranslationRegistry([
        Fake("neural", {("en", "pt"), ("pt", "en")}, TIER_GOOD),
        Fake("rules", {("en", "es"), ("pt", "es"), ("es", "fr")}, TIER_BASIC),
        Fake("llm", {("en", "es"), ("en", "de"), ("en", "fr")}, TIER_DRAFT),
        Fake("paid", {("en", "ko")}, TIER_GOOD, available=False),
    ])


def test_ranking_good_chain_beats_basic_direct_beats_draft() -> None:
    names = [c.name for c in fake_registry().candidates("en", "es")]
    assert names[:3] == ["neural+rules", "rules", "llm"]


def test_ranking_direct_before_chain_on_equal_tier() -> None:
    reg = TranslationRegistry([Fake("a", {("en", "es")}, TIER_BASIC),
                               Fake("b", {("en", "pt"), ("pt", "es")}, TIER_BASIC)])
    assert [c.name for c in reg.candidates("en", "es")] == ["a", "b+b"]


def test_basic_chain_beats_draft_direct() -> None:
    # en->fr: rules+rules (literal but faithful) ranks over a draft LLM that may invent content.
    assert fake_registry().best("en", "fr").name == "rules+rules"


def test_chain_translates_through_pivot() -> None:
    chain = fake_registry().best("en", "es")
    assert chain.translate(["hi", ""], "en", "es") == ["hi>pt>es", ""]


def test_unsupported_hint_names_unavailable_engine() -> None:
    with pytest.raises(UnsupportedLanguageError) as err:
        fake_registry().best("en", "ko")
    assert "en->ko" in str(err.value) and "install paid" in str(err.value)


def test_prefer_engine_and_unavailable_prefer() -> None:
    reg = fake_registry()
    assert reg.best("en", "es", prefer="llm").name == "llm"
    assert reg.best("en", "es", prefer="neural").name == "neural+rules"
    with pytest.raises(EngineNotInstalledError, match="paid"):
        reg.best("en", "ko", prefer="paid")
    with pytest.raises(UnsupportedLanguageError, match="en->ko"):
        reg.best("en", "ko", prefer="rules")


def test_broken_plugin_is_unavailable_not_fatal() -> None:
    class Broken(Fake):
        def is_available(self) -> bool:
            raise OSError("boom")

    reg = TranslationRegistry([Broken("broken", {("en", "es")}, TIER_GOOD), Fake("ok", {("en", "es")}, 2)])
    assert reg.best("en", "es").name == "ok"


def test_run_nonempty_keeps_blank_positions_and_checks_count() -> None:
    assert run_nonempty(["a", "", "  ", "b\nc"], lambda b: [x.upper() for x in b]) == ["A", "", "", "B C"]
    with pytest.raises(RuntimeError):
        run_nonempty(["a", "b"], lambda b: b[:1])
    assert match_initial_case("and then", "Y luego") == "y luego"
    assert match_initial_case("And then", "Y luego") == "Y luego"


def test_deepl_request_building(monkeypatch: pytest.MonkeyPatch) -> None:
    req = build_request(["Hello", "World"], "en", "pt", "abc:fx")
    assert req.full_url == "https://api-free.deepl.com/v2/translate"
    assert api_url("paid-key") == "https://api.deepl.com/v2/translate"
    assert req.get_method() == "POST"
    assert req.get_header("Authorization") == "DeepL-Auth-Key abc:fx"
    body = json.loads(req.data)  # type: ignore[arg-type]
    assert body["text"] == ["Hello", "World"]
    assert body["source_lang"] == "EN" and body["target_lang"] == "PT-BR"
    monkeypatch.delenv("DEEPL_API_KEY", raising=False)
    assert not DeepLTranslator().is_available()
    assert DeepLTranslator(key="k").is_available()


class _ChatHandler(BaseHTTPRequestHandler):
    requests: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
        lines = json.loads(body["messages"][-1]["content"])
        if len(lines) > 1 and any("break" in line for line in lines):
            content = "Sorry, here you go: " + " / ".join(lines)  # format broken: forces per-line retry
        else:
            content = "Sure:\n" + json.dumps([f"[{line}]" for line in lines], ensure_ascii=False)
        data = json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def chat_server() -> Iterator[str]:
    _ChatHandler.requests = []
    server = HTTPServer(("127.0.0.1", 0), _ChatHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_openai_chat_against_local_server(chat_server: str) -> None:
    engine = OpenAIChatTranslator(url=chat_server, model="tiny", api_key="secret")
    assert engine.is_available()
    out = engine.translate(["Hello", "", "ça va"], "en", "de")
    assert out == ["[Hello]", "", "[ça va]"]
    req = _ChatHandler.requests[0]
    assert req["path"] == "/v1/chat/completions"
    assert req["body"]["model"] == "tiny" and req["body"]["temperature"] == 0
    assert req["auth"] == "Bearer secret"
    assert "German" in req["body"]["messages"][0]["content"]


def test_openai_chat_retries_line_by_line_when_format_breaks(chat_server: str) -> None:
    engine = OpenAIChatTranslator(url=chat_server, model="tiny")
    assert engine.translate(["one", "break two"], "en", "fr") == ["[one]", "[break two]"]
    assert len(_ChatHandler.requests) == 3


def test_openai_chat_helpers(monkeypatch: pytest.MonkeyPatch) -> None:
    assert chat_url("http://h:8080") == "http://h:8080/v1/chat/completions"
    assert chat_url("http://h:8080/v1/") == "http://h:8080/v1/chat/completions"
    assert chat_url("http://h/x/chat/completions") == "http://h/x/chat/completions"
    assert parse_reply('["a", "b"]', 2) == ["a", "b"]
    assert parse_reply('["a"]', 2) is None
    assert parse_reply("no json", 1) is None
    monkeypatch.delenv("POLYDUB_LLM_URL", raising=False)
    assert not OpenAIChatTranslator(model="m").is_available()


def test_ctranslate2_needs_configured_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POLYDUB_CT2_MODEL_DIR", raising=False)
    assert not CTranslate2Translator().is_available()
    assert parse_pairs("en-de, EN-fr,bad") == {("en", "de"), ("en", "fr")}
    engine = CTranslate2Translator(folder=tmp_path, pairs="en-de")
    assert not engine.is_available()  # no model.bin
    assert engine.pairs() == {("en", "de")}
    assert "POLYDUB_CT2_MODEL_DIR" in engine.install_hint()
    with pytest.raises(UnsupportedLanguageError):
        engine.translate(["x"], "en", "fr")
    with pytest.raises(EngineNotInstalledError):
        engine.translate(["x"], "en", "de")


class _FakeLlama:
    """Scripted completions to exercise Gemma's runaway/empty guards without the model."""

    def __init__(self, replies: list[tuple[str, str]]) -> None:
        self.replies = list(replies)
        self.prompts: list[str] = []
        self.caps: list[int] = []

    def tokenize(self, data: bytes, add_bos: bool = False, special: bool = False) -> list[int]:
        return list(range(len(data.split())))

    def create_completion(self, prompt: str, max_tokens: int, **_: Any) -> dict[str, Any]:
        self.prompts.append(prompt)
        self.caps.append(max_tokens)
        text, reason = self.replies.pop(0)
        return {"choices": [{"text": text, "finish_reason": reason}]}


def test_gemma_retries_other_examples_on_empty_and_runaway(monkeypatch: pytest.MonkeyPatch) -> None:
    from polydub.translation import gemma as gemma_mod

    fake = _FakeLlama([(" ", "stop"), (" Ich bin hier und hier und hier", "length"), (" Ich bin hier.", "stop")])
    monkeypatch.setattr(gemma_mod.GEMMA, "_llm", fake)  # the loaded model, as GEMMA.llm() returns it
    engine = gemma_mod.GemmaTranslator()
    assert engine.translate(["", "I am here."], "en", "de") == ["", "Ich bin hier."]
    assert engine.warnings == []
    assert len(set(fake.prompts)) == 3  # each retry uses different few-shot examples
    assert fake.prompts[0].endswith("English: I am here.\nGerman:")
    assert fake.caps[0] < 20  # cap scales with the 3-token source

    fake.replies = [("", "stop")] * 3
    assert engine.translate(["Hi."], "en", "de") == [""]
    assert engine.warnings == [(0, "empty")]
    # A name-only line may legitimately come back unchanged: kept, but flagged.
    fake.replies = [(" Hallo", "stop")] + [(" Zorglub.", "stop")] * 3
    assert engine.translate(["Hello", "Zorglub."], "en", "de") == ["Hallo", "Zorglub."]
    assert engine.warnings == [(1, "copied the source")]
