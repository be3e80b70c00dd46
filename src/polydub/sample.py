"""Make a sample video offline (synthetic picture, real synthesized speech) for a first try."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np

from polydub.audio import Audio
from polydub.errors import OutputError
from polydub.media.probe import require_tool

SAMPLE_LINES = [
    "Welcome to polydub, a dubbing studio that runs on your own computer.",
    "It listens to the speech, translates every line, and speaks it again in another language.",
    "The music and the timing of the original stay where they were.",
]


def make_sample(out_path: Path, voice_id: str | None = None) -> Path:
    from polydub.voice.registry import VoiceRegistry

    registry = VoiceRegistry()
    voice = registry.get_voice(voice_id) if voice_id else registry.default_voice("en")
    rate = 24000
    parts = []
    for line in SAMPLE_LINES:
        spoken = registry.synthesize(line, voice).resample(rate)
        parts += [spoken.samples, np.zeros(int(0.7 * rate), dtype=np.float32)]
    speech = Audio(np.concatenate([np.zeros(int(0.5 * rate), dtype=np.float32), *parts]), rate)
    # A quiet chord under the speech, so background preservation has something to keep.
    t = np.arange(len(speech.samples)) / rate
    bed = sum(0.02 * np.sin(2 * np.pi * f * t) for f in (130.8, 164.8, 196.0)).astype(np.float32)
    mixed = Audio(speech.samples + bed, rate)
    ffmpeg = require_tool("ffmpeg")
    with tempfile.TemporaryDirectory() as tmp:
        wav = mixed.write(Path(tmp) / "speech.wav")
        cmd = [ffmpeg, "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
               f"testsrc2=size=640x360:rate=25:duration={mixed.duration:.3f}", "-i", str(wav),
               "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(out_path)]
        result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise OutputError(f"could not write the sample video: {result.stderr.strip()[-200:]}",
                          "check the output path is writable")
    return out_path
