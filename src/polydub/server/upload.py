"""Streaming multipart upload to disk with a size cap, and media sniffing by content (ffprobe)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from polydub import limits
from polydub.server.errors import ApiError

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_filename(name: str | None, default: str = "input") -> str:
    base = os.path.basename((name or "").replace("\\", "/")).strip()
    base = _SAFE.sub("_", base).strip("._") or default
    return base[:120]


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "too_large", f"The upload is larger than the limit of {limit / 1024 / 1024:.0f} MB. "
                                      "Trim the video or start the server with a larger --max-upload-mb.")


async def receive_upload(request: Request, dest_dir: Path, max_bytes: int, file_field: str = "file"
                         ) -> tuple[Path, str, dict[str, str]]:
    """Stream the multipart body; the file part goes straight to ``dest_dir``. Returns (path, name, fields)."""
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data" or b"boundary" not in params:
        raise ApiError(400, "bad_request", "Send the file as multipart/form-data with a 'file' field.")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes + 1024 * 1024:
        raise _too_large(max_bytes)
    dest_dir.mkdir(parents=True, exist_ok=True)
    fields: dict[str, str] = {}
    state: dict = {"name": b"", "value": b"", "headers": {}, "field": None, "fh": None, "buf": b"",
                   "size": 0, "path": None, "filename": None}

    def on_part_begin() -> None:
        state.update(headers={}, field=None, buf=b"")

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["name"] += data[start:end]
        _check_header(state["name"])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["value"] += data[start:end]
        _check_header(state["value"])

    def on_header_end() -> None:
        state["headers"][state["name"].lower()] = state["value"]
        state.update(name=b"", value=b"")

    def on_headers_finished() -> None:
        _, opts = parse_options_header(state["headers"].get(b"content-disposition", b""))
        state["field"] = opts.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in opts and state["field"] == file_field and state["fh"] is None:
            state["filename"] = opts[b"filename"].decode("utf-8", "replace")
            state["path"] = dest_dir / safe_filename(state["filename"])
            state["fh"] = open(state["path"], "wb")  # noqa: SIM115 - closed in on_part_end/finally

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state["fh"] is not None and not state["fh"].closed:
            state["size"] += end - start
            if state["size"] > max_bytes:
                raise _too_large(max_bytes)
            state["fh"].write(data[start:end])
        else:
            state["buf"] += data[start:end]
            if len(state["buf"]) > limits.FORM_FIELD_BYTES:
                raise ApiError(413, "field_too_large",
                               f"The form field '{state['field']}' is larger than the limit of "
                               f"{limits.FORM_FIELD_BYTES // 1024} KB.")

    def on_part_end() -> None:
        if state["fh"] is not None and not state["fh"].closed:
            state["fh"].close()
        elif state["field"]:
            fields[state["field"]] = state["buf"].decode("utf-8", "replace")
            if len(fields) > limits.FORM_FIELDS:
                raise ApiError(413, "too_many_fields", f"The upload has more than {limits.FORM_FIELDS} form fields.")

    parser = MultipartParser(params[b"boundary"], {
        "on_part_begin": on_part_begin, "on_part_data": on_part_data, "on_part_end": on_part_end,
        "on_header_field": on_header_field, "on_header_value": on_header_value,
        "on_header_end": on_header_end, "on_headers_finished": on_headers_finished})
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except ApiError:
        _discard(state, dest_dir)
        raise
    except ClientDisconnect:
        _discard(state, dest_dir)
        raise ApiError(400, "bad_request", "The upload was interrupted before it finished.") from None
    except Exception as exc:  # malformed multipart
        _discard(state, dest_dir)
        raise ApiError(400, "bad_request", f"The upload could not be read as multipart form data: {exc}") from None
    finally:
        if state["fh"] is not None and not state["fh"].closed:
            state["fh"].close()
    if state["path"] is None:
        raise ApiError(400, "bad_request", f"No file was sent: add the video or audio as the '{file_field}' field.")
    return state["path"], state["filename"] or state["path"].name, fields


def _check_header(value: bytes) -> None:
    if len(value) > limits.FORM_FIELD_BYTES:
        raise ApiError(413, "field_too_large", "A part header of the upload is larger than "
                                               f"{limits.FORM_FIELD_BYTES // 1024} KB.")


def _discard(state: dict, dest_dir: Path) -> None:
    if state["fh"] is not None and not state["fh"].closed:
        state["fh"].close()
    shutil.rmtree(dest_dir, ignore_errors=True)


def sniff_media(path: Path) -> dict:
    """Decide by content (ffprobe) whether this is audio/video we can dub; raise 400/415 if not."""
    if path.stat().st_size == 0:
        raise ApiError(400, "empty_file", "The uploaded file is empty (0 bytes). Choose a video or audio file.")
    try:
        proc = subprocess.run(["ffprobe", "-v", "error", "-print_format", "json", "-show_format",
                               "-show_streams", str(path)], capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        return _sniff_with_av(path)
    except subprocess.TimeoutExpired:
        raise ApiError(415, "unsupported_media", "The file could not be probed in time; is it media?") from None
    info = json.loads(proc.stdout or "{}") if proc.returncode == 0 else {}
    streams = info.get("streams") or []
    fmt = (info.get("format") or {}).get("format_name", "")
    kinds = {s.get("codec_type") for s in streams}
    # text/images parse as "tty"/"image2" etc.; real media has an audio stream with a duration
    if proc.returncode != 0 or "audio" not in kinds or fmt in ("tty", "image2", "png_pipe", "jpeg_pipe"):
        if proc.returncode == 0 and "video" in kinds and "audio" not in kinds and fmt not in ("tty", "image2"):
            raise ApiError(415, "no_audio", "The video has no audio track, so there is no speech to dub.")
        raise ApiError(415, "unsupported_media", "The file is not a video or audio file that can be read "
                                                 "(checked by content, not by its name). Try MP4, MKV, MOV, "
                                                 "WebM, WAV or MP3.")
    return {"format": fmt, "duration": float((info.get("format") or {}).get("duration") or 0.0),
            "has_video": "video" in kinds,
            "audio_tracks": sum(1 for s in streams if s.get("codec_type") == "audio")}


def _sniff_with_av(path: Path) -> dict:
    try:
        import av

        with av.open(str(path)) as c:
            has_audio = sum(1 for s in c.streams if s.type == "audio")
            has_video = any(s.type == "video" for s in c.streams)
            duration = (c.duration or 0) / 1_000_000
            fmt = c.format.name
    except Exception:  # noqa: BLE001
        raise ApiError(415, "unsupported_media", "The file is not a video or audio file that can be read.") from None
    if not has_audio:
        raise ApiError(415, "no_audio", "The file has no audio track, so there is no speech to dub.")
    return {"format": fmt, "duration": duration, "has_video": has_video, "audio_tracks": has_audio}
