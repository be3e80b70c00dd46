"""Issue 12: voices evolved toward real speakers, kept in profiles, reused by later dubs.

Real models on the shared speech (Kokoro, the d-vector embedder, Whisper); searches are capped by
syntheses (not seconds) so that a busy machine gives the same result as a quiet one."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from polydub.audio import Audio
from polydub.media.decode import decode_audio
from polydub.voice.evolve import MAX_CER_INCREASE, CloneError, CloneSettings
from tests.conftest import media_file

pytestmark = pytest.mark.slow
RATE = 16000
# Syntheses per search: 4 stock voices, 2 blends, the pitch-matched start and one CMA-ES generation (6).
# The cap, not the time budget, ends the search (a busy machine once cut a 600 s budget at 9 syntheses).
STEPS = 13
BUDGET_S = 3600


@pytest.fixture(scope="module")
def profiles(tmp_path_factory):
    """A private profiles database for the whole module (never the user's)."""
    path = tmp_path_factory.mktemp("profiles") / "profiles.sqlite"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("POLYDUB_PROFILES_DB", str(path))
        yield path


def _speech(relative: str) -> Audio:
    from polydub.pipeline.cloning import speech_of

    return speech_of([media_file(relative)])


@pytest.fixture(scope="module")
def clones(profiles):
    """A man (JFK, 11 s) and a woman (Katie Hill, 8 s), each cloned into a profile for Spanish. (The
    shared radio address is a woman too, but at 167 Hz the gender guess calls her a man.)"""
    from polydub.pipeline.cloning import clone_profile

    out = {}
    for name, clip in (("jfk", "audio/fw_jfk.flac"), ("katie", "video/st_ref_KatieHill_000.mp4")):
        out[name] = clone_profile(name, "es", [media_file(clip)], CloneSettings(budget_s=BUDGET_S, max_syntheses=STEPS))
    return out


def test_evolved_voices_beat_the_stock_voice_and_stay_intelligible(clones) -> None:
    genders = set()
    for name, outcome in clones.items():
        info = outcome.info
        print(name, {k: info[k] for k in ("stock_voice", "similarity_stock", "similarity_evolved", "cer_stock",
                                          "cer_evolved", "pitch_target", "pitch_evolved", "syntheses")})
        assert outcome.voice_source == "evolved" and info["accepted"], info
        assert outcome.voice == f"kokoro-evolved:{name}@es"
        assert info["similarity_evolved"] > info["similarity_stock"], info  # held-out sentences, same measure
        assert info["cer_evolved"] <= info["cer_stock"] + MAX_CER_INCREASE, info
        assert info["syntheses"] <= STEPS + 3  # the search cap plus the held-out checks
        assert info["generations"] >= 1, info  # the population search ran, not only the stock voices
        genders.add(info["gender"])
    assert genders == {"male", "female"}


def test_evolved_voice_is_a_voice_like_any_other(clones) -> None:
    from polydub.speakers.profiles import ProfileStore
    from polydub.voice.registry import VoiceRegistry, get_registry

    listed = {v.id: v for v in VoiceRegistry().voices(language="es")}
    voice = listed["kokoro-evolved:jfk@es"]
    assert voice.extra["evolved"] and "Apache-2.0" in voice.extra["licence"] and voice.quality < 2
    assert VoiceRegistry().default_voice("es").engine == "kokoro"  # a clone is never a language default
    audio = get_registry().synthesize("Hola a todos, gracias por venir.", "kokoro-evolved:jfk@es")
    assert 1.0 < audio.duration < 5.0 and float(np.sqrt(np.mean(audio.samples ** 2))) > 0.01
    predicted = get_registry().predict_duration("Hola a todos, gracias por venir.", voice)
    assert predicted is not None and abs(predicted - audio.duration) < 0.3
    store = ProfileStore()
    assert store.get("jfk").voices["es"] == "kokoro-evolved:jfk@es"
    assert store.evolved("jfk", "es")[0].style.shape == (510 * 256,)


def test_dub_reuses_the_profiles_evolved_voice_without_a_new_search(clones, tmp_path, monkeypatch) -> None:
    import polydub.pipeline.cloning as cloning
    from polydub.pipeline import DubOptions, dub

    def no_search(*args, **kwargs):
        raise AssertionError("a new voice search ran although the profile has an evolved voice")

    monkeypatch.setattr(cloning, "evolve", no_search)
    clip = decode_audio(media_file("audio/fw_jfk.flac"), rate=RATE, channels=1).write(tmp_path / "jfk.wav")
    report = dub(clip, tmp_path / "out", DubOptions(target_language="es", clone_voices=True, quality_checks=False))
    info = report["speakers"]["S1"]
    assert info["profile"] == "jfk" and info["voice"] == "kokoro-evolved:jfk@es", info
    assert info["voice_source"] == "evolved" and info["clone"]["reused"], info
    assert info["clone"]["similarity_evolved"] > info["clone"]["similarity_stock"]
    assert all(s["voice"] == "kokoro-evolved:jfk@es" for s in report["segments"])
    page = (tmp_path / "out" / "report.html").read_text()  # the person reading the report sees it too
    assert "Speakers and voices" in page and "reused from profile jfk" in page


def test_too_short_sample_says_so_and_falls_back_to_matching(profiles, tmp_path) -> None:
    from polydub.pipeline.cloning import clone_profile
    from polydub.speakers.profiles import ProfileStore

    short = _speech("video/vr_face_2.mp4")
    short = Audio(short.samples[: int(2.5 * RATE)], RATE).write(tmp_path / "short.wav")
    with pytest.raises(CloneError) as err:
        clone_profile("brief", "es", [short], CloneSettings(budget_s=BUDGET_S, max_syntheses=STEPS))
    message = str(err.value)
    assert "2.5 s of speech" in message and "at least 4 s" in message and "matched stock voice" in message, message
    fallback = ProfileStore().get("brief").voices["es"]
    assert fallback.startswith("kokoro:") and fallback in message  # a stock voice, never called a clone


def test_dub_with_too_little_speech_keeps_the_matched_voice(profiles, tmp_path) -> None:
    from polydub.pipeline import DubOptions, dub

    speech = _speech("audio/vr_audio_1.wav")
    clip = Audio(speech.samples[: int(3.0 * RATE)], RATE).write(tmp_path / "short.wav")
    report = dub(clip, tmp_path / "out", DubOptions(target_language="es", clone_voices=True, quality_checks=False))
    info = report["speakers"]["S1"]
    assert info["voice_source"] == "matched" and info["voice"].startswith("kokoro:"), info
    assert "cloning needs at least" in info["clone"]["skipped"]
    assert any("cloning needs at least" in w for w in report["warnings"])
    assert "not cloned:" in (tmp_path / "out" / "report.html").read_text()


def test_cli_clone_budget_and_errors(profiles, tmp_path, capsys) -> None:
    from polydub.cli import main
    from polydub.cli_voices import parse_budget

    assert parse_budget("90") == 90 and parse_budget("2m") == 120 and parse_budget("1m30s") == 90
    missing = tmp_path / "nothing.wav"
    assert main(["voices", "clone", "x", str(missing), "--lang", "es"]) != 0
    assert "not found" in capsys.readouterr().err
    assert main(["voices", "clone", "x", str(media_file("audio/fw_jfk.flac")), "--lang", "de"]) != 0
    assert "cannot speak 'de'" in capsys.readouterr().err


def test_cli_lists_and_deletes_evolved_voices(clones, capsys) -> None:
    from polydub.cli import main

    assert main(["voices", "installed", "--lang", "es"]) == 0
    listing = capsys.readouterr().out
    flat = re.sub(r"[\s│]+", " ", listing)  # a table cell's text may wrap onto the next row
    assert "kokoro-evolved:katie@es" in listing and "evolved for profile katie:" in flat, listing
    assert main(["voices", "show", "katie"]) == 0
    assert "evolved: similarity" in capsys.readouterr().out
    assert main(["voices", "rm", "katie", "--lang", "es"]) == 0
    from polydub.voice.registry import VoiceRegistry

    assert "kokoro-evolved:katie@es" not in {v.id for v in VoiceRegistry().voices()}
    capsys.readouterr()


def test_cloned_voice_lists_in_stock_tensor_space(clones) -> None:
    """The stored tensor is a plausible Kokoro voice: its rows are as long as stock voices' rows."""
    from polydub.speakers.profiles import ProfileStore
    from polydub.voice.registry import get_registry

    kokoro = get_registry().engine("kokoro")
    stock = np.stack([kokoro.style_tensor(v) for v in kokoro.voices()])
    norms = np.linalg.norm(stock, axis=2)
    evolved = ProfileStore().evolved("jfk", "es")[0].style.reshape(510, 256)
    rows = np.linalg.norm(evolved, axis=1)
    assert norms.min() * 0.5 <= rows.min() and rows.max() <= norms.max() * 1.5


def _unused(path: Path) -> None:  # pragma: no cover - keeps imports honest for type checkers
    del path
