"""What a live session reports, utterance by utterance.

Types: `speaker` (a new voice in the session), `transcript`, `translation`, `audio` (16-bit PCM of one
clause, with the source time it belongs to), `metrics` (milliseconds per stage from the end of the
speech), `skipped` (a line with no words, or abandoned: the reason says which), `error`, `end`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class LiveEvent:
    type: str
    data: dict[str, Any] = field(default_factory=dict)
    pcm: bytes | None = None  # 16-bit little-endian mono at data["sample_rate"], for "audio"

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, **self.data}
