"""Schema fuzzing (issue 15): Schemathesis generates requests for every operation of the live
server's own OpenAPI document, with and without the API token, and checks each answer: no 5xx, no
undocumented status code, no content type or body that breaks the declared schema, no request
slower than 10 s (a hang). The number of examples is bounded so the run stays near a minute.

The server is the real one (`polydub serve`'s app in a child process, real worker processes) with
the fake pipeline functions of tests/test_server_fakes.py; a finished job, its speaker, its lines
and its files are offered to the fuzzer as likely path values, so the routes behind a job id are
reached, not only their 404s.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import start_server, tiny_video

TOKEN = "fuzz-token"
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
MAX_EXAMPLES = 8


def _request(base: str, path: str, data: bytes | None = None, headers: dict | None = None) -> dict:
    req = urllib.request.Request(base + path, data=data, headers={"Authorization": f"Bearer {TOKEN}",
                                                                  **(headers or {})})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def _multipart(fields: dict[str, str], file: Path) -> tuple[bytes, str]:
    boundary = "polydubfuzzboundary"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{file.name}"\r\n'
                 "Content-Type: video/mp4\r\n\r\n".encode() + file.read_bytes() + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    tiny = folder / "tiny.mp4"
    tiny_video(tiny)
    fakes = "tests.test_server_fakes"
    proc, base = start_server(folder / "data", f"task_targets={{'dub': '{fakes}:fake_dub', "
                                               f"'render': '{fakes}:fake_rerender'}}, token={TOKEN!r}, "
                                               "upload_rate_per_min=0, min_free_mb=0")
    try:
        body, ctype = _multipart({"target_language": "es"}, tiny)
        job = _request(base, "/api/jobs", body, {"Content-Type": ctype})["id"]
        deadline = time.monotonic() + 60
        while _request(base, f"/api/jobs/{job}")["status"] != "done":
            assert time.monotonic() < deadline, "the seed job did not finish"
            time.sleep(0.2)
        config = folder / "schemathesis.toml"
        config.write_text(f"""
[dictionaries.jobs]
values = ["{job}"]
[dictionaries.files]
values = ["dubbed.es.mp4", "dubbed.es.srt", "report.json", "project.json", "lines/0000.wav"]
[dictionaries.speakers]
values = ["S1"]
[dictionaries.indexes]
values = [0, 1, 2]
[parameters]
"path.job_id" = {{ dictionary = "jobs", probability = 0.7 }}
"path.name" = {{ dictionary = "files", probability = 0.5 }}
"path.speaker" = {{ dictionary = "speakers", probability = 0.7 }}
"path.index" = {{ dictionary = "indexes", probability = 0.7 }}
""")
        yield base, config
    finally:
        proc.kill()
        proc.wait(timeout=10)


def _fuzz(base: str, config: Path, *args: str) -> None:
    cmd = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run", f"{base}/openapi.json",
           "--checks", CHECKS, "--max-response-time", "10", "--request-timeout", "20",
           "--max-examples", str(MAX_EXAMPLES), "--phases", "examples,coverage,fuzzing", "--workers", "1",
           "--seed", "1515", "--continue-on-failure", "--no-color", *args]
    # run beside its config: Schemathesis keeps a cache folder in its working directory
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, cwd=config.parent)
    tail = proc.stdout[-12000:] + proc.stderr[-3000:]
    assert proc.returncode == 0, tail
    assert "Operations:" in proc.stdout and " passed" in proc.stdout, tail


def test_fuzz_with_token(server):
    base, config = server
    _fuzz(base, config, "-H", f"Authorization: Bearer {TOKEN}", "--exclude-method", "DELETE")


def test_fuzz_deletes_with_token(server):
    base, config = server  # last with the token: these remove the job the others use
    _fuzz(base, config, "-H", f"Authorization: Bearer {TOKEN}", "--include-method", "DELETE")


def test_fuzz_without_token(server):
    base, config = server
    _fuzz(base, config)
    # and the server still serves
    assert _request(base, "/api/health")["status"] in ("ok", "degraded")


def test_oversized_bodies_get_an_answer_over_tcp(server):
    """A 2 MB JSON body is refused with 413 and the client reads that answer (the server drains the
    body first: closing on a client that is still sending would reset the connection instead)."""
    base, _config = server
    body = json.dumps({"translation": "a" * 2_000_000}).encode()
    for _ in range(10):
        req = urllib.request.Request(f"{base}/api/jobs/none/segments/0", data=body, method="PATCH",
                                     headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
        try:
            urllib.request.urlopen(req, timeout=20)
            raise AssertionError("accepted a 2 MB body")
        except urllib.error.HTTPError as exc:
            assert exc.code == 413 and json.loads(exc.read())["error"]["code"] == "too_large"
