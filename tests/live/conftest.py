"""One real polydub server shared by the live tests (models load once, in that process)."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import start_server


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """(base URL, data dir). Voice profiles go to a private database, not the user's."""
    data = tmp_path_factory.mktemp("live-server")
    old = os.environ.get("POLYDUB_PROFILES_DB")
    os.environ["POLYDUB_PROFILES_DB"] = str(data / "profiles.sqlite")
    try:
        proc, base = start_server(data / "data")
    finally:
        if old is None:
            os.environ.pop("POLYDUB_PROFILES_DB", None)
        else:
            os.environ["POLYDUB_PROFILES_DB"] = old
    yield base, data
    proc.terminate()
    try:
        proc.wait(20)
    except Exception:  # noqa: BLE001
        proc.kill()


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


def wait_for(predicate, timeout: float = 30.0, step: float = 0.2):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


def wav16(path: Path, out_dir: Path) -> Path:
    """Real media as a 16-bit WAV for Chromium's fake capture device (24-bit gives silence)."""
    import subprocess

    out = out_dir / f"{path.stem}-16bit.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(path), "-ac", "1", "-ar", "48000", "-sample_fmt", "s16",
                    str(out)], check=True)
    return out
