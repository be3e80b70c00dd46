"""Task functions for the operations tests (run in real worker processes; light imports)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

from tests.test_server_fakes import fake_dub


def dub_with_server_paths(input_path: str, out_dir: str, options: dict, progress, cancel) -> dict:
    """Like the real pipeline, writes the absolute input path into report.json, report.html and project.json."""
    report = fake_dub(input_path, out_dir, options, progress, cancel)
    report["input"] = input_path
    report["warnings"] = [f"note about {input_path}"]
    Path(out_dir, "report.json").write_text(json.dumps(report))
    Path(out_dir, "report.html").write_text(f"<html><body><h1>{input_path}</h1><p>out: {out_dir}/x.wav</p>"
                                            "</body></html>")
    return report


def echo_task(input_path: str, out_dir: str, options: dict, progress, cancel) -> dict:
    """A job kind of its own ("echo"), registered by one task_targets entry in the test."""
    progress(SimpleNamespace(stage="echo", percent=50.0, message="echoing"))
    Path(out_dir, "echo.txt").write_text(options.get("text", ""))
    return {"outputs": {"text": "echo.txt"}, "pid": os.getpid()}


def pid_dub(input_path: str, out_dir: str, options: dict, progress, cancel) -> dict:
    """Reports the worker process id (warm workers: the same process runs job after job)."""
    report = fake_dub(input_path, out_dir, options, progress, cancel)
    report["pid"] = os.getpid()
    return report
