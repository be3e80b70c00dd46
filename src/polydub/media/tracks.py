"""Inputs with several audio tracks (a film with an English and a Spanish track, a commentary track):
which one is dubbed, and what happens to the others in the output.

The track to dub is the one asked for (``--audio-track N``, 0 = first), else the one tagged with
the source language, else the one flagged default, else the first. The other tracks are kept in
the output after the dub (re-encoded to suit the container) when the container can hold several
audio tracks; an audio-only output (WAV, MP3, FLAC, ...) holds one, so they are dropped and the
report says so.
"""

from __future__ import annotations

from polydub.errors import InputMediaError
from polydub.languages import normalize_language
from polydub.project import MediaInfo

# Output containers that hold several audio tracks.
MULTI_TRACK_SUFFIXES = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".m4a"}


def track_info(stream: dict, number: int) -> dict:
    """One audio stream of ffprobe's output as the project keeps it."""
    tags = {k.lower(): v for k, v in (stream.get("tags") or {}).items()}
    return {"track": number, "language": tags.get("language"), "title": tags.get("title"),
            "default": bool((stream.get("disposition") or {}).get("default")),
            "codec": stream.get("codec_name"), "channels": stream.get("channels"),
            "sample_rate": int(stream["sample_rate"]) if stream.get("sample_rate") else None}


def _language_of(track: dict) -> str | None:
    tag = (track.get("language") or "").strip()
    if not tag or tag.lower() in ("und", "zxx", "mul"):
        return None
    return normalize_language(tag)


def label(track: dict) -> str:
    parts = [f"track {track['track']}"]
    details = [d for d in (track.get("language"), track.get("title")) if d]
    if track.get("default"):
        details.append("default")
    return parts[0] + (f" ({', '.join(details)})" if details else "")


def choose_audio_track(media: MediaInfo, wanted: int | None, source_language: str | None) -> MediaInfo:
    """Set ``media.audio_track`` (and the chosen track's codec, rate, channels) with the reason."""
    tracks = media.audio_tracks
    if not tracks:
        return media
    if wanted is not None:
        if not 0 <= wanted < len(tracks):
            listed = "; ".join(label(t) for t in tracks)
            raise InputMediaError(f"{media.path.rsplit('/', 1)[-1]} has {len(tracks)} audio track"
                                  f"{'s' if len(tracks) > 1 else ''}, so there is no audio track {wanted}",
                                  f"choose 0 to {len(tracks) - 1} ({listed})")
        index, reason = wanted, "asked for"
    else:
        by_language = [t["track"] for t in tracks if source_language and _language_of(t) == source_language]
        defaults = [t["track"] for t in tracks if t.get("default")]
        if len(tracks) == 1:
            index, reason = 0, "the only audio track"
        elif by_language:
            index, reason = by_language[0], f"tagged with the source language ({source_language})"
        elif defaults:
            index, reason = defaults[0], "flagged as the default track"
        else:
            index, reason = 0, "the first track (none is tagged with the source language or flagged default)"
    chosen = tracks[index]
    media.audio_track, media.audio_track_reason = index, reason
    media.audio_codec, media.channels = chosen.get("codec"), chosen.get("channels")
    media.sample_rate = chosen.get("sample_rate") or media.sample_rate
    return media


def output_plan(media: MediaInfo, output_suffix: str, keep_original: bool) -> dict:
    """What the output holds: the dub first, the dubbed source track when ``keep_original``, then
    the other tracks when the container can hold them (else they are dropped)."""
    others = [t["track"] for t in media.audio_tracks if t["track"] != media.audio_track]
    multi = output_suffix.lower() in MULTI_TRACK_SUFFIXES
    return {"count": len(media.audio_tracks), "dubbed": media.audio_track, "reason": media.audio_track_reason,
            "original_kept": keep_original, "kept": others if multi else [], "dropped": [] if multi else others,
            "tracks": media.audio_tracks}


def plan_notes(plan: dict, output_suffix: str) -> list[str]:
    """Warnings for the report and the CLI: which track was dubbed and where the others went."""
    if plan["count"] < 2:
        return []
    tracks = {t["track"]: t for t in plan["tracks"]}
    notes = [f"the input has {plan['count']} audio tracks: dubbed {label(tracks[plan['dubbed']])}, "
             f"{plan['reason']} (choose another with --audio-track N)"]
    if plan["kept"]:
        notes.append("kept the other audio track(s) in the output after the dub: "
                     + ", ".join(label(tracks[i]) for i in plan["kept"]))
    if plan["dropped"]:
        notes.append(f"dropped the other audio track(s) ({', '.join(label(tracks[i]) for i in plan['dropped'])}): "
                     f"a {output_suffix} output holds one audio track")
    return notes
