"""Fit each dubbed line into its original slot: borrow silence, then speed up within limits."""

from __future__ import annotations

from dataclasses import dataclass

MIN_GAP = 0.05  # keep a breath between consecutive lines so they never touch


@dataclass
class TimingPolicy:
    min_tempo: float = 0.85
    max_tempo: float = 1.25
    lead_in: float = 0.25  # how far before its slot a line may start, taken from the gap before it


@dataclass
class Placement:
    start: float  # where the dubbed line starts
    window_end: float  # latest end allowed (next line's start, or media end)
    tempo: float  # stretch factor to apply (>1 faster)
    overflow: float  # seconds that still do not fit at max tempo (cut off at window_end)

    @property
    def room(self) -> float:
        return self.window_end - self.start


def window_for(index: int, starts: list[float], ends: list[float], media_end: float,
               prev_dub_end: float, policy: TimingPolicy) -> tuple[float, float]:
    """The span a line may occupy: its slot, widened into the silence around it."""
    start, end = starts[index], ends[index]
    next_start = starts[index + 1] if index + 1 < len(starts) else media_end
    gap_before = start - (ends[index - 1] if index > 0 else 0.0)
    earliest = max(prev_dub_end + MIN_GAP if index > 0 else 0.0,
                   start - min(policy.lead_in, max(0.0, gap_before) / 2))
    latest = max(end, next_start - MIN_GAP)
    return min(start, max(0.0, earliest)), min(latest, media_end)


def place(duration: float, slot_start: float, slot_end: float, earliest: float, latest: float,
          policy: TimingPolicy) -> Placement:
    """Decide start and tempo for a line of `duration` seconds (spoken at natural speed)."""
    slot = slot_end - slot_start
    if duration <= slot:
        return Placement(slot_start, latest, 1.0, 0.0)
    if duration <= latest - slot_start:
        return Placement(slot_start, latest, 1.0, 0.0)  # spills into following silence: fine
    room = latest - earliest
    if duration <= room:
        # Start early just enough to fit without speeding up.
        return Placement(max(earliest, latest - duration), latest, 1.0, 0.0)
    tempo = duration / room
    if tempo <= policy.max_tempo:
        return Placement(earliest, latest, tempo, 0.0)
    overflow = duration / policy.max_tempo - room
    return Placement(earliest, latest, policy.max_tempo, overflow)
