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
