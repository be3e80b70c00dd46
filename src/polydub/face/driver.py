"""The mouth driver: speech (audio + phoneme or word timing) -> one mouth pose per video frame.

Nothing here knows about faces or videos: give it audio, the times at which frames are shown, and
what is said when (phonemes from the TTS, or words from a recognizer, or nothing), and it returns
`MouthCurves` (open, spread, round, closure per frame) for any renderer, a dubbed video or a photo.

How: visemes from the phoneme timing give the mouth's shape, blended with their neighbours
(openfacefx coarticulation); the audio's loudness scales how far it opens; where the audio is
silent the mouth closes; p/b/m close the lips; and every frame averages what happens during the
time it is on screen, so fast syllables do not alias at 25 fps (a closure that fills most of a
frame closes it completely, so a short p/b/m still shows).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from polydub.audio import Audio
from polydub.face.model import MouthPose
from polydub.face.visemes import SILENCE, Phone, from_kokoro, from_words, shape_curves

RATE = 100.0  # internal grid, Hz
# The mouth is drawn at the time of the sound it makes. Real lips lead the sound a little, but at
# 25 fps a lead of even 30 ms costs a sixth of the opening's per-frame correlation with what is
# heard (measured on the shared clips: 0.90 -> 0.77), and a lag below ~45 ms goes unnoticed.
LEAD_S = 0.0
SILENCE_DB = 32.0  # below the line's loud level by this much counts as a pause
ACTIVE_FLOOR_DB = -52.0  # dBFS: quieter than this is never speech


@dataclass
class MouthCurves:
    times: np.ndarray  # frame times, seconds (in the audio's timeline)
    open: np.ndarray
    spread: np.ndarray
    round: np.ndarray
    closure: np.ndarray
    loudness: np.ndarray  # 0..1 per frame, what the opening follows
    speaking: np.ndarray  # bool per frame: the audio is speech here

    def __len__(self) -> int:
        return len(self.times)

    def pose(self, i: int) -> MouthPose:
        return MouthPose(open=float(self.open[i]), spread=float(self.spread[i]), round=float(self.round[i]),
                         closure=float(self.closure[i]))


def envelope_db(audio: Audio, rate: float = RATE, window: float = 0.03) -> tuple[np.ndarray, np.ndarray]:
    """(times, RMS in dBFS) of mono audio on a `rate` Hz grid."""
    samples = audio.mono().samples.astype(np.float64)
    hop = audio.rate / rate
    n = int(np.ceil(len(samples) / hop)) if len(samples) else 0
    if n == 0:
        return np.zeros(0), np.zeros(0)
    half = max(1, int(window * audio.rate / 2))
    cumsum = np.concatenate([[0.0], np.cumsum(samples ** 2)])
    centres = (np.arange(n) * hop).astype(int)
    lo, hi = np.clip(centres - half, 0, len(samples)), np.clip(centres + half, 0, len(samples))
    power = (cumsum[hi] - cumsum[lo]) / np.maximum(hi - lo, 1)
    return np.arange(n) / rate, 10 * np.log10(np.maximum(power, 1e-10))


def frame_loudness(audio: Audio, frame_times: np.ndarray, start: float = 0.0) -> np.ndarray:
    """Loudness 0..1 of the audio while each frame is shown (frame i from frame_times[i] to the next),
    relative to the audio's own loud level; `start` = where the audio begins on the frame timeline.
    The measure the driver follows and the lip scores correlate with."""
    times, db = envelope_db(audio)
    ref, _floor = _levels(db)
    level = np.clip((db - (ref - SILENCE_DB)) / SILENCE_DB, 0.0, 1.0)
    return _per_frame(times + start, level, frame_times, np.mean)


def _levels(db: np.ndarray) -> tuple[float, float]:
    loud = db[db > ACTIVE_FLOOR_DB]
    ref = float(np.percentile(loud, 95)) if len(loud) else ACTIVE_FLOOR_DB
    return ref, max(ACTIVE_FLOOR_DB, ref - SILENCE_DB)


def _per_frame(grid_times: np.ndarray, values: np.ndarray, frame_times: np.ndarray, reduce) -> np.ndarray:
    """Reduce a curve over each frame's display interval (values outside the curve count as 0)."""
    frame_times = np.asarray(frame_times, dtype=np.float64)
    if len(frame_times) == 0:
        return np.zeros(0)
    step = np.median(np.diff(frame_times)) if len(frame_times) > 1 else 0.04
    ends = np.append(frame_times[1:], frame_times[-1] + step)
    out = np.zeros(len(frame_times))
    if len(grid_times) == 0:
        return out
    lo = np.searchsorted(grid_times, frame_times, side="left")
    hi = np.maximum(np.searchsorted(grid_times, ends, side="left"), lo + 1)
    for i, (a, b) in enumerate(zip(lo, hi, strict=True)):
        part = values[a:min(b, len(values))]
        out[i] = reduce(part) if len(part) else 0.0
    return out


def speech_islands(db: np.ndarray, rate: float = RATE, min_pause: float = 0.1,
                   min_island: float = 0.05) -> list[tuple[float, float]]:
    """Spans of speech in a dB envelope: above the pause level, short gaps bridged."""
    ref, floor = _levels(db)
    active = db > max(floor, ref - SILENCE_DB)
    spans, start = [], None
    for i, on in enumerate(np.append(active, False)):
        if on and start is None:
            start = i
        elif not on and start is not None:
            spans.append([start / rate, i / rate])
            start = None
    merged: list[list[float]] = []
    for a, b in spans:
        if merged and a - merged[-1][1] < min_pause:
            merged[-1][1] = b
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged if b - a >= min_island]


def _merge_to(islands: list[tuple[float, float]], count: int) -> list[tuple[float, float]]:
    """Merge the islands separated by the shortest pauses until `count` remain."""
    islands = list(islands)
    while len(islands) > count:
        gaps = [islands[i + 1][0] - islands[i][1] for i in range(len(islands) - 1)]
        i = int(np.argmin(gaps))
        islands[i:i + 2] = [(islands[i][0], islands[i + 1][1])]
    return islands


def align_to_audio(phones: list[Phone], audio: Audio) -> list[Phone]:
    """Move predicted phone times onto the speech really present in `audio`.

    A TTS engine's predicted timing is exact for what it generated, but the dub line was trimmed,
    its pauses shortened and its tempo stretched afterwards. Speech islands (runs of phones between
    pauses) are matched with the islands heard in the audio and each is mapped linearly onto its
    counterpart; if they cannot be matched, the whole span is."""
    spoken = [p for p in phones if p.symbol != SILENCE]
    if not spoken:
        return phones
    _, db = envelope_db(audio)
    heard = speech_islands(db)
    if not heard:
        return phones
    predicted: list[tuple[float, float]] = []
    for p in phones:
        if p.symbol == SILENCE and p.end - p.start >= 0.1:
            predicted.append((np.nan, np.nan))
            continue
        if p.symbol == SILENCE:
            continue
        if predicted and not np.isnan(predicted[-1][0]):
            predicted[-1] = (predicted[-1][0], p.end)
        else:
            predicted.append((p.start, p.end))
    predicted = [s for s in predicted if not np.isnan(s[0])]
    count = min(len(predicted), len(heard))
    predicted, heard = _merge_to(predicted, count), _merge_to(heard, count)
    src = np.array([t for span in predicted for t in span])
    dst = np.array([t for span in heard for t in span])
    order = np.argsort(src, kind="stable")
    src, dst = src[order], dst[order]

    def warp(t: float) -> float:
        if t <= src[0]:
            return float(dst[0] - (src[0] - t))
        if t >= src[-1]:
            return float(dst[-1] + (t - src[-1]))
        return float(np.interp(t, src, dst))

    return [Phone(p.symbol, max(0.0, warp(p.start)), max(0.0, warp(p.end))) for p in phones]


_espeak_lock = threading.Lock()
_espeak: dict[str, object] = {}


def espeak_ipa(word: str, language: str) -> str:
    """IPA of one word with espeak-ng (through phonemizer); '' when no voice covers the language."""
    with _espeak_lock:
        backend = _espeak.get(language)
        if backend is None:
            try:
                import espeakng_loader
                from phonemizer.backend import EspeakBackend
                from phonemizer.backend.espeak.wrapper import EspeakWrapper

                EspeakWrapper.set_library(espeakng_loader.get_library_path())
                EspeakWrapper.set_data_path(espeakng_loader.get_data_path())
                backend = EspeakBackend(language=language, preserve_punctuation=False, with_stress=False,
                                        tie="^", language_switch="remove-flags")
            except Exception:  # noqa: BLE001 - unknown language or no espeak: letters stand in
                backend = False
            _espeak[language] = backend
        if backend is False:
            return "".join(ch for ch in word.lower() if ch.isalpha())
        return backend.phonemize([word])[0].strip()


class MouthDriver:
    """Speech -> mouth curves (see module doc). Stateless apart from settings; thread-safe."""

    def __init__(self, lead: float = LEAD_S) -> None:
        self.lead = lead

    def phones_from_kokoro(self, symbols: list[tuple[str, float, float]], audio: Audio) -> list[Phone]:
        return align_to_audio(from_kokoro(symbols), audio)

    def phones_from_words(self, words: list[tuple[str, float, float]], language: str) -> list[Phone]:
        return from_words(words, lambda w: espeak_ipa(w, language))

    def drive(self, audio: Audio, frame_times: np.ndarray, phones: list[Phone] | None = None,
              start: float = 0.0) -> MouthCurves:
        """Mouth curves for frames shown at `frame_times` (seconds on the video's timeline) when the
        audio starts at `start` on that timeline; `phones` in the audio's own time."""
        frame_times = np.asarray(frame_times, dtype=np.float64)
        times, db = envelope_db(audio)
        ref, _ = _levels(db)
        level = np.clip((db - (ref - SILENCE_DB)) / SILENCE_DB, 0.0, 1.0)
        speaking_grid = np.zeros(len(times), dtype=bool)
        for a, b in speech_islands(db):
            speaking_grid[int(a * RATE):int(np.ceil(b * RATE))] = True
        loud = _smooth(level, 2.0) * speaking_grid
        gate = _smooth(speaking_grid.astype(np.float64), 4.0)  # ~40 ms ramps into and out of pauses
        if phones:
            shape_times, shapes = shape_curves(phones, RATE)
            shape = np.stack([np.interp(times, shape_times, shapes[:, k], left=0.0, right=0.0) for k in range(4)], 1)
            # The viseme says how open this sound is; loudness how strongly it is said. Loudness
            # dominates (to the power 1.5: syllable nuclei open, the consonants between them close).
            opening = (0.7 + 0.3 * shape[:, 0]) * loud ** 1.5
            spread, rounding, closure = shape[:, 1], shape[:, 2], shape[:, 3]
        else:  # loudness alone: the opening follows the voice, nothing closes the lips mid-word
            opening = 0.9 * loud ** 1.5
            spread = rounding = closure = np.zeros(len(times))
        # Jaws do not jump: ~30 ms of smoothing keeps syllables and drops what would only flicker;
        # closures are applied after it, so p, b, m still shut the lips.
        opening = np.clip(_smooth(opening * gate, 3.0) * (1.0 - np.clip(closure, 0, 1)), 0.0, 1.1)
        grid = times + start - self.lead
        speaking_frames = _per_frame(grid, speaking_grid.astype(np.float64), frame_times, np.max) > 0
        return MouthCurves(
            times=frame_times,
            open=_per_frame(grid, opening, frame_times, np.mean),
            spread=_per_frame(grid, spread * gate, frame_times, np.mean),
            round=_per_frame(grid, rounding * gate, frame_times, np.mean),
            # A closure filling two thirds of a frame closes it; a shorter one closes it partly.
            closure=np.clip(1.5 * _per_frame(grid, np.clip(closure, 0, 1), frame_times, np.mean), 0.0, 1.0),
            loudness=_per_frame(times + start, level, frame_times, np.mean),
            speaking=speaking_frames,
        )


def _smooth(values: np.ndarray, sigma: float) -> np.ndarray:
    if len(values) < 3:
        return values.astype(np.float64)
    from scipy.ndimage import gaussian_filter1d

    return gaussian_filter1d(values.astype(np.float64), sigma, mode="nearest")


def silent_curves(frame_times: np.ndarray) -> MouthCurves:
    n = len(frame_times)
    zeros = np.zeros(n)
    return MouthCurves(times=np.asarray(frame_times), open=zeros, spread=zeros, round=zeros, closure=zeros,
                       loudness=zeros, speaking=np.zeros(n, dtype=bool))


__all__ = ["MouthCurves", "MouthDriver", "Phone", "align_to_audio", "frame_loudness", "silent_curves",
           "SILENCE"]
