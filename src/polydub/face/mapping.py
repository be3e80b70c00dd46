"""Who speaks on screen: each diarized speaker is matched to the face tracks whose mouths move when
that speaker talks in the original.

For every track and speaker, the track's mouth motion (how much its lip opening changes, over a
~0.4 s window) is correlated with the speaker's speech activity (the original audio's loudness
inside that speaker's lines). A track belongs to the speaker it correlates with best when the
correlation is clear and beats the other speakers; a face that moves with nobody (listener,
photo on the wall) is nobody's, and a speaker with no such face is off screen.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from polydub.audio import Audio
from polydub.face.driver import frame_loudness
from polydub.face.tracks import FaceTracks

MIN_SCORE = 0.2  # correlation needed to call a face a speaker's
MIN_MARGIN = 0.1  # ...and by how much it must beat the next speaker
MIN_OVERLAP_S = 0.8  # the face must be seen while the speaker talks at least this long
WINDOW_S = 0.4
# A lone face while a lone voice talks (a presenter who never pauses) cannot be matched by
# correlation; it is taken when its lips visibly move while the voice is heard.
LONE_FACE_CONFIDENCE = 0.6
MIN_SPEAKING_MOTION = 0.012  # std of the lip opening while speaking, face heights


@dataclass
class TrackMatch:
    track: int
    speaker: str | None
    score: float  # correlation with that speaker's speech
    scores: dict[str, float] = field(default_factory=dict)  # every speaker's, for the report
    reason: str = ""


@dataclass
class SpeakerFaces:
    matches: dict[int, TrackMatch]

    def tracks_of(self, speaker: str) -> list[int]:
        return [m.track for m in self.matches.values() if m.speaker == speaker]

    def as_dict(self) -> dict:
        return {str(k): {"speaker": m.speaker, "confidence": round(m.score, 3),
                         "scores": {s: round(v, 3) for s, v in m.scores.items()}, "reason": m.reason}
                for k, m in self.matches.items()}


def _window_mean(values: np.ndarray, width: int) -> np.ndarray:
    if width <= 1 or len(values) < 2:
        return values
    kernel = np.ones(width) / width
    return np.convolve(np.pad(values, (width // 2, width - 1 - width // 2), mode="edge"), kernel, mode="valid")


def mouth_motion(tracks: FaceTracks, track_id: int) -> tuple[np.ndarray, np.ndarray]:
    """(frame indices, motion) of a track: windowed mean absolute change of its lip opening."""
    track = tracks.track(track_id)
    gaps = track.gaps
    change = np.abs(np.diff(gaps, prepend=gaps[0]))
    width = max(1, int(round(WINDOW_S * tracks.fps)))
    return track.frames, _window_mean(change, width)


def speaker_activity(tracks: FaceTracks, lines: list[tuple[str, float, float]],
                     original: Audio) -> dict[str, np.ndarray]:
    """Per speaker, per frame: loudness of the original while that speaker's lines play (0 elsewhere)."""
    loud = frame_loudness(original, tracks.times)
    width = max(1, int(round(WINDOW_S * tracks.fps)))
    out: dict[str, np.ndarray] = {}
    for speaker, start, end in lines:
        inside = (tracks.times >= start) & (tracks.times < end)
        out.setdefault(speaker, np.zeros(len(tracks.times)))
        out[speaker][inside] = loud[inside]
    return {s: _window_mean(a, width) for s, a in out.items()}


def match_speakers(tracks: FaceTracks, lines: list[tuple[str, float, float]], original: Audio) -> SpeakerFaces:
    """Match every face track to a speaker (or to nobody, with the reason)."""
    activity = speaker_activity(tracks, lines, original)
    matches: dict[int, TrackMatch] = {}
    for track in tracks.tracks:
        frames, motion = mouth_motion(tracks, track.id)
        scores: dict[str, float] = {}
        overlap: dict[str, float] = {}
        for speaker, act in activity.items():
            a = act[frames]
            overlap[speaker] = float((a > 0).sum() / max(tracks.fps, 1e-6))
            if np.std(a) < 1e-6 or np.std(motion) < 1e-6:
                scores[speaker] = 0.0
                continue
            scores[speaker] = float(np.corrcoef(motion, a)[0, 1])
        if not scores:
            matches[track.id] = TrackMatch(track.id, None, 0.0, {}, "no speech while this face is visible")
            continue
        ranked = sorted(scores.items(), key=lambda kv: -kv[1])
        best, score = ranked[0]
        runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
        lone = _lone_speaking_face(tracks, track, activity, overlap)
        if score < MIN_SCORE and lone is not None:
            matches[track.id] = TrackMatch(track.id, lone, LONE_FACE_CONFIDENCE, scores,
                                           f"the only face on screen while {lone} speaks, and its lips move")
        elif overlap[best] < MIN_OVERLAP_S:
            reason = f"seen for only {overlap[best]:.1f} s while {best} speaks"
            matches[track.id] = TrackMatch(track.id, None, score, scores, reason)
        elif score < MIN_SCORE:
            reason = f"mouth does not move with any speaker (best {best}: {score:.2f})"
            matches[track.id] = TrackMatch(track.id, None, score, scores, reason)
        elif score - runner_up < MIN_MARGIN:
            reason = f"cannot tell {best} from {ranked[1][0]} ({score:.2f} vs {runner_up:.2f})"
            matches[track.id] = TrackMatch(track.id, None, score, scores, reason)
        else:
            matches[track.id] = TrackMatch(track.id, best, score, scores, "mouth moves with this speaker")
    _one_face_per_speaker_per_shot(tracks, matches)
    return SpeakerFaces(matches)


def _lone_speaking_face(tracks: FaceTracks, track, activity: dict[str, np.ndarray],
                        overlap: dict[str, float]) -> str | None:
    """The speaker this track must be when it is alone on screen with one voice and its lips move."""
    voices = [s for s, seconds in overlap.items() if seconds >= MIN_OVERLAP_S]
    if len(voices) != 1:
        return None
    speaker = voices[0]
    frames = track.frames
    speaking = activity[speaker][frames] > 0
    alone = np.array([len(tracks.visible(int(f))) == 1 for f in frames])
    if speaking.sum() < MIN_OVERLAP_S * tracks.fps or (alone & speaking).sum() < 0.8 * speaking.sum():
        return None
    if float(np.std(track.gaps[speaking])) < MIN_SPEAKING_MOTION:
        return None
    return speaker


def _one_face_per_speaker_per_shot(tracks: FaceTracks, matches: dict[int, TrackMatch]) -> None:
    """Two faces in one shot cannot both be the same voice: the weaker match is dropped."""
    by_key: dict[tuple[int, str], list[TrackMatch]] = {}
    for m in matches.values():
        if m.speaker is not None:
            track = tracks.track(m.track)
            by_key.setdefault((track.shot, m.speaker), []).append(m)
    for (_shot, speaker), group in by_key.items():
        group.sort(key=lambda m: -m.score)
        for m in group[1:]:
            if tracks.track(m.track).first <= tracks.track(group[0].track).last and \
                    tracks.track(group[0].track).first <= tracks.track(m.track).last:
                m.speaker = None
                m.reason = f"another face moves more with {speaker} ({group[0].score:.2f})"
