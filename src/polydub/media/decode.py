"""Decode the audio track with ffmpeg: 16 kHz mono for speech models, original rate for mixing."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from polydub.audio import Audio
from polydub.errors import InputMediaError
from polydub.media.probe import require_tool

ASR_RATE = 16000


def decode_audio(path: str | Path, rate: int | None = None, channels: int | None = None) -> Audio:
    """Decode the first audio stream to float32; rate/channels None keep the original."""
    ffmpeg = require_tool("ffmpeg")
    cmd = [ffmpeg, "-nostdin", "-v", "error", "-i", str(path), "-map", "0:a:0", "-vn"]
    if rate:
        cmd += ["-ar", str(rate)]
    if channels:
        cmd += ["-ac", str(channels)]
    if rate is None or channels is None:
        # We need to know the output layout to reshape raw samples, so ask ffprobe via a wav header.
        cmd += ["-f", "wav", "-acodec", "pcm_f32le", "-"]
        result = subprocess.run(cmd, capture_output=True, timeout=3600)
        if result.returncode != 0 or not result.stdout:
            raise InputMediaError(f"could not decode the audio of {Path(path).name}",
                                  "the file may be corrupt: " + result.stderr.decode(errors="replace")[-200:])
        import io

        import soundfile as sf

        data, sr = sf.read(io.BytesIO(result.stdout), dtype="float32", always_2d=False)
        return Audio(data, int(sr))
    cmd += ["-f", "f32le", "-acodec", "pcm_f32le", "-"]
    result = subprocess.run(cmd, capture_output=True, timeout=3600)
    if result.returncode != 0:
        raise InputMediaError(f"could not decode the audio of {Path(path).name}",
                              "the file may be corrupt: " + result.stderr.decode(errors="replace")[-200:])
    samples = np.frombuffer(result.stdout, dtype=np.float32)
    if channels and channels > 1:
        samples = samples[: len(samples) - len(samples) % channels].reshape(-1, channels)
    return Audio(samples.copy(), rate)


def decode_for_asr(path: str | Path) -> Audio:
    return decode_audio(path, rate=ASR_RATE, channels=1)


def decode_to_file(path: str | Path, out_wav: str | Path, rate: int | None = None, channels: int | None = None,
                   track: int = 0) -> Path:
    """Decode one audio track (0 = first) straight into a float WAV file (RF64 past 4 GB): ffmpeg
    streams it, so a long input never sits in memory (a 30-minute stereo track is 635 MB of float32)."""
    ffmpeg = require_tool("ffmpeg")
    out_wav = Path(out_wav)
    out_wav.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_wav.with_name(f".{out_wav.name}.partial")
    cmd = [ffmpeg, "-nostdin", "-v", "error", "-y", "-i", str(path), "-map", f"0:a:{int(track)}", "-vn"]
    if rate:
        cmd += ["-ar", str(rate)]
    if channels:
        cmd += ["-ac", str(channels)]
    cmd += ["-c:a", "pcm_f32le", "-rf64", "auto", "-f", "wav", str(tmp)]
    result = subprocess.run(cmd, capture_output=True, timeout=6 * 3600)
    if result.returncode != 0 or not tmp.exists() or tmp.stat().st_size <= 44:
        tmp.unlink(missing_ok=True)
        raise InputMediaError(f"could not decode the audio of {Path(path).name}",
                              "the file may be corrupt: " + result.stderr.decode(errors="replace")[-200:])
    tmp.replace(out_wav)
    return out_wav
