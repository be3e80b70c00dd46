"""Code that runs inside a worker process (spawned; keep imports light at module level)."""

from __future__ import annotations

import dataclasses
import importlib
import os
import time
from typing import Any


def load_target(spec: str):
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def pipeline_dub(input_path: str, out_dir: str, options: dict, progress, cancel) -> dict:
    from polydub.pipeline import DubOptions, dub

    names = {f.name for f in dataclasses.fields(DubOptions)}
    opts = DubOptions(**{k: v for k, v in options.items() if k in names and v is not None})
    return dub(input_path, out_dir, opts, progress=progress, cancel=cancel)


def pipeline_rerender(input_path: str, out_dir: str, options: dict, progress, cancel) -> dict:
    from polydub.pipeline import rerender

    return rerender(out_dir, progress=progress, cancel=cancel)


def pipeline_clone(input_path: str, out_dir: str, options: dict, progress, cancel) -> dict:
    """Evolve a voice for a profile. options: profile, language, budget_s, steps; samples (paths) or
    source_dir + speaker (a finished job's folder and one of its speakers, whose speech is used)."""
    from pathlib import Path

    from polydub.errors import JobCancelledError
    from polydub.pipeline.cloning import clone_profile, job_speaker_sample
    from polydub.pipeline.options import ProgressEvent
    from polydub.voice.evolve import CloneSettings

    samples = [Path(p) for p in options.get("samples") or []]
    if options.get("source_dir"):
        samples.append(job_speaker_sample(Path(options["source_dir"]), options["speaker"], Path(out_dir)))

    def check_cancel() -> None:
        if cancel is not None and cancel.is_set():
            raise JobCancelledError("the job was cancelled", "start it again")

    def on_progress(fraction: float, message: str) -> None:
        progress(ProgressEvent(stage="clone", percent=round(100 * fraction, 1), message=message))

    settings = CloneSettings(budget_s=float(options.get("budget_s") or 60.0), max_syntheses=options.get("steps"))
    outcome = clone_profile(options["profile"], options["language"], samples or None, settings,
                            progress=on_progress, cancel=check_cancel)
    return outcome.as_dict()


class _Progress:
    """Forwards ProgressEvents to the parent, dropping near-duplicates so the store is not flooded."""

    def __init__(self, queue, job_id: str) -> None:
        self.queue, self.job_id = queue, job_id
        self.last: tuple[str, float, float] = ("", -10.0, 0.0)

    def __call__(self, ev: Any) -> None:
        stage = getattr(ev, "stage", None) or "working"
        pct = float(getattr(ev, "percent", 0.0) or 0.0)
        now = time.monotonic()
        last_stage, last_pct, last_t = self.last
        if stage == last_stage and pct - last_pct < 1.0 and now - last_t < 0.5 and stage != "done":
            return
        self.last = (stage, pct, now)
        self.queue.put(("progress", self.job_id, {
            "stage": stage, "percent": pct, "message": getattr(ev, "message", "") or "",
            "stage_seconds": dict(getattr(ev, "stage_seconds", None) or {}),
        }))


def child_main(target: str, job_id: str, input_path: str, out_dir: str, options: dict, queue, cancel) -> None:
    """Worker process entry: run one task and report its outcome on ``queue``."""
    if hasattr(os, "setpgrp"):
        os.setpgrp()  # own process group, so a forced stop also ends ffmpeg & co. started by the pipeline
    _watch_parent()
    try:
        fn = load_target(target)
        report = fn(input_path, out_dir, options, _Progress(queue, job_id), cancel)
        queue.put(("done", job_id, _jsonable(report or {})))
    except BaseException as exc:  # noqa: BLE001 - every failure must reach the parent
        code = type(exc).__name__
        hint = getattr(exc, "hint", None)
        message = getattr(exc, "message", None) or str(exc) or code
        if hint:
            message = f"{message} ({hint})"
        kind = "cancelled" if code == "JobCancelledError" else "error"
        queue.put((kind, job_id, {"code": code, "message": message}))
    finally:
        queue.close()
        queue.join_thread()


def _watch_parent() -> None:
    """If the server dies (even by SIGKILL), stop this worker too: a restarted server re-runs the job."""
    import signal
    import threading

    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                if hasattr(os, "killpg"):
                    os.killpg(os.getpgrp(), signal.SIGKILL)
                os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _jsonable(value: Any) -> Any:
    import json

    return json.loads(json.dumps(value, default=str))
