"""The runner's task registry: job kind -> the function that runs it ("module:function").

Every job row has a ``task`` (its kind). Both runners look the kind up here, in the process that
runs the job: the embedded pool's worker processes and Celery workers on any machine alike, so a
kind added here runs under either runner without touching them.

A target has this signature (keep module-level imports light: it is imported by worker processes)::

    def run(input_path: str, out_dir: str, options: dict, progress, cancel) -> dict:
        # progress(event): anything with .stage, .percent (0-100 overall), .message and
        #   optionally .stage_seconds (a polydub.pipeline.ProgressEvent fits);
        # cancel: an Event; check cancel.is_set() often and raise polydub.errors.JobCancelledError;
        # raise PolydubError subclasses for user mistakes (their message + hint reach the API);
        # return a JSON-able report (stored on the job; "outputs"/"timing" keys are understood).

To add a kind (voice cloning, avatar animation, lecture generation, ...): add ONE entry to ``TASKS``
below, then create jobs of that kind with ``JobService.create_job(kind, ...)``. Operators (and
tests) can point a kind elsewhere with ``--task KIND=module:function`` on ``polydub serve`` and
``polydub worker``, or ``Settings(task_targets=...)``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

TASKS: dict[str, str] = {
    "dub": "polydub.server.worker:pipeline_dub",
    "render": "polydub.server.worker:pipeline_rerender",  # re-render after edits in the studio
    "clone": "polydub.server.worker:pipeline_clone",  # evolve a Kokoro voice for a speaker profile
    "animate": "polydub.server.worker_avatar:animate_avatar",  # a portrait says a text (talking avatar)
    "lecture": "polydub.server.worker_avatar:generate_lecture",  # a lecture text -> talking-head fragments
}


class UnknownTaskError(LookupError):
    pass


def resolve(kind: str, targets: dict[str, str] | None = None) -> str:
    """The "module:function" of a job kind (``targets`` overrides the registry)."""
    target = (targets or {}).get(kind) or TASKS.get(kind)
    if not target:
        known = sorted({*TASKS, *(targets or {})})
        raise UnknownTaskError(f"no worker function is registered for jobs of kind '{kind}' "
                               f"(known kinds: {', '.join(known)})")
    return target


def load_target(spec: str) -> Callable:
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def parse_overrides(items: list[str] | None) -> dict[str, str]:
    """``["dub=pkg.mod:fn", ...]`` (the --task option) -> {"dub": "pkg.mod:fn"}."""
    out: dict[str, str] = {}
    for item in items or []:
        kind, sep, target = item.partition("=")
        if not sep or ":" not in target or not kind.strip():
            raise ValueError(f"--task expects KIND=module:function, got '{item}'")
        out[kind.strip()] = target.strip()
    return out
