"""Load on the job runners: N jobs submitted at once must all complete. Embedded pool and Celery
workers side by side on the same machine, same clip, same options; prints one table.

Per configuration: jobs/min (completed jobs over the wall time from the first upload to the last
finish), queue wait mean/max (started - created), run time mean, failures. Not a timed test.

    .venv/bin/python bench/bench_server_load.py --runner both --broker local --jobs 8,16 --workers 1,2
    .venv/bin/python bench/bench_server_load.py --broker redis://127.0.0.1:6379/0 --jobs 8   # celery only
    .venv/bin/python bench/bench_server_load.py --fake --runner both --broker local --jobs 8,16 --workers 1,2

--broker local starts a private redis-server on a free port. Celery "workers N" = N `polydub worker`
processes with --concurrency 1 (the embedded runner: --workers N warm processes).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from machine import machine_note  # noqa: E402  (bench/ is the script's folder)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
FAKES = {"dub": "tests.test_server_fakes:fake_dub", "render": "tests.test_server_fakes:fake_rerender"}


def run_config(runner: str, workers: int, jobs: int, args, broker: str | None) -> dict:
    from fastapi.testclient import TestClient

    from polydub.server.app import create_app
    from polydub.server.settings import Settings
    from tests.servers import Worker

    with tempfile.TemporaryDirectory(prefix="polydub-load-") as tmp:
        data = Path(tmp) / "data"
        settings = Settings(data_dir=data, workers=workers, upload_rate_per_min=0, min_free_mb=0,
                            task_targets=dict(FAKES) if args.fake else {}, database_url=args.database_url,
                            broker_url=broker if runner == "celery" else None)
        started_workers = []
        if runner == "celery":
            extra = [a for kind, target in FAKES.items() for a in ("--task", f"{kind}={target}")] if args.fake else []
            started_workers = [Worker(f"load{i}", broker, data, args.database_url, *extra,
                                      log=Path(tmp) / f"worker{i}.log") for i in range(workers)]
        try:
            with TestClient(create_app(settings)) as c:
                deadline = time.monotonic() + 120  # both runners: measure from workers up, not booting
                while c.get("/api/health").json()["worker_status"]["alive"] < workers:
                    assert time.monotonic() < deadline, "workers did not come up"
                    time.sleep(0.5)
                form = {"target_language": args.target}
                if args.fast:
                    form.update(separation="false", quality_checks="false")

                def submit(i: int) -> str:
                    with open(args.media, "rb") as fh:
                        r = c.post("/api/jobs", files={"file": (f"load{i}{args.media.suffix}", fh)}, data=form)
                    r.raise_for_status()
                    return r.json()["id"]

                t0 = time.time()
                with ThreadPoolExecutor(min(jobs, 16)) as pool:
                    ids = list(pool.map(submit, range(jobs)))
                deadline = time.monotonic() + args.timeout
                while time.monotonic() < deadline:
                    states = [c.get(f"/api/jobs/{i}").json() for i in ids]
                    if all(j["status"] in ("done", "failed", "cancelled") for j in states):
                        break
                    time.sleep(1)
                wall = max((j["finished_at"] or time.time()) for j in states) - t0
        finally:
            for w in started_workers:
                w.stop()
    waits = [j["started_at"] - j["created_at"] for j in states if j["started_at"]]
    runs = [j["finished_at"] - j["started_at"] for j in states if j["started_at"] and j["finished_at"]]
    done = sum(j["status"] == "done" for j in states)
    return {"runner": runner, "workers": workers, "jobs": jobs, "done": done, "failed": jobs - done,
            "wall": wall, "jobs_per_min": 60 * done / wall if wall > 0 else 0.0,
            "wait_mean": statistics.mean(waits) if waits else float("nan"), "wait_max": max(waits, default=0.0),
            "run_mean": statistics.mean(runs) if runs else float("nan"),
            "errors": sorted({(j.get("error") or {}).get("code") for j in states if j["status"] != "done"} - {None})}


def main() -> int:
    if "--abuse" in sys.argv:  # the abuse mode lives in its own file (bench_abuse.py); same options otherwise
        sys.argv.remove("--abuse")
        from bench_abuse import main as abuse_main

        return abuse_main()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runner", choices=["embedded", "celery", "both"], default=None,
                    help="default: celery when --broker is given, else embedded")
    ap.add_argument("--broker", help="redis://host:port/db, or 'local' to start a private redis-server")
    ap.add_argument("--database-url", help="job database (default: SQLite in a temp data dir)")
    ap.add_argument("--jobs", default="8", help="comma-separated job counts, e.g. 8,16")
    ap.add_argument("--workers", default="1", help="comma-separated worker counts, e.g. 1,2")
    ap.add_argument("--media", type=Path, default=REPO.parent / "shared" / "media" / "video" / "vr_face_2.mp4")
    ap.add_argument("--target", default="es")
    ap.add_argument("--fast", action="store_true", help="no separation, no quality checks")
    ap.add_argument("--fake", action="store_true", help="fake pipeline (tests/test_server_fakes.py): runner overhead")
    ap.add_argument("--timeout", type=float, default=4 * 3600)
    args = ap.parse_args()
    runners = {"both": ["embedded", "celery"], None: ["celery" if args.broker else "embedded"]}.get(
        args.runner, [args.runner])
    broker, redis = args.broker, None
    if "celery" in runners:
        if not broker:
            ap.error("the celery runner needs --broker (a URL, or 'local')")
        if broker == "local":
            from tests.servers import Redis

            redis = Redis().start()
            broker = redis.url
    results = []
    try:
        for workers in [int(x) for x in args.workers.split(",")]:
            for jobs in [int(x) for x in args.jobs.split(",")]:
                for runner in runners:
                    print(f"running: {runner}, {workers} worker(s), {jobs} jobs ...", flush=True)
                    results.append(run_config(runner, workers, jobs, args, broker))
                    r = results[-1]
                    print(f"  {r['done']}/{jobs} done in {r['wall']:.0f} s", flush=True)
    finally:
        if redis is not None:
            redis.stop()
    what = "fake pipeline" if args.fake else f"{args.media.name} -> {args.target}" + (
        " (no separation, no quality)" if args.fast else "")
    print(f"\nserver load: {what}; {machine_note()}")
    print("| runner | workers | jobs | done | failed | wall s | jobs/min | queue wait mean s | queue wait max s "
          "| run mean s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['runner']} | {r['workers']} | {r['jobs']} | {r['done']} | {r['failed']} | {r['wall']:.0f} | "
              f"{r['jobs_per_min']:.2f} | {r['wait_mean']:.1f} | {r['wait_max']:.1f} | {r['run_mean']:.1f} |")
        if r["errors"]:
            print(f"|  errors: {', '.join(r['errors'])} |")
    return 0 if all(r["failed"] == 0 for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
