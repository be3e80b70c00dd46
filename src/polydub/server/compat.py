"""Compatibility routes for users of the "video translation web interface".

``POST /upload`` (file, language) · ``WS /ws/{job_id}`` · ``GET /status/{job_id}`` ·
``GET /download/{filename}``: thin adapters over the v1 services. Download names are
``<job_id>_<file name>`` (as returned in ``/status``), or just ``<job_id>`` for the dubbed media.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, WebSocket
from fastapi.responses import FileResponse
from pydantic import BaseModel

from polydub import limits
from polydub.server.deps import get_service, require_token
from polydub.server.errors import ApiError
from polydub.server.routes_v1 import stream_events
from polydub.server.services import JobService

router = APIRouter(tags=["compatibility"], dependencies=[Depends(require_token)])
ws_router = APIRouter()
_LEGACY_STATUS = {"queued": "processing", "running": "processing", "done": "completed",
                  "failed": "failed", "cancelled": "cancelled"}


class UploadResponse(BaseModel):
    job_id: str
    status: str


class StatusResponse(BaseModel):
    job_id: str
    status: str
    progress: float
    stage: str | None = None
    message: str | None = None
    error: str | None = None
    filename: str | None = None
    download_url: str | None = None


@router.post("/upload", response_model=UploadResponse, summary="Legacy upload (fields: file, language)",
             openapi_extra={"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                 "type": "object", "required": ["file", "language"], "properties": {
                     "file": {"type": "string", "format": "binary"},
                     "language": {"type": "string", "maxLength": limits.LANGUAGE_CHARS}}}}}}})
async def upload(request: Request, service: JobService = Depends(get_service)) -> UploadResponse:
    job = await service.create_from_upload(request, language_field="language")
    return UploadResponse(job_id=job.id, status="processing")


def legacy_status(service: JobService, job_id: str) -> StatusResponse:
    job = service.get(job_id)
    output = service.output_name(job) if job.status == "done" else None
    filename = f"{job.id}_{output}" if output else None
    return StatusResponse(job_id=job.id, status=_LEGACY_STATUS.get(job.status, job.status),
                          progress=round(job.progress, 1), stage=job.stage,
                          message=service.public_text(job, job.message) if job.message else None,
                          error=service.public_text(job, job.error_message) if job.error_message else None,
                          filename=filename,
                          download_url=f"/download/{filename}" if filename else None)


@router.get("/status/{job_id}", response_model=StatusResponse, summary="Legacy status")
def status(job_id: str, service: JobService = Depends(get_service)) -> StatusResponse:
    return legacy_status(service, job_id)


@router.get("/download/{filename}", summary="Legacy download of the dubbed media", response_class=FileResponse)
def download(filename: str, service: JobService = Depends(get_service)):
    job_id, _, name = filename.partition("_")
    job = service.get(job_id)
    name = name or service.output_name(job) or ""
    if not name:
        raise ApiError(404, "file_not_found", "The job has no dubbed file yet.")
    path = service.resolve_file(job, name)
    return FileResponse(path, filename=path.name)


@ws_router.websocket("/ws/{job_id}")
async def ws_progress(ws: WebSocket, job_id: str):
    """Sends ``{"progress": 0-100, "stage": "...", "status": "..."}`` until the job finishes."""
    def shape(ev: dict, job) -> dict:
        status_ = _LEGACY_STATUS.get(ev["status"], ev["status"])
        msg = {"progress": round(ev["percent"], 1), "stage": ev["stage"] or ev["status"], "status": status_,
               "message": ev["message"]}
        if ev["status"] == "done" and job.status == "done":
            out = ws.app.state.service.output_name(job)
            if out:
                msg["download_url"] = f"/download/{job.id}_{out}"
        if ev["status"] == "failed":
            msg["error"] = ev["message"]
        return msg

    await stream_events(ws, job_id, shape)
