"""Faults in the middle of a job (issue 15): the disk filling up during render, ffmpeg killed
mid-mux, a worker process killed during synthesis, the database locked by another process, the
input deleted while the job waited. Each time the job ends failed (or finishes once the fault
passes) with a reason a user understands, no half-written file is offered as output, and the
server keeps serving.

The server runs real worker processes; the render fault runs polydub's real renderer (real ffmpeg)
from tests/fault_tasks.py, and the faults themselves are real: a 3 MB tmpfs (or, where mounting one
is not allowed, a file-size limit on the renderer), SIGKILL, an exclusive SQLite lock.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient

from polydub.server.app import create_app
from polydub.server.settings import Settings
from tests.helpers import tiny_video

FAULTS = "tests.fault_tasks"
FAKES = "tests.test_server_fakes"


@pytest.fixture(scope="module")
def tiny_mp4(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("fault-media") / "tiny.mp4"
    tiny_video(path)
    return path


@pytest.fixture(scope="module")
def noisy_video(tmp_path_factory) -> Path:
    """2 s of video noise at near-lossless quality (~5 MB): its copied stream alone fills the small disk."""
    path = tmp_path_factory.mktemp("fault-media") / "noisy.mp4"
    noise = "nullsrc=s=320x240:d=2:r=25,geq=random(1)*255:128:128"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", noise,
                    "-f", "lavfi", "-i", "sine=frequency=300:duration=2", "-c:v", "mpeg4", "-q:v", "1",
                    "-c:a", "aac", "-shortest", str(path)], check=True)
    return path


@pytest.fixture(scope="module")
def long_dub(tmp_path_factory) -> Path:
    """An 8-minute dub track: its AAC render (~6 MB) does not fit on the small disk."""
    path = tmp_path_factory.mktemp("fault-dub") / "dub.wav"
    rng = np.random.default_rng(15)
    sf.write(path, (rng.standard_normal(22050 * 480) * 0.2).astype(np.float32), 22050, subtype="PCM_16")
    return path


def settings_for(data_dir: Path, **kw) -> Settings:
    targets = {"dub": f"{FAKES}:fake_dub", "render_dub": f"{FAULTS}:render_dub",
               "long_synthesis": f"{FAULTS}:long_synthesis", "ticking": f"{FAULTS}:ticking"}
    return Settings(data_dir=data_dir, task_targets=targets, upload_rate_per_min=0, min_free_mb=0,
                    cancel_grace_s=0.5, **kw)


def wait_status(c: TestClient, job_id: str, statuses=("done", "failed", "cancelled"), timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = c.get(f"/api/jobs/{job_id}").json()
        if job["status"] in statuses:
            return job
        time.sleep(0.1)
    runner = c.app.state.runner
    slots = [(s.name, s.job_id, s.process.is_alive(), s.cancel_at, s.killed) for s in getattr(runner, "slots", [])]
    raise AssertionError(f"job {job_id} stuck: {job}; runner slots: {slots}")


def new_job(c: TestClient, kind: str, input_path: Path) -> str:
    return c.app.state.service.create_job(kind, input_name=input_path.name, input_path=str(input_path),
                                          options={"target_language": "es"}).id


def assert_nothing_presented(c: TestClient, job: dict) -> None:
    """No dubbed media among the job's files (finished line files may stay), no output named, no
    partial file left in its folder."""
    files = c.get(f"/api/jobs/{job['id']}/files").json()["files"]
    assert not [f for f in files if f["kind"] == "media"], files
    assert job["output"] is None
    out = c.app.state.settings.out_dir(job["id"])
    assert not [p for p in out.rglob("*") if "partial" in p.name], list(out.rglob("*"))


def assert_still_serving(c: TestClient, tiny_mp4: Path) -> None:
    assert c.get("/api/health").json()["status"] in ("ok", "degraded")
    with open(tiny_mp4, "rb") as fh:
        r = c.post("/api/jobs", files={"file": ("tiny.mp4", fh, "video/mp4")}, data={"target_language": "es"})
    assert r.status_code == 201, r.text
    assert wait_status(c, r.json()["id"])["status"] == "done"


@contextlib.contextmanager
def small_disk(size_mb: int):
    """A tmpfs of size_mb (root only); yields (folder, True), or (plain temp folder, False) where
    mounting is not allowed (the test then limits file sizes instead)."""
    folder = Path(tempfile.mkdtemp(prefix="polydub-small-disk-"))
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(folder)],
                             capture_output=True).returncode == 0 if os.geteuid() == 0 else False
    try:
        yield folder, mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)
        subprocess.run(["rm", "-rf", str(folder)], capture_output=True)


def test_disk_full_during_render(tiny_mp4, noisy_video, long_dub, monkeypatch):
    monkeypatch.setenv("POLYDUB_TEST_DUB_WAV", str(long_dub))
    with small_disk(3) as (folder, mounted):
        if not mounted:
            monkeypatch.setenv("POLYDUB_TEST_FSIZE", str(2 * 1024 * 1024))
        with TestClient(create_app(settings_for(folder / "data"))) as c:
            job = wait_status(c, new_job(c, "render_dub", noisy_video))
            assert job["status"] == "failed", job
            message = job["error"]["message"]
            assert "could not write tiny.es.mp4" in message, message
            assert ("disk is full" in message) if mounted else ("File too large" in message or "SIGXFSZ" in message)
            assert "free disk space" in message
            assert_nothing_presented(c, job)
            assert_still_serving(c, tiny_mp4)


@pytest.fixture(scope="module")
def client(tmp_path_factory, long_dub):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("POLYDUB_TEST_DUB_WAV", str(long_dub))  # seen by the worker processes
        with TestClient(create_app(settings_for(tmp_path_factory.mktemp("faults") / "data"))) as c:
            yield c


def test_ffmpeg_killed_mid_mux(client, tiny_mp4, tmp_path):
    doomed = tmp_path / "kill-ffmpeg.mp4"  # the task kills its ffmpeg once the partial output exists
    doomed.write_bytes(tiny_mp4.read_bytes())
    job = wait_status(client, new_job(client, "render_dub", doomed))
    assert job["status"] == "failed", job
    assert "ffmpeg was stopped by SIGKILL" in job["error"]["message"], job["error"]
    assert_nothing_presented(client, job)
    assert_still_serving(client, tiny_mp4)


def test_worker_killed_during_synthesis(client, tiny_mp4):
    job_id = new_job(client, "long_synthesis", tiny_mp4)
    pid_file = client.app.state.settings.out_dir(job_id) / "worker.pid"
    deadline = time.monotonic() + 30
    while not (pid_file.exists() and list((pid_file.parent / "lines").glob("*.wav"))):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(int(pid_file.read_text()), signal.SIGKILL)
    job = wait_status(client, job_id)
    assert job["status"] == "failed" and job["error"]["code"] == "worker_crashed", job
    assert "exited unexpectedly" in job["error"]["message"]
    assert_nothing_presented(client, job)
    assert_still_serving(client, tiny_mp4)  # a fresh worker process took the dead one's place


def test_input_deleted_while_queued(client, tiny_mp4, tmp_path):
    blocker = new_job(client, "long_synthesis", tiny_mp4)  # the only worker is busy with this one
    wait_status(client, blocker, statuses=("running",))
    doomed_input = tmp_path / "doomed.mp4"
    doomed_input.write_bytes(tiny_mp4.read_bytes())
    waiting = new_job(client, "dub", doomed_input)
    assert client.get(f"/api/jobs/{waiting}").json()["status"] == "queued"
    doomed_input.unlink()
    client.post(f"/api/jobs/{blocker}/cancel")
    job = wait_status(client, waiting)
    assert job["status"] == "failed" and job["error"]["code"] == "input_missing", job
    assert "deleted while the job waited" in job["error"]["message"] and str(tmp_path) not in job["error"]["message"]
    assert_nothing_presented(client, job)
    assert_still_serving(client, tiny_mp4)


def test_database_locked_mid_job(client, tiny_mp4):
    job_id = new_job(client, "ticking", tiny_mp4)
    wait_status(client, job_id, statuses=("running",))
    db = sqlite3.connect(client.app.state.settings.data_dir / "polydub.db", timeout=5)
    db.execute("BEGIN EXCLUSIVE")  # every writer now waits: progress events, the job's outcome
    slowest = 0.0
    try:
        locked_until = time.monotonic() + 3.0
        while time.monotonic() < locked_until:
            began = time.monotonic()
            r = client.get(f"/api/jobs/{job_id}")  # readers are not blocked (WAL)
            slowest = max(slowest, time.monotonic() - began)
            assert r.status_code == 200
            time.sleep(0.2)
    finally:
        db.rollback()
        db.close()
    assert slowest < 1.0, slowest
    job = wait_status(client, job_id)
    assert job["status"] == "done", job  # the job waited for the lock and finished
    events = client.get(f"/api/jobs/{job_id}/events").json()["events"]
    assert any(e["message"] == "tick 39" for e in events)
    assert_still_serving(client, tiny_mp4)


def test_progress_survives_a_database_that_stays_busy():
    """Past the driver's busy timeout a progress event is dropped (logged), not the dub; the outcome
    itself is retried."""
    import threading

    from sqlalchemy.exc import OperationalError

    from polydub.server.execution import StoreProgress, _with_retries

    class BusyStore:
        calls = 0

        def add_event(self, *args, **kwargs):
            raise OperationalError("INSERT", {}, Exception("database is locked"))

        def transition(self, *args, **kwargs):
            BusyStore.calls += 1
            if BusyStore.calls < 3:
                raise OperationalError("UPDATE", {}, Exception("database is locked"))
            return True

    progress = StoreProgress(BusyStore(), "job", 1, threading.Event())
    progress(type("Event", (), {"stage": "synthesize", "percent": 10.0, "message": "line 1"})())  # no raise
    assert _with_retries(lambda: BusyStore().transition(), first_wait_s=0.01) is True
    assert BusyStore.calls == 3
