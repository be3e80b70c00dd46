"""The speakers of a finished dub: who they are, the voice each speaks with, "match again" and
"save as profile" (cloning a speaker is POST /api/voices/clone with the job id and speaker)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from polydub import limits
from polydub.server.deps import get_service, require_token
from polydub.server.errors import ApiError
from polydub.server.models import ErrorResponse, SegmentPatch
from polydub.server.routes_voices import ProfileOut, _profile_out, _store
from polydub.server.services import JobService

ERRORS = {c: {"model": ErrorResponse} for c in (400, 401, 404, 409, 422)}
router = APIRouter(prefix="/api/jobs", tags=["speakers"], dependencies=[Depends(require_token)], responses=ERRORS)


class SpeakerOut(BaseModel):
    speaker: str
    voice: str | None = None
    voice_source: str | None = Field(None, description="user, profile, matched, evolved or default")
    profile: str | None = None
    seconds: float | None = None
    lines: int = 0
    details: dict[str, Any] = Field(default_factory=dict, description="matching and cloning figures")


class SpeakerList(BaseModel):
    speakers: list[SpeakerOut]
    target_language: str | None = None


class Rematch(BaseModel):
    speaker: str
    voice: str
    similarity: float
    ranking: list[tuple[str, float]]
    lines: int


class SaveProfile(BaseModel):
    name: limits.Name


def _project(service: JobService, job_id: str):
    from polydub.project import Project

    job = service.get(job_id)
    if job.status in ("queued", "running"):
        raise ApiError(409, "job_busy", "The job is still running; try again once it is done.")
    project = Project.load_or_none(job.out_dir)
    if project is None:
        raise ApiError(409, "no_project", "This job has no speakers yet.")
    return job, project


def _job_audio(job) -> Path:
    """The job's decoded speech (work/asr16k.wav), which "match again" and "save as profile" need."""
    path = Path(job.out_dir) / "work" / "asr16k.wav"
    if not path.is_file():
        raise ApiError(409, "audio_gone", "This job's decoded audio is no longer on disk (the job failed early "
                                          "or its work files were removed); dub the file again.")
    return path


def _lines(project, speaker: str) -> list[int]:
    lines = [i for i, s in enumerate(project.segments) if s.speaker == speaker]
    if not lines:
        raise ApiError(404, "speaker_not_found", f"The job has no speaker {speaker!r}.")
    return lines


def _follow_rename(project, voice: str, old: str, new: str, language: str) -> str:
    """Lines that speak with the renamed profile's evolved voice take its new id."""
    from polydub.speakers.profiles import evolved_voice_id

    before, after = evolved_voice_id(old, language), evolved_voice_id(new, language)
    for seg in project.segments:
        if seg.voice == before:
            seg.voice = after
        if seg.metrics.get("voice_pinned") == before:
            seg.metrics["voice_pinned"] = after
    for info in project.speakers.values():
        if isinstance(info, dict) and info.get("voice") == before:
            info["voice"] = after
    return after if voice == before else voice


@router.get("/{job_id}/speakers", response_model=SpeakerList, summary="Speakers and the voice each speaks with")
def list_speakers(job_id: str, service: JobService = Depends(get_service)) -> SpeakerList:
    _job, project = _project(service, job_id)
    out = []
    for spk in sorted({s.speaker for s in project.segments}):
        info = dict(project.speakers.get(spk) or {})
        lines = [s for s in project.segments if s.speaker == spk]
        voice = next((s.voice for s in lines if s.voice), None) or info.get("voice")
        keep = ("match_similarity", "default_voice_similarity", "gender_guess", "dub_similarity", "clone",
                "similarity_stock", "similarity_evolved", "match_ranking", "profile_score")
        out.append(SpeakerOut(speaker=spk, voice=voice, voice_source=info.get("voice_source"),
                              profile=info.get("profile"), seconds=info.get("seconds"), lines=len(lines),
                              details={k: info[k] for k in keep if k in info}))
    return SpeakerList(speakers=out, target_language=project.target_language)


@router.post("/{job_id}/speakers/{speaker}/match", response_model=Rematch,
             summary="Match the speaker to the closest stock voice again and use it for their lines")
def match_again(job_id: str, speaker: str, service: JobService = Depends(get_service)) -> Rematch:
    from polydub.audio import Audio
    from polydub.speakers.embedding import default_embedder
    from polydub.speakers.traits import speaker_audio
    from polydub.voice.matching import candidate_voices, choose_voices
    from polydub.voice.registry import get_registry

    job, project = _project(service, job_id)
    lines = _lines(project, speaker)
    registry = get_registry()
    embedder = default_embedder()
    speech = speaker_audio(Audio.read(_job_audio(job)), project.segments, speaker)
    if speech.duration < 0.5:
        raise ApiError(422, "no_speech", f"Speaker {speaker} has too little speech to match a voice to.")
    language = project.target_language or job.options.get("target_language")
    taken = {(project.speakers.get(s) or {}).get("voice") for s in project.speakers if s != speaker}
    candidates = [v for v in candidate_voices(registry, language) if v.id not in taken]
    gender = (project.speakers.get(speaker) or {}).get("gender_guess")
    pick = choose_voices({speaker: embedder.embed(speech)}, candidates, registry, embedder,
                         registry.default_voice(language), {speaker: gender})[speaker]
    for index in lines:
        service.patch_segment(job, index, SegmentPatch(voice=pick.voice.id))
    return Rematch(speaker=speaker, voice=pick.voice.id, similarity=round(pick.similarity, 3),
                   ranking=pick.ranking, lines=len(lines))


@router.post("/{job_id}/speakers/{speaker}/profile", response_model=ProfileOut,
             summary="Save the speaker as a voice profile (keeps their current voice for this language)")
def save_profile(job_id: str, speaker: str, body: SaveProfile,
                 service: JobService = Depends(get_service)) -> ProfileOut:
    from polydub.pipeline.cloning import job_speaker_sample, speech_of
    from polydub.speakers.embedding import default_embedder

    job, project = _project(service, job_id)
    lines = _lines(project, speaker)
    name = body.name.strip()
    store = _store()
    try:
        current = (project.speakers.get(speaker) or {}).get("profile")
        if current and current != name and store.get(current) is not None and store.get(name) is None:
            profile = store.rename(current, name)  # a profile made for this speaker (e.g. by cloning)
        else:
            _job_audio(job)
            sample = job_speaker_sample(Path(job.out_dir), speaker, Path(job.out_dir) / "work" / "profile-samples")
            embedder = default_embedder()
            profile = store.add(name, [embedder.embed(speech_of([sample]))], samples=[sample], embedder=embedder.name)
        voice = next((project.segments[i].voice for i in lines if project.segments[i].voice), None)
        if voice and current and project.target_language:
            voice = _follow_rename(project, voice, current, name, project.target_language)
        if voice and project.target_language:
            profile = store.set_voice(name, project.target_language, voice)
        info = project.speakers.setdefault(speaker, {})
        info["profile"] = name
        project.save(job.out_dir)
        return _profile_out(store, profile)
    except ValueError as exc:
        raise ApiError(422, "invalid_request", str(exc)) from None
    finally:
        store.close()


class Waveform(BaseModel):
    track: str
    duration: float
    peaks: list[float] = Field(description="max |sample| per bucket, 0..1, evenly over the duration")


@router.get("/{job_id}/waveform", response_model=Waveform, summary="Peaks of the original or dubbed sound")
def waveform(job_id: str, track: str = "original", points: int = 800,
             service: JobService = Depends(get_service)) -> Waveform:
    import numpy as np
    import soundfile as sf

    job = service.get(job_id)
    files = {"original": "original.wav", "dubbed": "dub_track.wav"}
    if track not in files:
        raise ApiError(422, "invalid_request", "track is 'original' or 'dubbed'.")
    path = Path(job.out_dir) / "work" / files[track]
    if not path.is_file():
        raise ApiError(404, "file_not_found", f"This job has no {track} sound track (yet).")
    points = max(50, min(int(points), 4000))
    peaks = np.zeros(points, np.float32)
    with sf.SoundFile(str(path)) as f:  # block by block: a long job's track never sits in memory
        rate, frames = f.samplerate, f.frames
        edges = np.linspace(0, frames, points + 1).astype(np.int64)
        done = 0
        for block in f.blocks(blocksize=rate * 30, dtype="float32", always_2d=True):
            loud = np.abs(block).max(axis=1)
            # the buckets this block touches, and where each starts inside the block
            first, last = (np.searchsorted(edges, [done, done + len(loud) - 1], side="right") - 1).clip(0, points - 1)
            starts = (edges[first:last + 1] - done).clip(0, len(loud) - 1)
            starts[0] = 0
            peaks[first:last + 1] = np.maximum(peaks[first:last + 1], np.maximum.reduceat(loud, starts))
            done += len(loud)
    top = float(peaks.max()) or 1.0
    return Waveform(track=track, duration=frames / rate, peaks=[round(float(p) / top, 3) for p in peaks])
