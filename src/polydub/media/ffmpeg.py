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
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"could not write {out_path.name}: {result.stderr.strip()[-300:]}",
                          "check free disk space and that the output folder is writable")
    os.replace(tmp, out_path)
    return out_path
