"""Stage functions of the Dubber; each reads and updates the project and skips unchanged work."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from polydub.audio import Audio
from polydub.cache import value_key
from polydub.errors import UnsupportedLanguageError
from polydub.media.tracks import output_plan, plan_notes
from polydub.mix.mixer import MixPolicy
from polydub.mix.streaming import LineFile, mix_file, speech_loudness
from polydub.pipeline.background import BackgroundSeparation
from polydub.pipeline.voices import assign_voices
from polydub.project import Project
from polydub.render.mux import mux, output_suffix
from polydub.render.subtitles import write_subtitles
from polydub.speech.asr import WhisperRecognizer
from polydub.speech.segmentation import LinePolicy, words_to_lines
from polydub.timing.fit import TimingPolicy
from polydub.timing.lines import PREDICTION_SLACK_S, line_key, line_windows, predicted_overflow, render_line

if TYPE_CHECKING:
    from polydub.pipeline.dubber import Dubber


def _voice_registry(opts):
    """The process-wide registry, seen through the job's licence restriction."""
    from polydub.voice.registry import get_registry

    return get_registry().restricted(opts.commercial_safe)


def _translation_registry():
    from polydub.translation.registry import TranslationRegistry

    return TranslationRegistry()


def check_target_supported(opts) -> None:
    """Fail before any heavy work when nothing can speak the target language, or when an engine or
    voice asked for by name is not allowed (--commercial-safe)."""
    registry = _voice_registry(opts)
    registry.default_voice(opts.target_language, opts.tts_engine)
    registry.check_requested(opts.tts_engine, opts.voices.values())


def transcribe(dubber: Dubber, project: Project) -> None:
    opts = dubber.options
    # the media key: the input, and which of its audio tracks (only when not the first: old caches hold)
    source = project.stage_keys.get("media") or project.input_key
    key = value_key(source, opts.asr_model, opts.source_language, opts.max_line_seconds)
    if project.stage_keys.get("transcribe") == key and project.segments:
        return
    recognizer = WhisperRecognizer(opts.asr_model)
    transcript = recognizer.transcribe(
        dubber.audio16k, opts.source_language,
        progress=lambda f: dubber.progress("transcribe", f, "transcribing"))
    project.source_language = transcript.language
    project.segments = words_to_lines(transcript.words, LinePolicy(max_seconds=opts.max_line_seconds))
    project.engines["asr"] = recognizer.name
    project.stage_keys["transcribe"] = key
    for later in ("speakers", "translate"):
        project.stage_keys.pop(later, None)


def assign_speakers(dubber: Dubber, project: Project) -> None:
    opts = dubber.options
    key = value_key(project.stage_keys.get("transcribe"), opts.diarize, opts.num_speakers)
    if project.stage_keys.get("speakers") == key:
        return
    if opts.diarize:
        from polydub.speakers.diarize import diarize

        result = diarize(dubber.audio16k, project.segments, num_speakers=opts.num_speakers)
        project.segments = result.segments
        project.speakers = {spk: {"seconds": round(info.seconds, 2)} for spk, info in result.speakers.items()}
        project.engines["speakers"] = getattr(result, "embedder", "d-vector")
    else:
        for seg in project.segments:
            seg.speaker = "S1"
        project.speakers = {"S1": {"seconds": round(sum(s.duration for s in project.segments), 2)}}
    project.stage_keys["speakers"] = key


def _whisper_translate(dubber: Dubber, project: Project, lines: list[int]) -> list[str]:
    """Speech translation to English straight from the audio: the fallback when no text engine fits."""
    recognizer = WhisperRecognizer(dubber.options.asr_model)
    out = []
    for i in lines:
        seg = project.segments[i]
        clip = dubber.audio16k.slice(max(0.0, seg.start - 0.2), seg.end + 0.2)
        words = recognizer.transcribe(clip, project.source_language, task="translate").words
        out.append("".join(w.text for w in words).strip())
    return out


TRANSLATE_BATCH = 32  # lines per call once there are more than twice as many (long inputs)


def _translate_in_batches(dubber: Dubber, registry, texts: list[str], src: str, tgt: str,
                          prefer: str | None):
    """One document for a short input (context across all lines); batches with progress for a long one."""
    if len(texts) <= 2 * TRANSLATE_BATCH:
        return registry.translate_document(texts, src, tgt, prefer=prefer)
    done = None
    for k in range(0, len(texts), TRANSLATE_BATCH):
        dubber.check_cancel()
        part = registry.translate_document(texts[k:k + TRANSLATE_BATCH], src, tgt, prefer=prefer)
        if done is None:
            done = part
        else:
            done.extend(part)
        dubber.progress("translate", len(done.texts) / len(texts), f"line {len(done.texts)}/{len(texts)}")
    return done


def translate(dubber: Dubber, project: Project) -> None:
    opts = dubber.options
    src, tgt = project.source_language or "en", opts.target_language
    # Lines whose text is unchanged since their translation keep it (user edits included).
    todo = [i for i, s in enumerate(project.segments)
            if not s.translation or s.metrics.get("translated_from") != s.text
            or s.metrics.get("translated_to") != tgt]
    line_notes: dict[int, str] = {}
    if src == tgt:
        name, tier = "copy", "exact"
        translations = [project.segments[i].text for i in todo]
        engines = [name] * len(todo)
    else:
        registry = _translation_registry()
        try:
            done = _translate_in_batches(dubber, registry, [project.segments[i].text for i in todo], src, tgt,
                                        opts.mt_engine)
            name, tier, translations, engines, line_notes = done.engine, done.tier, done.texts, done.engines, \
                done.line_notes
            _warn(project, done.notes)
        except UnsupportedLanguageError as exc:
            if tgt != "en" or opts.mt_engine:
                raise
            # Last resort for X->en: Whisper translates the speech itself (a draft: it repeats and
            # invents, so the quality stage checks these lines like any draft).
            name, tier = "whisper-translate", "draft"
            translations = _whisper_translate(dubber, project, todo)
            engines = [name] * len(todo)
            _warn(project, [f"no text translation engine for {src}->en ({exc.message}); "
                            "used Whisper speech translation (draft)"])
    for n, (i, text, engine) in enumerate(zip(todo, translations, engines, strict=True)):
        seg = project.segments[i]
        seg.translation = text
        seg.mt_engine = engine
        seg.metrics["translated_from"] = seg.text
        seg.metrics["translated_to"] = tgt
        if n in line_notes:  # a fallback engine, or a line no engine got right
            seg.metrics["mt_note"] = line_notes[n]
        else:
            seg.metrics.pop("mt_note", None)
    if todo or "mt" not in project.engines:
        project.engines["mt"] = {"name": name, "tier": tier}


def _warn(project: Project, notes: list[str]) -> None:
    for note in notes:
        if note not in project.warnings:
            project.warnings.append(note)


def synthesize(dubber: Dubber, project: Project) -> None:
    opts = dubber.options
    registry = _voice_registry(opts)
    _warn(project, registry.fallback_notes(opts.target_language))
    policy = TimingPolicy(min_tempo=opts.min_tempo, max_tempo=opts.max_tempo)
    voices = assign_voices(dubber, project, registry)
    windows = line_windows(project.segments, dubber.media_duration, policy)
    total = len(project.segments)
    rates = dubber.speech_rates
    for n, (seg, window) in enumerate(zip(project.segments, windows, strict=True)):
        dubber.check_cancel()
        pinned = seg.metrics.get("voice_pinned")  # set by a per-line edit or a quality repair
        voice = registry.get_voice(pinned) if pinned else voices[seg.speaker]
        key = line_key(seg, window, voice.id, policy)
        if seg.audio_key == key and seg.audio and (dubber.out_dir / seg.audio).exists():
            continue
        if opts.quality_checks and _cannot_fit(registry, voice, seg, window, policy):
            # The quality stage repairs such a line anyway; it picks a shorter text or a faster
            # voice by prediction first, so the line is synthesized once, there.
            seg.voice, seg.tts_engine, seg.audio, seg.audio_key = voice.id, voice.engine, None, None
            seg.metrics["render_deferred"] = True
            continue
        render_line(seg, window, voice, registry, policy, dubber.out_dir, rates)
        seg.metrics.pop("render_deferred", None)
        seg.audio_key = key
        dubber.progress("synthesize", (n + 1) / total, f"line {n + 1}/{total}")
    engines = sorted({s.tts_engine for s in project.segments if s.tts_engine})
    project.engines["tts"] = ", ".join(engines)


def _warn(project: Project, messages: list[str]) -> None:
    for message in messages:
        if message not in project.warnings:
            project.warnings.append(message)


def record_licences(dubber: Dubber, project: Project) -> None:
    """The licence of every voice the dub used; a warning for each non-commercial one."""
    from polydub.voice.licences import licence_summary, non_commercial_warnings

    opts = dubber.options
    used = {spk: info.get("voice") for spk, info in project.speakers.items() if info.get("voice")}
    for seg in project.segments:  # a line voiced by hand in the studio counts too
        if seg.voice and seg.voice != used.get(seg.speaker):
            used[f"{seg.speaker} (line {seg.id})"] = seg.voice
    project.licences = licence_summary(_voice_registry(opts), used, opts.commercial_safe)
    _warn(project, non_commercial_warnings(project.licences))


def _cannot_fit(registry, voice, seg, window, policy: TimingPolicy) -> bool:
    over = predicted_overflow(registry, voice, seg.translation or "", window, policy)
    return over is not None and over > PREDICTION_SLACK_S


DUB_SIMILARITY_MAX_S = 300.0  # of each speaker's dubbed speech: the mean d-vector is stable long before


def speaker_dub_similarity(dubber: Dubber, project: Project) -> None:
    """Cosine between each speaker's original speech and their dubbed speech, up to
    DUB_SIMILARITY_MAX_S of it spread over the whole input (report field)."""
    from polydub.speakers.embedding import cosine, default_embedder
    from polydub.speakers.traits import speaker_embeddings

    embedder = default_embedder()
    originals = speaker_embeddings(dubber.work, dubber.audio16k, project, embedder)
    for spk, original in originals.items():
        lines = [s for s in project.segments if s.speaker == spk and s.audio]
        if not lines:
            continue
        dubbed_s = sum((s.dub_end or s.end) - (s.dub_start or s.start) for s in lines)
        step = max(1, int(np.ceil(dubbed_s / DUB_SIMILARITY_MAX_S)))
        parts = [Audio.read(dubber.out_dir / s.audio).mono().resample(16000).samples for s in lines[::step]]
        dubbed = embedder.embed(Audio(np.concatenate(parts), 16000))
        project.speakers[spk]["dub_similarity"] = round(cosine(original, dubbed), 3)


def check_quality(dubber: Dubber, project: Project) -> None:
    """Measure every dubbed line (timing, intelligibility, voice, translation) and repair what fails."""
    from polydub.quality.loop import assess_and_repair

    assess_and_repair(dubber, project)


def write_html_report(report: dict, out_dir) -> None:
    from polydub.quality.html_report import write_html_report as write_html

    write_html(report, out_dir)


def start_separation(dubber: Dubber, project: Project) -> BackgroundSeparation | None:
    """Begin separating voice from background (cached by input) while later stages run."""
    if not dubber.options.separation:
        return None
    cached = project.stage_keys.get("separation") == project.input_key
    return BackgroundSeparation(dubber.original_wav, dubber.work, cached, cancel=dubber.cancel).start()


def _background(dubber: Dubber, project: Project):
    job = dubber.separation or start_separation(dubber, project)
    if job is None:
        return None
    done = job.result(waiting=lambda f: dubber.progress("mix", 0.0, f"waiting for the background "
                                                                    f"separation ({100 * f:.0f} %)"))
    if done.warning:
        project.warnings.append(done.warning)
    if done.background is not None:
        project.stage_keys["separation"] = project.input_key
        project.engines["separation"] = done.engine
    return done.background


def mix(dubber: Dubber, project: Project):
    """Background (separated, or the ducked original) plus the dubbed lines, streamed from and to
    files block by block (polydub.mix.streaming), so memory stays flat for long inputs."""
    spans = [(s.start, s.end) for s in project.segments]
    target = speech_loudness(dubber.original_wav, spans)
    lines = [LineFile(seg.dub_start or seg.start, dubber.out_dir / seg.audio) for seg in project.segments if seg.audio]
    policy = MixPolicy(original_voice_db=dubber.options.original_voice_db)
    background = _background(dubber, project)
    return mix_file(dubber.original_wav, lines, spans, policy, dubber.work / "dub_track.wav",
                    background_wav=background, target_lufs=target,
                    progress=lambda f: dubber.progress("mix", f, "mixing"))


def render(dubber: Dubber, project: Project, dub_wav, lips_video=None) -> dict[str, str]:
    out = dubber.out_dir
    media = project.media
    stem = f"{_safe_stem(project.input)}.{project.target_language}"
    media_path = out / f"{stem}{output_suffix(media)}"

    def writing(done: float) -> None:
        dubber.check_cancel()  # raising here stops ffmpeg and removes its partial file
        dubber.progress("render", 0.95 * done, f"writing {media_path.name} ({100 * done:.0f} %)")

    mux(media, dub_wav, media_path, project.target_language, project.source_language,
        keep_original=dubber.options.keep_original, video_path=lips_video, progress=writing)
    _warn(project, plan_notes(output_plan(media, media_path.suffix, dubber.options.keep_original), media_path.suffix))
    source = write_subtitles(project.segments, out / "source", use_translation=False)
    target = write_subtitles(project.segments, out / "target", use_translation=True)
    return {"media": media_path.name, "subtitles_source": source["srt"].name,
            "subtitles_target": target["srt"].name, "subtitles_source_vtt": source["vtt"].name,
            "subtitles_target_vtt": target["vtt"].name, "project": "project.json"}


def _safe_stem(path: str) -> str:
    from pathlib import Path

    stem = Path(path).stem
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in stem)[:80] or "dub"
