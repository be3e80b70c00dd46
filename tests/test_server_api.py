"""API tests: real worker processes running fake pipeline functions (tests/test_server_fakes.py)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from polydub.server.app import create_app
from polydub.server.settings import Settings
from polydub.server.store import JobStore
from tests.servers import postgres_server  # noqa: F401 - fixture

FAKES = "tests.test_server_fakes"
_STORE_URL: str | None = None  # the job database of the running test (None: SQLite in the data dir)


@pytest.fixture(autouse=True, params=["sqlite", "postgresql"])
def store_url(request):
    """Every API test runs against SQLite and against a real PostgreSQL (a fresh database each)."""
    global _STORE_URL
    _STORE_URL = request.getfixturevalue("postgres_server").new_database() if request.param == "postgresql" \
        else None
    yield _STORE_URL
    _STORE_URL = None


@pytest.fixture(scope="session")
def tiny_mp4(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("media") / "tiny.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=440:duration=1",
                    "-f", "lavfi", "-i", "color=size=64x64:duration=1:rate=10", "-shortest",
                    "-c:v", "libx264", "-c:a", "aac", str(path)], check=True)
    return path


def make_settings(tmp_path: Path, dub: str = "fake_dub", **kw) -> Settings:
    kw.setdefault("task_targets", {"dub": f"{FAKES}:{dub}", "render": f"{FAKES}:fake_rerender"})
    kw.setdefault("database_url", _STORE_URL)
    return Settings(data_dir=tmp_path / "data", **kw)


@pytest.fixture
def client(tmp_path):
    with TestClient(create_app(make_settings(tmp_path))) as c:
        yield c


def upload(c: TestClient, media: Path, name: str | None = None, lang: str = "es", url: str = "/api/jobs",
           field: str = "target_language", headers: dict | None = None):
    with open(media, "rb") as fh:
        return c.post(url, files={"file": (name or media.name, fh, "video/mp4")}, data={field: lang},
                      headers=headers or {})


def wait_status(c: TestClient, job_id: str, statuses=("done", "failed", "cancelled"), timeout: float = 30,
                headers: dict | None = None) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = c.get(f"/api/jobs/{job_id}", headers=headers or {}).json()
        if job["status"] in statuses:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} stuck: {job}")


def test_health_docs_and_errors(client):
    health = client.get("/api/health").json()
    assert health["status"] == "ok" and health["workers"] == 1 and "queue_length" in health
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    for p in ("/api/jobs", "/api/jobs/{job_id}/segments/{index}", "/upload", "/status/{job_id}"):
        assert p in paths
    r = client.get("/api/jobs/nope")
    assert r.status_code == 404 and r.json() == {"error": {"code": "job_not_found",
                                                           "message": "No job with id 'nope'."}}
    assert client.get("/").status_code == 200 and "polydub" in client.get("/").text


def test_upload_events_done_download_edit_render(client, tiny_mp4):
    r = upload(client, tiny_mp4)
    assert r.status_code == 201, r.text
    job_id = r.json()["id"]
    job = wait_status(client, job_id)
    assert job["status"] == "done", job
    assert job["progress"] == 100 and job["output"] == "dubbed.es.mp4" and job["target_language"] == "es"
    assert set(job["stage_seconds"]) >= {"media", "transcribe", "mix"}
    stages = [e["stage"] for e in client.get(f"/api/jobs/{job_id}/events").json()["events"]]
    assert stages[0] is None and "translate" in stages and stages[-1] == "done"
    # websocket replays the past events, then closes because the job has finished
    with client.websocket_connect(f"/api/jobs/{job_id}/events") as ws:
        seen = []
        while True:
            try:
                seen.append(ws.receive_json())
            except Exception:
                break
    assert seen[0]["status"] == "queued" and seen[-1]["status"] == "done" and len(seen) == len(stages)
    # files, with range requests
    names = {f["name"] for f in client.get(f"/api/jobs/{job_id}/files").json()["files"]}
    assert {"dubbed.es.mp4", "project.json", "report.json", "lines/0001.wav"} <= names
    full = client.get(f"/api/jobs/{job_id}/files/dubbed.es.mp4")
    assert full.status_code == 200 and full.content == tiny_mp4.read_bytes()
    part = client.get(f"/api/jobs/{job_id}/files/dubbed.es.mp4", headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == tiny_mp4.read_bytes()[10:20]
    assert client.get(f"/api/jobs/{job_id}/original").content == tiny_mp4.read_bytes()
    # segments: edit one line, re-render only that one
    segs = client.get(f"/api/jobs/{job_id}/segments").json()["segments"]
    assert [s["translation"] for s in segs] == ["Hola 0", "Hola 1", "Hola 2"]
    out = Path(client.app.state.settings.out_dir(job_id))
    before = {p.name: p.read_bytes() for p in (out / "lines").iterdir()}
    r = client.patch(f"/api/jobs/{job_id}/segments/1", json={"translation": "Buenas tardes"})
    assert r.status_code == 200 and r.json()["translation"] == "Buenas tardes" and r.json()["changed"]
    assert client.patch(f"/api/jobs/{job_id}/segments/9", json={"translation": "x"}).status_code == 404
    assert client.patch(f"/api/jobs/{job_id}/segments/0", json={}).status_code == 422
    r = client.post(f"/api/jobs/{job_id}/render")
    assert r.status_code == 202 and r.json()["task"] == "render"
    job = wait_status(client, job_id)
    assert job["status"] == "done" and job["task"] == "render"
    after = {p.name: p.read_bytes() for p in (out / "lines").iterdir()}
    assert [n for n in sorted(after) if after[n] != before[n]] == ["0001.wav"]
    segs = client.get(f"/api/jobs/{job_id}/segments").json()["segments"]
    assert segs[1]["translation"] == "Buenas tardes" and not any(s["changed"] for s in segs)
    # delete removes files
    assert client.delete(f"/api/jobs/{job_id}").status_code == 204
    assert not out.exists() and client.get(f"/api/jobs/{job_id}").status_code == 404


def test_path_traversal_rejected(client, tiny_mp4):
    r = upload(client, tiny_mp4, name="../../../etc/evil.mp4")
    assert r.status_code == 201
    job_id = r.json()["id"]
    job = wait_status(client, job_id)
    assert job["input_name"] == "../../../etc/evil.mp4"
    inp = client.app.state.store.get(job_id).input_path
    assert Path(inp).parent == client.app.state.settings.input_dir(job_id)
    for bad in ("..%2F..%2Finput%2Fevil.mp4", "%2e%2e/%2e%2e/polydub.db", "lines/..%2F..%2F..%2Fpolydub.db",
                "%2Fetc%2Fpasswd"):
        r = client.get(f"/api/jobs/{job_id}/files/{bad}")
        assert r.status_code in (400, 404), (bad, r.status_code)
        assert r.status_code == 400 or "error" in r.json()
    assert client.get(f"/api/jobs/{job_id}/files/..%2F..%2F..%2Fpolydub.db").status_code == 400
    r = client.get(f"/download/{job_id}_..%2F..%2Fpolydub.db")
    assert r.status_code in (400, 404) and "error" in r.json()
    assert client.get(f"/download/{job_id}_..").status_code == 400


def test_bad_uploads(tmp_path, tiny_mp4):
    with TestClient(create_app(make_settings(tmp_path, max_upload_mb=0.005))) as c:  # ~5 KB cap
        empty = tmp_path / "empty.mp4"
        empty.write_bytes(b"")
        r = upload(c, empty)
        assert r.status_code == 400 and r.json()["error"]["code"] == "empty_file"
        text = tmp_path / "notes.mp4"
        text.write_text("this is not a video\n" * 20)
        r = upload(c, text)
        assert r.status_code == 415 and "not a video or audio" in r.json()["error"]["message"]
        r = upload(c, tiny_mp4)  # 11 KB > 5 KB
        assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
        r = c.post("/api/jobs", data={"target_language": "es"})
        assert r.status_code == 400
        r = c.post("/api/jobs", files={"file": ("a.mp4", b"", "video/mp4")})
        assert r.status_code in (400, 422)
        assert c.get("/api/jobs").json()["jobs"] == []
        assert not any((c.app.state.settings.data_dir / "jobs").glob("*/input/*"))
    with TestClient(create_app(make_settings(tmp_path / "b"))) as c:
        with open(tiny_mp4, "rb") as fh:
            r = c.post("/api/jobs", files={"file": ("a.mp4", fh)})
        assert r.status_code == 422 and "target_language" in r.json()["error"]["message"]


def test_cancel_cooperative_frees_slot(client, tiny_mp4, tmp_path):
    slow = tmp_path / "slow.mp4"
    slow.write_bytes(tiny_mp4.read_bytes())
    first = upload(client, slow).json()["id"]
    second = upload(client, tiny_mp4).json()["id"]
    wait_status(client, first, statuses=("running",))
    assert client.get(f"/api/jobs/{second}").json()["status"] == "queued"  # one worker
    t0 = time.monotonic()
    r = client.post(f"/api/jobs/{first}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled", r.json()
    assert time.monotonic() - t0 < 2.0
    assert wait_status(client, second)["status"] == "done"


def test_cancel_stubborn_worker_is_terminated(tmp_path, tiny_mp4):
    with TestClient(create_app(make_settings(tmp_path, dub="stubborn_dub"))) as c:
        job_id = upload(c, tiny_mp4).json()["id"]
        wait_status(c, job_id, statuses=("running",))
        time.sleep(0.3)
        t0 = time.monotonic()
        job = c.post(f"/api/jobs/{job_id}/cancel").json()
        assert job["status"] == "cancelled" and time.monotonic() - t0 < 2.5
        assert c.app.state.runner.running == {}
        c.app.state.settings.task_targets["dub"] = f"{FAKES}:fake_dub"
        assert wait_status(c, upload(c, tiny_mp4).json()["id"])["status"] == "done"


def test_failures_are_reported(tmp_path, tiny_mp4):
    with TestClient(create_app(make_settings(tmp_path, dub="failing_dub"))) as c:
        job = wait_status(c, upload(c, tiny_mp4).json()["id"])
        assert job["status"] == "failed" and job["error"]["code"] == "UnsupportedLanguageError"
        assert "pick another target language" in job["error"]["message"]
        c.app.state.settings.task_targets["dub"] = f"{FAKES}:crashing_dub"
        job = wait_status(c, upload(c, tiny_mp4).json()["id"])
        assert job["status"] == "failed" and job["error"]["code"] == "worker_crashed"


def test_restart_recovery(tmp_path, tiny_mp4):
    settings = make_settings(tmp_path)
    settings.data_dir.mkdir(parents=True)
    store = JobStore(settings.db_url)
    jobs = []
    for i in range(3):
        in_dir = settings.input_dir(f"job{i}")
        in_dir.mkdir(parents=True)
        (in_dir / "tiny.mp4").write_bytes(tiny_mp4.read_bytes())
        job = store.create(job_id=f"job{i}", input_name="tiny.mp4", input_path=str(in_dir / "tiny.mp4"),
                           out_dir=str(settings.out_dir(f"job{i}")), options={"target_language": "es"})
        store.add_event(job.id, status="running", stage="translate", percent=40.0, message="working")
        jobs.append(job.id)
    (settings.input_dir("job1") / "tiny.mp4").unlink()  # input gone: cannot resume
    store.update("job2", resumes=settings.max_resumes)  # interrupted too often
    store.close()
    with TestClient(create_app(settings)) as c:  # "server restart"
        assert wait_status(c, "job0")["status"] == "done"
        assert wait_status(c, "job0")["resumes"] == 1
        for jid in ("job1", "job2"):
            job = c.get(f"/api/jobs/{jid}").json()
            assert job["status"] == "failed" and job["error"]["code"] == "interrupted"
            assert "server stopped" in job["error"]["message"]
    settings2 = make_settings(tmp_path / "x", resume_on_start=False)
    settings2.data_dir.mkdir(parents=True)
    store = JobStore(settings2.db_url)
    store.create(job_id="j", input_name="a", input_path=str(tiny_mp4), out_dir=str(tmp_path / "o"), options={})
    store.add_event("j", status="running")
    store.close()
    with TestClient(create_app(settings2)) as c:
        assert c.get("/api/jobs/j").json()["status"] == "failed"


def test_token_auth(tmp_path, tiny_mp4):
    with TestClient(create_app(make_settings(tmp_path, token="s3cret"))) as c:
        assert c.get("/api/health").status_code == 200
        r = c.get("/api/jobs")
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        assert c.get("/api/jobs", headers={"Authorization": "Bearer wrong"}).status_code == 401
        auth = {"Authorization": "Bearer s3cret"}
        assert c.get("/api/jobs", headers=auth).status_code == 200
        assert upload(c, tiny_mp4).status_code == 401
        assert upload(c, tiny_mp4, url="/upload", field="language").status_code == 401
        job_id = upload(c, tiny_mp4, headers=auth).json()["id"]
        wait_status(c, job_id, headers=auth)
        assert c.get(f"/api/jobs/{job_id}/files/dubbed.es.mp4?token=s3cret").status_code == 200
        assert c.get(f"/status/{job_id}").status_code == 401
        with pytest.raises(WebSocketDisconnect) as denied, c.websocket_connect(f"/api/jobs/{job_id}/events") as ws:
            ws.receive_json()
        assert denied.value.code == 4401
        with c.websocket_connect(f"/api/jobs/{job_id}/events?token=s3cret") as ws:
            assert ws.receive_json()["status"] == "queued"


def test_compat_routes(client, tiny_mp4):
    r = upload(client, tiny_mp4, url="/upload", field="language", lang="es")
    assert r.status_code == 200 and r.json()["status"] == "processing"
    job_id = r.json()["job_id"]
    msgs = []
    with client.websocket_connect(f"/ws/{job_id}") as ws:
        while True:
            try:
                msgs.append(ws.receive_json())
            except Exception:
                break
    assert all({"progress", "stage", "status"} <= set(m) for m in msgs)
    assert msgs[-1]["status"] == "completed" and msgs[-1]["progress"] == 100
    status = client.get(f"/status/{job_id}").json()
    assert status["status"] == "completed" and status["filename"] == f"{job_id}_dubbed.es.mp4"
    r = client.get(status["download_url"])
    assert r.status_code == 200 and r.content == tiny_mp4.read_bytes()
    assert client.get(f"/download/{job_id}").status_code == 200
    assert client.get("/download/nope_x.mp4").status_code == 404


def test_docs_work_offline(tmp_path) -> None:
    """The OpenAPI page must not depend on a CDN: its script and styles come from this server."""
    from fastapi.testclient import TestClient

    from polydub.server.app import create_app
    from polydub.server.settings import Settings

    with TestClient(create_app(Settings(data_dir=tmp_path))) as client:
        page = client.get("/docs")
        assert page.status_code == 200
        assert "/docs-assets/swagger-ui-bundle.js" in page.text and "cdn" not in page.text.lower()
        assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
        assert client.get("/openapi.json").json()["info"]["title"] == "polydub"
