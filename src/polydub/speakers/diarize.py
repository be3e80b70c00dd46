"""Who speaks when: label transcript segments with speakers S1, S2, ... from d-vector clusters.

Works on ASR segments with word timestamps: speech inside each segment is cut at word boundaries
into ~1-2 s chunks, each chunk is embedded, chunks are clustered (agglomerative, cosine), and a
segment whose chunks disagree is split at the word where the speaker changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from polydub.audio import Audio
from polydub.project import Segment, Word
from polydub.speakers.embedding import SpeakerEmbedder, default_embedder, normalize

# Cosine *distance* (1 - similarity) under which clusters merge (average linkage). Same-speaker
# 1.5 s chunks average ~0.6 similarity, different speakers ~0.25 (measured on shared/media). Swept on
# 10 real clips: 0.40 split a single radio speaker in two, 0.55 merged the overlapped pair in
# fw_stereo_diarization; 0.45 got all of them right, so the margin is narrow.
DEFAULT_THRESHOLD = 0.45
CHUNK_TARGET = 1.6  # seconds: long enough for a stable d-vector, short enough to locate a change
CHUNK_MIN = 1.0  # a trailing chunk shorter than this joins the previous one (short = noisy vector)
PAUSE_CUT = 0.25  # a pause this long ends a chunk early (speaker changes mostly happen at pauses)
MAX_WORD = 0.6  # Whisper stretches a word over a preceding pause; trust at most this much of it
MIN_TURN = 1.0  # a speaker turn inside a segment shorter than this is not split off
SHORT_LINE = 1.0  # lines shorter than this take a neighbour's label instead of founding a speaker
# Automatic mode: clusters whose centroids are this similar are one speaker. Centroids average many
# chunks, so they separate better than chunks do: same voice 0.78-0.87, different 0.24-0.44, and
# the overlapped pair in fw_stereo_diarization 0.61.
MERGE_SIM = 0.7
MIN_SPEAKER_SECONDS = 1.5  # automatic mode: a cluster with less speech is a ghost, merged away


@dataclass
class SpeakerInfo:
    embedding: np.ndarray  # unit-norm centroid
    seconds: float  # speech attributed to the speaker

    def as_dict(self) -> dict[str, object]:
        return {"embedding": [round(float(v), 6) for v in self.embedding], "seconds": round(self.seconds, 3)}


@dataclass
class DiarizationResult:
    segments: list[Segment]
    speakers: dict[str, SpeakerInfo] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form for Project.speakers."""
        return {label: info.as_dict() for label, info in self.speakers.items()}


@dataclass
class _Chunk:
    seg: int  # index into the input segments
    words: list[Word]  # empty when the segment had no word timings
    start: float
    end: float
    emb: np.ndarray | None = None
    label: int = -1


def _speech_start(word: Word) -> float:
    return max(word.start, word.end - MAX_WORD)


def speech_seconds(seg: Segment) -> float:
    """Seconds of voice in a line, from its words (capped: a stretched word is mostly silence)."""
    if not seg.words:
        return seg.duration
    return float(sum(min(max(w.end - w.start, 0.0), MAX_WORD) for w in seg.words))


def _chunks_for(index: int, seg: Segment) -> list[_Chunk]:
    words = [w for w in seg.words if w.end > w.start or w.text.strip()]
    if not words:
        # No word timings: fixed chunks over the whole segment, so at least it gets a label.
        n = max(1, int(round(seg.duration / CHUNK_TARGET)))
        edges = np.linspace(seg.start, seg.end, n + 1)
        return [_Chunk(index, [], float(a), float(b)) for a, b in zip(edges[:-1], edges[1:])]
    chunks: list[_Chunk] = []
    current: list[Word] = []
    for i, word in enumerate(words):
        current.append(word)
        span = word.end - _speech_start(current[0])
        nxt = words[i + 1] if i + 1 < len(words) else None
        pause = (_speech_start(nxt) - word.end) if nxt else 0.0
        if nxt is None or span >= CHUNK_TARGET or (pause >= PAUSE_CUT and span >= MIN_TURN):
            chunks.append(_Chunk(index, current, _speech_start(current[0]), word.end))
            current = []
    if len(chunks) > 1 and chunks[-1].end - chunks[-1].start < CHUNK_MIN:
        tail = chunks.pop()
        chunks[-1].words += tail.words
        chunks[-1].end = tail.end
    return chunks


def _cluster(embs: np.ndarray, num_speakers: int | None, threshold: float) -> np.ndarray:
    n = len(embs)
    if n == 1 or num_speakers == 1:
        return np.zeros(n, dtype=int)
    from sklearn.cluster import AgglomerativeClustering

    if num_speakers is not None:
        model = AgglomerativeClustering(
            n_clusters=min(num_speakers, n), metric="cosine", linkage="average"
        )
    else:
        model = AgglomerativeClustering(
            n_clusters=None, distance_threshold=threshold, metric="cosine", linkage="average"
        )
    return model.fit_predict(embs).astype(int)


def _centroids(chunks: list[_Chunk]) -> dict[int, np.ndarray]:
    """Duration-weighted mean embedding per label (longer chunks give more reliable vectors)."""
    sums: dict[int, np.ndarray] = {}
    for c in chunks:
        assert c.emb is not None
        sums[c.label] = sums.get(c.label, 0) + c.emb * max(c.end - c.start, 0.1)
    return {k: normalize(v) for k, v in sums.items()}


def _merge_close(chunks: list[_Chunk], cents: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
    """Merge the most similar pair of clusters while their centroids are at least MERGE_SIM alike."""
    while len(cents) > 1:
        keys = sorted(cents)
        sim, a, b = max((float(cents[a] @ cents[b]), a, b) for i, a in enumerate(keys) for b in keys[i + 1 :])
        if sim < MERGE_SIM:
            break
        for c in chunks:
            if c.label == b:
                c.label = a
        cents = _centroids(chunks)
    return cents


def _best(emb: np.ndarray, cents: dict[int, np.ndarray], exclude: int | None = None) -> int:
    options = {k: float(emb @ v) for k, v in cents.items() if k != exclude}
    return max(options, key=options.__getitem__)


def _smooth_turns(group: list[_Chunk], cents: dict[int, np.ndarray]) -> None:
    """Inside one segment, runs shorter than MIN_TURN take the label of the better-matching neighbour run."""
    changed = True
    while changed:
        changed = False
        runs: list[list[_Chunk]] = []
        for c in group:
            if runs and runs[-1][0].label == c.label:
                runs[-1].append(c)
            else:
                runs.append([c])
        if len(runs) < 2:
            return
        for r, run in enumerate(runs):
            if run[-1].end - run[0].start >= MIN_TURN:
                continue
            neighbours = {runs[j][0].label for j in (r - 1, r + 1) if 0 <= j < len(runs)}
            emb = normalize(sum(c.emb for c in run))  # type: ignore[misc]
            target = max(neighbours, key=lambda k: float(emb @ cents[k]))
            for c in run:
                c.label = target
            changed = True
            break


def _refine_change(
    audio: Audio, embedder: SpeakerEmbedder, left: _Chunk, right: _Chunk, cents: dict[int, np.ndarray]
) -> None:
    """Move a speaker change from the chunk boundary to the best word boundary inside the two chunks.

    A chunk that straddles the change gets one label, so the first guess is off by up to a chunk;
    here every word boundary is tried and the cut whose sides best match their two speakers wins.
    """
    words = left.words + right.words
    if not left.words or not right.words or len(words) < 3:
        return
    best_k, best_score = len(left.words), -np.inf
    for k in range(1, len(words)):
        a0, a1 = _speech_start(words[0]), words[k - 1].end
        b0, b1 = _speech_start(words[k]), words[-1].end
        if a1 - a0 < MIN_TURN or b1 - b0 < MIN_TURN:
            continue  # shorter sides give noisy vectors and would become ghost-prone short lines
        ea = embedder.embed(audio.slice(a0, a1))
        eb = embedder.embed(audio.slice(b0, b1))
        # Contrast (own speaker minus the other) rather than raw similarity: centroids include the
        # straddling chunks, and contrast penalises a side that still holds the other voice.
        # Duration-weighted so that the longer, more reliable side counts more.
        cx, cy = cents[left.label], cents[right.label]
        score = (a1 - a0) * float(ea @ cx - ea @ cy) + (b1 - b0) * float(eb @ cy - eb @ cx)
        if score > best_score:
            best_k, best_score = k, score
    left.words, right.words = words[:best_k], words[best_k:]
    left.start, left.end = _speech_start(left.words[0]), left.words[-1].end
    right.start, right.end = _speech_start(right.words[0]), right.words[-1].end


def _make_line(seg: Segment, chunks: list[_Chunk], first: bool, last: bool) -> Segment:
    words = [w for c in chunks for w in c.words]
    if not words or (first and last):
        return seg.model_copy(update={"words": list(seg.words)})
    joiner = "" if any(w.text.startswith(" ") for w in words) else " "
    text = joiner.join(w.text for w in words).strip()
    start = seg.start if first else words[0].start
    end = seg.end if last else words[-1].end
    # A split line no longer matches any translation/dub made for the whole segment.
    return seg.model_copy(
        update={"start": start, "end": end, "text": text, "words": words, "translation": None,
                "audio": None, "audio_key": None, "dub_start": None, "dub_end": None}
    )


def diarize(
    audio16k: Audio,
    segments: list[Segment],
    num_speakers: int | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    embedder: SpeakerEmbedder | None = None,
) -> DiarizationResult:
    """Label (and where needed split) segments by speaker.

    threshold: cosine distance for the automatic speaker count (ignored when num_speakers is set).
    Returns new Segment objects with ids renumbered from the first input id; inputs are not modified.
    """
    if not segments:
        return DiarizationResult([], {})
    embedder = embedder or default_embedder()
    audio = audio16k.mono()
    chunks = [c for i, seg in enumerate(segments) for c in _chunks_for(i, seg)]
    for c in chunks:
        clip = audio.slice(c.start, c.end)
        if clip.duration < 0.1:  # timestamps past the end of the audio: borrow a little context
            clip = audio.slice(max(0.0, c.start - 0.5), c.end + 0.5)
        c.emb = embedder.embed(clip) if clip.duration >= 0.1 else np.zeros(embedder.dim, np.float32)
    labels = _cluster(np.stack([c.emb for c in chunks]), num_speakers, threshold)
    for c, lab in zip(chunks, labels):
        c.label = int(lab)
    # One refinement pass: nearest-centroid reassignment fixes chunks that average linkage left
    # with a marginal cluster.
    cents = _centroids(chunks)
    for c in chunks:
        c.label = _best(c.emb, cents)
    cents = _centroids(chunks)
    if num_speakers is None:
        cents = _merge_close(chunks, cents)

    lines: list[tuple[Segment, list[_Chunk]]] = []
    for i, seg in enumerate(segments):
        group = [c for c in chunks if c.seg == i]
        if not seg.words:
            # Without word times there is no honest place to split: one label for the whole segment.
            whole = _best(normalize(sum(c.emb for c in group)), cents)
            for c in group:
                c.label = whole
        _smooth_turns(group, cents)
        runs: list[list[_Chunk]] = []
        for c in group:
            if runs and runs[-1][0].label == c.label:
                runs[-1].append(c)
            else:
                runs.append([c])
        for r in range(len(runs) - 1):
            _refine_change(audio, embedder, runs[r][-1], runs[r + 1][0], cents)
        for r, run in enumerate(runs):
            lines.append((_make_line(seg, run, r == 0, r == len(runs) - 1), run))

    line_emb = [normalize(sum(c.emb * (c.end - c.start + 1e-3) for c in run)) for _, run in lines]
    line_lab = [run[0].label for _, run in lines]
    _absorb_short_lines(lines, line_emb, line_lab, cents)
    if num_speakers is None:
        _drop_ghosts(lines, line_emb, line_lab, cents)
    return _finish(lines, line_emb, line_lab, segments[0].id)


def _absorb_short_lines(lines, line_emb, line_lab, cents) -> None:  # type: ignore[no-untyped-def]
    """A line under SHORT_LINE s carries too little voice to be trusted: use a neighbour's label."""
    n = len(lines)
    for i, (seg, _) in enumerate(lines):
        if speech_seconds(seg) >= SHORT_LINE or n == 1:
            continue
        options = [
            line_lab[j] for j in (i - 1, i + 1) if 0 <= j < n and speech_seconds(lines[j][0]) >= SHORT_LINE
        ]
        options = options or [line_lab[j] for j in (i - 1, i + 1) if 0 <= j < n]
        line_lab[i] = max(options, key=lambda k: float(line_emb[i] @ cents[k]))


def _drop_ghosts(lines, line_emb, line_lab, cents) -> None:  # type: ignore[no-untyped-def]
    """Clusters with under MIN_SPEAKER_SECONDS of speech are noise/overlap artefacts: re-home their lines."""
    while len(set(line_lab)) > 1:
        seconds: dict[int, float] = {}
        for (seg, _), lab in zip(lines, line_lab):
            seconds[lab] = seconds.get(lab, 0.0) + speech_seconds(seg)
        ghost = min(seconds, key=seconds.__getitem__)
        if seconds[ghost] >= MIN_SPEAKER_SECONDS:
            return
        live = {k: v for k, v in cents.items() if k in seconds and k != ghost}
        for i, lab in enumerate(line_lab):
            if lab == ghost:
                line_lab[i] = _best(line_emb[i], live)


def _finish(lines, line_emb, line_lab, first_id: int) -> DiarizationResult:  # type: ignore[no-untyped-def]
    # Labels S1, S2, ... in order of first appearance, so reruns on the same input are stable.
    names: dict[int, str] = {}
    for lab in line_lab:
        names.setdefault(lab, f"S{len(names) + 1}")
    out: list[Segment] = []
    sums: dict[str, np.ndarray] = {}
    secs: dict[str, float] = {}
    for k, ((seg, run), lab) in enumerate(zip(lines, line_lab)):
        name = names[lab]
        out.append(seg.model_copy(update={"id": first_id + k, "speaker": name}))
        speech = speech_seconds(seg)
        sums[name] = sums.get(name, 0) + line_emb[k] * max(speech, 1e-3)
        secs[name] = secs.get(name, 0.0) + speech
    speakers = {name: SpeakerInfo(normalize(sums[name]), secs[name]) for name in names.values()}
    return DiarizationResult(out, speakers)
