"""One line about the machine a benchmark ran on, so that its table says whether it was quiet."""

from __future__ import annotations

import os

BUSY_LOAD = 1.5  # load average above which the numbers are inflated by other work
LOAD_AT_START = os.getloadavg()[0]  # benchmarks import this first thing


def machine_note(load_at_start: float | None = None) -> str:
    load = LOAD_AT_START if load_at_start is None else load_at_start
    state = "machine shared with other jobs: numbers are inflated" if load > BUSY_LOAD else "quiet machine"
    return f"{os.cpu_count()} CPUs, load average {load:.1f} at start ({state})"
