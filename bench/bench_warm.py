"""Warm workers: a short clip's job time on a fresh worker process (cold) and on the same process
afterwards (warm: models stay loaded), plus the worker's memory before and after it releases idle
models. Embedded runner by default; --broker runs the same through a Celery worker.

    .venv/bin/python bench/bench_warm.py                       # vr_face_2.mp4 (5 s), 3 jobs, es
    .venv/bin/python bench/bench_warm.py --jobs 4 --quality
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from machine import machine_note  # noqa: E402  (bench/ is the script's folder)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=3)
    ap.add_argument("--media", type=Path, default=REPO.parent / "shared" / "media" / "video" / "vr_face_2.mp4")
    ap.add_argument("--target", default="es")
    ap.add_argument("--quality", action="store_true", help="with quality checks (default: off)")
    ap.add_argument("--separation", action="store_true", help="with separation (default: off)")
    ap.add_argument("--idle-s", type=float, default=8.0, help="model release after this idle time (measured)")
    args = ap.parse_args()

    from fastapi.testclient import TestClient

    from polydub.server.app import create_app
    from polydub.server.settings import Settings

    rows = []
    with tempfile.TemporaryDirectory() as tmp, TestClient(create_app(Settings(
            data_dir=Path(tmp), workers=1, upload_rate_per_min=0, min_free_mb=0, model_idle_s=args.idle_s))) as c:
        runner = c.app.state.runner
        for i in range(args.jobs):
            t0 = time.monotonic()
            with open(args.media, "rb") as fh:
                r = c.post("/api/jobs", files={"file": (args.media.name, fh)},
                           data={"target_language": args.target, "separation": str(args.separation).lower(),
                                 "quality_checks": str(args.quality).lower()})
            r.raise_for_status()
            job_id = r.json()["id"]
            while (job := c.get(f"/api/jobs/{job_id}").json())["status"] not in ("done", "failed", "cancelled"):
                time.sleep(0.2)
            wall = time.monotonic() - t0
            pid = runner.slots[0].process.pid
            stages = ", ".join(f"{k} {v:.1f}" for k, v in (job.get("stage_seconds") or {}).items())
            rows.append((i + 1, "cold (fresh worker process)" if i == 0 else "warm (same process)", wall,
                         job["status"], _rss_mb(pid), stages))
            print(f"job {i + 1}: {job['status']} in {wall:.1f} s, worker RSS {_rss_mb(pid):.0f} MB", flush=True)
        pid = runner.slots[0].process.pid
        before = _rss_mb(pid)
        time.sleep(args.idle_s + 7)
        after = _rss_mb(pid)
        workers = c.app.state.store.workers()
    media_s = float(__import__("tests.helpers", fromlist=["duration"]).duration(args.media))
    print(f"\nwarm workers: {args.media.name} ({media_s:.1f} s) -> {args.target}, separation "
          f"{'on' if args.separation else 'off'}, quality {'on' if args.quality else 'off'} "
          f"({machine_note()})")
    print("| job | worker | wall s | RTF | status | worker RSS MB | stage seconds |")
    print("|---|---|---|---|---|---|---|")
    for n, kind, wall, status, rss, stages in rows:
        print(f"| {n} | {kind} | {wall:.1f} | {wall / media_s:.2f} | {status} | {rss:.0f} | {stages} |")
    print(f"\nidle release after {args.idle_s:.0f} s: worker RSS {before:.0f} MB -> {after:.0f} MB "
          f"(models loaded: {[w.models_loaded for w in workers]})")
    return 0 if all(r[3] == "done" for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
