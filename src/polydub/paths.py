"""Where polydub keeps data that outlives one project (voices, profiles)."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def data_dir() -> Path:
    """POLYDUB_DATA_DIR, else <venv>/share/polydub when running from a venv, else ~/.local/share/polydub."""
    env = os.environ.get("POLYDUB_DATA_DIR")
    if env:
        return Path(env)
    if sys.prefix != sys.base_prefix:
        return Path(sys.prefix) / "share" / "polydub"
    return Path.home() / ".local" / "share" / "polydub"


def kokoro_voices_dir() -> Path:
    env = os.environ.get("POLYDUB_KOKORO_VOICES")
    return Path(env) if env else data_dir() / "kokoro-voices"


def profiles_db() -> Path:
    """Speaker profiles database (POLYDUB_PROFILES_DB overrides, e.g. for tests)."""
    env = os.environ.get("POLYDUB_PROFILES_DB")
    return Path(env) if env else data_dir() / "profiles.sqlite"
