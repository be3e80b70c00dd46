"""Compatibility routes of the reference avatar service and video-lecture generator.

Avatar service: ``POST /avatar/upload`` (multipart image, name, description) · ``GET /avatar`` ·
``POST /avatar/animate`` {avatarId, text, voiceId} · ``GET /avatar/animations/{id}/status`` ·
``GET /avatar/{avatarId}/animations``; Swagger UI also at ``/api``. Lecture generator:
``POST /generate`` {face_path, voice_path, lecture_text_path, generated_dir_path, id} answers
``{"error": false, "message": ..., "result": [[0, 1], [2]]}`` when the lecture is written,
``GET /generate/cancel`` cancels it (within 2 s), ``GET /ping``. ``/generate`` takes server paths,
so it reads and writes only under the folders given with ``serve --files-root``; any other path is
403 in the reference's error shape. All of it runs on the v1 services (same runner, events, store).
"""

from __future__ import annotations

import asyncio
import re
import time
from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from polydub import limits
from polydub.server.avatars import AvatarService, inside_roots
from polydub.server.deps import get_service, require_token
from polydub.server.records import Avatar, Job
from polydub.server.routes_avatar import get_avatars
from polydub.server.services import JobService

router = APIRouter(tags=["compatibility: avatars and lectures"], dependencies=[Depends(require_token)])
_STATUS = {"queued": "pending", "running": "processing", "done": "completed", "failed": "failed",
           "cancelled": "cancelled"}


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat().replace("+00:00", "Z")


class UploadAnswer(BaseModel):
    id: str
    name: str
    imageUrl: str  # noqa: N815 - the reference's field names
    message: str


class AvatarItem(BaseModel):
    id: str
    name: str
    description: str
    imageUrl: str  # noqa: N815
    createdAt: str  # noqa: N815


class AnimateBody(BaseModel):
    avatarId: limits.JobId  # noqa: N815
    text: limits.AvatarText
    voiceId: limits.VoiceId | None = None  # noqa: N815


class AnimationItem(BaseModel):
    id: str
    avatarId: str | None  # noqa: N815
    audioUrl: str | None  # noqa: N815
    videoUrl: str | None  # noqa: N815
    text: str
    status: str = Field(description="pending | processing | completed | failed | cancelled")
    createdAt: str  # noqa: N815
    error: str | None = None


def _avatar_item(a: Avatar) -> AvatarItem:
    return AvatarItem(id=a.id, name=a.name, description=a.description, imageUrl=f"/api/avatars/{a.id}/image",
                      createdAt=_iso(a.created_at))


def _animation_item(job: Job) -> AnimationItem:
    done = job.status == "done"
    return AnimationItem(id=job.id, avatarId=job.options.get("avatar_id"),
                         audioUrl=f"/api/animations/{job.id}/audio" if done else None,
                         videoUrl=f"/api/jobs/{job.id}/files/avatar.mp4" if done else None,
                         text=job.options.get("text", ""), status=_STATUS.get(job.status, job.status),
                         createdAt=_iso(job.created_at), error=job.error_message)


@router.post("/avatar/upload", response_model=UploadAnswer, summary="Upload a face photo (reference route)")
async def upload(image: UploadFile = File(...), name: str = Form(..., min_length=1, max_length=limits.NAME_CHARS),
                 description: str = Form("", max_length=limits.DESCRIPTION_CHARS),
                 avatars: AvatarService = Depends(get_avatars)) -> UploadAnswer:
    avatar = await avatars.create(image, name, description)
    return UploadAnswer(id=avatar.id, name=avatar.name, imageUrl=f"/api/avatars/{avatar.id}/image",
                        message="Avatar uploaded successfully")


@router.get("/avatar", response_model=list[AvatarItem], summary="All avatars (reference route)")
def list_avatars(avatars: AvatarService = Depends(get_avatars)) -> list[AvatarItem]:
    return [_avatar_item(a) for a in avatars.list()]


@router.post("/avatar/animate", response_model=AnimationItem, summary="Animate an avatar (reference route)")
def animate(body: AnimateBody, avatars: AvatarService = Depends(get_avatars)) -> AnimationItem:
    from polydub.avatar.speech import guess_language

    # The reference sends no language: Cyrillic is Russian, a named voice brings its own, else English.
    language = guess_language(body.text) or (None if body.voiceId else "en")
    return _animation_item(avatars.animate(body.avatarId, body.text, language, body.voiceId))


@router.get("/avatar/animations/{animation_id}/status", response_model=AnimationItem,
            summary="Status of an animation (reference route)")
def animation_status(animation_id: str, avatars: AvatarService = Depends(get_avatars)) -> AnimationItem:
    return _animation_item(avatars.animation(animation_id))


@router.get("/avatar/{avatar_id}/animations", response_model=list[AnimationItem],
            summary="An avatar's animations (reference route)")
def avatar_animations(avatar_id: str, avatars: AvatarService = Depends(get_avatars)) -> list[AnimationItem]:
    avatars.get(avatar_id)
    return [_animation_item(j) for j in avatars.animations(avatar_id)]


# -- the lecture generator -------------------------------------------------------------------------
class GenerateBody(BaseModel):
    face_path: limits.ServerPath
    voice_path: limits.ServerPath
    lecture_text_path: limits.ServerPath
    generated_dir_path: limits.ServerPath
    id: Annotated[str, Field(max_length=64)] | int = 0


class GenerateAnswer(BaseModel):
    """The reference lecture service's answer shape, for success and failure alike."""

    error: bool
    message: str
    result: Any = None


GENERATE_ANSWERS: dict[int | str, dict] = {
    400: {"model": GenerateAnswer, "description": "a bad lecture id"},
    403: {"model": GenerateAnswer, "description": "a path outside the folders given with --files-root (or none "
                                                  "given), or a file that does not exist"},
}


def _answer(error: bool, message: str, result=None, status: int = 200) -> JSONResponse:
    return JSONResponse({"error": error, "message": message, "result": result}, status_code=status)


def _generating(request: Request) -> set[str]:
    state = request.app.state
    if not hasattr(state, "generate_jobs"):
        state.generate_jobs = set()
    return state.generate_jobs


@router.post("/generate", response_model=GenerateAnswer, responses=GENERATE_ANSWERS,
             summary="Generate a lecture from server paths (reference route; waits until done)")
async def generate(body: GenerateBody, request: Request, service: JobService = Depends(get_service)):
    roots = service.settings.files_roots
    if not roots:
        return _answer(True, "Paths are not allowed: the server was started without --files-root", status=403)
    paths = {}
    for field in ("face_path", "voice_path", "lecture_text_path"):
        found = inside_roots(getattr(body, field), roots, must_exist=True)
        if found is None or not found.is_file():
            return _answer(True, f"{field}: not an existing file under the allowed folders", status=403)
        paths[field] = found
    out = inside_roots(body.generated_dir_path, roots, must_exist=False)
    if out is None or (out.exists() and not out.is_dir()):
        return _answer(True, "generated_dir_path: not a folder under the allowed folders", status=403)
    lecture_id = str(body.id)
    if not re.fullmatch(r"[\w.-]{1,64}", lecture_id):
        return _answer(True, "id: use letters, digits, '-', '_' or '.'", status=400)
    options = {"voice_sample": str(paths["voice_path"]), "text_path": str(paths["lecture_text_path"]),
               "output_dir": str(out), "lecture_id": lecture_id, "commercial_safe": service.settings.commercial_safe}
    job = await run_in_threadpool(service.create_job, "lecture", input_name=paths["face_path"].name,
                                  input_path=str(paths["face_path"]), options=options)
    running = _generating(request)
    running.add(job.id)
    try:
        while True:
            job = await run_in_threadpool(service.get, job.id)
            if job.status not in ("queued", "running"):
                break
            await asyncio.sleep(0.2)
    finally:
        running.discard(job.id)
    if job.status == "done":
        return _answer(False, "Lecture generated", (job.report or {}).get("result"))
    if job.status == "cancelled":
        return _answer(True, "Generation cancelled")
    return _answer(True, service.public_text(job, job.error_message or "Generation failed"))


@router.get("/generate/cancel", response_model=GenerateAnswer,
            summary="Cancel the running generation (reference route; within 2 s)")
async def cancel_generation(request: Request, service: JobService = Depends(get_service)):
    targets = list(_generating(request))
    active = [j for j in targets if service.store.get(j) and service.store.get(j).status in ("queued", "running")]
    for job_id in active:
        await run_in_threadpool(service.runner.cancel, job_id)
    deadline = time.monotonic() + 2.5
    while active and time.monotonic() < deadline:
        jobs = [await run_in_threadpool(service.store.get, j) for j in active]
        if all(j is None or j.status not in ("queued", "running") for j in jobs):
            break
        await asyncio.sleep(0.05)
    return _answer(False, "Generation cancelled" if active else "Nothing to cancel", bool(active))


@router.get("/ping", response_model=GenerateAnswer, summary="Liveness (reference route)")
def ping():
    return _answer(False, "Pong", True)
