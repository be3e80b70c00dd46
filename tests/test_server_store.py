"""The job store on SQLite and on a real PostgreSQL: a store made by the first server release
(tests/legacy_store_v1.py) is upgraded in place without losing jobs or events; migrations are
idempotent and safe when several processes start at once."""

from __future__ import annotations

import threading
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect

from polydub.server.app import create_app
from polydub.server.schema import HEAD
from polydub.server.store import JobStore
from tests import legacy_store_v1
from tests.servers import postgres_server  # noqa: F401 - fixture
from tests.test_server_api import make_settings


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'polydub.db'}"
    return request.getfixturevalue("postgres_server").new_database()


def _legacy_jobs(url: str) -> dict[str, dict]:
    old = legacy_store_v1.JobStore(url)
    done = old.create(input_name="a.mp4", input_path="/srv/a.mp4", out_dir="/srv/a", options={"target_language": "es"})
    old.add_event(done.id, status="running", stage="transcribe", percent=20.0, message="transcribing",
                  stage_seconds={"media": 0.5}, started_at=time.time())
    old.add_event(done.id, status="done", stage="done", percent=100.0, message="Done",
                  report={"outputs": {"media": "a.es.mp4"}, "timing": {"stages": {"media": 0.5}}},
                  finished_at=time.time())
    queued = old.create(input_name="b.mp4", input_path="/srv/b.mp4", out_dir="/srv/b",
                        options={"target_language": "fr"})
    failed = old.create(input_name="c.mp4", input_path="/srv/c.mp4", out_dir="/srv/c", options={})
    old.add_event(failed.id, status="failed", message="boom", error_code="X", error_message="boom")
    jobs = {j.id: j.__dict__ for j in (old.get(done.id), old.get(queued.id), old.get(failed.id))}
    events = {j: old.events(j) for j in jobs}
    old.close()
    return {"jobs": jobs, "events": events}


def test_first_release_store_is_upgraded_in_place(url):
    before = _legacy_jobs(url)
    store = JobStore(url)  # migrates
    assert store.revision() == HEAD
    with store.engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
        columns = {c["name"] for c in inspect(conn).get_columns("jobs")}
    assert {"jobs", "events", "workers", "alembic_version"} <= tables
    assert {"attempt", "queued_at", "worker", "heartbeat_at", "cancel_requested_at", "dispatched_at"} <= columns
    for job_id, old in before["jobs"].items():
        new = store.get(job_id)
        assert new is not None
        for field, value in old.items():
            if field.startswith("_"):
                continue
            got = getattr(new, field)
            assert got == pytest.approx(value) if isinstance(value, float) else got == value, (field, got, value)
        assert new.attempt == 1 and new.queued_at == pytest.approx(old["created_at"])
        assert store.events(job_id) == before["events"][job_id]
    # the upgraded store works: a queued job of the old release is claimed and run by the new code
    queued = next(j for j, old in before["jobs"].items() if old["status"] == "queued")
    assert store.claim(queued, 1, "w@host/1", lost_after_s=60).status == "running"
    assert store.claim(queued, 1, "w@host/2", lost_after_s=60) is None  # one runner per attempt
    store.close()
    again = JobStore(url)  # idempotent
    assert again.revision() == HEAD and len(again.list()) == 3
    again.close()


def test_api_serves_an_upgraded_store(url, tmp_path):
    before = _legacy_jobs(url)
    settings = make_settings(tmp_path, database_url=url)
    with TestClient(create_app(settings)) as c:
        jobs = {j["id"]: j for j in c.get("/api/jobs").json()["jobs"]}
        assert set(jobs) == set(before["jobs"])
        done = next(j for j in jobs.values() if j["status"] == "done")
        detail = c.get(f"/api/jobs/{done['id']}").json()
        assert detail["summary"]["outputs"] == {"media": "a.es.mp4"} and detail["attempt"] == 1
        assert [e["message"] for e in c.get(f"/api/jobs/{done['id']}/events").json()["events"]] == \
            ["Queued", "transcribing", "Done"]


def test_concurrent_first_starts_migrate_once(url):
    errors, stores = [], []

    def start() -> None:
        try:
            stores.append(JobStore(url))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and len(stores) == 4
    assert all(s.revision() == HEAD for s in stores)
    for s in stores:
        s.close()
