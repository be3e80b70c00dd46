"""Shared fixtures: real media from ../shared/media (skipped with a reason when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MEDIA = Path(os.environ.get("POLYDUB_TEST_MEDIA", REPO.parent / "shared" / "media"))


@pytest.fixture(scope="session")
def media() -> Path:
    if not MEDIA.is_dir():
        pytest.skip(f"real test media not found at {MEDIA} (clone with ../shared beside the repo)")
    return MEDIA


def media_file(relative: str) -> Path:
    path = MEDIA / relative
    if not path.exists():
        pytest.skip(f"test media {path} is absent")
    return path
