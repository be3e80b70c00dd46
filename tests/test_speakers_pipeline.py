"""Issue 3 acceptance through the whole dub: speakers, distinct voices, background, profiles."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from polydub.audio import Audio
from polydub.media.decode import decode_audio
from polydub.pipeline import DubOptions, dub
from tests.conftest import media_file

pytestmark = pytest.mark.slow
RATE = 16000


def _alternating_track(folder: Path) -> tuple[Path, list[tuple[float, float, str]]]:
    """Woman (radio) and man (vr_face_1) alternating in 4 turns, with the true turn times."""
    woman = decode_audio(media_file("audio/st_RD_Radio31_000.wav"), rate=RATE, channels=1).samples
    man = decode_audio(media_file("video/vr_face_1.mp4"), rate=RATE, channels=1).samples
    pieces = [("W", woman[: int(3.9 * RATE)]), ("M", man[: int(3.0 * RATE)]),
              ("W", woman[int(4.0 * RATE): int(8.0 * RATE)]), ("M", man[int(3.0 * RATE):])]
    gap = np.zeros(int(0.8 * RATE), dtype=np.float32)
    parts, truth, t = [], [], 0.0
    for who, samples in pieces:
        parts += [samples, gap]
        truth.append((t, t + len(samples) / RATE, who))
        t += (len(samples) + len(gap)) / RATE
    path = Audio(np.concatenate(parts), RATE).write(folder / "two_speakers.wav")
    return path, truth


def test_two_speakers_get_two_voices(tmp_path: Path) -> None:
    track, truth = _alternating_track(tmp_path)
    report = dub(track, tmp_path / "out", DubOptions(target_language="es"))
    assert len(report["speakers"]) == 2
    voices = {info["voice"] for info in report["speakers"].values()}
    assert len(voices) == 2
    # Each speaker's dubbed speech is compared with their original (batched d-vector encoder).
    assert all(0.0 < info["dub_similarity"] <= 1.0 for info in report["speakers"].values()), report["speakers"]
    # Map each found speaker to the true one by majority, then count lines assigned right.
    def true_speaker(seg) -> str:
        mid = (seg["start"] + seg["end"]) / 2
        return min(truth, key=lambda tr: 0 if tr[0] <= mid <= tr[1] else min(abs(mid - tr[0]), abs(mid - tr[1])))[2]

    pairs = [(seg["speaker"], true_speaker(seg)) for seg in report["segments"]]
    mapping = {found: max(("W", "M"), key=lambda w: sum(1 for f, t in pairs if f == found and t == w))
               for found in {f for f, _ in pairs}}
    right = sum(1 for f, t in pairs if mapping[f] == t) / len(pairs)
    print(f"lines={len(pairs)} right={right:.2%} voices={voices}")
    assert right >= 0.95
    assert len(set(mapping.values())) == 2


def test_one_speaker_stays_one(tmp_path: Path) -> None:
    report = dub(media_file("audio/fw_jfk.flac"), tmp_path, DubOptions(target_language="es"))
    assert list(report["speakers"]) == ["S1"]


def test_stereo_two_speaker_file_mixed_to_mono(tmp_path: Path) -> None:
    mono = decode_audio(media_file("audio/fw_stereo_diarization.wav"), rate=RATE, channels=1)
    path = mono.write(tmp_path / "mono.wav")
    report = dub(path, tmp_path / "out", DubOptions(target_language="es"))
    assert len(report["speakers"]) == 2


def test_background_music_is_kept_and_original_voice_removed(tmp_path: Path) -> None:
    rate = 44100
    speech = decode_audio(media_file("audio/fw_jfk.flac"), rate=rate, channels=1).samples
    pad = np.zeros(2 * rate, dtype=np.float32)  # music alone before and after the speech
    clean = np.concatenate([pad, speech, pad])
    bed_path = tmp_path / "bed.wav"
    seconds = len(clean) / rate
    subprocess.run(["sox", "-n", "-r", str(rate), "-c", "1", str(bed_path), "synth", f"{seconds:.3f}",
                    "pluck", "C3", "pluck", "E3", "pluck", "G3", "gain", "-18", "repeat", "0"], check=True)
    bed = Audio.read(bed_path).samples[: len(clean)]
    bed = np.pad(bed, (0, len(clean) - len(bed))) if len(bed) < len(clean) else bed
    # Make the bed continuous so "outside speech" really has music in it.
    t = np.arange(len(clean)) / rate
    bed = bed + sum(0.03 * np.sin(2 * np.pi * f * t) for f in (130.8, 164.8, 196.0))
    mixture = (clean + bed).astype(np.float32)
    mix_path = Audio(mixture, rate).write(tmp_path / "speech_over_music.wav", subtype="FLOAT")
    report = dub(mix_path, tmp_path / "out", DubOptions(target_language="es"))
    out = decode_audio(tmp_path / "out" / report["outputs"]["media"], rate=rate, channels=1).samples[: len(clean)]
    assert report["engines"].get("separation")
    busy = np.zeros(len(clean), dtype=bool)
    for seg in report["segments"]:
        for a, b in ((seg["start"], seg["end"]), (seg["dub_start"], seg["dub_end"])):
            busy[max(0, int((a - 0.35) * rate)): int((b + 0.35) * rate)] = True
    outside = ~busy
    assert outside.sum() > rate * 0.5
    corr = np.corrcoef(out[outside], mixture[outside])[0, 1]
    # Under the dub: least-squares gains of the known clean voice and bed in the output.
    speech_zone = np.zeros(len(clean), dtype=bool)
    for seg in report["segments"]:
        speech_zone[int(seg["start"] * rate): int(seg["end"] * rate)] = True
    design = np.stack([clean[speech_zone], bed[speech_zone]], axis=1)
    (voice_gain, bed_gain), *_ = np.linalg.lstsq(design, out[speech_zone], rcond=None)
    voice_drop_db = -20 * np.log10(max(abs(voice_gain), 1e-6))
    print(f"outside-speech correlation={corr:.3f} voice drop={voice_drop_db:.1f} dB bed gain={bed_gain:.2f}")
    assert corr >= 0.95
    assert voice_drop_db >= 10


def test_profile_matches_same_speaker_not_another(tmp_path: Path, monkeypatch, capsys) -> None:
    from polydub.cli import main

    monkeypatch.setenv("POLYDUB_PROFILES_DB", str(tmp_path / "profiles.sqlite"))
    radio = decode_audio(media_file("audio/st_RD_Radio31_000.wav"), rate=RATE, channels=1)
    first = radio.slice(0.0, 4.0).write(tmp_path / "radio_first.wav")
    second = radio.slice(4.0, radio.duration).write(tmp_path / "radio_second.wav")
    assert main(["voices", "add", "anchor", str(first)]) == 0
    same = dub(second, tmp_path / "same", DubOptions(target_language="es"))
    info = same["speakers"]["S1"]
    assert info["profile"] == "anchor", info
    other = dub(media_file("video/vr_face_1.mp4"), tmp_path / "other", DubOptions(target_language="es"))
    assert other["speakers"]["S1"]["profile"] is None, other["speakers"]
    # The voice chosen for the profile is remembered and used again for the same person.
    from polydub.speakers.profiles import ProfileStore

    remembered = ProfileStore().get("anchor").voices["es"]
    assert remembered == info["voice"]
    again = dub(second, tmp_path / "again", DubOptions(target_language="es"))
    assert again["speakers"]["S1"]["voice"] == remembered and again["speakers"]["S1"]["voice_source"] == "profile"
    capsys.readouterr()
