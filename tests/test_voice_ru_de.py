"""RHVoice (Russian) and MBROLA (German, French) against their real voices: intelligibility through a
Whisper round trip, native rate control, exact duration prediction, voices with gender and licence;
commercial-safe exclusion and errors; the festival/espeak fallback when the engines are missing."""

from __future__ import annotations

import pytest

from polydub.cli import main as cli_main
from polydub.errors import LicenceError
from polydub.pipeline import DubOptions
from polydub.pipeline import stages as pipeline_stages
from polydub.quality.checks import Thresholds, Tools
from polydub.quality.metrics import cer
from polydub.voice.espeak import EspeakEngine
from polydub.voice.festival import FestivalEngine
from polydub.voice.licences import is_explicit_only, is_non_commercial, licence_summary
from polydub.voice.matching import candidate_voices
from polydub.voice.mbrola import MbrolaEngine
from polydub.voice.registry import VoiceRegistry
from polydub.voice.rhvoice import RHVoiceEngine

TEXT = {
    "ru": "Спасибо всем, что пришли сегодня. Не спрашивайте, что ваша страна может сделать для вас.",
    "de": "Das Wetter ist heute schön, und wir gehen am Nachmittag in den Park. Vielen Dank, dass Sie "
          "heute gekommen sind.",
    "fr": "Merci à tous d'être venus aujourd'hui. J'aimerais vous raconter une courte histoire.",
}
# Voice -> (language, largest round-trip CER accepted). Measured with Whisper base (greedy, as the
# quality stage listens): 0.000 for the RHVoice voices and mb-de6, <= 0.05 for mb-de7 and mb-fr1.
VOICES = {"rhvoice:aleksandr-hq": ("ru", 0.05), "rhvoice:anna": ("ru", 0.05),
          "mbrola:mb-de7": ("de", 0.05), "mbrola:mb-de6": ("de", 0.05), "mbrola:mb-fr1": ("fr", 0.05)}


@pytest.fixture(scope="module")
def registry() -> VoiceRegistry:
    reg = VoiceRegistry()
    for engine in ("rhvoice", "mbrola"):
        if engine not in {e.name for e in reg.available_engines()}:
            pytest.skip(f"TTS engine {engine} not installed here (Debian non-free packages)")
    return reg


@pytest.fixture(scope="module")
def listener() -> Tools:
    return Tools(Thresholds())


@pytest.mark.slow
@pytest.mark.parametrize("voice_id", sorted(VOICES))
def test_round_trip_intelligible(registry: VoiceRegistry, listener: Tools, voice_id: str) -> None:
    language, limit = VOICES[voice_id]
    audio = registry.synthesize(TEXT[language], voice_id)
    heard = listener.transcribe(audio, language) or ""
    error = cer(TEXT[language], heard)
    print(f"\n{voice_id}: {audio.duration:.2f} s at {audio.rate} Hz, CER {error:.3f}: {heard!r}")
    assert audio.rate in (16000, 22050, 24000) and audio.duration > 2.0
    assert error <= limit


@pytest.mark.parametrize("voice_id", ["rhvoice:aleksandr-hq", "mbrola:mb-de7", "mbrola:mb-fr4"])
def test_native_rate_control(registry: VoiceRegistry, voice_id: str) -> None:
    """`speed` is delivered by the engine itself within 6 % (RHVoice exactly; MBROLA through the
    measured words-per-minute curve), from 0.85x to 1.25x."""
    text = TEXT[registry.get_voice(voice_id).language]
    base = registry.synthesize(text, voice_id).duration
    for speed in (0.85, 1.25):
        achieved = base / registry.synthesize(text, voice_id, speed=speed).duration
        print(f"{voice_id}: asked {speed}x, got {achieved:.3f}x")
        assert achieved == pytest.approx(speed, rel=0.06)
    assert registry.engine_for(voice_id).capabilities.native_rate


@pytest.mark.parametrize("voice_id", ["rhvoice:aleksandr-hq", "mbrola:mb-de6"])
def test_duration_prediction_is_exact(registry: VoiceRegistry, voice_id: str) -> None:
    """The prediction renders the line and keeps it: a fresh engine (empty cache) produces audio of
    the predicted length within 1 % (the engines are deterministic), at any speed."""
    text = TEXT[registry.get_voice(voice_id).language]
    fresh = VoiceRegistry([RHVoiceEngine(), MbrolaEngine()])
    for speed in (1.0, 1.2):
        predicted = registry.predict_duration(text, voice_id, speed)
        rendered = fresh.synthesize(text, voice_id, speed=speed).duration
        assert predicted == pytest.approx(rendered, rel=0.01), (speed, predicted, rendered)
        assert registry.synthesize(text, voice_id, speed=speed).duration == predicted  # the kept render


def test_voices_gender_quality_and_licences(registry: VoiceRegistry) -> None:
    ru = {v.id: v for v in registry.voices("ru", include_explicit=True)}
    assert registry.default_voice("ru").id == "rhvoice:aleksandr-hq"
    assert ru["rhvoice:aleksandr-hq"].gender == "male" and ru["rhvoice:anna"].gender == "female"
    hq = ru["rhvoice:aleksandr-hq"]
    assert not is_non_commercial(hq) and "CC-BY-SA" in hq.extra["licence"]
    if "rhvoice:arina" in ru:  # a CC BY-NC-ND voice: only by explicit id, licence shown
        arina = ru["rhvoice:arina"]
        assert is_non_commercial(arina) and is_explicit_only(arina) and "NC" in arina.extra["licence"]
        assert arina not in registry.voices("ru")  # never a default, never matched
        assert registry.get_voice("rhvoice:arina").id == "rhvoice:arina"
    de = {v.id: v for v in registry.voices("de")}
    assert registry.default_voice("de").engine == "mbrola"
    assert {de["mbrola:mb-de6"].gender, de["mbrola:mb-de7"].gender} == {"male", "female"}
    assert all(is_non_commercial(v) for v in registry.voices(engine="mbrola"))
    assert registry.default_voice("fr").engine == "kokoro"  # measured clearer than MBROLA fr
    assert "mbrola:mb-fr1" in {v.id for v in registry.voices("fr")}
    rows = {r["name"]: r for r in registry.describe()}
    assert rows["mbrola"]["non_commercial"] and rows["mbrola"]["non_commercial_voices"]
    assert not rows["rhvoice"]["non_commercial"]
    # Voice matching and the gender guard see the new voices.
    assert {"rhvoice:anna", "rhvoice:aleksandr-hq"} <= {v.id for v in candidate_voices(registry, "ru", "rhvoice")}
    assert {"mbrola:mb-de6", "mbrola:mb-de7"} <= {v.id for v in candidate_voices(registry, "de", "mbrola")}


def test_commercial_safe_excludes_and_refuses(registry: VoiceRegistry) -> None:
    safe = registry.restricted(True)
    assert safe.default_voice("de").engine == "espeak"
    assert safe.default_voice("ru").id == "rhvoice:aleksandr-hq"  # CC-BY-SA: allowed
    assert not any(is_non_commercial(v) for v in safe.voices(include_explicit=True))
    assert all(v.engine != "mbrola" for v in candidate_voices(safe, "fr"))
    for wanted in ("mbrola:mb-de7", "rhvoice:arina"):
        with pytest.raises(LicenceError, match="non-commercial"):
            safe.get_voice(wanted)
    with pytest.raises(LicenceError):
        safe.engine("mbrola")
    with pytest.raises(LicenceError):  # a voice object obtained elsewhere cannot be spoken either
        safe.synthesize("Hallo", registry.get_voice("mbrola:mb-de7"))
    assert "espeak:de" in " ".join(safe.fallback_notes("de"))
    # The dub refuses before any work, with a clear message and hint.
    options = DubOptions(target_language="de", voices={"S1": "mbrola:mb-de7"}, commercial_safe=True)
    with pytest.raises(LicenceError) as err:
        pipeline_stages.check_target_supported(options)
    assert err.value.hint and "commercial-safe" in err.value.hint
    pipeline_stages.check_target_supported(DubOptions(target_language="de", commercial_safe=True))
    # What a report says about a dub that used MBROLA.
    summary = licence_summary(registry, {"S1": "mbrola:mb-de7", "S2": "rhvoice:anna"}, commercial_safe=False)
    assert summary["non_commercial"] == ["mbrola:mb-de7"]
    assert {r["voice"]: r["speakers"] for r in summary["voices"]} == {"mbrola:mb-de7": ["S1"],
                                                                       "rhvoice:anna": ["S2"]}


def test_cli_commercial_safe_error(registry: VoiceRegistry, tmp_path, capsys) -> None:
    out = tmp_path / "x.wav"
    code = cli_main(["speak", "Hallo", "--voice", "mbrola:mb-de7", "--commercial-safe", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "non-commercial" in err and not out.exists()
    assert cli_main(["speak", "Hallo zusammen", "--lang", "de", "-o", str(out)]) == 0
    assert "non-commercial voice" in capsys.readouterr().err  # named even when it is the default


def test_fallback_when_engines_are_missing() -> None:
    """Where the Debian non-free packages are absent, Russian falls back to festival and German to
    espeak, and the registry says why (the dub copies these notes into its warnings)."""
    reg = VoiceRegistry([RHVoiceEngine(binary="RHVoice-test-absent"), MbrolaEngine(mbrola="mbrola-absent"),
                         FestivalEngine(), EspeakEngine()])
    assert [e.name for e in reg.available_engines()] == ["festival", "espeak"]
    assert reg.default_voice("ru").engine == "festival"
    assert reg.default_voice("de").engine == "espeak"
    notes = reg.fallback_notes("ru") + reg.fallback_notes("de")
    assert any("rhvoice is not installed" in n and "festival" in n for n in notes)
    assert any("mbrola is not installed" in n and "espeak:de" in n for n in notes)
    assert reg.synthesize("Привет, как дела?", reg.default_voice("ru")).duration > 0.3


def test_setup_embeds_the_new_voices(registry: VoiceRegistry, monkeypatch) -> None:
    """`polydub.prepare` embeds every voice matching may pick, the RHVoice and MBROLA ones included
    (and not the voices offered only by id)."""
    from polydub.voice import matching

    embedded: list[str] = []
    monkeypatch.setattr(matching, "voice_embedding", lambda voice, *_: embedded.append(voice.id))
    matching.prepare_voice_embeddings(registry, embedder=None)
    assert {"rhvoice:aleksandr-hq", "rhvoice:anna", "rhvoice:irina", "rhvoice:elena", "mbrola:mb-de6",
            "mbrola:mb-de7"} <= set(embedded)
    assert "rhvoice:arina" not in embedded


def test_dub_without_rhvoice_speaks_festival_and_warns(tmp_path, monkeypatch) -> None:
    """The synthesis stage with a registry told RHVoice is unavailable: festival voices the line and
    the dub's warnings say why and how to install RHVoice."""
    from polydub.media.decode import decode_audio, decode_for_asr
    from polydub.pipeline.dubber import WORK_DIR, Dubber
    from polydub.project import Project, Segment
    from polydub.voice import registry as registry_module
    from tests.conftest import media_file

    src = media_file("audio/st_eluosi.wav")
    missing = VoiceRegistry([RHVoiceEngine(binary="RHVoice-test-absent"), FestivalEngine(), EspeakEngine()])
    monkeypatch.setattr(registry_module, "_DEFAULT", missing)
    (tmp_path / WORK_DIR).mkdir()
    decode_audio(src).write(tmp_path / WORK_DIR / "original.wav", subtype="FLOAT")
    decode_for_asr(src).write(tmp_path / WORK_DIR / "asr16k.wav", subtype="FLOAT")
    dubber = Dubber(tmp_path, DubOptions(target_language="ru", voice_matching=False, quality_checks=False))
    project = Project(input=str(src), source_language="ru", target_language="ru", segments=[
        Segment(id=0, start=0.0, end=1.92, text="-", translation="Новый магазин «Цветочная лавка».")])
    pipeline_stages.check_target_supported(dubber.options)
    pipeline_stages.synthesize(dubber, project)
    assert project.segments[0].voice == "festival:msu_ru_nsh_clunits" and project.segments[0].audio
    assert any("rhvoice is not installed" in w and "apt-get install rhvoice" in w for w in project.warnings)
