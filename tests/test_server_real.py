"""The server against the real pipeline on a 5 s clip: upload → events → done → download → edit → re-render."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from polydub.server.app import create_app
from polydub.server.settings import Settings
from tests.conftest import media_file

pytestmark = pytest.mark.slow


def _wait(c: TestClient, job_id: str, timeout: float = 900) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = c.get(f"/api/jobs/{job_id}").json()
        if job["status"] in ("done", "failed", "cancelled"):
            return job
        time.sleep(0.5)
    raise AssertionError(f"job did not finish: {job}")


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha1(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*")) if p.is_file()}


@pytest.mark.parametrize("clip_name", ["video/vr_face_2.mp4", "video/ls_demo3_video.mp4"])
def test_real_pipeline_dub_edit_rerender(tmp_path, clip_name):
    clip = media_file(clip_name)
    pytest.importorskip("polydub.pipeline")
    with TestClient(create_app(Settings(data_dir=tmp_path / "data"))) as c:
        t0 = time.monotonic()
        with open(clip, "rb") as fh:
            r = c.post("/api/jobs", files={"file": (clip.name, fh, "video/mp4")}, data={"target_language": "es"})
        assert r.status_code == 201, r.text
        job_id = r.json()["id"]
        job = _wait(c, job_id)
        dub_seconds = time.monotonic() - t0
        assert job["status"] == "done", job["error"]
        stages = {e["stage"] for e in c.get(f"/api/jobs/{job_id}/events").json()["events"]}
        assert {"media", "transcribe", "translate", "synthesize", "done"} <= stages
        assert job["output"], job
        media = c.get(f"/api/jobs/{job_id}/files/{job['output']}", headers={"Range": "bytes=0-99"})
        assert media.status_code == 206 and len(media.content) == 100
        segs = c.get(f"/api/jobs/{job_id}/segments").json()["segments"]
        assert segs and all(s["translation"] for s in segs)
        out = c.app.state.settings.out_dir(job_id)
        lines_dir = out / Path(segs[0]["audio"]).parent
        before = _digests(lines_dir)
        r = c.patch(f"/api/jobs/{job_id}/segments/0", json={"translation": "Esta frase la he cambiado yo."})
        assert r.status_code == 200 and r.json()["changed"]
        t1 = time.monotonic()
        assert c.post(f"/api/jobs/{job_id}/render").status_code == 202
        job = _wait(c, job_id)
        render_seconds = time.monotonic() - t1
        assert job["status"] == "done", job["error"]
        after = _digests(lines_dir)
        segs2 = c.get(f"/api/jobs/{job_id}/segments").json()["segments"]
        changed = sorted(n for n in after if before.get(n) != after[n])
        assert Path(segs2[0]["audio"]).name in changed
        others = {Path(s["audio"]).name for s in segs2[1:] if s["audio"]}
        assert not others & set(changed), changed
        if len(segs2) > 1:
            assert len(others) >= 1 and len(changed) == 1, changed
        print(f"\nreal pipeline {clip.name}: dub {dub_seconds:.1f}s, re-render {render_seconds:.1f}s, "
              f"{len(segs)} lines, changed audio {changed}")


def _start_server(data_dir: Path):
    from tests.helpers import start_server

    return start_server(data_dir)


def test_real_cancel_and_restart_recovery(tmp_path):
    """Cancel stops a real job within 2 s; a server killed mid-job resumes it after a restart."""
    import json
    import signal
    import urllib.request

    import httpx2 as httpx

    clip = media_file("video/vr_face_2.mp4")
    pytest.importorskip("polydub.pipeline")
    data = tmp_path / "data"

    def submit(base: str) -> str:
        with open(clip, "rb") as fh:
            r = httpx.post(f"{base}/api/jobs", files={"file": (clip.name, fh, "video/mp4")},
                           data={"target_language": "es"}, timeout=60)
        assert r.status_code == 201, r.text
        return r.json()["id"]

    def job(base: str, jid: str) -> dict:
        return json.load(urllib.request.urlopen(f"{base}/api/jobs/{jid}", timeout=10))

    def wait_stage(base: str, jid: str, stages: set[str], timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            j = job(base, jid)
            if j["stage"] in stages or j["status"] in ("done", "failed", "cancelled"):
                return j
            time.sleep(0.2)
        raise AssertionError(j)

    proc, base = _start_server(data)
    try:
        jid = submit(base)
        assert wait_stage(base, jid, {"transcribe"})["status"] == "running"
        t0 = time.monotonic()
        r = httpx.post(f"{base}/api/jobs/{jid}/cancel", timeout=10)
        assert r.json()["status"] == "cancelled" and time.monotonic() - t0 < 2.5
        jid = submit(base)
        assert wait_stage(base, jid, {"transcribe", "translate", "synthesize"})["status"] == "running"
    finally:
        proc.send_signal(signal.SIGKILL)  # the server dies without cleaning up
        proc.wait(10)
    proc, base = _start_server(data)
    try:
        deadline = time.monotonic() + 600
        while (j := job(base, jid))["status"] not in ("done", "failed", "cancelled"):
            assert time.monotonic() < deadline, j
            time.sleep(0.5)
        assert j["status"] == "done" and j["resumes"] == 1, j
    finally:
        proc.terminate()
        proc.wait(10)
