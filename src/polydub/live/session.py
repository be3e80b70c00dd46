"""A live dubbing session: 16-bit PCM in, events out (transcript, translation, dubbed audio, metrics).

`feed()` runs the VAD and the segmenter in the caller's thread (≈ 0.3 % of real time); each
utterance then goes to the session's worker thread: recognition → translation → speaker and voice →
synthesis clause by clause, each clause sent as soon as it is ready. When speech pauses for
`speculative_pause_s` the worker starts on the utterance while the segmenter waits for the full
`end_pause_s`; nothing is sent, and the speaker state is not touched, until the end is confirmed,
and the early work is thrown away if the speaker goes on.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from polydub.audio import Audio
from polydub.live.clauses import split_clauses
from polydub.live.config import LiveConfig
from polydub.live.engines import WHISPER_TRANSLATE, LiveEngines, shared_engines
from polydub.live.events import LiveEvent
from polydub.live.pacing import Pacer, PacingPolicy
from polydub.live.pcm import LIVE_RATE, PcmInput, float_to_pcm16
from polydub.live.segmenter import Cut, Segmenter
from polydub.live.speakers import SpeakerTracker
from polydub.live.stats import SessionStats
from polydub.timing.stretch import time_stretch

log = logging.getLogger(__name__)
SECONDS_PER_CHAR = 0.07  # fallback estimate of a dub line's length when the engine cannot predict it
LANGUAGE_LOCK_PROBABILITY = 0.6
LANGUAGE_LOCK_UTTERANCES = 3


class _Job:
    def __init__(self, cut: Cut, arrival: float, speculative: bool) -> None:
        self.cut = cut
        self.arrival = arrival  # wall time (monotonic) at which the end of the speech arrived
        self.speculative = speculative
        self.created = time.monotonic()
        self.final_at: float | None = None if speculative else self.created
        self.confirmed = threading.Event()
        self.cancelled = False
        self.started = 0.0
        if not speculative:
            self.confirmed.set()

    def confirm(self, when: float) -> None:
        self.final_at = when
        self.confirmed.set()

    def cancel(self) -> None:
        self.cancelled = True
        self.confirmed.set()


class LiveSession:
    def __init__(self, config: LiveConfig, on_event: Callable[[LiveEvent], None],
                 engines: LiveEngines | None = None, session_id: str | None = None) -> None:
        self.config = config.validated()
        self.id = session_id or uuid.uuid4().hex[:12]
        self.engines = engines or shared_engines()
        self.on_event = on_event
        cfg = self.config
        self.language = cfg.source_language
        # Fail before any audio flows when the target cannot be voiced or the pair translated.
        self.engines.voices.default_voice(cfg.target_language, cfg.tts_engine)
        if self.language:
            self.engines.translator(self.language, cfg.target_language, cfg.mt_engine)
        self.asr_model = self.engines.asr_model_for(self.language, cfg.asr_model)
        self.input = PcmInput(cfg.sample_rate)
        self.segmenter = Segmenter(cfg.segmenter_policy())
        self.tracker = SpeakerTracker(
            cfg.target_language, self.engines.voices,
            embedder=self.engines.embedder if cfg.preserve_voice else None,
            profiles=self.engines.profiles if cfg.use_profiles else None, preserve_voice=cfg.preserve_voice,
            fixed_voice=cfg.voice, tts_engine=cfg.tts_engine)
        # A file pushed as fast as possible is never behind anyone listening: nothing is abandoned.
        self.pacer = Pacer(PacingPolicy(max_tempo=cfg.max_tempo,
                                        max_lag_s=cfg.max_lag_s if cfg.realtime else float("inf")))
        self.stats = SessionStats()
        self._votes: dict[str, float] = {}
        self._detections = 0
        self._received = 0  # 16 kHz samples received
        self._arrivals: deque[tuple[int, float]] = deque(maxlen=4096)
        self._spec: _Job | None = None
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._feed_lock = threading.Lock()
        self._side = ThreadPoolExecutor(1, thread_name_prefix=f"live-{self.id}-spk")
        self.state = "running"
        self._worker = threading.Thread(target=self._run, name=f"live-{self.id}", daemon=True)
        self._worker.start()

    # -- input -------------------------------------------------------------------------------
    def feed(self, pcm: bytes) -> None:
        """16-bit little-endian mono PCM at config.sample_rate, any chunk size."""
        self._ensure_running()
        with self._feed_lock:
            self._push(self.input.push(pcm))

    def feed_float(self, samples: np.ndarray) -> None:
        """Float32 mono samples at config.sample_rate."""
        self._ensure_running()
        with self._feed_lock:
            self._push(self.input.push_float(samples))

    def _ensure_running(self) -> None:
        if self.state != "running":
            from polydub.live.pcm import LiveInputError

            raise LiveInputError(f"the session is {self.state}", "start a new session to send more audio")

    def _push(self, samples16k: np.ndarray) -> None:
        now = time.monotonic()
        self._received += len(samples16k)
        self._arrivals.append((self._received, now))
        for cut in self.segmenter.push(samples16k):
            self._on_cut(cut, now)

    def _arrival_of(self, sample: int, default: float) -> float:
        for end, when in self._arrivals:
            if end >= sample:
                return when
        return default

    def _on_cut(self, cut: Cut, now: float) -> None:
        spec = self._spec
        if cut.kind == "tentative":
            self._spec = _Job(cut, self._arrival_of(cut.speech_end, now), speculative=True)
            self._jobs.put(self._spec)
            return
        self._spec = None
        if cut.kind == "resumed":
            if spec is not None:
                spec.cancel()
                self.stats.speculations_wasted += 1
            return
        self.stats.utterances += 1
        if spec is not None and spec.cut.index == cut.index and spec.cut.end == cut.end:
            spec.confirm(now)
            return
        if spec is not None:
            spec.cancel()
            self.stats.speculations_wasted += 1
        self._jobs.put(_Job(cut, self._arrival_of(cut.speech_end, now), speculative=False))

    # -- end ---------------------------------------------------------------------------------
    def finish(self, timeout: float | None = None) -> dict:
        """End of the stream: dub what is still pending, then report `end` with the summary."""
        if self.state == "running":
            with self._feed_lock:
                now = time.monotonic()
                tail = self.input.flush()
                if len(tail):
                    self._push(tail)
                for cut in self.segmenter.flush():
                    self._on_cut(cut, now)
                self.state = "finishing"
                self._jobs.put(None)
        self._worker.join(timeout)
        self._side.shutdown(wait=False)
        if self.state == "finishing":
            self.state = "finished"
            self._emit("end", self.describe())
        return self.describe()

    def close(self) -> None:
        """Stop at once (client gone): lines not dubbed yet are counted as abandoned."""
        if self.state in ("closed", "finished"):
            return
        self.state = "closed"
        if self._spec is not None:
            self._spec.cancel()
        self._jobs.put(None)
        self._worker.join(10.0)
        self._side.shutdown(wait=False)

    # -- worker ------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                break
            if job.speculative and not job.confirmed.is_set() and self.state == "finishing":
                job.confirm(time.monotonic())  # no more audio will come: the tentative end is the end
            if self.state == "closed":
                if not job.cancelled and job.final_at is not None:
                    self.stats.abandoned += 1  # its end was certain: a real line that will not be dubbed
                continue
            if job.cancelled:
                continue
            try:
                self._process(job)
            except Exception as exc:  # one failing line must not end the session
                log.exception("live line %s failed", job.cut.index)
                self.stats.abandoned += 1
                self._emit("error", {"utterance": job.cut.index, "message": f"this line could not be dubbed: {exc}"})
                self._emit("skipped", self._times(job) | {"reason": f"error: {exc}", "abandoned": True})

    def _session_time(self, job: _Job, wall: float) -> float:
        anchor = job.arrival if self.config.realtime else job.started
        return job.cut.speech_end_s + max(0.0, wall - anchor)

    def _times(self, job: _Job) -> dict:
        return {"utterance": job.cut.index, "start": round(job.cut.start_s, 3), "end": round(job.cut.end_s, 3),
                "speech_end": round(job.cut.speech_end_s, 3)}

    def _live(self, job: _Job) -> bool:
        return not job.cancelled and self.state != "closed"

    def _dropped(self, job: _Job) -> None:
        """A line stopped half-way: counted as abandoned if it was real (its end confirmed) and the
        session was closed under it; an early start voided by more speech is not a line."""
        if self.state == "closed" and not job.cancelled and job.final_at is not None:
            self.stats.abandoned += 1

    def _await_end(self, job: _Job) -> bool:
        """Wait until a line started early is confirmed (True) or voided (False)."""
        while not job.confirmed.wait(0.05):
            if not self._live(job):
                return False
        return self._live(job)

    def _transcribe(self, job: _Job):
        cfg = self.config
        recognizer = self.engines.recognizer(self.asr_model)

        def whisper_mt(language: str) -> bool:
            if cfg.target_language != "en" or language == "en":
                return False
            return self.engines.translator(language, "en", cfg.mt_engine) == WHISPER_TRANSLATE

        with self.engines.compute.slot(job.arrival):
            result = recognizer.transcribe(job.cut.audio, self.language, translate_to_english=whisper_mt)
        if self.language is None:
            self._detections += 1
            self._votes[result.language] = self._votes.get(result.language, 0.0) + result.language_probability
            if result.language_probability >= LANGUAGE_LOCK_PROBABILITY or self._detections >= LANGUAGE_LOCK_UTTERANCES:
                self.language = max(self._votes, key=self._votes.get)
        return result

    def _translate(self, text: str, source: str, result) -> tuple[str, str]:
        cfg = self.config
        translator = self.engines.translator(source, cfg.target_language, cfg.mt_engine)
        if translator == WHISPER_TRANSLATE:
            return result.translation or "", "whisper-translate"
        return self.engines.translate(translator, [text], source, cfg.target_language)[0], translator.name

    def _synthesize(self, job: _Job, text: str, voice, tempo: float) -> Audio:
        voices = self.engines.voices
        native = voices.engine_for(voice).capabilities.native_rate
        with self.engines.compute.slot(job.arrival):
            audio = voices.synthesize(text, voice, speed=tempo if native else 1.0)
            if not native and tempo > 1.001:
                audio = time_stretch(audio, tempo)
        return audio.mono().resample(self.config.output_sample_rate)

    def _process(self, job: _Job) -> None:
        cfg, t = self.config, {}
        job.started = time.monotonic()
        cpu = {"start": time.process_time()}
        embedding = self._side.submit(self.tracker.embed, job.cut.audio) if self.tracker.preserve_voice else None
        result = self._transcribe(job)
        t["asr"], cpu["asr"] = time.monotonic(), time.process_time()
        if not self._live(job):
            return self._dropped(job)
        text = result.text
        if not text:  # noise or music: report it once the end is certain, never as a speaker
            if self._await_end(job):
                self.stats.empty += 1
                self._emit("skipped", self._times(job) | {"reason": "no words recognised", "abandoned": False})
            return
        translation, engine = self._translate(text, result.language, result)
        t["mt"] = time.monotonic()
        decision = self.tracker.decide(job.cut.audio, embedding.result() if embedding else None)
        t["speaker"] = time.monotonic()
        voice = decision.speaker.voice
        clauses = split_clauses(translation, cfg.first_clause_chars, cfg.clause_chars)
        plan = None
        first_audio = None
        if clauses:
            natural = self.engines.voices.predict_duration(translation, voice) or SECONDS_PER_CHAR * len(translation)
            plan = self.pacer.plan(self._session_time(job, time.monotonic()), job.cut.start_s, job.cut.speech_end_s,
                                   natural)
            if not plan.abandon:
                first_audio = self._synthesize(job, clauses[0], voice, plan.tempo)
        t["tts"], cpu["tts"] = time.monotonic(), time.process_time()
        if not self._await_end(job):
            return self._dropped(job)
        self.tracker.commit(decision)
        times = self._times(job)
        if decision.is_new:
            self._emit("speaker", decision.speaker.describe() | {"new": True, "utterance": job.cut.index})
        self._emit("transcript", times | {"text": text, "speaker": decision.speaker.id, "language": result.language})
        if not clauses:
            self.stats.empty += 1
            self._emit("skipped", times | {"reason": "nothing to say after translation", "abandoned": False})
            return
        self._emit("translation", times | {"text": translation, "source_text": text, "speaker": decision.speaker.id,
                                           "language": cfg.target_language, "engine": engine})
        if plan.abandon:
            self.stats.abandoned += 1
            self._emit("skipped", times | {"reason": plan.reason, "abandoned": True, "lag_s": round(plan.lag, 2)})
            return
        first_sent = self._send_audio(job, 0, len(clauses), first_audio, plan.tempo, decision.speaker.id)
        t["first"] = time.monotonic()
        lag = first_sent - job.cut.speech_end_s
        for n, clause in enumerate(clauses[1:], start=1):
            if not self._live(job):
                return self._dropped(job)
            self._send_audio(job, n, len(clauses), self._synthesize(job, clause, voice, plan.tempo),
                             plan.tempo, decision.speaker.id)
        self._report(job, t, plan, lag, result, decision.speaker.id, cpu)

    def _send_audio(self, job: _Job, n: int, count: int, audio: Audio, tempo: float, speaker: str) -> float:
        plays_at = self.pacer.played(self._session_time(job, time.monotonic()), audio.duration)
        self._emit("audio", self._times(job) | {
            "chunk": n, "last": n == count - 1, "speaker": speaker, "sample_rate": audio.rate,
            "samples": len(audio.samples), "duration": round(audio.duration, 3), "tempo": tempo,
            "plays_at": round(plays_at, 3)}, pcm=float_to_pcm16(audio.samples))
        self.stats.dub_seconds += audio.duration
        return plays_at

    def _report(self, job: _Job, t: dict, plan, lag: float, result, speaker: str, cpu: dict) -> None:
        def ms(a: float, b: float) -> int:
            return int(round(1000 * (b - a)))

        vad_end = job.arrival
        metrics = {
            "utterance": job.cut.index, "speaker": speaker, "speculative": job.speculative,
            "vad_ms": ms(vad_end, job.final_at or job.started), "queue_ms": ms(job.created, job.started),
            "asr_ms": ms(job.started, t["asr"]), "mt_ms": ms(t["asr"], t["mt"]),
            "speaker_ms": ms(t["mt"], t["speaker"]), "tts_first_ms": ms(t["speaker"], t["tts"]),
            "asr_done_ms": ms(vad_end, t["asr"]), "mt_done_ms": ms(vad_end, t["mt"]),
            "first_audio_ms": ms(vad_end, t["first"]), "total_ms": ms(vad_end, time.monotonic()),
            # CPU seconds of the whole process (all sessions and threads): with one session, what the
            # line's recognition and its way to the first sound cost, independent of other load
            "asr_cpu_ms": ms(cpu["start"], cpu["asr"]), "first_audio_cpu_ms": ms(cpu["start"], cpu["tts"]),
            "tempo": plan.tempo, "backlog_s": round(plan.backlog, 3), "lag_s": round(lag, 3),
            "asr_model": self.asr_model, "asr_window_s": result.window_seconds, "language": result.language,
        }
        self.pacer.note_lag(lag)
        self.stats.add_line(metrics)
        self._emit("metrics", metrics)

    def _emit(self, kind: str, data: dict, pcm: bytes | None = None) -> None:
        try:
            self.on_event(LiveEvent(kind, data, pcm))
        except Exception:  # a consumer that went away must not stop the worker
            log.debug("live event consumer failed", exc_info=True)

    # -- state -------------------------------------------------------------------------------
    def describe(self) -> dict:
        cfg = self.config
        return {"session_id": self.id, "state": self.state, "source_language": self.language,
                "target_language": cfg.target_language, "asr_model": self.asr_model,
                "audio_seconds": round(self._received / LIVE_RATE, 2),
                "speakers": [s.describe() for s in self.tracker.speakers],
                "lag_s": round(max(0.0, self.pacer.play_end - self._received / LIVE_RATE), 2)
                if cfg.realtime else None, "max_lag_s": round(self.pacer.max_lag, 2),
                **self.stats.describe()}
