"""The studio's Live page and the browser extension in Chromium (Playwright), against the real server.

- Live page: Chromium's fake capture device plays a real shared recording into getUserMedia (the
  "microphone"); the page streams it, receives the dub and plays it.
- Extension: loaded unpacked; the real tabCapture path runs (service worker → offscreen document →
  getUserMedia on the tab's stream) on a tab that plays a real recording. Headless Chromium cannot click
  the toolbar, so the extension is allow-listed for capture with --allowlisted-extension-id, which Chrome
  otherwise grants after a click on its icon (shared/MODELS.md, "Live audio in the browser").
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, media_file
from tests.live.conftest import get_json, wav16

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.slow
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
        "--autoplay-policy=no-user-gesture-required"]
ARTIFACTS = REPO / "test-artifacts"
EXTENSION = REPO / "extension"


@pytest.fixture(scope="module")
def chromium():
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as pw:
        yield pw


def test_extension_copy_of_the_live_client_is_current():
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "package_extension.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_live_page_streams_the_microphone_and_plays_the_dub(chromium, live_server, tmp_path):
    base, _ = live_server
    fake_mic = wav16(media_file("audio/fw_jfk.flac"), tmp_path)
    browser = chromium.chromium.launch(
        executable_path=CHROMIUM, headless=True, ignore_default_args=["--mute-audio"],
        args=[*ARGS, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
              f"--use-file-for-fake-audio-capture={fake_mic}"])
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(base + "/index.html")
        page.get_by_role("link", name="Live").click()
        page.wait_for_selector("#live-target option[value=es]", state="attached")
        page.get_by_label("The microphone").check()
        page.get_by_label("Spoken language").select_option("en")
        page.get_by_label("Dub into").select_option("es")
        page.get_by_role("button", name="Start live dub").click()
        page.wait_for_function("window.liveState.player && window.liveState.player.playedSeconds > 0.5",
                               timeout=240_000)
        page.wait_for_selector("#live-lines tbody tr td.lat:not(:empty)")
        row = page.locator("#live-lines tbody tr", has=page.locator("td.lat:not(:empty)")).first
        assert row.locator(".src").inner_text().strip() and row.locator(".tgt").inner_text().strip()
        state = page.evaluate("({peak: liveState.player.peak, chunks: liveState.player.chunks, "
                              "latencies: liveState.latencies, sent: liveState.client.streamSeconds})")
        assert state["chunks"] >= 1 and state["peak"] > 0.05 and state["latencies"] and state["sent"] > 2
        page.screenshot(path=ARTIFACTS / "live-page.png", full_page=True)
        page.get_by_role("button", name="Stop").click()
        page.wait_for_function("document.querySelector('#live-status').textContent.startsWith('Done')",
                               timeout=240_000)
        assert not errors, errors
    finally:
        browser.close()


def _unpacked_extension_id(path: Path) -> str:
    """Chrome's id for an unpacked extension: SHA-256 of its absolute path, hex digits mapped to a-p."""
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:32]
    return "".join(chr(ord("a") + int(c, 16)) for c in digest)


def test_extension_dubs_the_tab_it_captures(chromium, live_server, tmp_path):
    base, _ = live_server
    clip = wav16(media_file("video/vr_face_2.mp4"), tmp_path).read_bytes()
    ext_id = _unpacked_extension_id(EXTENSION)
    context = chromium.chromium.launch_persistent_context(
        str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, ignore_default_args=["--mute-audio"],
        args=[*ARGS, f"--disable-extensions-except={EXTENSION}", f"--load-extension={EXTENSION}",
              f"--allowlisted-extension-id={ext_id}"])
    try:
        worker = context.service_workers[0] if context.service_workers else context.wait_for_event("serviceworker")
        assert worker.url.startswith(f"chrome-extension://{ext_id}/")
        # settings through the options page, as a user would
        options = context.new_page()
        options.goto(f"chrome-extension://{ext_id}/options.html")
        options.get_by_label("polydub server").fill(base)
        options.get_by_label("The original sound while the dub speaks").select_option("0.15")
        options.get_by_role("button", name="Save").click()
        options.wait_for_selector("#result:has-text('Saved')")
        options.get_by_role("button", name="Test the connection").click()
        options.wait_for_selector("#result:has-text('Connected')", timeout=30_000)
        # a tab that plays real speech
        context.route(f"{base}/__test__/clip.wav", lambda route: route.fulfill(body=clip, content_type="audio/wav"))
        context.route(f"{base}/__test__/tab.html", lambda route: route.fulfill(
            content_type="text/html", body='<audio id="a" src="/__test__/clip.wav" loop></audio>'))
        tab = context.new_page()
        tab.goto(f"{base}/__test__/tab.html")
        tab.evaluate("document.getElementById('a').play()")
        tab.bring_to_front()  # the extension dubs the active tab, as when its popup is opened over it
        started = worker.evaluate("startDubbing({source: 'en', target: 'es'})")
        assert started.get("ok"), started
        status_js = "chrome.storage.session.get('status').then(s => s.status)"
        status = None
        for _ in range(480):
            status = worker.evaluate(status_js)
            if status.get("error"):
                break
            if status.get("playedSeconds", 0) > 0.5 and status.get("latencyMs"):
                break
            tab.wait_for_timeout(500)
        assert not status.get("error") and status.get("playedSeconds", 0) > 0.5, json.dumps(status)
        assert status["running"] and status["chunks"] >= 1 and status["peak"] > 0.05 and status["sentSeconds"] > 2
        popup = context.new_page()
        popup.goto(f"chrome-extension://{ext_id}/popup.html")
        popup.wait_for_selector("#state:has-text('on')")
        assert popup.locator("#latency").inner_text().endswith(" s")
        assert popup.locator("#last").inner_text().strip()
        popup.screenshot(path=ARTIFACTS / "live-extension-popup.png")
        popup.get_by_role("button", name="Stop dubbing").click()
        popup.wait_for_selector("#state:has-text('off')")
        session = get_json(f"{base}/api/sessions/{status['sessionId']}")
        assert session["lines"] >= 1
    finally:
        context.close()
