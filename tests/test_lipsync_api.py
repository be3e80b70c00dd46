"""The API and the studio pass lip-sync through to the pipeline (fake pipeline, fast)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from polydub.pipeline import DubOptions
from polydub.server.app import create_app
from tests.test_server_api import make_settings, tiny_mp4, wait_status  # noqa: F401 - fixture

__all__ = ["tiny_mp4"]


def test_jobs_take_lipsync_and_the_studio_offers_it(tmp_path, tiny_mp4) -> None:  # noqa: F811
    with TestClient(create_app(make_settings(tmp_path))) as client:
        with open(tiny_mp4, "rb") as fh:
            r = client.post("/api/jobs", files={"file": ("a.mp4", fh, "video/mp4")},
                            data={"target_language": "es", "lipsync": "true"})
        assert r.status_code == 201, r.text
        job = wait_status(client, r.json()["id"])
        assert job["options"]["lipsync"] is True
        with open(tiny_mp4, "rb") as fh:
            r = client.post("/api/jobs", files={"file": ("b.mp4", fh, "video/mp4")}, data={"target_language": "es"})
        assert wait_status(client, r.json()["id"])["options"]["lipsync"] is False
        schema = client.get("/openapi.json").json()
        body = schema["paths"]["/api/jobs"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
        assert body["properties"]["lipsync"]["type"] == "boolean"
        page = client.get("/").text
        assert 'id="lipsync"' in page and "not available" not in page
        assert "lips" in client.get("/app.js").text
    # The worker builds DubOptions from the job's options by field name.
    assert DubOptions(target_language="es", **{"lipsync": True}).lipsync is True
