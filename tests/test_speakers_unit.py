"""Fast diarization/profile logic tests with a fake embedder (no model, no media)."""

from __future__ import annotations

import numpy as np
import pytest

from polydub.audio import Audio
from polydub.project import Segment, Word
from polydub.speakers.diarize import diarize
from polydub.speakers.embedding import SpeakerEmbedder, cosine
from polydub.speakers.profiles import ProfileStore

RATE = 16000


class ToneEmbedder(SpeakerEmbedder):
    """Speaker identity = the constant sample value (0.1 -> speaker 1, 0.2 -> speaker 2...).

    A clip holding two speakers gets the duration-weighted mix of their vectors, like a real encoder.
    """

    name = "fake"
    dim = 8

    @classmethod
    def is_available(cls) -> bool:
        return True

    def _embed_pcm(self, pcm16k: np.ndarray) -> np.ndarray:
        ids = np.rint(pcm16k * 10).astype(int) % self.dim
        vec = np.bincount(ids, minlength=self.dim).astype(np.float32) / len(ids)
        return vec + 0.05


def track(spans: list[tuple[float, float, int]], total: float) -> Audio:
    x = np.zeros(int(total * RATE), dtype=np.float32)
    for start, end, spk in spans:
        x[int(start * RATE) : int(end * RATE)] = spk / 10.0
    return Audio(x, RATE)


def words(start: float, end: float, n: int, tag: str) -> list[Word]:
    edges = np.linspace(start, end, n + 1)
    return [
        Word(start=float(a), end=float(b), text=f" {tag}{i}")
        for i, (a, b) in enumerate(zip(edges[:-1], edges[1:], strict=True))
    ]


def seg(i: int, start: float, end: float, ws: list[Word]) -> Segment:
    return Segment(id=i, start=start, end=end, text="".join(w.text for w in ws).strip(), words=ws)


def test_cosine() -> None:
    assert cosine(np.array([1.0, 0.0]), np.array([2.0, 0.0])) == pytest.approx(1.0)
    assert cosine(np.array([1.0, 0.0]), np.array([0.0, 3.0])) == pytest.approx(0.0)
    assert cosine(np.zeros(3), np.ones(3)) == 0.0


def test_split_inside_segment_and_renumber() -> None:
    audio = track([(0, 3, 1), (3, 6, 2), (6.5, 9, 1)], 9.5)
    segs = [
        seg(5, 0.0, 6.0, words(0, 3, 6, "a") + words(3, 6, 6, "b")),
        seg(6, 6.5, 9.0, words(6.5, 9, 5, "c")),
    ]
    result = diarize(audio, segs, embedder=ToneEmbedder())
    assert [s.speaker for s in result.segments] == ["S1", "S2", "S1"]
    assert [s.id for s in result.segments] == [5, 6, 7]
    assert result.segments[0].text.startswith("a0") and result.segments[1].text.startswith("b0")
    assert result.segments[1].start == pytest.approx(3.0) and result.segments[0].end == pytest.approx(3.0)
    assert set(result.speakers) == {"S1", "S2"}
    assert result.speakers["S1"].seconds > result.speakers["S2"].seconds
    assert segs[0].speaker == "S1" and len(segs[0].words) == 12  # inputs untouched
    # Split halves are separate lines: a mark on one (e.g. a deferred rendering) is not on the other.
    result.segments[0].metrics["mark"] = True
    assert "mark" not in result.segments[1].metrics and "mark" not in segs[0].metrics


def test_short_line_takes_neighbour_label() -> None:
    audio = track([(0, 3, 1), (3.2, 3.6, 3), (4, 7, 1)], 7.5)
    segs = [seg(0, 0, 3, words(0, 3, 6, "a")), seg(1, 3.2, 3.6, words(3.2, 3.6, 1, "x")),
            seg(2, 4, 7, words(4, 7, 6, "b"))]
    result = diarize(audio, segs, embedder=ToneEmbedder())
    assert [s.speaker for s in result.segments] == ["S1", "S1", "S1"]
    assert list(result.speakers) == ["S1"]


def test_forced_count_and_labels_by_first_appearance() -> None:
    audio = track([(0, 2, 3), (2.5, 4.5, 1), (5, 7, 2)], 7.5)
    segs = [seg(0, 0, 2, words(0, 2, 4, "a")), seg(1, 2.5, 4.5, words(2.5, 4.5, 4, "b")),
            seg(2, 5, 7, words(5, 7, 4, "c"))]
    auto = diarize(audio, segs, embedder=ToneEmbedder())
    assert [s.speaker for s in auto.segments] == ["S1", "S2", "S3"]
    forced = diarize(audio, segs, num_speakers=1, embedder=ToneEmbedder())
    assert {s.speaker for s in forced.segments} == {"S1"}
    assert diarize(audio, [], embedder=ToneEmbedder()).segments == []


def test_profile_store_crud(tmp_path) -> None:
    sample = tmp_path / "in" / "clip.wav"
    track([(0, 1, 1)], 1).write(sample)
    store = ProfileStore(tmp_path / "data" / "profiles.sqlite")
    e1, e2 = np.eye(4, dtype=np.float32)[0], np.eye(4, dtype=np.float32)[1]
    prof = store.add("Alice", [e1, e1 * 3], samples=[sample], embedder="fake")
    assert prof.embeddings.shape == (2, 4) and cosine(prof.embedding, e1) == pytest.approx(1.0)
    assert prof.samples[0].is_file() and prof.samples[0] != sample
    store.add("Bob", e2)
    store.add("Alice", [e2])  # enrol more speech: mean moves between the two
    assert store.get("Alice").embeddings.shape == (3, 4)
    store.set_voice("Alice", "es", "ef_dora")
    store.set_voice("Alice", "de", "de_x")
    store.set_adaptation("Alice", {"pitch_shift": 1.5})
    store.rename("Alice", "Alicia")
    store.close()

    again = ProfileStore(tmp_path / "data" / "profiles.sqlite")  # persisted on disk
    assert [p.name for p in again.list()] == ["Alicia", "Bob"]
    alicia = again.get("Alicia")
    assert alicia.voices == {"es": "ef_dora", "de": "de_x"} and alicia.adaptation == {"pitch_shift": 1.5}
    assert alicia.samples[0].is_file()
    match, score = again.match(e2)
    assert match is not None and match.name == "Bob" and score == pytest.approx(1.0)
    none, low = again.match(np.array([0, 0, 1, 0], np.float32))
    assert none is None and low < 0.7
    with pytest.raises(ValueError):
        again.rename("Bob", "Alicia")
    assert again.remove("Alicia") and not alicia.samples[0].exists()
    assert not again.remove("Alicia")
    with pytest.raises(KeyError):
        again.set_voice("nobody", "es", "v")


def test_segments_without_words_get_one_label_each() -> None:
    audio = track([(0, 3, 1), (3.5, 6.5, 2)], 7.0)
    segs = [Segment(id=0, start=0, end=3, text="one"), Segment(id=1, start=3.5, end=6.5, text="two"),
            Segment(id=2, start=6.9, end=9.0, text="past the end")]
    result = diarize(audio, segs, embedder=ToneEmbedder())
    assert [s.text for s in result.segments] == ["one", "two", "past the end"]
    assert [s.speaker for s in result.segments][:2] == ["S1", "S2"]
    assert result.as_dict()["S1"]["seconds"] > 0


def test_unsorted_input_and_first_id_kept() -> None:
    audio = track([(0, 3, 2), (3.5, 6.5, 1)], 7.0)
    segs = [seg(4, 3.5, 6.5, words(3.5, 6.5, 6, "b")), seg(3, 0, 3, words(0, 3, 6, "a"))]
    result = diarize(audio, segs, embedder=ToneEmbedder())
    assert [(s.id, s.speaker, s.text[:2]) for s in result.segments] == [(3, "S1", "a0"), (4, "S2", "b0")]


def test_ghost_speaker_inside_a_segment_is_rejoined() -> None:
    # 1.2 s of a second voice: enough to split the segment, too little (< 2 s) to be a speaker.
    audio = track([(0, 3.2, 1), (3.2, 4.4, 2), (4.8, 8, 1)], 8.5)
    segs = [seg(0, 0, 4.4, words(0, 3.2, 8, "a") + words(3.2, 4.4, 2, "g")), seg(1, 4.8, 8, words(4.8, 8, 6, "c"))]
    result = diarize(audio, segs, embedder=ToneEmbedder())
    assert [s.speaker for s in result.segments] == ["S1", "S1"]
    assert len(result.segments[0].words) == 10 and result.segments[0].end == pytest.approx(4.4)
    assert [s.id for s in result.segments] == [0, 1]


def test_dvector_batches_give_the_one_batch_embedding() -> None:
    """The encoder runs in small batches (ONNX Runtime keeps the biggest batch's memory): the
    embedding of a long stretch must not change with the batch size (real model, real speech)."""
    from polydub.speakers import dvector
    from polydub.speakers.embedding import default_embedder
    from tests.conftest import media_file

    audio = Audio.read(media_file("audio/fw_jfk.flac")).mono().resample(16000)
    embedder = default_embedder()
    small = embedder.embed(audio)
    saved = dvector.BATCH
    try:
        dvector.BATCH = 10 ** 6
        whole = embedder.embed(audio)
    finally:
        dvector.BATCH = saved
    assert np.dot(small, whole) > 0.9999
