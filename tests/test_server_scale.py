"""Scale-out with real servers: Redis + PostgreSQL + `polydub serve --broker` + two `polydub worker`
processes (the commands of deploy/), running real dubs of the shared clips.

One cluster per module (the workers stay warm across the tests, as in production); tests run in
file order: six dubs (with WebSocket events and metrics) -> cancel -> kill -9 of a worker mid-job.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import media_file
from tests.helpers import duration, ffprobe_json, video_packets_md5
from tests.servers import Worker, child_env, free_port, polydub_command, postgres_server, redis_server  # noqa: F401

pytestmark = pytest.mark.slow
httpx = pytest.importorskip("httpx2")
CLIPS = ["video/vr_face_5.mp4", "video/vr_face_2.mp4", "audio/vr_audio_1.wav", "video/vr_face_1.mp4",
         "audio/fw_stereo_diarization.wav", "audio/st_RD_Radio31_000.wav"]
LOST_AFTER_S = 8
FAST = {"target_language": "es", "separation": "false", "quality_checks": "false"}


class Cluster:
    def __init__(self, folder: Path, redis, postgres) -> None:
        self.folder, self.data = folder, folder / "data"
        self.db_url = postgres.new_database()
        self.broker = redis.url
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        common = ["--job-lost-after-s", str(LOST_AFTER_S)]
        self.workers = {name: Worker(name, self.broker, self.data, self.db_url, "--heartbeat-s", "1", *common,
                                     log=folder / f"{name}.log") for name in ("w1", "w2")}
        log = open(folder / "server.log", "ab")  # noqa: SIM115 - closed in stop()
        self._log = log
        self.server = subprocess.Popen(polydub_command(
            "serve", "--port", str(self.port), "--data-dir", str(self.data), "--database-url", self.db_url,
            "--broker", self.broker, "--upload-rate", "0", "--min-free-mb", "0", *common),
            env=child_env(), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                health = httpx.get(f"{self.base}/api/health", timeout=5).json()
                if health["worker_status"]["alive"] >= 2:
                    return
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            assert self.server.poll() is None, (folder / "server.log").read_text()[-3000:]
            time.sleep(0.3)
        raise AssertionError(f"cluster did not come up: {(folder / 'server.log').read_text()[-2000:]}")

    def submit(self, clip: Path, **fields) -> str:
        with open(clip, "rb") as fh:
            r = httpx.post(f"{self.base}/api/jobs", files={"file": (clip.name, fh)}, data={**FAST, **fields},
                           timeout=60)
        assert r.status_code == 201, r.text
        return r.json()["id"]

    def job(self, job_id: str) -> dict:
        return httpx.get(f"{self.base}/api/jobs/{job_id}", timeout=10).json()

    def wait(self, job_id: str, until=lambda j: j["status"] in ("done", "failed", "cancelled"),
             timeout: float = 600) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.job(job_id)
            if until(job):
                return job
            time.sleep(0.2)
        raise AssertionError(f"timed out: {job}")

    def stop(self) -> None:
        self.server.terminate()
        try:
            self.server.wait(15)
        except subprocess.TimeoutExpired:
            self.server.kill()
        for w in self.workers.values():
            w.stop()
        self._log.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, redis_server, postgres_server):  # noqa: F811
    media_file(CLIPS[0])
    c = Cluster(tmp_path_factory.mktemp("cluster"), redis_server, postgres_server)
    yield c
    c.stop()


def _ws_events(base: str, job_id: str, into: list) -> None:
    from websockets.sync.client import connect

    with connect(f"{base.replace('http', 'ws')}/api/jobs/{job_id}/events", open_timeout=30) as ws:
        for raw in ws:
            into.append((time.time(), json.loads(raw)))


def _metrics(base: str) -> dict[tuple[str, tuple], float]:
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{base}/metrics", timeout=30).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _sum(metrics: dict, name: str, **labels) -> float:
    return sum(v for (n, lbl), v in metrics.items() if n == name and all((k, x) in lbl for k, x in labels.items()))


def test_six_real_dubs_on_two_celery_workers(cluster):
    before = _metrics(cluster.base)
    clips = [media_file(c) for c in CLIPS]
    ids = [cluster.submit(clips[0])]
    events: list = []
    watcher = threading.Thread(target=_ws_events, args=(cluster.base, ids[0], events), daemon=True)
    watcher.start()
    ids += [cluster.submit(clip) for clip in clips[1:]]
    jobs = [cluster.wait(job_id) for job_id in ids]
    watcher.join(30)
    for clip, job in zip(clips, jobs, strict=True):
        assert job["status"] == "done", (clip.name, job["error"])
        assert job["output"], job
        out = cluster.data / "jobs" / job["id"] / "out"
        media = out / job["output"]
        assert abs(duration(media) - duration(clip)) < 0.3, (clip.name, duration(media))
        streams = {s["codec_type"] for s in ffprobe_json(media)["streams"]}
        if clip.suffix == ".mp4":
            assert streams == {"audio", "video"} and video_packets_md5(media) == video_packets_md5(clip)
        segs = httpx.get(f"{cluster.base}/api/jobs/{job['id']}/segments", timeout=10).json()["segments"]
        assert segs and all(s["translation"] for s in segs)
        assert any(s["translation"].strip().lower() != s["text"].strip().lower() for s in segs), segs
        assert all((out / s["audio"]).is_file() for s in segs if s["audio"])
    # what the API serves of a real dub shows the upload's name, never the server's paths
    for name in ("report.json", "project.json", "report.html"):
        text = httpx.get(f"{cluster.base}/api/jobs/{jobs[0]['id']}/files/{name}", timeout=10).text
        assert str(cluster.data) not in text and clips[0].name in text, name
    nodes = {job["worker"].split("/")[0] for job in jobs}
    assert len(nodes) == 2, nodes  # both workers took jobs
    # progress reached the browser's WebSocket from the worker, through the job store
    statuses = [ev["status"] for _, ev in events]
    stages = {ev["stage"] for _, ev in events}
    assert statuses[0] == "queued" and statuses[-1] == "done" and "running" in statuses, statuses
    assert {"media", "transcribe", "translate", "synthesize", "render"} <= stages, stages
    lag = [received - ev["ts"] for received, ev in events[1:]]
    print(f"\nWebSocket event latency (worker wrote -> client got): mean {statistics.mean(lag) * 1000:.0f} ms, "
          f"max {max(lag) * 1000:.0f} ms over {len(lag)} live events")
    # metrics: counters moved by the workers' processes, gauges from the store
    after = _metrics(cluster.base)
    assert _sum(after, "polydub_jobs_finished_total", status="done", task="dub") \
        - _sum(before, "polydub_jobs_finished_total", status="done", task="dub") == 6
    assert _sum(after, "polydub_queue_wait_seconds_count", task="dub") >= 6
    assert _sum(after, "polydub_stage_duration_seconds_count", stage="transcribe") >= 6
    assert _sum(after, "polydub_upload_bytes_total") - _sum(before, "polydub_upload_bytes_total") \
        == sum(c.stat().st_size for c in clips)
    assert _sum(after, "polydub_workers", kind="celery") == 2
    assert _sum(after, "polydub_worker_models_loaded") == 2  # both warm
    assert _sum(after, "polydub_jobs", state="done") == 6
    walls = [j["finished_at"] - j["started_at"] for j in jobs]
    print("job run seconds per worker: " + ", ".join(f"{j['worker'].split('@')[0]} {w:.1f}"
                                                      for j, w in zip(jobs, walls, strict=True)))


def test_cancel_reaches_a_job_on_a_worker_within_2s(cluster):
    job_id = cluster.submit(media_file("video/st_ref_KatieHill_000.mp4"))
    cluster.wait(job_id, until=lambda j: j["status"] == "running" and j["stage"] in ("transcribe", "speakers"),
                 timeout=120)
    t0 = time.monotonic()
    r = httpx.post(f"{cluster.base}/api/jobs/{job_id}/cancel", timeout=10)
    answered = time.monotonic() - t0
    assert r.status_code == 200 and r.json()["status"] == "cancelled", r.json()
    assert answered <= 2.0, answered
    print(f"\ncancel answered in {answered:.2f} s ({r.json()['message']})")
    time.sleep(1.5)
    assert cluster.job(job_id)["status"] == "cancelled"  # a late write of the stopped attempt cannot undo it


def test_worker_killed_mid_job_is_redelivered_and_resumes(cluster):
    clip = media_file("video/st_ref_KatieHill_000.mp4")
    job_id = cluster.submit(clip)
    job = cluster.wait(job_id, until=lambda j: j["stage"] in ("translate", "synthesize", "mix")
                       or j["status"] != "queued" and j["status"] != "running", timeout=300)
    assert job["status"] == "running", job
    first_stages = dict(job["stage_seconds"])
    assert "transcribe" in first_stages, first_stages
    work = cluster.data / "jobs" / job_id / "out" / "work"
    stamps = {p.name: p.stat().st_mtime_ns for p in (work / "original.wav", work / "asr16k.wav")}
    victim = job["worker"].split("@")[0]
    cluster.workers[victim].kill()  # kill -9 of the whole worker: its pool process dies with it
    t_kill = time.monotonic()
    done = cluster.wait(job_id, timeout=600)
    assert done["status"] == "done", done
    assert done["attempt"] == 2 and done["resumes"] == 1, done
    assert not done["worker"].startswith(victim + "@"), done["worker"]
    stages = httpx.get(f"{cluster.base}/api/jobs/{job_id}/files/report.json", timeout=10).json()["timing"]["stages"]
    # finished stages were reused, not recomputed: decoded audio untouched, transcription instant
    assert {p.name: p.stat().st_mtime_ns for p in (work / "original.wav", work / "asr16k.wav")} == stamps
    assert stages["transcribe"] < max(0.5, first_stages["transcribe"] / 5), (stages, first_stages)
    print(f"\nredelivered after kill -9 of {victim}: done {time.monotonic() - t_kill:.1f} s later on "
          f"{done['worker']}; transcribe {first_stages['transcribe']:.2f} s -> {stages['transcribe']:.3f} s")
    assert abs(duration(cluster.data / "jobs" / job_id / "out" / done["output"]) - duration(clip)) < 0.3
