"""API v1: jobs, cancel, segments, render, files and progress events (HTTP + WebSocket)."""

from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter, Depends, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, Response
from starlette.concurrency import run_in_threadpool

from polydub import limits
from polydub.server.deps import get_service, require_token, websocket_token_ok
from polydub.server.models import (
    ErrorResponse,
    EventList,
    FileList,
    JobCreated,
    JobDetail,
    JobList,
    SegmentList,
    SegmentOut,
    SegmentPatch,
)
from polydub.server.services import JobService
from polydub.server.store import TERMINAL

ERRORS = {c: {"model": ErrorResponse} for c in (400, 401, 404, 409, 413, 415, 422, 429, 507)}
router = APIRouter(prefix="/api/jobs", tags=["jobs"], dependencies=[Depends(require_token)], responses=ERRORS)
ws_router = APIRouter()
# Events reach the WebSocket through the job store (the one thing every worker on every machine
# shares): polled this often, so an event is seen ~EVENT_POLL_S/2 after a worker wrote it.
EVENT_POLL_S = 0.2

_LANG = {"type": "string", "maxLength": limits.LANGUAGE_CHARS}
_ENGINE = {"type": "string", "maxLength": limits.ENGINE_NAME_CHARS}
UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file", "target_language"],
    "properties": {
        "file": {"type": "string", "format": "binary", "description": "Video or audio (type probed by content)"},
        "target_language": {**_LANG, "example": "es"},
        "source_language": {**_LANG, "description": "empty or 'auto' to detect"},
        "mt_engine": _ENGINE, "tts_engine": _ENGINE,
        "voices": {"type": "string", "maxLength": limits.FORM_FIELD_BYTES,
                   "description": 'JSON object speaker -> voice id, e.g. {"S1": "kokoro:ef_dora"} '
                                  f"(at most {limits.VOICES_PER_JOB} speakers)"},
        "keep_original": {"type": "boolean"}, "separation": {"type": "boolean"},
        "original_voice_db": {"type": "number", "minimum": limits.ORIGINAL_VOICE_DB[0],
                              "maximum": limits.ORIGINAL_VOICE_DB[1],
                              "description": "voice-over level of the original speech"},
        "commercial_safe": {"type": "boolean", "description": "only voices licensed for commercial use "
                            "(default: the server's `serve --commercial-safe`)"},
        "lipsync": {"type": "boolean", "description": "re-animate the on-screen speakers' mouths to follow the dub"},
        "quality_checks": {"type": "boolean", "description": "measure and repair each line (default true)"},
        "audio_track": {"type": "integer", "minimum": limits.AUDIO_TRACK[0], "maximum": limits.AUDIO_TRACK[1],
                        "description": "which audio track to dub (0 = first; default: the one in the source "
                                       "language, else the default track); the others are kept"},
    }}}}}}


@router.post("", status_code=201, response_model=JobCreated, openapi_extra=UPLOAD_BODY,
             summary="Upload media and start a dub")
async def create_job(request: Request, service: JobService = Depends(get_service)) -> JobCreated:
    job = await service.create_from_upload(request)
    return JobCreated(id=job.id, status=job.status)


@router.get("", response_model=JobList, summary="All jobs, newest first")
def list_jobs(service: JobService = Depends(get_service)) -> JobList:
    return JobList(jobs=[service.summary(j) for j in service.store.list()])


@router.get("/{job_id}", response_model=JobDetail, summary="Status, progress, stage timings, engines, errors")
def get_job(job_id: str, service: JobService = Depends(get_service)) -> JobDetail:
    return service.detail(service.get(job_id))


@router.delete("/{job_id}", status_code=204, response_class=Response,
               summary="Delete a job and its files (cancels it first)")
def delete_job(job_id: str, service: JobService = Depends(get_service)):
    service.delete(job_id)
    return Response(status_code=204)


@router.post("/{job_id}/cancel", response_model=JobDetail, summary="Cancel; the job stops within 2 s")
async def cancel_job(job_id: str, service: JobService = Depends(get_service)) -> JobDetail:
    service.get(job_id)
    await run_in_threadpool(service.runner.cancel, job_id)
    deadline = time.monotonic() + 2.5  # the job stops within 2 s: answer with its end state
    while time.monotonic() < deadline:
        job = await run_in_threadpool(service.get, job_id)
        if job.status not in ("queued", "running"):
            break
        await asyncio.sleep(0.05)
    return service.detail(service.get(job_id))


@router.get("/{job_id}/events", response_model=EventList, summary="Progress events (poll with ?after=<id>)")
def job_events(job_id: str, after: int = 0, service: JobService = Depends(get_service)) -> EventList:
    return EventList(events=service.events(service.get(job_id), after))


@router.get("/{job_id}/segments", response_model=SegmentList, summary="The dub lines of a finished job")
def get_segments(job_id: str, service: JobService = Depends(get_service)) -> SegmentList:
    project, rows = service.segments(service.get(job_id))
    return SegmentList(segments=rows, source_language=project.source_language,
                       target_language=project.target_language)


@router.patch("/{job_id}/segments/{index}", response_model=SegmentOut, summary="Edit one line")
def patch_segment(job_id: str, index: int, patch: SegmentPatch,
                  service: JobService = Depends(get_service)) -> SegmentOut:
    return service.patch_segment(service.get(job_id), index, patch)


@router.post("/{job_id}/render", status_code=202, response_model=JobDetail,
             summary="Re-render only the changed lines and the final mix")
def render_job(job_id: str, service: JobService = Depends(get_service)) -> JobDetail:
    return service.detail(service.render(service.get(job_id)))


@router.get("/{job_id}/files", response_model=FileList, summary="Artifacts of the job")
def list_files(job_id: str, service: JobService = Depends(get_service)) -> FileList:
    return FileList(files=service.list_files(service.get(job_id)))


@router.get("/{job_id}/files/{name:path}", summary="Download one artifact (HTTP range requests supported)",
            response_class=FileResponse)
def get_file(job_id: str, name: str, download: bool = False, service: JobService = Depends(get_service)):
    job = service.get(job_id)
    path = service.resolve_file(job, name)
    public = service.public_file(job, path)  # reports and project.json: no server paths
    if public is not None:
        media_type = "application/json" if path.suffix.lower() == ".json" else "text/html; charset=utf-8"
        disposition = f'attachment; filename="{path.name}"' if download else "inline"
        return Response(public, media_type=media_type, headers={"Content-Disposition": disposition})
    return FileResponse(path, filename=path.name if download else None,
                        content_disposition_type="attachment" if download else "inline")


@router.get("/{job_id}/original", summary="The uploaded media (HTTP range requests supported)",
            response_class=FileResponse)
def get_original(job_id: str, service: JobService = Depends(get_service)):
    from pathlib import Path

    from polydub.server.errors import ApiError

    job = service.get(job_id)
    if not Path(job.input_path).is_file():
        raise ApiError(404, "file_not_found", "The uploaded file is no longer on disk.")
    return FileResponse(job.input_path, filename=None)


@ws_router.websocket("/api/jobs/{job_id}/events")
async def job_events_ws(ws: WebSocket, job_id: str):
    """Replays the job's past events, then pushes new ones; closes once the job has finished."""
    await stream_events(ws, job_id, lambda ev, job: {"type": "event", **ev})


async def stream_events(ws: WebSocket, job_id: str, shape) -> None:
    service: JobService = ws.app.state.service
    if not websocket_token_ok(ws):
        await ws.close(code=4401, reason="unauthorized")
        return
    if service.store.get(job_id) is None:
        await ws.close(code=4404, reason="job not found")
        return
    await ws.accept()
    last = 0
    try:
        while True:
            job = await run_in_threadpool(service.store.get, job_id)
            if job is None:
                break
            events = await run_in_threadpool(service.events, job, last)
            for ev in events:
                last = ev["id"]
                await ws.send_json(shape(ev, job))
            if not events and job.status in TERMINAL:
                break
            await asyncio.sleep(EVENT_POLL_S)
        await ws.close()
    except (WebSocketDisconnect, RuntimeError):
        return
