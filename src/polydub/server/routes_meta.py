"""GET /api/health, /api/languages, /api/voices."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

import polydub
from polydub.server.deps import require_token
from polydub.server.models import Health, Languages, Limits, Voices

public = APIRouter(prefix="/api", tags=["meta"])
router = APIRouter(prefix="/api", tags=["meta"], dependencies=[Depends(require_token)])
_cache: dict[str, tuple[float, Any]] = {}


def _cached(key: str, fn, ttl: float = 120.0):
    hit = _cache.get(key)
    if hit and time.monotonic() - hit[0] < ttl:
        return hit[1]
    value = fn()
    _cache[key] = (time.monotonic(), value)
    return value


def _plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {k: _plain(v) for k, v in dataclasses.asdict(obj).items()}
    if hasattr(obj, "model_dump"):
        return obj.model_dump()
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [_plain(v) for v in obj]
    return obj


_TIER_RANK = {"best": 4, "good": 3, "basic": 2, "draft": 1}


def _describe_translation() -> tuple[list[dict], str | None]:
    try:
        from polydub.translation.registry import TranslationRegistry
    except ImportError:
        return [], "The translation engine registry is not installed in this build."
    try:
        described = _plain(TranslationRegistry().describe())
    except Exception as exc:  # noqa: BLE001
        return [], f"Could not list translation engines: {exc}"
    if isinstance(described, dict):
        described = described.get("engines", [described])
    return [d for d in described if isinstance(d, dict)], None


def _languages() -> Languages:
    from polydub.languages import language_name

    engines, note = _describe_translation()
    pairs: list[dict] = []
    for eng in engines:
        if not eng.get("available", True):
            continue
        tiers = eng.get("tiers") or {}
        for pair in eng.get("pairs") or []:
            src, _, tgt = str(pair).partition("-")
            if src and tgt:
                pairs.append({"source": src, "target": tgt, "engine": eng.get("name"), "tier": tiers.get(pair)})
    src_langs: dict[str, dict] = {}
    tgt_langs: dict[str, dict] = {}
    for p in pairs:
        src_langs.setdefault(p["source"], {"code": p["source"], "name": language_name(p["source"])})
        entry = tgt_langs.setdefault(p["target"], {"code": p["target"], "name": language_name(p["target"]),
                                                   "tier": None, "engines": [], "sources": []})
        if p["engine"] not in entry["engines"]:
            entry["engines"].append(p["engine"])
        if p["source"] not in entry["sources"]:
            entry["sources"].append(p["source"])
        if _TIER_RANK.get(p["tier"] or "", 0) > _TIER_RANK.get(entry["tier"] or "", 0):
            entry["tier"] = p["tier"]
    info = [{k: e.get(k) for k in ("name", "available", "description", "licence", "install_hint")} for e in engines]
    if not pairs and note is None:
        note = "No translation engine is available; see the engines' install hints."
    return Languages(source=sorted(src_langs.values(), key=lambda d: d["name"]),
                     target=sorted(tgt_langs.values(), key=lambda d: d["name"]), pairs=pairs,
                     engines=info, note=note)


def _voices() -> Voices:
    try:
        from polydub.voice.registry import VoiceRegistry
    except ImportError:
        return Voices(voices=[], note="The voice registry is not installed in this build.")
    try:
        voices = [v for v in _plain(VoiceRegistry().voices()) if isinstance(v, dict)]
        for v in voices:  # local file paths are of no use to clients
            if isinstance(v.get("extra"), dict):
                v["extra"] = {k: x for k, x in v["extra"].items() if k != "path"}
        return Voices(voices=voices)
    except Exception as exc:  # noqa: BLE001
        return Voices(voices=[], note=f"Could not list voices: {exc}")


def _runtime(service) -> dict[str, Any]:
    """Database, broker and worker state (blocking calls: run in a thread)."""
    store, settings, runner = service.store, service.settings, service.runner
    error = store.ping()
    database = {"ok": error is None, "kind": store.dialect, "revision": store.revision() if error is None else None,
                "error": error}
    runtime = runner.status() if hasattr(runner, "status") else {"runner": "embedded", "broker": None}
    out: dict[str, Any] = {"database": database, "runner": runtime.get("runner", "embedded"),
                           "broker": runtime.get("broker"), "queue_length": 0, "running": 0,
                           "worker_status": {"alive": 0, "busy": 0, "lost": 0}}
    if error is not None:
        return out
    counts = store.counts()
    out["queue_length"], out["running"] = counts["queued"], counts["running"]
    now = time.time()
    for w in store.workers(forget_before=now - 86400):
        if w.heartbeat_at < now - 3 * settings.heartbeat_s:
            out["worker_status"]["lost"] += 1
        else:
            out["worker_status"]["alive"] += 1
            out["worker_status"]["busy"] += 1 if w.job_id else 0
    return out


@public.get("/health", response_model=Health, summary="Liveness: database, broker, workers, queue, engines",
            responses={503: {"model": Health, "description": "The job database is unreachable"}})
async def health(request: Request):
    service = request.app.state.service
    runtime = await run_in_threadpool(_runtime, service)
    langs = await run_in_threadpool(_cached, "languages", _languages)
    voices = await run_in_threadpool(_cached, _voices_key(), _voices)
    engines = {"translation": sorted({e for t in langs.target for e in t.get("engines", [])}),
               "tts": sorted({str(v.get("engine")) for v in voices.voices if v.get("engine")})}
    celery = runtime["runner"] == "celery"
    status = "ok"
    if not runtime["database"]["ok"]:
        status = "down"
    elif celery and (not (runtime["broker"] or {}).get("ok") or not runtime["worker_status"]["alive"]):
        status = "degraded"
    body = Health(status=status, version=polydub.__version__,
                  workers=runtime["worker_status"]["alive"] if celery else service.settings.workers,
                  queue_length=runtime["queue_length"], running=runtime["running"], engines=engines,
                  auth=bool(service.settings.token), runner=runtime["runner"], database=runtime["database"],
                  broker=runtime["broker"], worker_status=runtime["worker_status"],
                  live_sessions=request.app.state.live.count)
    if status == "down":
        return JSONResponse(body.model_dump(), status_code=503)
    return body


@router.get("/languages", response_model=Languages, summary="Source/target languages and engines per pair")
async def languages() -> Languages:
    return await run_in_threadpool(_cached, "languages", _languages)


def _voices_key() -> str:
    """Evolved voices come and go with the profiles database: its change time is part of the key."""
    from polydub.paths import profiles_db

    try:
        return f"voices:{profiles_db().stat().st_mtime_ns}"
    except OSError:
        return "voices"


@router.get("/voices", response_model=Voices, summary="Installed TTS voices (evolved ones included) and saved "
                                                     "voice profiles")
async def voices(request: Request) -> Voices:
    from polydub.server.routes_live import profile_summaries

    listed = await run_in_threadpool(_cached, _voices_key(), _voices)
    profiles = await run_in_threadpool(profile_summaries, request.app.state.live.engines)
    return listed.model_copy(update={"profiles": profiles})


@router.get("/limits", response_model=Limits, summary="Limits on every text, list, number and upload field")
def get_limits(request: Request) -> Limits:
    from polydub import limits

    values = limits.as_dict()
    values["upload_bytes"] = request.app.state.settings.max_upload_bytes
    return Limits(limits=values)
