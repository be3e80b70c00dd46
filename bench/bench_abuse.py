"""Abuse mode of the server load bench (issue 15): N real jobs run while a client sends malformed and
oversized requests at RATE per second for the same time. All jobs must complete, no answer may be a
5xx, and `GET /api/jobs/{id}` must stay fast (p95 reported). Baseline (no abuse) and abuse side by side.

    .venv/bin/python bench/bench_abuse.py --jobs 8 --rate 20            # real pipeline on vr_face_2.mp4
    .venv/bin/python bench/bench_abuse.py --fake --jobs 8 --rate 20     # fake pipeline: server overhead only

The server is `polydub serve`'s app in its own process (uvicorn on a free loopback port); the clients
are threads of this process speaking real HTTP.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

from machine import machine_note  # noqa: E402  (bench/ is the script's folder)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
FAKES = "task_targets={'dub': 'tests.test_server_fakes:fake_dub', 'render': 'tests.test_server_fakes:fake_rerender'}"


def http(base: str, method: str, path: str, body: bytes | None = None, ctype: str | None = None,
         timeout: float = 30) -> tuple[int, bytes]:
    req = urllib.request.Request(base + path, data=body, method=method,
                                 headers={"Content-Type": ctype} if ctype else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, TimeoutError, ConnectionError):
        return 0, b""  # no answer at all (counted apart from statuses)


def multipart(fields: dict[str, str], file_name: str, data: bytes) -> tuple[bytes, str]:
    b = "benchabuse"
    out = b"".join(f'--{b}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
                   for k, v in fields.items())
    out += (f'--{b}\r\nContent-Disposition: form-data; name="file"; filename="{file_name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode() + data + b"\r\n"
    return out + f"--{b}--\r\n".encode(), f"multipart/form-data; boundary={b}"


def abusive_requests(job_ids: list[str], media: bytes):
    """Malformed and oversized requests, each a (method, path, body, content type)."""
    rnd = random.Random(15)
    junk = bytes(rnd.getrandbits(8) for _ in range(4096))
    big_json = json.dumps({"translation": "a" * 2_000_000}).encode()
    cases = [
        lambda j: ("POST", "/api/jobs", *multipart({"target_language": "xx"}, "a.mp4", media)),
        lambda j: ("POST", "/api/jobs", *multipart({"target_language": "es", "voices": "x" * 40_000}, "a.mp4", b"")),
        lambda j: ("POST", "/api/jobs", *multipart({"target_language": "es"}, "junk.mp4", junk)),
        lambda j: ("POST", "/api/jobs", b"--nope\r\ngarbage", "multipart/form-data; boundary=nope"),
        lambda j: ("POST", "/api/jobs", b'{"target_language": "es"}', "application/json"),
        lambda j: ("PATCH", f"/api/jobs/{j}/segments/0", big_json, "application/json"),
        lambda j: ("PATCH", f"/api/jobs/{j}/segments/0", b"{not json", "application/json"),
        lambda j: ("PATCH", f"/api/jobs/{j}/segments/99999", b'{"translation": "x"}', "application/json"),
        lambda j: ("GET", f"/api/jobs/{j}/files/..%2F..%2Fpolydub.db", None, None),
        lambda j: ("GET", "/api/jobs/" + "z" * 5000, None, None),
        lambda j: ("GET", f"/api/jobs/{j}/events?after=abc", None, None),
        lambda j: ("GET", "/api/voices/preview?voice=kokoro:nobody&text=" + "a" * 600, None, None),
        lambda j: ("POST", "/upload", *multipart({"language": "es" * 20}, "a.mp4", media)),
        lambda j: ("PUT", f"/api/jobs/{j}", b"{}", "application/json"),
        lambda j: ("DELETE", "/api/jobs/does-not-exist", None, None),
    ]
    n = 0
    while True:
        yield cases[n % len(cases)](rnd.choice(job_ids))
        n += 1


SENDERS = 4  # threads sharing the abuse rate: one slow answer does not slow the others


def run(args, abuse_rate: float) -> dict:
    from tests.helpers import start_server

    media = args.media.read_bytes()
    with tempfile.TemporaryDirectory(prefix="polydub-abuse-") as tmp:
        extra = f"workers={args.workers}, upload_rate_per_min=0, min_free_mb=0" + (f", {FAKES}" if args.fake else "")
        proc, base = start_server(Path(tmp) / "data", extra)
        stop = threading.Event()
        statuses: Counter = Counter()
        latencies: list[float] = []
        try:
            form = {"target_language": args.target}
            if args.fast:
                form.update(separation="false", quality_checks="false")
            ids = []
            for i in range(args.jobs):
                status, body = http(base, "POST", "/api/jobs", *multipart(form, f"job{i}{args.media.suffix}", media))
                assert status == 201, body
                ids.append(json.loads(body)["id"])

            interval = SENDERS / abuse_rate if abuse_rate else 0.0
            lock = threading.Lock()

            def abuse(seed: int) -> None:
                gen = abusive_requests(ids, media[:20_000])
                for _ in range(seed):
                    next(gen)
                while not stop.is_set():
                    began = time.monotonic()
                    method, path, body, ctype = next(gen)
                    status = http(base, method, path, body, ctype)[0]
                    with lock:
                        statuses[status] += 1
                    stop.wait(max(0.0, interval - (time.monotonic() - began)))

            for n in range(SENDERS if abuse_rate else 0):
                threading.Thread(target=abuse, args=(n * 4,), daemon=True).start()
            t0 = time.monotonic()
            states: dict = {}
            while time.monotonic() - t0 < args.timeout:
                for job_id in ids:
                    began = time.monotonic()
                    status, body = http(base, "GET", f"/api/jobs/{job_id}")
                    latencies.append(time.monotonic() - began)
                    if status == 200:
                        states[job_id] = json.loads(body)["status"]
                    time.sleep(0.05)
                if len(states) == len(ids) and all(s in ("done", "failed", "cancelled") for s in states.values()):
                    break
            wall = time.monotonic() - t0
        finally:
            stop.set()
            proc.terminate()
            proc.wait(10)
    sent = sum(statuses.values())
    lat = sorted(latencies)
    return {"abuse_rate": abuse_rate, "jobs": args.jobs,
            "done": sum(s == "done" for s in states.values()), "wall": wall, "sent": sent,
            "rate": sent / wall if wall else 0.0, "5xx": sum(n for s, n in statuses.items() if s >= 500),
            "no_answer": statuses.get(0, 0), "statuses": dict(sorted(statuses.items())),
            "p50": statistics.median(lat) * 1000, "p95": lat[int(0.95 * (len(lat) - 1))] * 1000,
            "max": lat[-1] * 1000, "polls": len(lat)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=8)
    ap.add_argument("--rate", type=float, default=20.0, help="abusive requests per second")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--media", type=Path, default=REPO.parent / "shared" / "media" / "video" / "vr_face_2.mp4")
    ap.add_argument("--target", default="es")
    ap.add_argument("--fast", action="store_true", help="no separation, no quality checks")
    ap.add_argument("--fake", action="store_true", help="fake pipeline (tests/test_server_fakes.py)")
    ap.add_argument("--no-baseline", action="store_true", help="only the run under abuse")
    ap.add_argument("--timeout", type=float, default=3 * 3600)
    args = ap.parse_args()
    results = []
    for rate in ([] if args.no_baseline else [0.0]) + [args.rate]:
        print(f"running: {args.jobs} jobs, abuse {rate:g}/s ...", flush=True)
        results.append(run(args, rate))
        r = results[-1]
        print(f"  {r['done']}/{r['jobs']} done in {r['wall']:.0f} s; answers to abuse: {r['statuses']}", flush=True)
    what = "fake pipeline" if args.fake else f"{args.media.name} -> {args.target}" + (
        " (no separation, no quality)" if args.fast else "")
    print(f"\nserver under abuse: {what}, {args.workers} worker(s); {machine_note()}")
    print("| abuse req/s (asked) | sent | achieved req/s | jobs done | wall s | 5xx | no answer "
          "| GET job p50 ms | p95 ms | max ms |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['abuse_rate']:g} | {r['sent']} | {r['rate']:.1f} | {r['done']}/{r['jobs']} | {r['wall']:.0f} | "
              f"{r['5xx']} | {r['no_answer']} | {r['p50']:.0f} | {r['p95']:.0f} | {r['max']:.0f} |")
    ok = all(r["done"] == r["jobs"] and r["5xx"] == 0 and r["no_answer"] == 0 for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
