"""Per-line timing with the real Kokoro engine: a line is synthesized once, at the speed it needs."""

from __future__ import annotations

import pytest

from polydub.audio import Audio
from polydub.project import Segment
from polydub.timing.fit import TimingPolicy
from polydub.timing.lines import line_windows, render_line
from polydub.voice.registry import get_registry

TEXT = "Hoy hace muy buen tiempo, así que vamos al parque con los niños y los abuelos."


class CountingRegistry:
    """The real registry, recording each synthesis request."""

    def __init__(self) -> None:
        self.inner = get_registry()
        self.speeds: list[float] = []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def synthesize(self, text, voice, speed=1.0) -> Audio:
        self.speeds.append(speed)
        return self.inner.synthesize(text, voice, speed=speed)


@pytest.mark.parametrize("needed_tempo", [0.9, 1.15, 1.4])
def test_line_is_synthesized_once_at_the_speed_it_needs(tmp_path, needed_tempo: float) -> None:
    registry = CountingRegistry()
    voice = registry.get_voice("kokoro:ef_dora")
    natural = registry.synthesize(TEXT, voice).duration
    registry.speeds.clear()
    policy = TimingPolicy()
    seg = Segment(id=0, start=1.0, end=1.0, text="source", translation=TEXT)
    seg.end = 1.0 - policy.lead_in + natural / needed_tempo  # the window starts lead_in early
    window = line_windows([seg], media_end=seg.end, policy=policy)[0]
    room = window.latest - window.earliest
    assert room == pytest.approx(natural / needed_tempo, abs=1e-6)

    render_line(seg, window, voice, registry, policy, tmp_path)

    assert len(registry.speeds) == 1, registry.speeds
    spoken = seg.dub_end - seg.dub_start
    if needed_tempo <= 1.0:
        assert registry.speeds == [1.0] and seg.tempo == 1.0 and spoken == pytest.approx(natural, abs=0.01)
    elif needed_tempo <= policy.max_tempo:
        assert registry.speeds[0] > 1.05  # the engine's own rate, not only a stretch
        assert seg.overflow == 0.0 and spoken <= room + 1e-3
        assert seg.tempo <= policy.max_tempo + 0.01
    else:  # more than the limit allows: spoken at the limit, the rest recorded as overflow
        assert seg.tempo == pytest.approx(policy.max_tempo, abs=0.03)
        assert seg.overflow > 0 and seg.dub_end <= window.latest + 1e-3
    assert Audio.read(tmp_path / seg.audio).duration == pytest.approx(spoken, abs=0.01)
