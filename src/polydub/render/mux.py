"""Write the dubbed media: the original video stream copied, the new audio encoded to suit the container."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from polydub.media.ffmpeg import ffmpeg_write
from polydub.media.tracks import output_plan
from polydub.project import MediaInfo

# ISO 639-2 tags for the audio track metadata.
ISO639_2 = {"en": "eng", "es": "spa", "fr": "fra", "de": "deu", "it": "ita", "pt": "por", "ru": "rus",
            "ca": "cat", "ja": "jpn", "zh": "zho", "hi": "hin", "gl": "glg", "ro": "ron", "nl": "nld"}

# container extension -> (audio codec, extra args)
AUDIO_CODECS = {
    ".mp4": ("aac", ["-b:a", "192k"]), ".m4v": ("aac", ["-b:a", "192k"]), ".mov": ("aac", ["-b:a", "192k"]),
    ".mkv": ("aac", ["-b:a", "192k"]), ".webm": ("libopus", ["-b:a", "128k"]),
    ".avi": ("libmp3lame", ["-b:a", "192k"]), ".m4a": ("aac", ["-b:a", "192k"]),
    ".mp3": ("libmp3lame", ["-b:a", "192k"]), ".ogg": ("libvorbis", ["-q:a", "6"]),
    ".opus": ("libopus", ["-b:a", "128k"]), ".flac": ("flac", []), ".wav": ("pcm_s16le", []),
}
VIDEO_FALLBACK = ".mp4"
AUDIO_FALLBACK = ".wav"


def output_suffix(media: MediaInfo) -> str:
    suffix = Path(media.path).suffix.lower()
    if suffix in AUDIO_CODECS and (media.has_video or suffix not in (".mp4", ".mkv", ".webm", ".avi")):
        return suffix
    return VIDEO_FALLBACK if media.has_video else AUDIO_FALLBACK


def mux(media: MediaInfo, dub_wav: Path, out_path: Path, target_language: str,
        source_language: str | None = None, keep_original: bool = False, video_path: Path | None = None,
        progress: Callable[[float], None] | None = None) -> Path:
    """Write to a temporary name first, then rename, so a failed run never leaves a plausible output.
    `video_path`: a re-encoded video stream (lip-sync) to use instead of the input's; `progress`
    gets the fraction written so far."""
    codec, codec_args = AUDIO_CODECS.get(out_path.suffix.lower(), ("aac", ["-b:a", "192k"]))
    plan = output_plan(media, out_path.suffix, keep_original)
    source = f"1:a:{media.audio_track}"
    cmd = ["-i", str(dub_wav)]
    if media.has_video:
        cmd += ["-i", media.path]
        if video_path is not None:
            cmd += ["-i", str(video_path)]
        cmd += ["-map", "2:v:0" if video_path is not None else "1:v:0", "-map", "0:a:0"]
        if keep_original:
            cmd += ["-map", source]
        cmd += [arg for track in plan["kept"] for arg in ("-map", f"1:a:{track}")]
        cmd += ["-c:v", "copy"]
        if video_path is not None:
            cmd += ["-copyts"]  # its frames carry the source's own timestamps (a first frame at 0.033 s stays)
        if video_path is None and media.video_codec == "hevc" and out_path.suffix.lower() in (".mp4", ".mov"):
            cmd += ["-tag:v", "hvc1"]  # what Apple players need to play copied HEVC in MP4
    else:
        cmd += ["-map", "0:a:0"]
        if keep_original or plan["kept"]:
            cmd += ["-i", media.path]
        if keep_original:
            cmd += ["-map", source]
        cmd += [arg for track in plan["kept"] for arg in ("-map", f"1:a:{track}")]
    cmd += ["-c:a", codec, *codec_args]
    cmd += ["-metadata:s:a:0", f"language={ISO639_2.get(target_language, target_language)}"]
    cmd += ["-disposition:a:0", "default"]
    if keep_original:
        tag = ISO639_2.get(source_language or "", source_language or "und")
        cmd += ["-metadata:s:a:1", f"language={tag}", "-disposition:a:1", "0"]
    first_other = 2 if keep_original else 1
    for n in range(first_other, first_other + len(plan["kept"])):  # kept tracks keep their tags, not the flag
        cmd += [f"-disposition:a:{n}", "0"]
    if out_path.suffix.lower() in (".mp4", ".mov", ".m4a", ".m4v"):
        cmd += ["-movflags", "+faststart"]
    return ffmpeg_write(cmd, out_path, progress=progress, duration=media.duration)
