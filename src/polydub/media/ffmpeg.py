"""Writing a file with ffmpeg the safe way: under a temporary name, renamed only when complete."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from polydub.errors import OutputError
from polydub.media.probe import require_tool


def ffmpeg_write(args: list[str], out_path: Path, timeout: float = 3600) -> Path:
    """Run `ffmpeg <args> <temporary name>` and rename the result to `out_path`; a failed run leaves
    nothing that looks like an output and says why."""
    tmp = out_path.with_name(f".{out_path.stem}.partial{out_path.suffix}")
    cmd = [require_tool("ffmpeg"), "-nostdin", "-v", "error", "-y", *args, str(tmp)]
    try:
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
