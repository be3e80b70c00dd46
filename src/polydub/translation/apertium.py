"""Apertium rule-based translation, run as the Debian `apertium` command (GPL-2, separate process)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path

from polydub.errors import EngineNotInstalledError, UnsupportedLanguageError
from polydub.languages import normalize_language
from polydub.translation.base import TIER_BASIC, Translator
from polydub.translation.text import clean_line, match_initial_case, run_nonempty

MODES_DIR = Path(os.environ.get("POLYDUB_APERTIUM_MODES", "/usr/share/apertium/modes"))

# Apertium names its modes with both ISO 639-3 ("eng-spa") and 639-1 ("es-pt") codes.
_THREE_TO_TWO = {
    "eng": "en", "spa": "es", "cat": "ca", "por": "pt", "fra": "fr", "ita": "it", "glg": "gl",
    "ron": "ro", "epo": "eo", "eus": "eu", "isl": "is", "mkd": "mk", "hbs": "sh", "oci": "oc",
    "deu": "de", "nld": "nl", "swe": "sv", "dan": "da", "nob": "nb", "rus": "ru", "ukr": "uk",
}
# A blank line makes Apertium close the sentence, so its transfer rules never reorder words
# across our line boundaries (plain newlines do get crossed: "the big\ndog" -> "Los ... grandes").
_SEPARATOR = "\n\n"
_SPLIT = re.compile(r"\n[ \t]*\n")
_TIMEOUT_S = 300


def _code(part: str) -> str:
    return _THREE_TO_TWO.get(part, normalize_language(part))


def installed_modes(modes_dir: Path | None = None) -> dict[tuple[str, str], str]:
    """Map (src, tgt) two-letter pairs to the plain Apertium mode that serves them."""
    folder = modes_dir or MODES_DIR
    if not folder.is_dir():
        return {}
    found: dict[tuple[str, str], str] = {}
    for path in sorted(folder.glob("*.mode")):
        mode = path.stem
        parts = mode.split("-")
        # Skip variants (eng-cat_valencia) and debug/alt pipelines (eco-es-fr): keep the base mode.
        if len(parts) != 2 or "_" in mode:
            continue
        pair = (_code(parts[0]), _code(parts[1]))
        found.setdefault(pair, mode)
    return found


class ApertiumTranslator(Translator):
    name = "apertium"
    licence = "GPL-2.0 (Apertium runtime and language data, run as a separate process)"
    description = "Rule-based Apertium (Debian packages apertium + apertium-<pair>); literal but fast"

    def __init__(self, modes_dir: Path | None = None) -> None:
        self._modes_dir = modes_dir
        self._modes: dict[tuple[str, str], str] | None = None
        # Starting an Apertium pipeline (6 processes loading their transducers) costs 0.1-0.5 s, more
        # than translating a sentence. With keep_warm (live dubbing), the next process for a mode is
        # started right after each call and waits on its stdin: measured 0.08-0.13 s instead of 0.5 s.
        self.keep_warm = False
        self._standby: dict[str, subprocess.Popen] = {}
        self._standby_lock = threading.Lock()

    def _pairs_to_modes(self) -> dict[tuple[str, str], str]:
        if self._modes is None:
            self._modes = installed_modes(self._modes_dir)
        return self._modes

    def is_available(self) -> bool:
        return shutil.which("apertium") is not None and bool(self._pairs_to_modes())

    def pairs(self) -> set[tuple[str, str]]:
        return set(self._pairs_to_modes())

    def tier(self, source: str, target: str) -> int:
        return TIER_BASIC

    def install_hint(self) -> str:
        return "apt-get install apertium apertium-eng-spa apertium-eng-cat apertium-es-pt apertium-fr-es"

    def translate(self, lines: Sequence[str], source: str, target: str) -> list[str]:
        mode = self._pairs_to_modes().get((source, target))
        if mode is None:
            raise UnsupportedLanguageError(f"Apertium has no {source}->{target} pair installed",
                                           self.install_hint())
        return run_nonempty(lines, lambda batch: self._batch(batch, mode))

    def _batch(self, lines: list[str], mode: str) -> list[str]:
        cleaned = [clean_line(line) for line in lines]
        out = _SPLIT.split(self._run(_SEPARATOR.join(cleaned) + "\n", mode).strip("\n"))
        if len(out) != len(cleaned):
            # The separator failed for some odd input: pay one process per line to stay aligned.
            out = [self._run(line + "\n", mode).strip("\n") for line in cleaned]
        return [self._tidy(src, dst) for src, dst in zip(cleaned, out, strict=True)]

    def warm(self, source: str, target: str) -> None:
        """Keep a process for this pair started and waiting, from now on."""
        mode = self._pairs_to_modes().get((source, target))
        if mode is not None:
            self.keep_warm = True
            with self._standby_lock:
                if mode not in self._standby:
                    self._standby[mode] = self._spawn(mode)

    def _spawn(self, mode: str) -> subprocess.Popen:
        try:
            return subprocess.Popen(["apertium", "-u", mode], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE)
        except FileNotFoundError as exc:
            raise EngineNotInstalledError("the apertium command is not installed", self.install_hint()) from exc

    def _run(self, text: str, mode: str) -> str:
        try:
            return self._translate_with(self._take(mode), text, mode)
        finally:
            if self.keep_warm:  # after the call, so the next start does not compete with this one
                with self._standby_lock:
                    if mode not in self._standby:
                        self._standby[mode] = self._spawn(mode)

    def _take(self, mode: str) -> subprocess.Popen:
        with self._standby_lock:
            proc = self._standby.pop(mode, None)
        if proc is None or proc.poll() is not None:
            proc = self._spawn(mode)
        return proc

    def _translate_with(self, proc: subprocess.Popen, text: str, mode: str) -> str:
        try:
            stdout, stderr = proc.communicate(text.encode("utf-8"), timeout=_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise RuntimeError(f"apertium {mode} took longer than {_TIMEOUT_S} s") from None
        if proc.returncode != 0:
            err = stderr.decode("utf-8", "replace").strip().splitlines()
            raise RuntimeError(f"apertium {mode} failed: {err[-1] if err else proc.returncode}")
        return stdout.decode("utf-8", "replace")

    @staticmethod
    def _tidy(source: str, text: str) -> str:
        text = " ".join(text.replace("\n", " ").split())
        # -u drops '*' (unknown word) but '#' (generation error) and '@' (no bilingual entry)
        # still leak; only strip them where the source did not already use the symbol.
        for mark in "#@":
            if mark not in source:
                text = re.sub(rf"(^|\s){mark}(?=\w)", r"\1", text)
        return match_initial_case(source, text)
