"""`polydub lipsync VIDEO SPEECH -o out.mp4`: drive the faces of any video with any speech."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import typer

from polydub.errors import InputMediaError, OutputError


def lipsync_command(
    video: Path = typer.Argument(..., help="video with a visible face"),
    speech: Path = typer.Argument(..., help="speech to put in its mouth (any audio or video file)"),
    output: Path = typer.Option(Path("lipsync.mp4"), "-o", "--output", help="the lip-synced video"),
    start: float = typer.Option(0.0, "--start", help="where the speech starts in the video (seconds)"),
    language: str | None = typer.Option(None, "--lang", help="language of the speech (default: detect)"),
    no_words: bool = typer.Option(False, "--no-words", help="follow loudness only (no speech recognition)"),
    model: Path | None = typer.Option(None, "--model", help="a Wav2Lip-compatible .onnx/.pth (your own weights)"),
    commercial_safe: bool = typer.Option(False, "--commercial-safe", help="refuse non-commercial weights"),
) -> None:
    """Lip-sync a video to a speech track; writes OUTPUT, OUTPUT.json (scores) and mouth crops."""
    from polydub.audio import Audio
    from polydub.cli import _progress_bar, console, out_console
    from polydub.face.animate import animator_for
    from polydub.face.driver import MouthDriver
    from polydub.face.lipsync import LineSpeech
    from polydub.face.mapping import SpeakerFaces, TrackMatch
    from polydub.face.run import lipsync_video
    from polydub.face.tracking import FaceTracker
    from polydub.media.decode import decode_audio
    from polydub.media.probe import probe
    from polydub.render.mux import mux

    media = probe(video, require_audio=False)
    if not media.has_video:
        raise InputMediaError(f"{video.name} has no video stream", "give a video with a face as the first argument")
    probe(speech)
    if output.suffix.lower() not in (".mp4", ".mov", ".mkv", ".m4v"):
        raise OutputError(f"cannot write a video as {output.name}", "use an .mp4, .mov or .mkv name")
    animator = animator_for(model, commercial_safe)
    audio = decode_audio(speech, rate=16000, channels=1)
    room = max(0.0, media.duration - start)
    audio = Audio(audio.samples[: int(room * audio.rate)], audio.rate)
    driver = MouthDriver()
    phones, detected = None, language
    if not no_words:
        from polydub.speech.asr import WhisperRecognizer

        transcript = WhisperRecognizer("base", beam_size=1, temperature_fallback=False).transcribe(audio, language)
        detected = transcript.language
        words = [(w.text.strip(), w.start, w.end) for w in transcript.words if w.text.strip()]
        phones = driver.phones_from_words(words, detected or "en") if words else None
    with _progress_bar() as bar:
        task = bar.add_task("lipsync", total=100, stage="faces", message="")
        tracks = FaceTracker().track(video, progress=lambda f: bar.update(task, completed=40 * f, stage="faces",
                                                                             message="tracking faces"))
        faces = SpeakerFaces({})
        for shot in range(len(tracks.shots)):
            in_shot = [t for t in tracks.tracks if t.shot == shot]
            if not in_shot:
                continue
            # The speech has no diarized speaker: it goes to the largest face of each shot.
            main = max(in_shot, key=lambda t: len(t) * float(t.frame_of(len(t) // 2).height))
            for t in in_shot:
                faces.matches[t.id] = TrackMatch(t.id, "speech" if t is main else None, 1.0 if t is main else 0.0,
                                                 reason="the largest face in its shot" if t is main
                                                 else "not the largest face in its shot")
        line = LineSpeech(id=0, speaker="speech", start=start, end=start + audio.duration, dub_start=start,
                          audio=audio, phones=phones, key="cli")
        with tempfile.TemporaryDirectory() as tmp:
            stages = {"render": (40, 60)}  # measured while rendering
            crops = output.with_name(output.stem + ".lipsync")
            result = lipsync_video(video, Path(tmp) / "video.mp4", tracks, faces, [line], animator, media.duration,
                                   crops_dir=crops, progress=lambda stage, f: bar.update(
                                       task, completed=stages[stage][0] + stages[stage][1] * f, stage=stage,
                                       message=stage))
            placed = Audio.silence(media.duration, 16000)
            offset = int(start * 16000)
            placed.samples[offset:offset + len(audio.samples)] = audio.samples[: len(placed.samples) - offset]
            wav = placed.write(Path(tmp) / "speech.wav")
            mux(media, wav, output, detected or "und", video_path=result.video)
        bar.update(task, completed=100, stage="done", message="")
    plan = result.plans[0]
    summary = {"input": str(video), "speech": str(speech), "output": str(output), "language": detected,
               "engine": animator.name, "licence": animator.licence, "status": plan.status, "reason": plan.reason,
               "face_track": plan.face_track, "crf": result.crf, "faces": faces.as_dict(), "tracks": len(tracks.tracks),
               "scores": result.scores[0].as_dict() if 0 in result.scores else None, "summary": result.summary}
    output.with_suffix(".json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    scores = summary["scores"] or {}
    if plan.status == "lipsync":
        console.print(f"  lip_follow {scores.get('lip_follow')} (untouched video {scores.get('lip_follow_floor')}), "
                      f"PSNR outside the face {scores.get('untouched_psnr')} dB, crops: {crops}")
    else:
        console.print(f"  [yellow]no face was re-animated:[/yellow] {plan.reason}")
    if animator.non_commercial:
        console.print(f"  [yellow]licence:[/yellow] {animator.licence}")
    out_console.print(f"[green]lip-synced:[/green] {output}")
