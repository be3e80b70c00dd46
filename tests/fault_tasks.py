"""Task functions for the fault tests (tests/test_robust_faults.py), run in real worker processes.

They run polydub's real renderer (polydub.render.mux) or stand in for a long stage; what goes wrong
around them (a full disk, a killed ffmpeg, a killed worker, a locked database) is real.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from types import SimpleNamespace


def _ffmpeg_children() -> list[int]:
    """ffmpeg processes started by this process (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1: stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        if ppid == os.getpid() and comm == "ffmpeg":
            found.append(int(entry.name))
    return found


def _kill_ffmpeg_when_it_runs(out_dir: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        # once the renderer's partial output exists, ffmpeg is mid-mux
        if list(out_dir.glob(".*.partial*")):
            for pid in _ffmpeg_children():
                os.kill(pid, signal.SIGKILL)
            return
        time.sleep(0.005)


def render_dub(input_path: str, out_dir: str, options: dict, progress, cancel) -> dict:
    """The render stage of a dub: the input's video and a long dub track (POLYDUB_TEST_DUB_WAV) muxed by
    polydub's renderer into the job's folder. An input named kill-ffmpeg*: ffmpeg is killed mid-mux;
    POLYDUB_TEST_FSIZE=<bytes>: files the renderer writes may not grow past that (where no tmpfs)."""
    from polydub.media.probe import probe
    from polydub.render.mux import mux

    out = Path(out_dir)
    media = probe(input_path)
    progress(SimpleNamespace(stage="render", percent=95.0, message="rendering"))
    if Path(input_path).name.startswith("kill-ffmpeg"):
        threading.Thread(target=_kill_ffmpeg_when_it_runs, args=(out,), daemon=True).start()
    limit = int(os.environ.get("POLYDUB_TEST_FSIZE") or 0)
    if limit:
        import resource

        saved = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, saved[1]))  # inherited by ffmpeg
    try:
        path = mux(media, Path(os.environ["POLYDUB_TEST_DUB_WAV"]), out / "tiny.es.mp4", "es",
                   progress=lambda done: progress(SimpleNamespace(stage="render", percent=95 + 5 * done,
                                                                  message="rendering")))
    finally:
        if limit:
            resource.setrlimit(resource.RLIMIT_FSIZE, saved)
    return {"outputs": {"media": path.name}}


def long_synthesis(input_path: str, out_dir: str, options: dict, progress, cancel) -> dict:
    """Stands in for a long synthesis stage: line files appear one by one until it is stopped."""
    out = Path(out_dir)
    (out / "lines").mkdir(parents=True, exist_ok=True)
    (out / "worker.pid").write_text(str(os.getpid()))
    for n in range(600):
        if cancel is not None and cancel.is_set():
            from polydub.errors import JobCancelledError

            raise JobCancelledError("the job was cancelled")
        (out / "lines" / f"{n:04d}.wav").write_bytes(b"RIFF")
        progress(SimpleNamespace(stage="synthesize", percent=40.0 + n / 20, message=f"line {n}"))
        time.sleep(0.1)
    return {}


def ticking(input_path: str, out_dir: str, options: dict, progress, cancel) -> dict:
    """Writes a progress event every 0.1 s for ~4 s (each a database write), then finishes."""
    for n in range(40):
        progress(SimpleNamespace(stage="synthesize", percent=float(n), message=f"tick {n}"))
        time.sleep(0.1)
    Path(out_dir, "done.txt").write_text("ok")
    return {"outputs": {"text": "done.txt"}}
