"""Task functions of the avatar job kinds (see polydub.server.tasks); imported in worker processes.

``animate``: input_path = the avatar's photo; options: text, language, voice, voice_sample,
framing, seed, commercial_safe. Writes ``avatar.mp4``, ``avatar.json`` and ``speech.wav``.

``lecture``: input_path = the face photo; options: text (or text_path), voice_sample, voice,
language, delimiter, slides, lecture_id, max_chars, output_dir (the reference route writes into
the folder its caller named; otherwise the job's own folder). Each finished fragment is announced
as an event (stage "fragment") so clients can play it before the lecture is done.
"""

from __future__ import annotations

from pathlib import Path


def _reporter(progress, base: float = 0.0, share: float = 100.0):
    from polydub.pipeline.options import ProgressEvent

    def report(stage: str, fraction: float, message: str) -> None:
        if fraction is None:
            return
        progress(ProgressEvent(stage=stage, percent=round(base + share * min(max(fraction, 0.0), 1.0), 1),
                               message=message))

    return report


def animate_avatar(input_path: str, out_dir: str, options: dict, progress, cancel) -> dict:
    from polydub.avatar import AvatarRequest, make_avatar

    request = AvatarRequest(language=options.get("language"), voice=options.get("voice") or None,
                            voice_sample=options.get("voice_sample") or None,
                            framing=options.get("framing") or "crop", seed=int(options.get("seed") or 0),
                            commercial_safe=bool(options.get("commercial_safe")))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = make_avatar(input_path, options["text"], out / "avatar.mp4", request, progress=_reporter(progress),
                          cancel=cancel)
    return {**summary, "outputs": {"media": "avatar.mp4", "summary": "avatar.json"},
            "timing": summary.get("timing", {})}


def generate_lecture(input_path: str, out_dir: str, options: dict, progress, cancel) -> dict:
    from polydub.avatar import LectureRequest, make_lecture
    from polydub.pipeline.options import ProgressEvent

    request = LectureRequest(language=options.get("language"), voice=options.get("voice") or None,
                             voice_sample=options.get("voice_sample") or None,
                             delimiter=options.get("delimiter") or "---", slides=options.get("slides") or None,
                             lecture_id=str(options.get("lecture_id") or "0"),
                             max_fragment_chars=int(options.get("max_chars") or 400),
                             framing=options.get("framing") or "crop",
                             commercial_safe=bool(options.get("commercial_safe")))
    target = Path(options.get("output_dir") or out_dir)
    text = options.get("text") or f"@{options['text_path']}"
    report = _reporter(progress)
    last = {"percent": 0.0}

    def tracked(stage: str, fraction: float, message: str) -> None:
        if fraction is not None:
            last["percent"] = round(100 * fraction, 1)
        report(stage, fraction, message)

    def on_fragment(info: dict) -> None:
        progress(ProgressEvent(stage="fragment", percent=last["percent"],
                               message=f"fragment {info['n']} of slide {info['slide'] + 1} ready: {info['video']}"))

    summary = make_lecture(input_path, text, target, request, progress=tracked, cancel=cancel,
                           on_fragment=on_fragment)
    return {**summary, "outputs": {"media": "lecture.mp4", "map": "lecture.json", "subtitles": "lecture.srt"}}
