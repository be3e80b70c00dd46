"""Benchmark: lip-synced dubs of the four shared talking-head videos.

Per video: frames per second of face tracking, mouth driving, rendering (the renderer's own time),
encoding (a decode + x264 pass) and the lip-sync end to end (tracking + render + encode +
measurement); the whole dub's real-time factor with and without --lipsync (models warm); peak
memory; the lip scores (MediaPipe re-detection from the report; dlib's independent check when
dlib-bin is installed). Then Wav2Lip-ONNX throughput with random weights of the real architecture.

Usage: .venv/bin/python bench/bench_lipsync.py [--media ../shared/media] [--only vr_face_2] [--input talk.mp4]
       [--no-dub]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from polydub.face.animate import MeshAnimator
from polydub.face.crf import choose_crf
from polydub.face.driver import MouthDriver
from polydub.face.tracking import FaceTracker
from polydub.face.video import VideoWriter, preset_for, read_frames, video_info
from polydub.pipeline import DubOptions, dub

VIDEOS = {"vr_face_1": "video/vr_face_1.mp4", "vr_face_2": "video/vr_face_2.mp4",
          "KatieHill": "video/st_ref_KatieHill_000.mp4", "ls_demo3": "video/ls_demo3_video.mp4"}
REPO = Path(__file__).resolve().parents[1]


class TimedAnimator(MeshAnimator):
    """The mesh renderer, timing its own work per frame."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds, self.frames = 0.0, 0

    def render(self, image, landmarks, job):
        began = time.perf_counter()
        result = super().render(image, landmarks, job)
        self.seconds += time.perf_counter() - began
        self.frames += 1
        return result


def preset_rows(video: Path, folder: Path, presets: list[str]) -> list[dict]:
    """x264 presets side by side on one video: the CRF each needs for the same PSNR target, its
    encode speed (decode + encode), the file size and the PSNR of the whole re-encode (every 5th frame)."""
    from polydub.face.video import YuvFrame

    info, rows = video_info(video), []
    for preset in presets:
        crf, probe = choose_crf(video, preset=preset)
        out = folder / f"preset-{preset}.mp4"
        writer = VideoWriter(out, info.width, info.height, info.time_base, info.average_rate, crf, preset=preset,
                             color=info.color)
        began, n = time.perf_counter(), 0
        for frame in read_frames(video):
            writer.write(frame.av_frame)
            n += 1
        writer.close()
        fps = n / (time.perf_counter() - began)
        errors = []
        for a, b in zip(read_frames(video), read_frames(out), strict=False):
            if a.index % 5 == 0:
                diff = YuvFrame(a.av_frame).luma().astype(np.float32) - YuvFrame(b.av_frame).luma().astype(np.float32)
                errors.append(float(np.mean(diff ** 2)))
        psnr = 10 * np.log10(255.0 ** 2 / max(float(np.mean(errors)), 1e-10))
        rows.append({"preset": preset, "crf": crf, "probe_psnr": probe, "encode_fps": fps,
                     "mb": out.stat().st_size / 1e6, "psnr": float(psnr)})
        print(json.dumps({"video": video.name, **rows[-1]}), flush=True)
    return rows


def encode_fps(video: Path, crf: float, folder: Path) -> float:
    info = video_info(video)
    writer = VideoWriter(folder / "copy.mp4", info.width, info.height, info.time_base, info.average_rate, crf)
    began, n = time.perf_counter(), 0
    for frame in read_frames(video):
        writer.write(frame.av_frame)
        n += 1
    writer.close()
    return n / (time.perf_counter() - began)


def lipsync_parts(video: Path, out_dir: Path, report: dict, folder: Path) -> dict:
    """Re-run the lip-sync of a finished dub piece by piece, timing each."""
    from polydub.audio import Audio
    from polydub.face.lipsync import LineSpeech
    from polydub.face.mapping import match_speakers
    from polydub.face.run import lipsync_video
    from polydub.media.decode import decode_for_asr
    from polydub.voice.registry import get_registry

    began = time.perf_counter()
    tracks = FaceTracker().track(video)
    track_s = time.perf_counter() - began
    frames = len(tracks.times)
    segments = report["segments"]
    faces = match_speakers(tracks, [(s["speaker"], s["start"], s["end"]) for s in segments], decode_for_asr(video))
    driver, registry = MouthDriver(), get_registry()
    lines, drive_s = [], 0.0
    for s in segments:
        audio = Audio.read(out_dir / s["audio"]) if s.get("audio") else None
        phones = None
        if audio is not None and s.get("voice", "").startswith("kokoro:"):
            voice = registry.get_voice(s["voice"])
            symbols = registry.engine_for(voice).phoneme_timing(s["translation"], voice)
            phones = driver.phones_from_kokoro(symbols, audio)
        start = s["dub_start"] or s["start"]
        lines.append(LineSpeech(s["id"], s["speaker"], s["start"], s["end"], start, audio, phones))
        if audio is not None:
            t0 = time.perf_counter()
            driver.drive(audio, tracks.times, phones, start=s["dub_start"] or s["start"])
            drive_s += time.perf_counter() - t0
    animator = TimedAnimator()
    began = time.perf_counter()
    crf, _ = choose_crf(video)
    crf_s = time.perf_counter() - began
    duration = report["timing"]["media_seconds"]
    # The scores are measured while the video is written: price them by rendering once without.
    began = time.perf_counter()
    lipsync_video(video, folder / "lips-unmeasured.mp4", tracks, faces, lines, TimedAnimator(), duration, crf=crf,
                  measure=False)
    unmeasured_s = time.perf_counter() - began
    began = time.perf_counter()
    result = lipsync_video(video, folder / "lips.mp4", tracks, faces, lines, animator, duration, crf=crf)
    lips_s = time.perf_counter() - began
    return {"frames": frames, "track_fps": frames / track_s, "drive_fps": frames * len(lines) / max(drive_s, 1e-9),
            "render_fps": animator.frames / max(animator.seconds, 1e-9), "encode_fps": encode_fps(video, crf, folder),
            "scores_s": lips_s - unmeasured_s,
            "end_to_end_fps": frames / (track_s + crf_s + lips_s),
            "without_scores_fps": frames / (track_s + crf_s + unmeasured_s), "crf": crf,
            "preset": preset_for(tracks.width, tracks.height),
            "changed": result.render.changed if result.render else 0}


def dlib_scores(out_dir: Path, report: dict, src: Path) -> tuple[float | None, float | None]:
    try:
        sys.path.insert(0, str(REPO))
        from tests.lipsync_check import DlibMouth, corr, dub_speech_loudness
    except ImportError:
        return None, None
    meter = DlibMouth()
    output = out_dir / report["outputs"]["media"]
    traced_out, traced_in = meter.trace(output), meter.trace(src)
    loud = dub_speech_loudness(out_dir, report, traced_out.times)
    synced = np.zeros(len(loud), dtype=bool)
    for s in report["segments"]:
        if (s.get("lipsync") or {}).get("status") == "lipsync":
            synced |= (traced_out.times >= min(s["start"], s["dub_start"])) & \
                      (traced_out.times < max(s["end"], s["dub_end"]))
    if not synced.any():
        return None, None
    return corr(traced_out.gap[synced], loud[synced]), corr(traced_in.gap[synced], loud[synced])


def wav2lip_faces_per_second(batch: int) -> float:
    import onnxruntime as ort

    from polydub.face.wav2lip import build_onnx, random_state_dict

    session = ort.InferenceSession(build_onnx(random_state_dict(0)).SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    mel = np.random.randn(batch, 1, 80, 16).astype(np.float32)
    face = np.random.rand(batch, 6, 96, 96).astype(np.float32)
    session.run(None, {"mel": mel, "face": face})
    began, runs = time.perf_counter(), 3
    for _ in range(runs):
        session.run(None, {"mel": mel, "face": face})
    return batch * runs / (time.perf_counter() - began)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--media", type=Path, default=REPO.parent / "shared/media")
    parser.add_argument("--only", action="append", help="one of " + ", ".join(VIDEOS))
    parser.add_argument("--input", action="append", type=Path, help="a video of your own (instead of the shared ones)")
    parser.add_argument("--no-dub", action="store_true", help="skip the whole-dub RTF comparison")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--presets", help="only compare x264 presets on each video, e.g. veryfast,superfast,ultrafast")
    args = parser.parse_args()
    if not args.media.is_dir():
        print(f"test media not found at {args.media}", file=sys.stderr)
        return 2
    console = Console()
    rows = []
    if args.presets:
        table = Table(title="x264 presets at the CRF each needs for the same PSNR target (2-core CPU)")
        for col in ("video", "preset", "crf", "encode fps", "MB", "PSNR dB"):
            table.add_column(col, justify="right")
        with tempfile.TemporaryDirectory() as tmp:
            for name in args.only or VIDEOS:
                for r in preset_rows(args.media / VIDEOS[name], Path(tmp), args.presets.split(",")):
                    table.add_row(name, r["preset"], f"{r['crf']:.0f}", f"{r['encode_fps']:.1f}", f"{r['mb']:.1f}",
                                  f"{r['psnr']:.1f}")
        console.print(table)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        dub(args.media / VIDEOS["vr_face_2"], folder / "warm", DubOptions(target_language="es"))  # load models once
        chosen = [(p.stem, p) for p in args.input or []] or \
            [(name, args.media / VIDEOS[name]) for name in args.only or VIDEOS]
        for name, src in chosen:
            info = video_info(src)
            row = {"video": name, "size": f"{info.width}x{info.height}", "seconds": info.duration}
            if not args.no_dub:
                began = time.perf_counter()
                dub(src, folder / f"{name}-plain", DubOptions(target_language="es"))
                row["dub_rtf"] = (time.perf_counter() - began) / info.duration
            out = folder / f"{name}-lips"
            began = time.perf_counter()
            report = dub(src, out, DubOptions(target_language="es", lipsync=True))
            row["lipsync_dub_rtf"] = (time.perf_counter() - began) / info.duration
            row["lips_stage_s"] = report["timing"]["stages"].get("lips")
            summary = report["lipsync"]["summary"]
            row["lip_follow"], row["lip_floor"] = summary.get("lip_follow"), summary.get("lip_follow_floor")
            row["psnr"] = summary.get("untouched_psnr")
            row["dlib_follow"], row["dlib_floor"] = dlib_scores(out, report, src)
            row.update(lipsync_parts(src, out, report, folder))
            rows.append(row)
            print(json.dumps(row), flush=True)  # a row survives a run cut short
        w2l = {b: wav2lip_faces_per_second(b) for b in (1, 8)}
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    table = Table(title="lip-sync (2-core CPU; models warm)")
    for col in ("video", "size", "frames", "track fps", "drive fps", "render fps", "encode fps", "scores cost s",
                "lip-sync e2e fps (no scores)", "dub RTF", "dub+lipsync RTF", "lip follow (mp / dlib)",
                "untouched (mp / dlib)", "PSNR out dB", "crf"):  # encode fps: decode + x264 at its preset
        table.add_column(col, justify="right")

    def f(value, digits=2):
        return "-" if value is None else f"{value:.{digits}f}"

    for r in rows:
        table.add_row(r["video"], r["size"], str(r["frames"]), f(r["track_fps"], 1), f(r["drive_fps"], 0),
                      f(r["render_fps"], 1), f"{f(r['encode_fps'], 1)} {r['preset']}", f(r["scores_s"], 1),
                      f"{f(r['end_to_end_fps'], 1)} ({f(r['without_scores_fps'], 1)})", f(r.get("dub_rtf")),
                      f(r["lipsync_dub_rtf"]), f"{f(r['lip_follow'])} / {f(r['dlib_follow'])}",
                      f"{f(r['lip_floor'])} / {f(r['dlib_floor'])}", f(r["psnr"], 1), f(r["crf"], 0))
    console.print(table)
    other = Table(title="lip-sync engines, for comparison")
    other.add_column("engine")
    other.add_column("speed")
    other.add_row("Wav2Lip (seeds' figure), CPU", "10+ min per minute of video")
    other.add_row("Wav2Lip (seeds' figure), cloud GPU", "1-2 min per minute of video")
    other.add_row("Wav2Lip-ONNX here (random weights), batch 1", f"{w2l[1]:.1f} faces/s")
    other.add_row("Wav2Lip-ONNX here (random weights), batch 8", f"{w2l[8]:.1f} faces/s")
    console.print(other)
    console.print(f"peak RSS {peak_mb:.0f} MB")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "wav2lip_faces_per_s": w2l, "peak_mb": peak_mb}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
