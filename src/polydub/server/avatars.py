"""Avatars and their animations, lectures: the services behind routes_avatar and compat_avatar.

An avatar is a stored portrait (row in ``avatars``, photo in ``<data>/avatars/<id>/``) whose face
was found at upload. Animating it queues a job of kind ``animate`` (the same runner, events and
cancel as a dub); its history is the avatar's ``animate`` jobs. A lecture is a job of kind
``lecture`` whose uploads (face, voice sample, text, slides) sit in the job's input folder.
"""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path

from fastapi import UploadFile
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from polydub.server.errors import ApiError
from polydub.server.records import Avatar, AvatarRow, Job, JobRow
from polydub.server.services import JobService
from polydub.server.upload import safe_filename

CHUNK = 1 << 20


async def save_upload(upload: UploadFile, folder: Path, max_bytes: int, what: str, default: str) -> Path:
    """Stream an UploadFile to `folder` (413 over `max_bytes`); returns the saved path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / safe_filename(upload.filename, default)
    size = 0
    with open(path, "wb") as out:
        while chunk := await upload.read(CHUNK):
            size += len(chunk)
            if size > max_bytes:
                out.close()
                path.unlink(missing_ok=True)
                raise ApiError(413, "too_large", f"The {what} is larger than {max_bytes / 1e6:.0f} MB.")
            out.write(chunk)
    if size == 0:
        path.unlink(missing_ok=True)
        raise ApiError(400, "empty_file", f"The {what} is empty.")
    return path


def check_face(path: Path) -> tuple[int, int, int]:
    """(width, height, faces) of a portrait; 422 with the reason when it cannot be animated."""
    from polydub.errors import PolydubError
    from polydub.face.portrait import Portrait

    try:
        portrait = Portrait.load(path)
    except PolydubError as exc:
        raise ApiError(422, "no_usable_face", f"{exc.message}. {exc.hint or ''}".strip()) from None
    w, h = portrait.source_size
    return w, h, portrait.faces


class AvatarService:
    def __init__(self, jobs: JobService) -> None:
        self.jobs = jobs
        self.settings = jobs.settings
        self.engine = jobs.store.engine

    def folder(self, avatar_id: str) -> Path:
        return self.settings.data_dir / "avatars" / avatar_id

    # -- avatars -----------------------------------------------------------------------------
    async def create(self, image: UploadFile, name: str, description: str) -> Avatar:
        from starlette.concurrency import run_in_threadpool

        if not (name or "").strip():
            raise ApiError(400, "missing_name", "Give the avatar a name.")
        avatar_id = uuid.uuid4().hex
        folder = self.folder(avatar_id)
        try:
            path = await save_upload(image, folder, int(self.settings.max_photo_mb * 1024 * 1024), "photo",
                                     "photo")
            width, height, faces = await run_in_threadpool(check_face, path)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        now = time.time()
        row = AvatarRow(id=avatar_id, name=name.strip()[:200], description=(description or "").strip(),
                        image_name=path.name, image_path=str(path), width=width, height=height, faces=faces,
                        created_at=now, updated_at=now)
        with Session(self.engine) as session:
            session.add(row)
            session.commit()
            return Avatar.of(row)

    def list(self) -> list[Avatar]:
        with Session(self.engine) as session:
            rows = session.scalars(select(AvatarRow).order_by(AvatarRow.created_at.desc())).all()
            return [Avatar.of(r) for r in rows]

    def get(self, avatar_id: str) -> Avatar:
        with Session(self.engine) as session:
            row = session.get(AvatarRow, avatar_id)
            if row is None:
                raise ApiError(404, "avatar_not_found", f"No avatar with id '{avatar_id}'.")
            return Avatar.of(row)

    def delete(self, avatar_id: str) -> None:
        self.get(avatar_id)
        for job in self.animations(avatar_id):
            self.jobs.delete(job.id)
        with Session(self.engine) as session:
            session.execute(delete(AvatarRow).where(AvatarRow.id == avatar_id))
            session.commit()
        shutil.rmtree(self.folder(avatar_id), ignore_errors=True)

    # -- animations --------------------------------------------------------------------------
    def animate(self, avatar_id: str, text: str, language: str | None, voice: str | None) -> Job:
        avatar = self.get(avatar_id)
        if not (text or "").strip():
            raise ApiError(400, "missing_text", "Give the text the avatar should say.")
        if len(text) > 20000:
            raise ApiError(413, "text_too_long", "At most 20000 characters per animation.")
        options = {"avatar_id": avatar.id, "text": text.strip(), "language": language or None,
                   "voice": voice or None, "commercial_safe": self.settings.commercial_safe}
        return self.jobs.create_job("animate", input_name=avatar.image_name, input_path=avatar.image_path,
                                    options=options)

    def animations(self, avatar_id: str | None = None) -> list[Job]:
        with Session(self.engine) as session:
            rows = session.scalars(select(JobRow).where(JobRow.task == "animate")
                                   .order_by(JobRow.created_at.desc())).all()
            jobs = [Job.of(r) for r in rows]
        return [j for j in jobs if avatar_id is None or j.options.get("avatar_id") == avatar_id]

    def animation(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job.task != "animate":
            raise ApiError(404, "animation_not_found", f"No animation with id '{job_id}'.")
        return job

    # -- lectures ----------------------------------------------------------------------------
    def lecture(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job.task != "lecture":
            raise ApiError(404, "lecture_not_found", f"No lecture with id '{job_id}'.")
        return job

    def fragments(self, job: Job) -> list[dict]:
        """The fragment videos written so far (temporary names are never listed)."""
        out = Path(job.options.get("output_dir") or job.out_dir)
        lecture_id = str(job.options.get("lecture_id") or "0")
        found = []
        for path in out.glob(f"video_fragment_{lecture_id}_*_1.mp4") if out.is_dir() else []:
            n = path.name[len(f"video_fragment_{lecture_id}_"):-len("_1.mp4")]
            if n.isdigit():
                found.append({"n": int(n), "video": path.name, "audio": f"audio_fragment_{lecture_id}_{n}.wav",
                              "url": f"/api/jobs/{job.id}/files/{path.name}"})
        return sorted(found, key=lambda f: f["n"])


def inside_roots(raw: str, roots: list[Path], must_exist: bool) -> Path | None:
    """`raw` resolved (symlinks followed) when it lies under one of `roots`; None otherwise."""
    if not raw or "\x00" in raw:
        return None
    path = Path(raw).expanduser()
    if not path.is_absolute() or ".." in path.parts:
        return None
    resolved = path.resolve()
    if must_exist and not resolved.exists():
        return None
    for root in roots:
        if resolved == root or root in resolved.parents:
            return resolved
    return None
