"""Test helpers: character error rate, media facts from ffprobe/ffmpeg."""

from __future__ import annotations

import json
import subprocess
import unicodedata
from pathlib import Path


def normalize_text(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    kept = "".join(c if c.isalnum() or c.isspace() else " " for c in text)
    return " ".join(kept.split())


def cer(reference: str, hypothesis: str) -> float:
    ref, hyp = normalize_text(reference), normalize_text(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    prev = list(range(len(hyp) + 1))
    for i, rc in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, hc in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (rc != hc))
        prev = cur
    return prev[-1] / len(ref)


def ffprobe_json(path: Path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
                          str(path)], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def video_packets_md5(path: Path) -> str:
    """Hash of the video stream's packets: equal only when the stream was copied, not re-encoded."""
    out = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:v:0", "-c", "copy", "-f", "md5",
                          "-"], capture_output=True, text=True, check=True).stdout
    return out.strip()


def duration(path: Path) -> float:
    return float(ffprobe_json(path)["format"]["duration"])


def start_server(data_dir: Path, extra_settings: str = ""):
    """Run `polydub serve`'s app in a child process on a free loopback port; returns (process, base URL).

    extra_settings: more Settings(...) keyword arguments as Python source (e.g. fake pipeline targets)."""
    import os
    import socket
    import sys
    import time
    import urllib.request

    from tests.conftest import REPO

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = f"data_dir={str(data_dir)!r}" + (f", {extra_settings}" if extra_settings else "")
    code = ("import uvicorn; from polydub.server.app import create_app; from polydub.server.settings import Settings; "
            f"uvicorn.run(create_app(Settings({settings})), host='127.0.0.1', port={port}, log_level='warning')")
    # src first: the server must run this checkout's code, not whichever polydub the venv points to
    path = os.pathsep.join([str(REPO / "src"), str(REPO)])
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env={**os.environ, "PYTHONPATH": path})
    base = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            urllib.request.urlopen(f"{base}/api/health", timeout=1)
            return proc, base
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


def tiny_video(path: Path) -> Path:
    """A 1-second 64x64 H.264 + AAC (440 Hz tone) MP4: the smallest real upload for server tests."""
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=440:duration=1",
                    "-f", "lavfi", "-i", "color=size=64x64:duration=1:rate=10", "-shortest",
                    "-c:v", "libx264", "-c:a", "aac", str(path)], check=True)
    return path
