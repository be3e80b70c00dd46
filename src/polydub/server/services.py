"""Job services shared by API v1 and the compatibility routes (no HTTP details beyond ApiError)."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator

from polydub import limits, telemetry
from polydub.server.errors import ApiError
from polydub.server.guards import RateLimiter, check_disk, check_rate
from polydub.server.models import FileInfo, JobDetail, JobError, JobSummary, SegmentOut, SegmentPatch
from polydub.server.settings import Settings
from polydub.server.store import ACTIVE, Job, JobStore
from polydub.server.upload import receive_upload, sniff_media

MEDIA_SUFFIXES = {".mp4", ".mkv", ".mov", ".webm", ".m4v", ".avi", ".m4a", ".wav", ".mp3", ".flac", ".ogg", ".aac"}
EDITS_FILE = "studio-edits.json"


class JobOptions(BaseModel):
    """The options of a dub job (multipart form fields of POST /api/jobs); bounds from polydub.limits."""

    target_language: limits.LanguageCode
    source_language: limits.LanguageCode | None = None
    mt_engine: limits.EngineName | None = None
    tts_engine: limits.EngineName | None = None
    voices: dict[limits.Name, limits.VoiceId] = Field({}, max_length=limits.VOICES_PER_JOB)
    keep_original: bool = False
    separation: bool = True
    original_voice_db: float | None = Field(None, ge=limits.ORIGINAL_VOICE_DB[0], le=limits.ORIGINAL_VOICE_DB[1])
    commercial_safe: bool | None = None  # None: the server's default (`serve --commercial-safe`)
    lipsync: bool = False  # re-animate the on-screen speakers' mouths (stage "lips")
    quality_checks: bool = True
    audio_track: int | None = Field(None, ge=limits.AUDIO_TRACK[0], le=limits.AUDIO_TRACK[1])

    @field_validator("target_language", "source_language")
    @classmethod
    def _lang(cls, v: str | None) -> str | None:
        if v is None or v.strip() in ("", "auto"):
            return None
        from polydub.languages import normalize_language

        return normalize_language(v)

    @field_validator("voices", mode="before")
    @classmethod
    def _voices(cls, v: Any) -> Any:
        if isinstance(v, str):
            try:
                return json.loads(v) if v.strip() else {}
            except ValueError as exc:
                raise ValueError(f'not a JSON object like {{"S1": "kokoro:ef_dora"}} ({exc})') from None
        return v


# PolydubError subclass -> API error code of a refused submission
_REFUSAL_CODES = {"UnsupportedLanguageError": "unsupported_language", "EngineNotInstalledError": "engine_not_installed",
                  "LicenceError": "non_commercial_voice", "InputMediaError": "unsupported_media"}


def check_dub_options(opts: JobOptions, check_engines: bool = True) -> None:
    """Everything knowable at submission (polydub.pipeline.validate): 422 with the reason, before any work."""
    import dataclasses

    from polydub.errors import PolydubError
    from polydub.pipeline.options import DubOptions
    from polydub.pipeline.validate import check_options

    names = {f.name for f in dataclasses.fields(DubOptions)}
    dub = DubOptions(**{k: v for k, v in opts.model_dump().items() if k in names and v is not None})
    try:
        check_options(dub, check_engines=check_engines)
    except PolydubError as exc:
        raise ApiError(422, _REFUSAL_CODES.get(type(exc).__name__, "invalid_option"), str(exc)) from None
    opts.target_language, opts.source_language = dub.target_language, dub.source_language


def _form_options(fields: dict[str, str]) -> JobOptions:
    data = {k: v for k, v in fields.items() if k in JobOptions.model_fields and v != ""}
    if not data.get("target_language"):
        raise ApiError(422, "invalid_request", "target_language is required (for example 'es').")
    try:
        opts = JobOptions.model_validate(data)
    except (ValidationError, json.JSONDecodeError) as exc:
        if isinstance(exc, ValidationError):
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err.get("loc", ()))
            msg = f"{where}: {err['msg']}" if where else err["msg"]
        else:
            msg = f"voices is not JSON: {exc}"
        raise ApiError(422, "invalid_request", f"Invalid job options: {msg}") from None
    if opts.target_language is None:
        raise ApiError(422, "invalid_request", "target_language cannot be 'auto'.")
    return opts


class JobService:
    def __init__(self, settings: Settings, store: JobStore, runner) -> None:
        self.settings, self.store, self.runner = settings, store, runner
        self.upload_limiter = RateLimiter(settings.upload_rate_per_min, settings.upload_burst)

    # -- jobs ---------------------------------------------------------------------------------
    def create_job(self, kind: str, *, input_name: str, input_path: str, options: dict,
                   job_id: str | None = None) -> Job:
        """Queue a job of any registered kind (polydub.server.tasks) and hand it to the runner."""
        self.settings.target_for(kind)  # unknown kinds fail here, not in a worker
        job_id = job_id or uuid.uuid4().hex
        job = self.store.create(job_id=job_id, task=kind, input_name=input_name, input_path=input_path,
                                out_dir=str(self.settings.out_dir(job_id)), options=options)
        self.runner.submit(job.id)
        return job

    def admit_upload(self, request) -> None:
        """Rate limit and disk guard, checked before a byte of the body is read."""
        check_rate(self.upload_limiter, request)
        declared = request.headers.get("content-length")
        check_disk(self.settings.data_dir, self.settings.min_free_mb,
                   int(declared) if declared and declared.isdigit() else 0)

    async def create_from_upload(self, request, language_field: str = "target_language") -> Job:
        from starlette.concurrency import run_in_threadpool

        self.admit_upload(request)
        job_id = uuid.uuid4().hex
        in_dir = self.settings.input_dir(job_id)
        try:
            path, name, fields = await receive_upload(request, in_dir, self.settings.max_upload_bytes)
            if language_field != "target_language" and language_field in fields:
                fields.setdefault("target_language", fields[language_field])
            opts = _form_options(fields)
            if opts.commercial_safe is None:
                opts.commercial_safe = self.settings.commercial_safe
            await run_in_threadpool(check_dub_options, opts, self.settings.check_engines_at_submit)
            found = await run_in_threadpool(sniff_media, path)
            tracks = int(found.get("audio_tracks") or 1)
            if opts.audio_track is not None and opts.audio_track >= tracks:
                raise ApiError(422, "no_such_track", f"The file has {tracks} audio track{'s' if tracks > 1 else ''}, "
                                                     f"so there is no audio_track {opts.audio_track} (0 is the first).")
        except BaseException:
            shutil.rmtree(self.settings.job_dir(job_id), ignore_errors=True)
            raise
        telemetry.observe_upload(path.stat().st_size)
        return self.create_job("dub", job_id=job_id, input_name=name, input_path=str(path),
                               options=opts.model_dump())

    def get(self, job_id: str) -> Job:
        job = self.store.get(job_id)
        if job is None:
            raise ApiError(404, "job_not_found", f"No job with id '{job_id}'.")
        return job

    def delete(self, job_id: str) -> None:
        job = self.get(job_id)
        if job.status in ACTIVE:
            self.runner.cancel(job_id)
            deadline = time.monotonic() + 3
            while self.get(job_id).status in ACTIVE and time.monotonic() < deadline:
                time.sleep(0.05)
        self.store.delete(job_id)
        shutil.rmtree(self.settings.job_dir(job_id), ignore_errors=True)

    def summary(self, job: Job) -> JobSummary:
        return JobSummary(id=job.id, status=job.status, task=job.task, input_name=job.input_name,
                          target_language=job.options.get("target_language"),
                          source_language=job.options.get("source_language"), progress=job.progress,
                          stage=job.stage, message=job.message, created_at=job.created_at,
                          updated_at=job.updated_at)

    def detail(self, job: Job) -> JobDetail:
        report = self.public_value(job, job.report or {})
        error = JobError(code=job.error_code, message=self.public_text(job, job.error_message or "")) \
            if job.error_code else None
        summary = {k: v for k, v in report.items() if k in ("source_language", "target_language", "timing",
                                                            "warnings", "outputs", "speakers", "quality",
                                                            "lipsync")}
        if isinstance(report.get("segments"), list):
            summary["segments"] = len(report["segments"])
        out = Path(job.out_dir)
        summary_fields = self.summary(job).model_dump()
        summary_fields["message"] = self.public_text(job, job.message or "") or None
        return JobDetail(**summary_fields, options=job.options,
                         stage_seconds=job.stage_seconds or {}, started_at=job.started_at,
                         finished_at=job.finished_at, engines=report.get("engines") or {}, error=error,
                         summary=summary, output=self.output_name(job),
                         has_report_html=(out / "report.html").is_file(), resumes=job.resumes,
                         attempt=job.attempt, worker=job.worker)

    # -- what clients may see -----------------------------------------------------------------
    def _private_paths(self, job: Job) -> list[tuple[str, str]]:
        """(server path, what clients see instead), longest first: the upload's own name for the
        uploaded file, nothing for the job's folders (paths inside them become relative)."""
        pairs: dict[str, str] = {}
        for raw in {job.input_path, str(Path(job.input_path).resolve())}:
            pairs[raw] = job.input_name
        for folder in (Path(job.out_dir), self.settings.job_dir(job.id), self.settings.data_dir):
            for raw in {str(folder), str(folder.resolve())}:
                pairs[raw + "/"] = ""
                pairs.setdefault(raw, ".")
        return sorted(pairs.items(), key=lambda kv: -len(kv[0]))

    def events(self, job: Job, after: int = 0) -> list[dict[str, Any]]:
        events = self.store.events(job.id, after)
        for ev in events:
            if ev.get("message"):
                ev["message"] = self.public_text(job, ev["message"])
        return events

    def public_text(self, job: Job, text: str) -> str:
        for private, public in self._private_paths(job):
            text = text.replace(private, public)
        return text

    def public_value(self, job: Job, value: Any) -> Any:
        if isinstance(value, str):
            return self.public_text(job, value)
        if isinstance(value, dict):
            return {k: self.public_value(job, v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.public_value(job, v) for v in value]
        return value

    def public_file(self, job: Job, path: Path) -> bytes | None:
        """report.json / project.json / report.html with the server's paths replaced; None for other files."""
        suffix = path.suffix.lower()
        if suffix not in (".json", ".html", ".htm") or path.stat().st_size > 64 * 1024 * 1024:
            return None
        raw = path.read_text(encoding="utf-8", errors="replace")
        if suffix == ".json":
            try:
                return json.dumps(self.public_value(job, json.loads(raw)), indent=2, ensure_ascii=False).encode()
            except ValueError:
                pass
        import html

        for private, public in self._private_paths(job):
            raw = raw.replace(html.escape(private), html.escape(public)).replace(private, public)
        return raw.encode()

    # -- files --------------------------------------------------------------------------------
    def output_name(self, job: Job) -> str | None:
        out = Path(job.out_dir)
        if not out.is_dir():
            return None
        report = job.report or {}
        outputs = report.get("outputs") if isinstance(report.get("outputs"), dict) else {}
        for val in (outputs.get("media"), report.get("output")):
            if isinstance(val, str) and val:
                cand = Path(val) if Path(val).is_absolute() else out / val
                if cand.is_file() and _inside(cand, out):
                    return cand.resolve().relative_to(out.resolve()).as_posix()
        media = sorted((p for p in out.iterdir() if p.is_file() and p.suffix.lower() in MEDIA_SUFFIXES),
                       key=lambda p: ("dub" not in p.name.lower(), p.name))
        return media[0].name if media else None

    def list_files(self, job: Job) -> list[FileInfo]:
        out = Path(job.out_dir)
        if not out.is_dir():
            return []
        files = []
        for p in sorted(out.rglob("*")):
            name = p.relative_to(out).as_posix()
            if not p.is_file() or name.endswith(".tmp") or name.startswith(("work/", ".")):
                continue
            files.append(FileInfo(name=name, size=p.stat().st_size, kind=_kind(name),
                                  url=f"/api/jobs/{job.id}/files/{name}"))
        return files

    def resolve_file(self, job: Job, name: str) -> Path:
        out = Path(job.out_dir).resolve()
        if not name or "\x00" in name or name.startswith(("/", "\\")) or ".." in Path(name).parts \
                or ".." in name.replace("\\", "/").split("/"):
            raise ApiError(400, "bad_path", "File names must stay inside the job's folder.")
        path = (out / name).resolve()
        if not _inside(path, out):
            raise ApiError(400, "bad_path", "File names must stay inside the job's folder.")
        if not path.is_file():
            raise ApiError(404, "file_not_found", f"The job has no file '{name}'.")
        return path

    # -- segments -----------------------------------------------------------------------------
    def _project(self, job: Job):
        from polydub.project import Project

        project = Project.load_or_none(job.out_dir)
        if project is None:
            raise ApiError(409, "no_project", "This job has no segments yet; wait until it is done.")
        return project

    def _edits(self, job: Job) -> dict[str, float]:
        path = self.settings.job_dir(job.id) / EDITS_FILE
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return {}

    def segments(self, job: Job) -> tuple[Any, list[SegmentOut]]:
        project = self._project(job)
        edits = self._edits(job)
        since = (job.started_at or 0) if job.task == "render" else 0
        rows = [SegmentOut(index=i, id=s.id, start=s.start, end=s.end, text=s.text, translation=s.translation,
                           speaker=s.speaker, voice=s.voice, audio=s.audio, metrics=s.metrics,
                           dub_start=s.dub_start, dub_end=s.dub_end, tempo=s.tempo, overflow=s.overflow,
                           changed=edits.get(str(i), -1) > since)
                for i, s in enumerate(project.segments)]
        return project, rows

    def patch_segment(self, job: Job, index: int, patch: SegmentPatch) -> SegmentOut:
        if job.status in ACTIVE:
            raise ApiError(409, "job_busy", "The job is still running; edit its lines once it is done.")
        project = self._project(job)
        if not 0 <= index < len(project.segments):
            raise ApiError(404, "segment_not_found", f"No segment {index} (the job has {len(project.segments)}).")
        changes = patch.model_dump(exclude_unset=True)
        if not changes:
            raise ApiError(422, "invalid_request", "Send at least one of text, translation, speaker, voice.")
        seg = project.segments[index]
        for key, value in changes.items():
            if key in ("text", "speaker") and not (value or "").strip():
                raise ApiError(422, "invalid_request", f"{key} cannot be empty.")
            setattr(seg, key, value)
        if "translation" in changes:
            from polydub.project import USER_TRANSLATION

            seg.mt_engine = USER_TRANSLATION
        if "voice" in changes:
            # A per-line voice: re-renders use it instead of the speaker's voice (empty clears it).
            if changes["voice"]:
                from polydub.errors import PolydubError
                from polydub.voice.registry import get_registry

                try:
                    seg.voice = get_registry().get_voice(changes["voice"]).id
                except PolydubError as exc:
                    raise ApiError(422, "unknown_voice", str(exc)) from None
                seg.metrics["voice_pinned"] = seg.voice
            else:
                seg.metrics.pop("voice_pinned", None)
        project.save(job.out_dir)
        edits = self._edits(job)
        edits[str(index)] = time.time()
        (self.settings.job_dir(job.id) / EDITS_FILE).write_text(json.dumps(edits))
        return next(s for s in self.segments(job)[1] if s.index == index)

    def render(self, job: Job) -> Job:
        if job.status in ACTIVE:
            raise ApiError(409, "job_busy", "The job is already queued or running.")
        self._project(job)
        self.store.enqueue(job.id, task="render", message="Queued to re-render changed lines", progress=0.0,
                           stage=None)
        self.runner.submit(job.id)
        return self.get(job.id)


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def _kind(name: str) -> str:
    suffix = Path(name).suffix.lower()
    if name.startswith("lines/"):
        return "line_audio"
    if suffix in MEDIA_SUFFIXES:
        return "media"
    if suffix in (".srt", ".vtt", ".ass"):
        return "subtitles"
    if name.startswith("report"):
        return "report"
    if name == "project.json":
        return "project"
    return "other"
