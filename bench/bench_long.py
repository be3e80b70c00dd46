"""Long input: dub a 30-minute video built from the shared clips and measure what a server operator
cares about: peak memory of the dub process, disk used in the job folder, wall time / RTF per stage,
and how smoothly progress advances (the longest silence between two progress events).

    .venv/bin/python bench/bench_long.py                      # 30 min, en -> es, full pipeline
    .venv/bin/python bench/bench_long.py --minutes 5 --no-quality --json out.json

The dub runs in a child process (so the peak RSS is the dub's own), sampled every 0.5 s.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from machine import machine_note  # noqa: E402  (bench/ is the script's folder)

REPO = Path(__file__).resolve().parents[1]
CYCLE_CLIPS = ["video/vr_face_1.mp4", "audio/st_RD_Radio31_000.wav", "video/vr_face_2.mp4", "audio/fw_jfk.flac",
               "video/st_ref_KatieHill_000.mp4", "audio/vr_audio_1.wav", "video/ls_demo3_video.mp4"]

CHILD = r"""
import json, sys, time
from polydub.pipeline import DubOptions, dub
opts = DubOptions(**json.loads(sys.argv[3]))
def progress(ev):
    print(json.dumps({"t": time.time(), "stage": ev.stage, "percent": ev.percent, "message": ev.message}), flush=True)
report = dub(sys.argv[1], sys.argv[2], opts, progress=progress)
print(json.dumps({"t": time.time(), "report_timing": report["timing"], "lines": len(report["segments"])}), flush=True)
"""


def build_input(media: Path, minutes: float, folder: Path) -> Path:
    """One ~60 s cycle of English clips (0.6 s apart), looped to `minutes`, under a cheap test picture."""
    import numpy as np

    from polydub.audio import Audio
    from polydub.media.decode import decode_audio

    rate, parts = 44100, []
    for clip in CYCLE_CLIPS:
        parts += [decode_audio(media / clip, rate=rate, channels=2).samples, np.zeros((int(0.6 * rate), 2), np.float32)]
    cycle = Audio(np.concatenate(parts), rate).write(folder / "cycle.wav")
    seconds = minutes * 60
    out = folder / f"long{minutes:g}min.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", "-1", "-i", str(cycle), "-f", "lavfi", "-i",
                    f"testsrc2=size=320x180:rate=10:duration={seconds}", "-t", str(seconds), "-map", "1:v", "-map",
                    "0:a", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
                    "-b:a", "128k", str(out)], check=True)
    return out


def _status_mb(p: int, field: str = "VmRSS") -> float:
    try:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _pss_mb(p: int) -> float:
    try:
        for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _proc_tree_mb(pid: int) -> tuple[float, float, float]:
    """(RSS of pid, RSS of pid and all its descendants, their PSS) in MB. Summed RSS counts the
    libraries the Apertium pipeline's processes share once per process; PSS counts them once."""
    def rss(p: int) -> float:
        return _status_mb(p)

    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int(Path(entry, "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    total, pss, todo = 0.0, 0.0, [pid]
    while todo:
        p = todo.pop()
        total += rss(p)
        pss += _pss_mb(p)
        todo += children.get(p, [])
    return rss(pid), total, pss


def _du_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6 if folder.exists() else 0.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--to", default="es")
    ap.add_argument("--media", type=Path, default=REPO.parent / "shared" / "media")
    ap.add_argument("--no-quality", action="store_true")
    ap.add_argument("--no-separation", action="store_true")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--keep", type=Path, help="build the input and job folder here (kept afterwards); a job "
                    "folder already there is resumed from its stage cache")
    ap.add_argument("--input", type=Path, help="use this input instead of building one")
    ap.add_argument("--tts", help="voice engine (e.g. espeak: fast, to measure the other stages sooner)")
    args = ap.parse_args()
    sys.path.insert(0, str(REPO / "src"))
    folder = args.keep or Path(tempfile.mkdtemp(prefix="polydub-long-"))
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    source = args.input or build_input(args.media, args.minutes, folder)
    print(f"input: {source} ({source.stat().st_size / 1e6:.0f} MB, built in {time.time() - t0:.0f} s)", flush=True)
    out = folder / "out"
    options = {"target_language": args.to, "quality_checks": not args.no_quality,
               "separation": not args.no_separation, "tts_engine": args.tts}
    began = time.time()
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(source), str(out), json.dumps(options)],
                             stdout=subprocess.PIPE, text=True, env={"PYTHONPATH": str(REPO / "src"),
                                                                     **__import__("os").environ})
    # Anonymous RSS is what the process really holds (the LLM's weights are read, not mapped, so they
    # are in it); file-backed RSS is mostly shared libraries.
    peak = {"rss": 0.0, "tree": 0.0, "tree_pss": 0.0, "hwm": 0.0, "disk": 0.0, "anon": 0.0, "file": 0.0}
    stop = threading.Event()
    current, by_stage = {"stage": "start", "message": ""}, {}
    timeline: list[dict] = []  # every 5 s: memory and the latest progress message (where it grew)

    def sample() -> None:
        n = 0
        while not stop.is_set():
            own, tree, tree_pss = _proc_tree_mb(child.pid)
            peak["rss"], peak["tree"] = max(peak["rss"], own), max(peak["tree"], tree)
            peak["tree_pss"] = max(peak["tree_pss"], tree_pss)
            peak["hwm"] = max(peak["hwm"], _status_mb(child.pid, "VmHWM"))  # the kernel's, between samples too
            peak["anon"] = max(peak["anon"], _status_mb(child.pid, "RssAnon"))
            by_stage[current["stage"]] = max(by_stage.get(current["stage"], 0.0), own)
            peak["file"] = max(peak["file"], _status_mb(child.pid, "RssFile"))
            if n % 10 == 0:
                peak["disk"] = max(peak["disk"], _du_mb(out))
                anon = _status_mb(child.pid, "RssAnon")
                timeline.append({"t": round(time.time() - began, 1), "rss": own, "anon": anon,
                                 "stage": current["stage"], "message": current["message"]})
                if anon - current.get("reported", 0.0) >= 250:  # say where memory steps up, as it happens
                    current["reported"] = anon
                    print(f"  memory {anon:.0f} MB anonymous at {time.time() - began:.0f} s: "
                          f"{current['stage']} / {current['message']}", flush=True)
            n += 1
            stop.wait(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    events, final = [], None
    for line in child.stdout:
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if "report_timing" in msg:
            final = msg
        else:
            events.append(msg)
            current["stage"], current["message"] = msg["stage"], msg["message"]
            if len(events) % 25 == 0:
                print(f"  {msg['t'] - began:7.0f} s  {msg['stage']:<11} {msg['percent']:5.1f} %  {msg['message']}",
                      flush=True)
    child.wait()
    stop.set()
    sampler.join()
    wall = time.time() - began
    peak["disk"] = max(peak["disk"], _du_mb(out))
    if child.returncode != 0 or final is None:
        print(f"dub failed (exit {child.returncode})", file=sys.stderr)
        return 1
    gaps, last_t, last_stage = [], began, "start"
    for ev in events:
        gaps.append((ev["t"] - last_t, last_stage, ev["stage"]))
        last_t, last_stage = ev["t"], ev["stage"]
    gaps.append((final["t"] - last_t, last_stage, "end"))
    worst = max(gaps)
    media_s = final["report_timing"]["media_seconds"]
    config = ", ".join(n for n, on in (("separation", not args.no_separation), ("quality", not args.no_quality))
                       if on) or "core only"
    config += f", tts {args.tts}" if args.tts else ""
    print(f"\nlong input: {args.minutes:g} min en->{args.to} [{config}], {final['lines']} lines "
          f"({machine_note()})")
    print("| measure | value |")
    print("|---|---|")
    rows = [("wall time", f"{wall:.0f} s (RTF {wall / media_s:.2f})"),
            ("peak RSS, dub process (0.5 s samples)", f"{peak['rss']:.0f} MB"),
            ("peak RSS, dub process (kernel high-water mark)", f"{peak['hwm']:.0f} MB"),
            ("peak RSS, with children (Apertium, ffmpeg), summed", f"{peak['tree']:.0f} MB"),
            ("peak PSS, with children (shared pages once)", f"{peak['tree_pss']:.0f} MB"),
            ("peak anonymous / file-backed RSS", f"{peak['anon']:.0f} / {peak['file']:.0f} MB"),
            ("peak RSS by stage", ", ".join(f"{k} {v:.0f}" for k, v in by_stage.items()) + " MB"),
            ("peak disk, job folder", f"{peak['disk']:.0f} MB"),
            ("disk at the end", f"{_du_mb(out):.0f} MB"),
            ("progress events", str(len(events))),
            ("longest silences between events", ", ".join(f"{g:.0f} s ({a} -> {b})" for g, a, b in
                                                          sorted(gaps, reverse=True)[:3]))]
    for stage, secs in final["report_timing"]["stages"].items():
        rows.append((f"stage {stage}", f"{secs:.0f} s (RTF {secs / media_s:.3f})"))
    for name, value in rows:
        print(f"| {name} | {value} |")
    if args.json:
        args.json.write_text(json.dumps({"minutes": args.minutes, "wall_s": wall, "peak": peak, "by_stage": by_stage,
                                         "longest_gap": worst, "stages": final["report_timing"]["stages"],
                                         "events": len(events), "timeline": timeline}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
