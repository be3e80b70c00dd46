"""Pacing: the dub plays line after line; when speech comes faster than the dub can be spoken,
later lines are sped up (within the tempo limit) and the lag is reported. A line is abandoned,
and reported as such, only when the dub has fallen further behind than `max_lag_s`.

All times are session seconds: stream time of the source (0 = first sample received).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class PacingPolicy:
    max_tempo: float = 1.3
    max_lag_s: float = 12.0  # a line that would start later than this after its speech ended is dropped
    slack_s: float = 0.4  # a line may run this much longer than its source before it counts as slow


@dataclass
class LinePlan:
    tempo: float  # >1: faster than the voice's natural rate
    start: float  # session time the line is expected to start playing
    lag: float  # seconds between the end of the source speech and the start of its dub
    backlog: float  # dub still queued to play when the line became ready
    abandon: bool = False
    reason: str = ""


class Pacer:
    def __init__(self, policy: PacingPolicy | None = None) -> None:
        self.policy = policy or PacingPolicy()
        self.play_end = 0.0  # when everything scheduled so far has finished playing
        self.max_lag = 0.0

    def plan(self, ready_at: float, source_start: float, source_end: float,
             natural_seconds: float | None) -> LinePlan:
        """Tempo and expected start of a line that can start playing at `ready_at`."""
        p = self.policy
        backlog = max(0.0, self.play_end - ready_at)
        start = max(ready_at, self.play_end)
        lag = start - source_end
        if lag > p.max_lag_s:
            return LinePlan(1.0, start, lag, backlog, abandon=True,
                            reason=f"the dub is {lag:.1f} s behind the speech (limit {p.max_lag_s:.0f} s)")
        tempo = 1.0
        if natural_seconds:
            # Catch up within this line: its dub should end no later than its source's length
            # (plus a little slack) after it could have started, minus what is already queued.
            room = (source_end - source_start) + p.slack_s - backlog
            if natural_seconds > room:
                tempo = min(p.max_tempo, natural_seconds / max(room, 1e-3))
        return LinePlan(round(tempo, 3), start, lag, backlog)

    def played(self, arrives_at: float, seconds: float) -> float:
        """A chunk of `seconds` of dub arrived at `arrives_at`: it plays after what is queued.
        Returns when it starts."""
        start = max(arrives_at, self.play_end)
        self.play_end = start + seconds
        return start

    def note_lag(self, lag: float) -> None:
        self.max_lag = max(self.max_lag, lag)
