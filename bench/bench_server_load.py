"""Load check of the embedded job runner: N jobs submitted at once must all complete.

Reports per-job queue wait and run time, and overall throughput. Not a timed test.

    .venv/bin/python bench/bench_server_load.py                 # 8 real dubs of vr_face_2.mp4, 1 worker
    .venv/bin/python bench/bench_server_load.py --fake --jobs 8 --workers 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fastapi.testclient import TestClient  # noqa: E402

from polydub.server.app import create_app  # noqa: E402
from polydub.server.settings import Settings  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=8)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--media", type=Path, default=REPO.parent / "shared" / "media" / "video" / "vr_face_2.mp4")
    ap.add_argument("--target", default="es")
    ap.add_argument("--fake", action="store_true", help="use the fake pipeline from tests/test_server_fakes.py")
    ap.add_argument("--timeout", type=float, default=3600)
    args = ap.parse_args()
    extra = {}
    if args.fake:
        extra = {"dub_target": "tests.test_server_fakes:fake_dub",
                 "render_target": "tests.test_server_fakes:fake_rerender"}
    with tempfile.TemporaryDirectory() as tmp, \
            TestClient(create_app(Settings(data_dir=Path(tmp), workers=args.workers, **extra))) as c:
        def submit(i: int) -> str:
            with open(args.media, "rb") as fh:
                r = c.post("/api/jobs", files={"file": (f"load{i}{args.media.suffix}", fh)},
                           data={"target_language": args.target})
            r.raise_for_status()
            return r.json()["id"]

        t0 = time.time()
        with ThreadPoolExecutor(args.jobs) as pool:
            ids = list(pool.map(submit, range(args.jobs)))
        submitted = time.time() - t0
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            jobs = [c.get(f"/api/jobs/{i}").json() for i in ids]
            if all(j["status"] in ("done", "failed", "cancelled") for j in jobs):
                break
            time.sleep(1)
        wall = time.time() - t0
    waits = [j["started_at"] - j["created_at"] for j in jobs if j["started_at"]]
    runs = [j["finished_at"] - j["started_at"] for j in jobs if j["started_at"] and j["finished_at"]]
    done = sum(j["status"] == "done" for j in jobs)
    result = {
        "jobs": args.jobs, "workers": args.workers, "pipeline": "fake" if args.fake else "real",
        "media": args.media.name, "completed": done,
        "failed": [(j["id"], j["status"], (j.get("error") or {}).get("message"))
                   for j in jobs if j["status"] != "done"],
        "submit_seconds": round(submitted, 2), "wall_seconds": round(wall, 1),
        "queue_wait_s": {"mean": round(statistics.mean(waits), 1), "max": round(max(waits), 1)} if waits else None,
        "run_s": {"mean": round(statistics.mean(runs), 1), "max": round(max(runs), 1)} if runs else None,
        "throughput_jobs_per_min": round(60 * done / wall, 2),
    }
    print(json.dumps(result, indent=2))
    return 0 if done == args.jobs else 1


if __name__ == "__main__":
    raise SystemExit(main())
