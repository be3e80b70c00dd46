"""Browser tests of the studio: Playwright driving Debian Chromium against uvicorn on a random port.

Screenshots go to test-artifacts/. The fast test uses the fake pipeline (tests/test_server_fakes.py);
the slow one runs the real pipeline on vr_face_2.mp4.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO, media_file
from tests.helpers import start_server

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
ARTIFACTS = REPO / "test-artifacts"


def _server(tmp_path: Path, fake: bool):
    targets = ("task_targets={'dub': 'tests.test_server_fakes:fake_dub', "
               "'render': 'tests.test_server_fakes:fake_rerender'}" if fake else "")
    return start_server(tmp_path / "data", targets)


@pytest.fixture
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


def _flow(browser, base: str, clip: Path, prefix: str, timeout_ms: int) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(base + "/")
    page.wait_for_selector("#target-lang option[value=es]", state="attached")
    page.get_by_label("Dub into").select_option("es")
    page.set_input_files("#file-input", str(clip))
    page.screenshot(path=ARTIFACTS / f"{prefix}-1-new.png", full_page=True)
    page.get_by_role("button", name="Upload and dub").click()
    page.wait_for_url("**/#/jobs/*")
    page.wait_for_selector("#timeline li.active, #timeline li.done", timeout=timeout_ms)
    page.screenshot(path=ARTIFACTS / f"{prefix}-2-progress.png", full_page=True)
    page.wait_for_selector("#job-status .status.done", timeout=timeout_ms)
    page.wait_for_selector("#seg-table tbody tr")
    assert page.locator("#timeline li.done").count() >= 7
    page.screenshot(path=ARTIFACTS / f"{prefix}-3-done.png", full_page=True)
    # edit a translation (saved on blur), then re-render
    box = page.locator("#tr-0")
    box.fill("Una traducción corregida.")
    box.press("Tab")
    page.wait_for_selector("#render-note:has-text('Saved')")
    assert "changed" in (page.locator("#seg-table tbody tr").first.get_attribute("class") or "")
    speaker = page.locator("#spk-0")
    if speaker.locator("option").count() > 1:  # change the first speaker's voice
        voice = speaker.locator("option").nth(1).get_attribute("value")
        speaker.select_option(voice)
        page.wait_for_selector("#render-note:has-text('Voice of')")
        assert page.locator("#voice-0").input_value() == voice
    page.get_by_role("button", name="Re-render changed lines").click()
    page.wait_for_function("document.querySelector('#job-status').textContent.includes('done') && "
                           "!document.querySelector('#render-btn').disabled", timeout=timeout_ms)
    page.wait_for_timeout(500)
    assert page.locator("#tr-0").input_value() == "Una traducción corregida."
    page.screenshot(path=ARTIFACTS / f"{prefix}-4-rerendered.png", full_page=True)
    # play the dubbed video, then switch to the original
    page.wait_for_function("document.querySelector('#player').readyState >= 1", timeout=20_000)
    page.evaluate("document.querySelector('#player').muted = true; document.querySelector('#player').play()")
    page.wait_for_function("document.querySelector('#player').currentTime > 0.2", timeout=20_000)
    page.get_by_role("radio", name="Original").check()
    page.wait_for_function("document.querySelector('#player').src.includes('/original')")
    # download the dubbed media
    with page.expect_download() as dl:
        page.locator("#files a", has_text=".mp4").first.click()
    target = ARTIFACTS / f"{prefix}-download.mp4"
    dl.value.save_as(target)
    assert target.stat().st_size > 1000
    # errors are shown in words: a text file is refused
    page.goto(base + "/#/")
    bad = ARTIFACTS / "not-a-video.mp4"
    bad.write_text("hello, I am text\n" * 10)
    page.wait_for_selector("#target-lang option[value=es]", state="attached")
    page.set_input_files("#file-input", str(bad))
    page.get_by_role("button", name="Upload and dub").click()
    page.wait_for_selector("#alert:has-text('not a video or audio file')")
    page.screenshot(path=ARTIFACTS / f"{prefix}-5-error.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=ARTIFACTS / f"{prefix}-6-phone.png", full_page=True)
    assert not errors, errors


def test_studio_flow_fake_pipeline(browser, tmp_path):
    clip = media_file("video/vr_face_2.mp4")
    proc, base = _server(tmp_path, fake=True)
    try:
        _flow(browser, base, clip, "fake", 30_000)
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.slow
def test_studio_flow_real_pipeline(browser, tmp_path):
    clip = media_file("video/vr_face_2.mp4")
    pytest.importorskip("polydub.pipeline")
    proc, base = _server(tmp_path, fake=False)
    try:
        _flow(browser, base, clip, "real", 300_000)
    finally:
        proc.terminate()
        proc.wait(10)
