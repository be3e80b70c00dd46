"""Voice profiles and cloned voices: /api/profiles (enrol, rename, delete, voice per language,
preview), POST /api/voices/clone (a background job with progress events), GET /api/voices/preview.

Profiles live in the same database as the CLI's (`polydub voices`), so a voice cloned here is the
one every later dub, live session and avatar of that person uses."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from polydub import limits
from polydub.server.deps import get_service, require_token
from polydub.server.errors import ApiError
from polydub.server.models import ErrorResponse
from polydub.server.services import JobService

ERRORS = {c: {"model": ErrorResponse} for c in (400, 401, 404, 409, 413, 415, 422)}
router = APIRouter(prefix="/api", tags=["voices"], dependencies=[Depends(require_token)], responses=ERRORS)
MAX_SAMPLE_MB = 200


class ProfileVoice(BaseModel):
    voice: str
    source: str = Field(description="evolved (a clone of this person) or stock (an installed voice)")
    clone: dict[str, Any] | None = Field(None, description="the voice search's report, for evolved voices")


class ProfileOut(BaseModel):
    name: str
    samples: int
    embedder: str
    updated: str | None = None
    voices: dict[str, ProfileVoice] = Field(default_factory=dict, description="language -> voice")


class ProfileList(BaseModel):
    profiles: list[ProfileOut]
    clone_languages: list[str] = Field(default_factory=list, description="languages a cloned voice can speak")


class ProfilePatch(BaseModel):
    name: limits.Name


class VoiceChoice(BaseModel):
    voice: limits.VoiceId


class CloneRequest(BaseModel):
    language: limits.LanguageCode = Field(examples=["es"])
    profile: limits.Name | None = Field(None, description="profile to clone; created from the job's speaker if needed")
    job_id: limits.JobId | None = Field(None, description="a finished dub whose speaker's speech to clone")
    speaker: limits.Name | None = Field(None, examples=["S1"])
    budget_s: float = Field(60.0, ge=5, le=1800, description="search time in seconds (more: closer voice)")
    steps: int | None = Field(None, ge=4, le=2000, description="stop after this many syntheses")


class CloneJob(BaseModel):
    id: str
    status: str
    profile: str
    language: str


def _store():
    from polydub.speakers.profiles import ProfileStore

    return ProfileStore()


def _profile_out(store, profile) -> ProfileOut:
    evolved = {e.language: e for e in store.evolved(profile.name)}
    voices = {}
    for lang, vid in sorted(profile.voices.items()):
        ev = evolved.get(lang)
        is_clone = ev is not None and ev.voice_id == vid
        voices[lang] = ProfileVoice(voice=vid, source="evolved" if is_clone else "stock",
                                    clone=ev.info if is_clone else None)
    return ProfileOut(name=profile.name, samples=len(profile.samples), embedder=profile.embedder,
                      updated=profile.updated.isoformat() if profile.updated else None, voices=voices)


def _need(store, name: str):
    profile = store.get(name)
    if profile is None:
        raise ApiError(404, "profile_not_found", f"No voice profile named '{name}'.")
    return profile


def _language(code: str) -> str:
    from polydub.errors import PolydubError
    from polydub.languages import normalize_language

    try:
        return normalize_language(code)
    except PolydubError as exc:
        raise ApiError(422, "invalid_request", str(exc)) from None


def clone_languages() -> list[str]:
    from polydub.voice.evolve import PROBES

    return sorted(PROBES)


@router.get("/profiles", response_model=ProfileList, summary="Voice profiles and their voice per language")
def list_profiles() -> ProfileList:
    store = _store()
    try:
        return ProfileList(profiles=[_profile_out(store, p) for p in store.list()], clone_languages=clone_languages())
    finally:
        store.close()


@router.post("/profiles", status_code=201, response_model=ProfileOut,
             summary="Create a profile from a recording (or add one to an existing profile)",
             openapi_extra={"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                 "type": "object", "required": ["name", "file"], "properties": {
                     "name": {"type": "string", "minLength": 1, "maxLength": limits.NAME_CHARS},
                     "file": {"type": "string", "format": "binary",
                              "description": "audio or video of the person speaking (a browser recording works)"}}}}}}})
async def enrol(request: Request, service: JobService = Depends(get_service)) -> ProfileOut:
    from polydub.server.upload import receive_upload, sniff_media

    folder = service.settings.data_dir / "profile-uploads" / uuid.uuid4().hex
    try:
        path, _name, fields = await receive_upload(request, folder, MAX_SAMPLE_MB * 1024 * 1024)
        name = (fields.get("name") or "").strip()
        if not name:
            raise ApiError(422, "invalid_request", "Give the profile a name.")
        if len(name) > limits.NAME_CHARS:
            raise ApiError(422, "invalid_request", f"A profile name has at most {limits.NAME_CHARS} characters.")
        await run_in_threadpool(sniff_media, path)
        return await run_in_threadpool(_enrol, name, path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # the store keeps its own copy of the sample


def _enrol(name: str, path: Path) -> ProfileOut:
    from polydub.errors import PolydubError
    from polydub.pipeline.cloning import speech_of
    from polydub.speakers.embedding import default_embedder

    try:
        speech = speech_of([path])
    except PolydubError as exc:
        raise ApiError(415, "unsupported_media", str(exc)) from None
    if speech.duration < 1.0:
        raise ApiError(422, "no_speech", f"Only {speech.duration:.1f} s of speech was found in the recording; "
                                         "record the person speaking for 10 seconds or more.")
    embedder = default_embedder()
    store = _store()
    try:
        profile = store.add(name, [embedder.embed(speech)], samples=[path], embedder=embedder.name)
        return _profile_out(store, profile)
    except ValueError as exc:
        raise ApiError(422, "invalid_request", str(exc)) from None
    finally:
        store.close()


@router.patch("/profiles/{name}", response_model=ProfileOut, summary="Rename a profile")
def rename_profile(name: str, patch: ProfilePatch) -> ProfileOut:
    store = _store()
    try:
        _need(store, name)
        try:
            return _profile_out(store, store.rename(name, patch.name.strip()))
        except ValueError as exc:
            raise ApiError(409 if "exists" in str(exc) else 422, "invalid_request", str(exc)) from None
    finally:
        store.close()


@router.delete("/profiles/{name}", status_code=204, response_class=Response,
               summary="Delete a profile, its samples and its evolved voices")
def delete_profile(name: str):
    store = _store()
    try:
        _need(store, name)
        store.remove(name)
    finally:
        store.close()
    return Response(status_code=204)


@router.put("/profiles/{name}/voices/{language}", response_model=ProfileOut,
            summary="Choose the voice a profile speaks a language with")
def set_profile_voice(name: str, language: str, choice: VoiceChoice) -> ProfileOut:
    from polydub.errors import PolydubError
    from polydub.voice.registry import get_registry

    store = _store()
    try:
        _need(store, name)
        try:
            voice = get_registry().get_voice(choice.voice)
        except PolydubError as exc:
            raise ApiError(422, "unknown_voice", str(exc)) from None
        return _profile_out(store, store.set_voice(name, _language(language), voice.id))
    finally:
        store.close()


@router.delete("/profiles/{name}/voices/{language}", response_model=ProfileOut,
               summary="Forget a profile's voice for a language (deletes its evolved voice)")
def forget_profile_voice(name: str, language: str) -> ProfileOut:
    store = _store()
    try:
        profile = _need(store, name)
        language = _language(language)
        if not store.remove_evolved(name, language) and language in profile.voices:
            store.forget_voice(name, language)
        return _profile_out(store, _need(store, name))
    finally:
        store.close()


def _wav(audio) -> Response:
    with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
        audio.write(tmp.name)
        data = Path(tmp.name).read_bytes()
    return Response(data, media_type="audio/wav")


def _speak(voice_id: str, text: str | None) -> Response:
    from polydub.errors import PolydubError
    from polydub.voice.matching import PROBE_TEXT
    from polydub.voice.registry import get_registry

    registry = get_registry()
    try:
        voice = registry.get_voice(voice_id)
        text = (text or "").strip() or PROBE_TEXT.get(voice.language, PROBE_TEXT["en"])
        return _wav(registry.synthesize(text, voice))
    except PolydubError as exc:
        raise ApiError(422, "unknown_voice", str(exc)) from None


@router.get("/profiles/{name}/preview", summary="Speak a text with the profile's voice for a language (WAV)",
            response_class=Response, responses={200: {"content": {"audio/wav": {}}}})
def preview_profile(name: str, lang: limits.LanguageCode, text: limits.PreviewText | None = None):
    from polydub.pipeline.cloning import matched_voice

    store = _store()
    try:
        _need(store, name)
        voice = matched_voice(store, name, _language(lang))
    finally:
        store.close()
    if voice is None:
        raise ApiError(422, "unsupported_language", f"No installed voice speaks {lang!r}.")
    return _speak(voice, text)


@router.get("/voices/preview", summary="Speak a text with any voice (WAV)", response_class=Response,
            responses={200: {"content": {"audio/wav": {}}}})
def preview_voice(voice: limits.VoiceId, text: limits.PreviewText | None = None):
    return _speak(voice, text)


@router.post("/voices/clone", status_code=202, response_model=CloneJob,
             summary="Evolve a voice like a person's (a job: follow it with /api/jobs/{id}/events)")
def clone_voice(req: CloneRequest, service: JobService = Depends(get_service)) -> CloneJob:
    language = _language(req.language)
    if language not in clone_languages():
        raise ApiError(422, "unsupported_language", f"A cloned voice cannot speak {language!r}; cloning works for "
                                                    f"{', '.join(clone_languages())}.")
    options: dict[str, Any] = {"language": language, "budget_s": req.budget_s, "steps": req.steps}
    store = _store()
    try:
        if req.job_id:
            source, name = _job_speaker(service, req, store)
            options.update(source_dir=source, speaker=req.speaker)
            input_path = source
        else:
            if not req.profile:
                raise ApiError(422, "invalid_request", "Name the profile to clone, or a job_id and speaker.")
            profile = _need(store, req.profile)
            if not profile.samples:
                raise ApiError(409, "no_samples", f"Profile '{req.profile}' holds no recordings; add one first.")
            name, input_path = profile.name, str(profile.samples[0])
    finally:
        store.close()
    options["profile"] = name
    job = service.create_job("clone", input_name=f"voice clone: {name} ({language})", input_path=input_path,
                             options=options)
    return CloneJob(id=job.id, status=job.status, profile=name, language=language)


def _job_speaker(service: JobService, req: CloneRequest, store) -> tuple[str, str]:
    from polydub.project import Project
    from polydub.speakers.profiles import check_name

    job = service.get(req.job_id)
    project = Project.load_or_none(job.out_dir)
    if project is None or job.status in ("queued", "running"):
        raise ApiError(409, "job_busy", "Clone a speaker once the job is done.")
    if not req.speaker or not any(s.speaker == req.speaker for s in project.segments):
        raise ApiError(404, "speaker_not_found", f"The job has no speaker {req.speaker!r}.")
    stem = "".join(c if c.isalnum() or c in " -_." else "_" for c in Path(job.input_name).stem)[:60]
    name = req.profile or project.speakers.get(req.speaker, {}).get("profile") or f"{stem} {req.speaker}"
    try:
        check_name(name)
    except ValueError as exc:
        raise ApiError(422, "invalid_request", str(exc)) from None
    return job.out_dir, name
