"""Who speaks when: label transcript segments with speakers S1, S2, ... from d-vector clusters.

Works on ASR segments with word timestamps: the speech is embedded once as 0.8 s windows every 0.2 s
(speakers/windows.py), so any stretch has an embedding for free. Each segment is first cut where the
voice before and after a word boundary differs (a change point), then into ~1-2 s chunks at word
boundaries; chunks are clustered (agglomerative, cosine), and a segment whose chunks disagree is split
at the word where the speaker changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from polydub.audio import Audio
from polydub.project import Segment
from polydub.speakers.chunks import MIN_TURN, Chunk, chunks_for, refine_change, speech_seconds
from polydub.speakers.embedding import SpeakerEmbedder, default_embedder, normalize
from polydub.speakers.windows import SpeechWindows

# Two steps: chunks are over-clustered at a tight cosine *distance* (1 - similarity, average
# linkage), then clusters whose centroids are MERGE_SIM alike are merged back. Chunks are noisy
# (same-speaker 1.5 s chunks 0.3-0.8 similarity), centroids are not. Swept on 13 real clips
# (shared/media + the two-speaker constructions): threshold 0.30-0.35 with MERGE_SIM 0.65-0.70 got
# every speaker count right; threshold 0.40 merged the overlapped pair in fw_stereo_diarization,
# MERGE_SIM 0.75 split fw_jfk.
DEFAULT_THRESHOLD = 0.35
SHORT_LINE = 1.0  # lines shorter than this take a neighbour's label instead of founding a speaker
# Automatic mode: centroids this similar are one speaker (same voice 0.78-0.87, different
# 0.24-0.44, the overlapped pair in fw_stereo_diarization ~0.62).
MERGE_SIM = 0.7
# Automatic mode: a cluster with less speech is a ghost (noise, a mixed turn change), merged away.
MIN_SPEAKER_SECONDS = 2.0
# ...but in a short file a real speaker may have less than that: a cluster holding this share of all
# speech is never a ghost.
GHOST_SHARE = 0.25
# Two clusters that never meet inside a segment (every change between them is at a pause) and of which
# one holds little speech are one voice down to this centroid similarity. Across a pause one person's
# voice can shift register (vr_face_5: one woman, median F0 163 Hz, then 209 Hz after a 0.9 s pause;
# her two sentences measure 0.68), and one speaker's word-aligned stretches of 1.2-2 s agree 0.59 at
# the 5th percentile (mean 0.72-0.77; 87 pairs from 9 shared single-speaker clips); different people
# measured 0.04-0.47. Inside continuous speech a voice does not jump, so there MERGE_SIM stays the
# rule (the overlapped pair in fw_stereo_diarization: 0.65).
ACROSS_PAUSE_SIM = 0.55
LOW_EVIDENCE_SECONDS = 3.0  # stretches of 2-3 s of one speaker agree 0.83-0.87: below 0.7 is two people


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


_Lines = list[tuple[Segment, list[Chunk]]]  # output lines with the chunks they were built from
_Cents = dict[int, np.ndarray]  # cluster label -> unit-norm centroid


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


def _centroids(chunks: list[Chunk]) -> _Cents:
    """Duration-weighted mean embedding per label (longer chunks give more reliable vectors)."""
    sums: dict[int, np.ndarray] = {}
    for c in chunks:
        assert c.emb is not None
        sums[c.label] = sums.get(c.label, 0) + c.emb * max(c.end - c.start, 0.1)
    return {k: normalize(v) for k, v in sums.items()}


def _merge_close(chunks: list[Chunk], cents: _Cents) -> _Cents:
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


def _run_embedding(run: list[Chunk]) -> np.ndarray:
    return normalize(sum(c.emb * (c.end - c.start + 1e-3) for c in run))  # type: ignore[operator]


def _best(emb: np.ndarray, cents: _Cents, exclude: int | None = None) -> int:
    options = {k: float(emb @ v) for k, v in cents.items() if k != exclude}
    return max(options, key=options.__getitem__)


def _smooth_turns(group: list[Chunk], cents: _Cents) -> None:
    """Inside one segment, runs shorter than MIN_TURN take the label of the better-matching neighbour run."""
    changed = True
    while changed:
        changed = False
        runs: list[list[Chunk]] = []
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


def _make_line(seg: Segment, chunks: list[Chunk], first: bool, last: bool) -> Segment:
    words = [w for c in chunks for w in c.words]
    if not words or (first and last):
        return seg.model_copy(deep=True)
    joiner = "" if any(w.text.startswith(" ") for w in words) else " "
    text = joiner.join(w.text for w in words).strip()
    start = seg.start if first else words[0].start
    end = seg.end if last else words[-1].end
    # A split line no longer matches any translation/dub made for the whole segment, and gets
    # metrics of its own (a shallow copy would share one dict between the halves).
    return seg.model_copy(
        update={"start": start, "end": end, "text": text, "words": words, "translation": None,
                "audio": None, "audio_key": None, "dub_start": None, "dub_end": None, "metrics": {}}
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
    first_id = min(s.id for s in segments)
    segments = sorted(segments, key=lambda s: (s.start, s.end))  # "first appearance" needs time order
    embedder = embedder or default_embedder()
    audio = audio16k.mono()
    windows = SpeechWindows(audio, embedder, [(s.start, s.end) for s in segments])
    chunks = [c for i, seg in enumerate(segments) for c in chunks_for(i, seg, windows)]
    for c in chunks:
        c.emb = windows.embed(c.start, c.end)
    labels = _cluster(np.stack([c.emb for c in chunks]), num_speakers, threshold)
    for c, lab in zip(chunks, labels, strict=True):
        c.label = int(lab)
    # One refinement pass: nearest-centroid reassignment fixes chunks that average linkage left
    # with a marginal cluster.
    cents = _centroids(chunks)
    for c in chunks:
        c.label = _best(c.emb, cents)
    cents = _centroids(chunks)
    if num_speakers is None:
        cents = _merge_close(chunks, cents)

    lines: _Lines = []
    for i, seg in enumerate(segments):
        group = [c for c in chunks if c.seg == i]
        if not seg.words:
            # Without word times there is no honest place to split: one label for the whole segment.
            whole = _best(normalize(sum(c.emb for c in group)), cents)
            for c in group:
                c.label = whole
        _smooth_turns(group, cents)
        runs: list[list[Chunk]] = []
        for c in group:
            if runs and runs[-1][0].label == c.label:
                runs[-1].append(c)
            else:
                runs.append([c])
        for r in range(len(runs) - 1):
            refine_change(windows, runs[r][-1], runs[r + 1][0], cents)
        for r, run in enumerate(runs):
            lines.append((_make_line(seg, run, r == 0, r == len(runs) - 1), run))

    line_emb = [_run_embedding(run) for _, run in lines]
    line_lab = [run[0].label for _, run in lines]
    _absorb_short_lines(lines, line_emb, line_lab, cents)
    if num_speakers is None:
        _drop_ghosts(lines, line_emb, line_lab, cents)
        # Second merge on the final line labels: the fixes above move chunks between clusters, and
        # centroids of whole lines can now show that two clusters are one voice (seen with jfk).
        for (_, run), lab in zip(lines, line_lab, strict=True):
            for c in run:
                c.label = lab
        _merge_close(chunks, _centroids(chunks))
        line_lab = [run[0].label for _, run in lines]
        _merge_across_pauses(lines, line_lab, chunks)
    return _finish(_rejoin(lines, line_lab, segments, chunks), first_id)


def _absorb_short_lines(lines: _Lines, line_emb: list[np.ndarray], line_lab: list[int], cents: _Cents) -> None:
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


def _drop_ghosts(lines: _Lines, line_emb: list[np.ndarray], line_lab: list[int], cents: _Cents) -> None:
    """Clusters with under MIN_SPEAKER_SECONDS of speech are noise/overlap artefacts: re-home their lines."""
    while len(set(line_lab)) > 1:
        seconds: dict[int, float] = {}
        for (seg, _), lab in zip(lines, line_lab, strict=True):
            seconds[lab] = seconds.get(lab, 0.0) + speech_seconds(seg)
        ghost = min(seconds, key=seconds.__getitem__)
        if seconds[ghost] >= min(MIN_SPEAKER_SECONDS, GHOST_SHARE * sum(seconds.values())):
            return
        live = {k: v for k, v in cents.items() if k in seconds and k != ghost}
        for i, lab in enumerate(line_lab):
            if lab == ghost:
                line_lab[i] = _best(line_emb[i], live)


def _merge_across_pauses(lines: _Lines, line_lab: list[int], chunks: list[Chunk]) -> None:
    """Merge clusters that only ever alternate at pauses, are ACROSS_PAUSE_SIM alike and of which one
    has under LOW_EVIDENCE_SECONDS of speech: one person's sentences, not two people."""
    while len(set(line_lab)) > 1:
        for (_, run), lab in zip(lines, line_lab, strict=True):
            for c in run:
                c.label = lab
        cents = _centroids(chunks)
        seconds: dict[int, float] = {}
        by_segment: dict[int, set[int]] = {}
        for (seg, run), lab in zip(lines, line_lab, strict=True):
            seconds[lab] = seconds.get(lab, 0.0) + speech_seconds(seg)
            by_segment.setdefault(run[0].seg, set()).add(lab)
        met = {(a, b) for labs in by_segment.values() for a in labs for b in labs}
        pairs = [(float(cents[a] @ cents[b]), a, b) for a in seconds for b in seconds
                 if a < b and (a, b) not in met and min(seconds[a], seconds[b]) < LOW_EVIDENCE_SECONDS]
        best = max(pairs, default=None)
        if best is None or best[0] < ACROSS_PAUSE_SIM:
            return
        _sim, keep, gone = best
        if seconds[gone] > seconds[keep]:
            keep, gone = gone, keep
        line_lab[:] = [keep if lab == gone else lab for lab in line_lab]


def _rejoin(
    lines: _Lines, line_lab: list[int], segments: list[Segment], chunks: list[Chunk]
) -> list[tuple[Segment, list[Chunk], int]]:
    """Pieces of one segment that ended up with the same speaker (after short-line and ghost fixes)
    become one line again: a split is only worth it where the speaker really changes."""
    groups: dict[int, list[Chunk]] = {}
    for c in chunks:
        groups.setdefault(c.seg, []).append(c)
    out: list[tuple[Segment, list[Chunk], int]] = []
    for (seg, run), lab in zip(lines, line_lab, strict=True):
        if out and out[-1][2] == lab and out[-1][1][0].seg == run[0].seg:
            run = out.pop()[1] + run
            own = groups[run[0].seg]
            seg = _make_line(segments[run[0].seg], run, run[0] is own[0], run[-1] is own[-1])
        out.append((seg, run, lab))
    return out


def _finish(lines: list[tuple[Segment, list[Chunk], int]], first_id: int) -> DiarizationResult:
    # Labels S1, S2, ... in order of first appearance, so reruns on the same input are stable.
    names: dict[int, str] = {}
    for _, _, lab in lines:
        names.setdefault(lab, f"S{len(names) + 1}")
    out: list[Segment] = []
    sums: dict[str, np.ndarray] = {}
    secs: dict[str, float] = {}
    for k, (seg, run, lab) in enumerate(lines):
        name = names[lab]
        out.append(seg.model_copy(update={"id": first_id + k, "speaker": name}))  # seg is _make_line's copy
        speech = speech_seconds(seg)
        sums[name] = sums.get(name, 0) + _run_embedding(run) * max(speech, 1e-3)
        secs[name] = secs.get(name, 0.0) + speech
    speakers = {name: SpeakerInfo(normalize(sums[name]), secs[name]) for name in names.values()}
    return DiarizationResult(out, speakers)
