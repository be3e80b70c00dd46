"""Studio, issue 11: the Avatars page (upload a photo, a clear error for a photo without a face, make the
avatar speak, watch it, history) and the Lecture page (slides preview as you type, progress, each
fragment playable, the whole lecture) in Chromium with Playwright, against the real server and
engines. Screenshots: test-artifacts/avatars-page.png, test-artifacts/lecture-page.png."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO, media_file
from tests.helpers import start_server

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.slow
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture
def page(tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed")
    ARTIFACTS.mkdir(exist_ok=True)
    proc, base = start_server(tmp_path / "data")
    try:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                                               "--autoplay-policy=no-user-gesture-required"])
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.base = base
            yield page
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)


def test_avatars_and_lecture_pages(page, tmp_path) -> None:
    import cv2

    expect = sync_api.expect
    blank = tmp_path / "wall.png"
    cv2.imwrite(str(blank), np.full((300, 300, 3), 190, np.uint8))

    page.goto(page.base + "/")
    page.get_by_role("link", name="Avatars").click()
    expect(page.get_by_role("heading", name="New avatar")).to_be_visible()
    page.set_input_files("#avatar-photo", str(blank))
    page.fill("#avatar-name", "Wall")
    page.click("#avatar-btn")
    expect(page.locator("#alert")).to_contain_text("no face found", timeout=30000)

    page.set_input_files("#avatar-photo", str(media_file("portrait/st_people_0.png")))
    page.fill("#avatar-name", "Anna")
    page.fill("#avatar-desc", "presenter")
    page.click("#avatar-btn")
    expect(page.locator(".avatar-card h3")).to_have_text(["Anna"], timeout=30000)
    expect(page.locator("#animate-panel")).to_be_visible()
    page.select_option("#animate-lang", "ru")
    page.fill("#animate-text", "Добрый день! Меня зовут Анна.")
    page.click("#animate-btn")
    expect(page.locator("#history tbody tr .status")).to_have_text(["done"], timeout=180000)
    video = page.locator("#animate-video")
    expect(video).to_be_visible()
    page.wait_for_function("document.querySelector('#animate-video').readyState >= 1", timeout=30000)
    assert page.evaluate("document.querySelector('#animate-video').duration") > 1.5
    assert page.evaluate("document.querySelector('#animate-video').videoWidth") == 512
    page.screenshot(path=str(ARTIFACTS / "avatars-page.png"), full_page=True)

    page.get_by_role("link", name="Lecture").click()
    expect(page.get_by_role("heading", name="Video lecture")).to_be_visible()
    page.set_input_files("#lecture-face", str(media_file("portrait/st_happy.png")))
    page.fill("#lecture-delim", "##")
    page.fill("#lecture-text", "Первый слайд.\n##\nВторой слайд. Он немного длиннее.")
    expect(page.locator("#preview-count")).to_have_text("(2 slides, 2 fragments)")
    expect(page.locator("#slides-preview li")).to_have_count(2)
    page.click("#lecture-btn")
    expect(page.locator("#lecture-done")).to_be_visible(timeout=180000)
    expect(page.locator("#fragments video")).to_have_count(2)
    expect(page.locator("#lecture-map")).to_have_text("[[0],[1]]")
    page.wait_for_function("document.querySelector('#lecture-video').readyState >= 1", timeout=30000)
    assert page.evaluate("document.querySelector('#lecture-video').duration") > 2.0
    page.screenshot(path=str(ARTIFACTS / "lecture-page.png"), full_page=True)
