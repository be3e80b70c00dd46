"""The studio shows the server's limits before the server has to refuse (issue 15): a bounded text
box carries the limit from GET /api/limits as maxlength and a character counter. Playwright driving
Debian Chromium against the real server with the fake pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest

from polydub import limits
from tests.conftest import REPO, media_file
from tests.helpers import start_server
from tests.test_studio_browser import ARGS, CHROMIUM

sync_api = pytest.importorskip("playwright.sync_api")


def test_line_editor_counts_characters_up_to_the_server_limit(tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed")
    fakes = "tests.test_server_fakes"
    targets = f"task_targets={{'dub': '{fakes}:fake_dub', 'render': '{fakes}:fake_rerender'}}"
    proc, base = start_server(tmp_path / "data", targets)
    try:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(base + "/")
            page.wait_for_selector("#target-lang option[value=es]", state="attached")
            page.get_by_label("Dub into").select_option("es")
            page.set_input_files("#file-input", str(media_file("video/vr_face_2.mp4")))
            page.get_by_role("button", name="Upload and dub").click()
            page.wait_for_selector("#seg-table tbody tr", timeout=30_000)
            box = page.locator("#tr-0")
            box.click()
            page.keyboard.press("End")
            page.keyboard.type(" más")
            counter = page.locator("#tr-0 + .char-count")
            counter.wait_for()
            used = len(box.input_value())
            assert counter.inner_text() == f"{used}/{limits.LINE_TEXT_CHARS}"
            assert box.evaluate("el => el.maxLength") == limits.LINE_TEXT_CHARS
            # typing past the limit stops at it, and the counter says so
            box.fill("a" * (limits.LINE_TEXT_CHARS - 2))
            page.keyboard.type("bcdef")
            assert len(box.input_value()) == limits.LINE_TEXT_CHARS
            assert counter.inner_text() == f"{limits.LINE_TEXT_CHARS}/{limits.LINE_TEXT_CHARS}"
            assert "near-limit" in (counter.get_attribute("class") or "")
            (REPO / "test-artifacts").mkdir(exist_ok=True)
            page.screenshot(path=REPO / "test-artifacts" / "limits-counter.png", full_page=True)
            assert not errors, errors
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)
