"""Task functions of the built-in job kinds (see polydub.server.tasks); imported in worker processes."""

from __future__ import annotations

import dataclasses


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
