"""Cut a stream of speech into utterances as it arrives: one per pause, long speech cut at a pause.

Fed 32 ms VAD windows, the segmenter reports three kinds of cuts:
- `tentative`: speech has paused for `speculative_pause_s`; the utterance so far may be complete,
  so the session starts recognising it while it waits to be sure (most of the latency hides there);
- `resumed`: speech came back before `end_pause_s`: the tentative cut is void;
- `final`: a pause of `end_pause_s` (the utterance ends), or long speech cut at a shorter pause
  once it passes `soft_max_s`, or at its quietest moment at `hard_max_s` if there is no pause at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from polydub.live.pcm import LIVE_RATE
from polydub.live.vad import WINDOW, StreamingVad

WINDOW_S = WINDOW / LIVE_RATE


@dataclass
class SegmenterPolicy:
    threshold: float = 0.5  # speech starts above this probability
    neg_threshold: float = 0.35  # and a pause is a window below this one (Silero's own hysteresis)
    end_pause_s: float = 0.5
    speculative_pause_s: float | None = 0.2  # None: no early start
    min_speech_s: float = 0.25  # shorter bursts (a click, a cough) are not utterances
    soft_max_s: float = 6.0
    cut_pause_s: float = 0.15
    hard_max_s: float = 9.0
    pre_roll_s: float = 0.2  # kept before the first speech window: Silero reacts a little late
    post_roll_s: float = 0.1


@dataclass
class Cut:
    kind: str  # "tentative" | "resumed" | "final"
    index: int  # utterance number in the stream, from 0
    start: int = 0  # first sample (16 kHz, stream time) of the utterance audio
    end: int = 0  # sample after its last one (post-roll included)
    speech_end: int = 0  # sample where the speech itself ended: where latency is counted from
    audio: np.ndarray | None = None
    forced: bool = False

    @property
    def start_s(self) -> float:
        return self.start / LIVE_RATE

    @property
    def end_s(self) -> float:
        return self.end / LIVE_RATE

    @property
    def speech_end_s(self) -> float:
        return self.speech_end / LIVE_RATE


def _windows(seconds: float) -> int:
    return max(1, int(round(seconds / WINDOW_S)))


class Segmenter:
    def __init__(self, policy: SegmenterPolicy | None = None, vad: StreamingVad | None = None) -> None:
        self.policy = policy or SegmenterPolicy()
        self.vad = vad or StreamingVad()
        p = self.policy
        self._pre, self._post = _windows(p.pre_roll_s), _windows(p.post_roll_s)
        self._end = _windows(p.end_pause_s)
        self._spec = _windows(p.speculative_pause_s) if p.speculative_pause_s else None
        self._min_speech = _windows(p.min_speech_s)
        self._soft, self._hard, self._cut_pause = _windows(p.soft_max_s), _windows(p.hard_max_s), \
            _windows(p.cut_pause_s)
        self._frames: list[np.ndarray] = []  # buffered windows, the first one is window number _first
        self._probs: list[float] = []
        self._first = 0
        self._next = 0  # number of the next window to arrive
        self._triggered = False
        self._start = 0
        self._last_speech = 0
        self._speech = 0
        self._silence = 0
        self._tentative = False
        self.index = 0
        self.speech_seconds = 0.0

    @property
    def in_speech(self) -> bool:
        return self._triggered

    def push(self, samples16k: np.ndarray) -> list[Cut]:
        probs, windows = self.vad.process(samples16k)
        cuts: list[Cut] = []
        for prob, window in zip(probs, windows, strict=True):
            self._frames.append(window)
            self._probs.append(float(prob))
            cuts.extend(self._step(self._next, float(prob)))
            self._next += 1
            if not self._triggered:
                self._drop_before(self._next - self._pre)
        return cuts

    def flush(self) -> list[Cut]:
        """End of stream: whatever speech is pending becomes a final utterance."""
        pending = len(self.vad._pending)
        cuts = self.push(np.zeros(WINDOW - pending, dtype=np.float32)) if pending else []
        if self._triggered:
            if self._speech >= self._min_speech:
                cuts.append(self._final(self._last_speech, forced=False))
            elif self._tentative:
                cuts.append(Cut("resumed", self.index))
            self._triggered = False
        return cuts

    # -- internals ---------------------------------------------------------------------------
    def _drop_before(self, window: int) -> None:
        if window > self._first:
            cut = min(window - self._first, len(self._frames))
            del self._frames[:cut]
            del self._probs[:cut]
            self._first += cut

    def _audio(self, first: int, last: int) -> np.ndarray:
        a, b = max(first, self._first) - self._first, min(last + 1, self._next + 1) - self._first
        return np.concatenate(self._frames[a:b]) if b > a else np.zeros(0, dtype=np.float32)

    def _cut(self, kind: str, last_speech: int, forced: bool, with_audio: bool) -> Cut:
        start = max(self._first, self._start - self._pre)
        last = min(self._next, last_speech + self._post)
        return Cut(kind, self.index, start=start * WINDOW, end=(last + 1) * WINDOW,
                   speech_end=(last_speech + 1) * WINDOW,
                   audio=self._audio(start, last) if with_audio else None, forced=forced)

    def _final(self, last_speech: int, forced: bool) -> Cut:
        cut = self._cut("final", last_speech, forced, with_audio=True)
        self.speech_seconds += self._speech * WINDOW_S
        self.index += 1
        self._tentative = False
        return cut

    def _begin(self, window: int) -> None:
        self._triggered, self._start, self._last_speech = True, window, window
        self._speech, self._silence, self._tentative = 1, 0, False

    def _step(self, w: int, prob: float) -> list[Cut]:
        p = self.policy
        if not self._triggered:
            if prob >= p.threshold:
                self._begin(w)
            return []
        out: list[Cut] = []
        speechy = prob >= p.threshold or (prob >= p.neg_threshold and self._silence == 0)
        if speechy:
            if self._tentative:
                out.append(Cut("resumed", self.index))
                self._tentative = False
            self._silence, self._last_speech = 0, w
            self._speech += 1
        else:
            self._silence += 1
        length = w - self._start + 1
        enough = self._speech >= self._min_speech
        if self._silence >= self._end or (self._silence >= self._cut_pause and length >= self._soft):
            if enough:
                out.append(self._final(self._last_speech, forced=self._silence < self._end))
            elif self._tentative:
                out.append(Cut("resumed", self.index))
            self._triggered = False
        elif self._spec and self._silence >= self._spec and enough and not self._tentative:
            out.append(self._cut("tentative", self._last_speech, False, with_audio=True))
            self._tentative = True
        elif length >= self._hard and self._silence == 0:
            out.append(self._hard_cut(w))
        return out

    def _hard_cut(self, w: int) -> Cut:
        """No pause for hard_max_s: cut at the least speech-like window of the last 2 s, and the
        rest starts the next utterance at once."""
        lookback = _windows(2.0)
        first = max(self._start + self._min_speech, w - lookback)
        probs = self._probs[first - self._first: w - self._first]
        at = first + int(np.argmin(probs)) if probs else w - 1
        cut = self._final(at, forced=True)
        self._drop_before(at + 1)
        self._begin(at + 1)
        self._speech = sum(1 for q in self._probs[at + 1 - self._first:] if q >= self.policy.neg_threshold)
        self._start = at + 1 + self._pre  # no pre-roll into audio that the previous utterance holds
        return cut
