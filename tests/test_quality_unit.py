"""Quality stage without models: metrics, shortening, summary, HTML report and eval table."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from polydub.audio import Audio
from polydub.pipeline.evaluate import print_table, row_from_report, totals, write_rows
from polydub.project import Word
from polydub.quality.checks import Thresholds, Tools
from polydub.quality.html_report import write_html_report
from polydub.quality.metrics import cer, percentile, text_similarity
from polydub.quality.shorten import drop_leading_conjunction, remove_fillers, shorter_variants
from polydub.quality.summary import build_summary, public_quality


def test_cer_ignores_case_punctuation_and_accents() -> None:
    assert cer("¿Qué tal, amigo?", "que tal amigo") == 0.0
    assert cer("hola", "") == 1.0
    assert abs(cer("distrito congresional", "distrito congressional de") - 3 / 20) < 1e-9


def test_text_similarity_orders_close_above_unrelated() -> None:
    src = "ask not what your country can do for you"
    close = "do not ask what your country can do for you"
    unrelated = "the weather in the mountains was cold and rainy"
    assert text_similarity(src, close) > 0.6 > text_similarity(src, unrelated)
    assert text_similarity("", "") == 1.0


def test_percentile() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 50) == 3.0
    assert percentile([], 95) is None
    assert abs(percentile([1.0, 1.25], 95) - 1.2375) < 1e-9


def test_shorter_variants_are_shorter_and_keep_content() -> None:
    text = "Y bueno, pues realmente (como dije) persigo mis propios sueños."
    variants = shorter_variants(text, "es")
    assert variants, "expected shorter variants"
    lengths = [len(t) for _, t in variants]
    assert all(n < len(text) for n in lengths)
    assert all("sueños" in t for _, t in variants)
    assert remove_fillers("Well, I just think so.", "en") == "I think."
    assert drop_leading_conjunction("and the heart of my district", "en") == "The heart of my district"
    assert shorter_variants("Hola.", "es") == []


def _report() -> dict:
    segs = []
    for i, (tempo, overflow, cer_value, flags) in enumerate(
            [(1.0, 0.0, 0.02, []), (1.25, 0.4, 0.3, ["overflow", "unintelligible"]), (1.1, 0.0, 0.0, [])]):
        q = {"tempo": tempo, "overflow_s": overflow, "cer": cer_value, "similarity": 0.3 + 0.1 * i,
             "backtranslation_score": 0.6, "flags": flags,
             "repairs": [{"check": "overflow", "action": "remove_fillers", "before": 0.5, "after": 0.4,
                          "kept": True}] if flags else [], "audio_key": "x", "bt_key": "y"}
        segs.append({"id": i, "start": 2.0 * i, "end": 2.0 * i + 1.5, "speaker": f"S{1 + i % 2}",
                     "text": f"line <{i}> & more", "translation": f"línea {i}", "voice": "kokoro:ef_dora",
                     "dub_start": 2.0 * i, "dub_end": 2.0 * i + 1.6, "tempo": tempo, "overflow": overflow,
                     "audio": f"lines/{i:04d}.wav", "quality": public_quality({"quality": q})})
    stages = {"transcribe": 2.0, "synthesize": 3.0, "quality": 1.0}
    return {"polydub_version": "t", "input": "/x/clip.mp4", "source_language": "en", "target_language": "es",
            "engines": {"mt": {"name": "apertium", "tier": "basic"}, "tts": "kokoro"}, "segments": segs,
            "timing": {"total_seconds": 6.0, "media_seconds": 6.0, "real_time_factor": 1.0, "stages": stages},
            "warnings": ["something <odd>"], "summary": build_summary(segs, stages, 6.0)}


def test_summary_counts_and_public_quality_hides_cache_keys() -> None:
    report = _report()
    summary = report["summary"]
    assert summary["lines"] == 3 and summary["checked"] == 3
    assert summary["passing"]["timing"] == 2 and summary["passing"]["intelligibility"] == 2
    assert summary["passing"]["all"] == 2 and summary["flagged"] == [1]
    assert summary["in_slot_percent"] == 66.7
    assert summary["tempo_p95"] > summary["tempo_mean"] > 1.0
    assert set(summary["similarity_per_speaker"]) == {"S1", "S2"}
    assert summary["rtf_per_stage"]["synthesize"] == 0.5
    quality = report["segments"][1]["quality"]
    for key in ("tempo", "overflow_s", "cer", "similarity", "backtranslation_score", "flags", "repairs"):
        assert key in quality
    assert "audio_key" not in quality and "bt_key" not in quality
    json.dumps(report)  # report.json must stay serialisable


def test_html_report_is_self_contained_with_plots(tmp_path: Path) -> None:
    path = write_html_report(_report(), tmp_path)
    page = path.read_text(encoding="utf-8")
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 4  # timeline, tempo histogram, CER/similarity, stage timings
    for data in images:
        assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert "line &lt;1&gt; &amp; more" in page  # text is escaped
    assert "remove_fillers" in page  # flagged lines list the repairs tried


def test_eval_rows_table_and_files(tmp_path: Path, capsys) -> None:
    report = _report()
    row = row_from_report(Path("clip.mp4"), report, 12.0)
    assert row["lines"] == 3 and row["flagged"] == 1 and row["languages"] == "en→es"
    failed = {"file": "bad.mp4", "error": "boom", "lines": None}
    rows = [row, failed]
    total = totals(rows)
    assert total["lines"] == 3 and total["error"] == "1 failed"
    csv_path, json_path = write_rows(rows, tmp_path)
    assert csv_path.read_text().splitlines()[0].startswith("file,languages")
    assert json.loads(json_path.read_text())[0]["file"] == "clip.mp4"
    from rich.console import Console

    print_table(rows + [total], Console(width=200))
    out = capsys.readouterr().out
    assert "clip.mp4" in out and "% in slot" in out


class _Recognizer:
    """Hears a fixed text for a single line, nothing at all in a batch of lines."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def transcribe(self, audio: Audio, language: str):
        self.calls.append(audio.duration)
        single = audio.duration < 3.0
        words = [Word(start=0.3, end=0.8, text=" hola"), Word(start=0.8, end=1.2, text=" amigos")]
        return SimpleNamespace(words=words if single else [])


def test_line_unheard_in_a_batch_is_transcribed_on_its_own(tmp_path: Path) -> None:
    clips = []
    for name in ("a", "b"):
        path = tmp_path / f"{name}.wav"
        Audio(np.full(16000, 0.1, dtype=np.float32), 16000).write(path)
        clips.append((name, path))
    tools = Tools(Thresholds())
    tools._recognizer = recognizer = _Recognizer()
    tools.prefetch(clips, "es")
    assert len(recognizer.calls) == 1 and recognizer.calls[0] > 3.0  # one batch for both lines
    score, heard = tools.cer(clips[0][1], "hola amigos", "es", key="a")
    assert heard == "hola amigos" and score == 0.0  # not "nothing heard", CER 1.0
    assert len(recognizer.calls) == 2
