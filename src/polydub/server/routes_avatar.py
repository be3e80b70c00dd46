"""Talking avatars and lectures, API v1: /api/avatars, /api/animations, /api/lectures.

Animations and lectures are jobs (kinds ``animate`` and ``lecture``) on the same runner as dubs:
their progress is at ``/api/jobs/{id}/events`` (and the WebSocket), cancel at
``/api/jobs/{id}/cancel`` (within 2 s), files at ``/api/jobs/{id}/files/...``."""

from __future__ import annotations

import shutil
import uuid

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from polydub import limits
from polydub.server.avatars import AvatarService, check_face, save_upload
from polydub.server.deps import get_service, require_token
from polydub.server.errors import ApiError
from polydub.server.models import ErrorResponse
from polydub.server.records import Avatar, Job
from polydub.server.services import JobService

ERRORS = {c: {"model": ErrorResponse} for c in (400, 401, 404, 409, 413, 415, 422)}
router = APIRouter(prefix="/api", tags=["avatars"], dependencies=[Depends(require_token)], responses=ERRORS)
MAX_TEXT_MB = 2
MAX_SAMPLE_MB = 100
MAX_SLIDES_MB = 200


def get_avatars(request: Request) -> AvatarService:
    return request.app.state.avatars


class AvatarOut(BaseModel):
    id: str
    name: str
    description: str
    image_url: str
    width: int
    height: int
    faces: int = Field(description="faces found in the photo (the largest one speaks)")
    created_at: float
    updated_at: float
    animations: int = 0


class AvatarList(BaseModel):
    avatars: list[AvatarOut]


class AnimateRequest(BaseModel):
    text: limits.AvatarText = Field(examples=["Добрый день! Меня зовут Анна."])
    language: limits.LanguageCode | None = Field(None, examples=["ru"],
                                                 description="default: detected for Cyrillic, else required")
    voice: limits.VoiceId | None = Field(None, description="voice id (engine:voice) or voice profile name; "
                              "default: the best installed voice of the language")


class AnimationOut(BaseModel):
    id: str
    avatar_id: str | None
    status: str = Field(description="queued | running | done | failed | cancelled")
    text: str
    language: str | None = None
    voice: str | None = Field(None, description="the voice that spoke (once done)")
    progress: float
    message: str | None = None
    video_url: str | None = None
    audio_url: str | None = None
    error: str | None = None
    created_at: float
    updated_at: float


class AnimationList(BaseModel):
    animations: list[AnimationOut]


class LectureCreated(BaseModel):
    id: str
    status: str
    slides: int
    fragments: int = Field(description="fragments the text will make")


class LectureOut(BaseModel):
    id: str
    status: str
    progress: float
    stage: str | None = None
    message: str | None = None
    fragments: list[dict] = Field(default_factory=list, description="fragment videos finished so far")
    result: list[list[int]] | None = Field(None, description="slides -> fragment numbers (when done)")
    video_url: str | None = None
    error: str | None = None


def avatar_out(avatar: Avatar, animations: int = 0) -> AvatarOut:
    return AvatarOut(id=avatar.id, name=avatar.name, description=avatar.description,
                     image_url=f"/api/avatars/{avatar.id}/image", width=avatar.width, height=avatar.height,
                     faces=avatar.faces, created_at=avatar.created_at, updated_at=avatar.updated_at,
                     animations=animations)


def animation_out(job: Job) -> AnimationOut:
    done = job.status == "done"
    report = job.report or {}
    return AnimationOut(id=job.id, avatar_id=job.options.get("avatar_id"), status=job.status,
                        text=job.options.get("text", ""),
                        language=report.get("language") or job.options.get("language"),
                        voice=(report.get("voice") or {}).get("id"), progress=job.progress, message=job.message,
                        video_url=f"/api/jobs/{job.id}/files/avatar.mp4" if done else None,
                        audio_url=f"/api/animations/{job.id}/audio" if done else None,
                        error=job.error_message, created_at=job.created_at, updated_at=job.updated_at)


@router.post("/avatars", status_code=201, response_model=AvatarOut, summary="Upload a portrait (face checked)")
async def create_avatar(photo: UploadFile = File(..., description="JPG/PNG/WebP, one face"),
                        name: str = Form(..., min_length=1, max_length=limits.NAME_CHARS),
                        description: str = Form("", max_length=limits.DESCRIPTION_CHARS),
                        avatars: AvatarService = Depends(get_avatars)) -> AvatarOut:
    return avatar_out(await avatars.create(photo, name, description))


@router.get("/avatars", response_model=AvatarList, summary="All avatars, newest first")
def list_avatars(avatars: AvatarService = Depends(get_avatars)) -> AvatarList:
    counts: dict[str, int] = {}
    for job in avatars.animations():
        counts[job.options.get("avatar_id")] = counts.get(job.options.get("avatar_id"), 0) + 1
    return AvatarList(avatars=[avatar_out(a, counts.get(a.id, 0)) for a in avatars.list()])


@router.get("/avatars/{avatar_id}", response_model=AvatarOut, summary="One avatar")
def get_avatar(avatar_id: str, avatars: AvatarService = Depends(get_avatars)) -> AvatarOut:
    return avatar_out(avatars.get(avatar_id), len(avatars.animations(avatar_id)))


@router.get("/avatars/{avatar_id}/image", response_class=FileResponse, summary="The avatar's photo")
def avatar_image(avatar_id: str, avatars: AvatarService = Depends(get_avatars)):
    return FileResponse(avatars.get(avatar_id).image_path)


@router.delete("/avatars/{avatar_id}", status_code=204, response_class=Response,
               summary="Delete an avatar, its photo and its animations")
def delete_avatar(avatar_id: str, avatars: AvatarService = Depends(get_avatars)):
    avatars.delete(avatar_id)
    return Response(status_code=204)


@router.post("/avatars/{avatar_id}/animations", status_code=201, response_model=AnimationOut,
             summary="The avatar says a text (a job: progress at /api/jobs/{id}/events)")
def animate(avatar_id: str, body: AnimateRequest, avatars: AvatarService = Depends(get_avatars)) -> AnimationOut:
    return animation_out(avatars.animate(avatar_id, body.text, body.language, body.voice))


@router.get("/avatars/{avatar_id}/animations", response_model=AnimationList, summary="An avatar's history")
def avatar_animations(avatar_id: str, avatars: AvatarService = Depends(get_avatars)) -> AnimationList:
    avatars.get(avatar_id)
    return AnimationList(animations=[animation_out(j) for j in avatars.animations(avatar_id)])


@router.get("/animations/{animation_id}", response_model=AnimationOut, summary="Status of one animation")
def get_animation(animation_id: str, avatars: AvatarService = Depends(get_avatars)) -> AnimationOut:
    return animation_out(avatars.animation(animation_id))


@router.get("/animations/{animation_id}/audio", response_class=FileResponse, summary="The animation's speech (M4A)")
def animation_audio(animation_id: str, avatars: AvatarService = Depends(get_avatars)):
    job = avatars.animation(animation_id)
    video = avatars.jobs.resolve_file(job, "avatar.mp4")
    audio = video.with_name("speech.m4a")
    if not audio.is_file():
        _extract_audio(video, audio)
    return FileResponse(audio, media_type="audio/mp4")


def _extract_audio(video, audio) -> None:
    import subprocess

    tmp = audio.with_name(f".{audio.name}.partial.m4a")
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(video), "-map", "0:a:0", "-c", "copy",
                    str(tmp)], check=True, timeout=120)
    tmp.replace(audio)


@router.post("/lectures", status_code=201, response_model=LectureCreated,
             summary="Make a lecture: face photo, voice sample, text with slide delimiters, optional slides")
async def create_lecture(request: Request, face: UploadFile = File(..., description="portrait photo"),
                         voice_sample: UploadFile | None = File(None, description="a recording of the lecturer"),
                         text: str | None = Form(None, max_length=limits.LECTURE_TEXT_CHARS,
                                                 description="the lecture text (or text_file)"),
                         text_file: UploadFile | None = File(None, description="UTF-8 text file"),
                         delimiter: str = Form("---", min_length=1, max_length=limits.DELIMITER_CHARS),
                         language: str | None = Form(None, max_length=limits.LANGUAGE_CHARS),
                         voice: str | None = Form(None, max_length=limits.VOICE_ID_CHARS,
                                                  description="voice id or profile (without a sample)"),
                         slides: UploadFile | None = File(None, description="PDF deck, one page per slide"),
                         service: JobService = Depends(get_service)) -> LectureCreated:
    from polydub.avatar import split_lecture
    from polydub.errors import PolydubError

    service.admit_upload(request)  # the dub uploads' rate limit and disk guard
    job_id = uuid.uuid4().hex
    folder = service.settings.input_dir(job_id)
    settings = service.settings
    try:
        face_path = await save_upload(face, folder / "face", int(settings.max_photo_mb * 1024 * 1024), "photo",
                                      "face")
        await run_in_threadpool(check_face, face_path)
        options: dict = {"delimiter": delimiter, "language": language or None, "voice": voice or None,
                         "commercial_safe": settings.commercial_safe}
        if voice_sample is not None and voice_sample.filename:
            options["voice_sample"] = str(await save_upload(voice_sample, folder / "voice", MAX_SAMPLE_MB << 20,
                                                            "voice sample", "voice.wav"))
        if text_file is not None and text_file.filename:
            raw = (await save_upload(text_file, folder / "text", MAX_TEXT_MB << 20, "text file", "lecture.txt"))
            try:
                text = raw.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                raise ApiError(415, "bad_text", "The text file is not UTF-8 text.") from None
        if not (text or "").strip():
            raise ApiError(400, "missing_text", "Give the lecture text (field text or text_file).")
        if len(text) > limits.LECTURE_TEXT_CHARS:
            raise ApiError(413, "too_large", f"The lecture text has {len(text)} characters; the limit is "
                                             f"{limits.LECTURE_TEXT_CHARS}. Split it into several lectures.")
        try:
            pieces = split_lecture(text, delimiter)
        except PolydubError as exc:
            raise ApiError(400, "bad_text", exc.message) from None
        options["text"] = text
        if slides is not None and slides.filename:
            options["slides"] = str(await save_upload(slides, folder / "slides", MAX_SLIDES_MB << 20, "slides",
                                                      "slides.pdf"))
    except BaseException:
        shutil.rmtree(settings.job_dir(job_id), ignore_errors=True)
        raise
    job = service.create_job("lecture", job_id=job_id, input_name=face_path.name, input_path=str(face_path),
                             options=options)
    return LectureCreated(id=job.id, status=job.status, slides=len(pieces), fragments=sum(len(s) for s in pieces))


@router.get("/lectures/{lecture_id}", response_model=LectureOut, summary="A lecture's progress and fragments")
def get_lecture(lecture_id: str, avatars: AvatarService = Depends(get_avatars)) -> LectureOut:
    job = avatars.lecture(lecture_id)
    done = job.status == "done"
    return LectureOut(id=job.id, status=job.status, progress=job.progress, stage=job.stage, message=job.message,
                      fragments=avatars.fragments(job), result=(job.report or {}).get("result") if done else None,
                      video_url=f"/api/jobs/{job.id}/files/lecture.mp4" if done else None, error=job.error_message)
