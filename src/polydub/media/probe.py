"""Probe media with ffprobe: what streams are there, and is this something we can dub?"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from polydub.errors import EngineNotInstalledError, InputMediaError
from polydub.project import MediaInfo


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        raise EngineNotInstalledError(f"'{name}' is not installed", "run ./setup.sh (installs ffmpeg)")
    return path


def _fps(rate: str | None) -> float | None:
    if not rate or rate in ("0/0", "N/A"):
        return None
    num, _, den = rate.partition("/")
    try:
        return float(num) / float(den or 1)
    except (ValueError, ZeroDivisionError):
        return None


def probe(path: str | Path, require_audio: bool = True) -> MediaInfo:
    """Describe a media file, or raise InputMediaError saying what is wrong with it."""
    path = Path(path)
    if not path.exists():
        raise InputMediaError(f"input file not found: {path}", "check the path")
    if path.is_dir():
        raise InputMediaError(f"input is a folder, not a media file: {path}", "give a video or audio file")
    if path.stat().st_size == 0:
        raise InputMediaError(f"input file is empty (0 bytes): {path}", "give a video or audio file")
    ffprobe = require_tool("ffprobe")
    result = subprocess.run(
        [ffprobe, "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path)],
        capture_output=True, text=True, timeout=60,
    )
    data = json.loads(result.stdout or "{}") if result.stdout.strip() else {}
    streams = data.get("streams") or []
    fmt = data.get("format") or {}
    if result.returncode != 0 or not fmt or not streams:
        raise InputMediaError(
            f"not a readable video or audio file: {path.name}",
            "the file is corrupt or not media; try opening it in a media player or re-export it",
        )
    from polydub.media.tracks import track_info

    audio_streams = [s for s in streams if s.get("codec_type") == "audio"]
    audio = audio_streams[0] if audio_streams else None
    # Cover art in mp3/m4a shows up as a one-frame "video" stream; it is not a video to dub.
    video = next(
        (s for s in streams if s.get("codec_type") == "video"
         and not (s.get("disposition") or {}).get("attached_pic")),
        None,
    )
    if audio is None and require_audio:
        raise InputMediaError(
            f"{path.name} has no audio track, so there is no speech to dub",
            "give a file with sound (check it plays with audio)",
        )
    duration = float(fmt.get("duration") or (audio or {}).get("duration") or 0.0)
    if duration <= 0:  # a browser's MediaRecorder writes live WebM, whose header has no duration
        duration = _demuxed_duration(path)
    if duration <= 0:
        raise InputMediaError(f"{path.name} has zero duration", "the file may be truncated; re-export it")
    return MediaInfo(
        path=str(path),
        container=fmt.get("format_name"),
        duration=duration,
        has_video=video is not None,
        video_codec=video.get("codec_name") if video else None,
        width=video.get("width") if video else None,
        height=video.get("height") if video else None,
        fps=_fps(video.get("avg_frame_rate") or video.get("r_frame_rate")) if video else None,
        audio_codec=audio.get("codec_name") if audio else None,
        sample_rate=int(audio["sample_rate"]) if audio and audio.get("sample_rate") else None,
        channels=int(audio["channels"]) if audio and audio.get("channels") else None,
        audio_tracks=[track_info(s, n) for n, s in enumerate(audio_streams)],
    )


def _demuxed_duration(path: Path) -> float:
    """The end of the last packet, in seconds (reads packets only, decodes nothing)."""
    import av

    end = 0.0
    try:
        with av.open(str(path)) as container:
            for packet in container.demux():
                if packet.pts is not None and packet.time_base is not None:
                    end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
    except (av.error.FFmpegError, OSError):
        return 0.0
    return end
