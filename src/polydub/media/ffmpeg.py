"""Writing a file with ffmpeg the safe way: under a temporary name, renamed only when complete."""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from polydub.errors import OutputError
from polydub.media.probe import require_tool


def ffmpeg_write(args: list[str], out_path: Path, timeout: float = 3600,
                 progress: Callable[[float], None] | None = None, duration: float | None = None) -> Path:
    """Run `ffmpeg <args> <temporary name>` and rename the result to `out_path`; a failed run leaves
    nothing that looks like an output and says why. With `progress` and the output's `duration`
    (seconds), the fraction written so far is reported as ffmpeg goes (a 30-minute input's audio
    takes about a minute to encode)."""
    tmp = out_path.with_name(f".{out_path.stem}.partial{out_path.suffix}")
    cmd = [require_tool("ffmpeg"), "-nostdin", "-v", "error", "-y", *args]
    follow = progress is not None and bool(duration and duration > 0)
    if follow:
        cmd += ["-progress", "pipe:1", "-nostats"]
    cmd.append(str(tmp))
    try:
        if follow:
            result = _run_following(cmd, timeout, progress, float(duration))
        else:
            result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except BaseException:  # interrupted (cancel, timeout): no partial file is left behind
        tmp.unlink(missing_ok=True)
        raise
    if result.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"could not write {out_path.name}: {_ffmpeg_failure(result)}",
                          "check free disk space and that the output folder is writable")
    os.replace(tmp, out_path)
    return out_path


def _run_following(cmd: list[str], timeout: float, progress: Callable[[float], None],
                   duration: float) -> subprocess.CompletedProcess:
    """subprocess.run with ffmpeg's `-progress` lines read as they come (stderr goes to a file, so
    neither pipe can fill up and stall it); a callback that raises (cancel) stops ffmpeg. The
    timeout is a timer, so it holds even when ffmpeg stalls without writing a line."""
    expired = threading.Event()
    with tempfile.TemporaryFile(mode="w+") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
        timer = threading.Timer(timeout, lambda: (expired.set(), proc.kill()))
        timer.start()
        try:
            last = 0.0
            for line in proc.stdout:
                key, _, value = line.strip().partition("=")
                if key == "out_time_us" and value.lstrip("-").isdigit():
                    done = min(1.0, max(0.0, int(value) / 1e6 / duration))
                    if done - last >= 0.02:
                        last = done
                        progress(done)
            proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            timer.cancel()
            proc.stdout.close()
        if expired.is_set():
            raise subprocess.TimeoutExpired(cmd, timeout)
        err.seek(0)
        return subprocess.CompletedProcess(cmd, proc.returncode, "", err.read())


def _ffmpeg_failure(result: subprocess.CompletedProcess) -> str:
    """Why ffmpeg failed, in words: out of space, stopped by a signal, or its last error lines."""
    err = (result.stderr or "").strip()
    if "No space left on device" in err:
        return "the disk is full (No space left on device)"
    if "File too large" in err:
        return "the file is larger than the system allows (File too large)"
    if result.returncode < 0:
        import signal

        try:
            name = signal.Signals(-result.returncode).name
        except ValueError:
            name = f"signal {-result.returncode}"
        return f"ffmpeg was stopped by {name} before it finished"
    return err[-300:] or f"ffmpeg exited with code {result.returncode}"
