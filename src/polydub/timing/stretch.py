"""Change duration without changing pitch (WSOLA via audiotsm)."""

from __future__ import annotations

import numpy as np
from audiotsm import wsola
from audiotsm.io.array import ArrayReader, ArrayWriter

from polydub.audio import Audio


def time_stretch(audio: Audio, tempo: float) -> Audio:
    """tempo > 1 makes the audio shorter (faster speech); 1.0 returns it unchanged."""
    if abs(tempo - 1.0) < 1e-3 or len(audio.samples) == 0:
        return audio
    mono = audio.mono().samples.astype(np.float32)
    reader = ArrayReader(mono.reshape(1, -1))
    writer = ArrayWriter(channels=1)
    # Frame of ~46 ms at 22-24 kHz suits speech; audiotsm's default (1024) is tuned for 44.1 kHz.
    frame = 1024 if audio.rate >= 32000 else 512
    wsola(channels=1, speed=tempo, frame_length=frame, synthesis_hop=frame // 2).run(reader, writer)
    out = writer.data.reshape(-1).astype(np.float32)
    return Audio(out, audio.rate)
