"""The dashboard in a real browser (Debian chromium via Playwright) against the live server."""

from __future__ import annotations

import json
import shutil

import pytest

from .live import TOKEN, LiveServer, tiny_onnx_bytes

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.skipif(
    shutil.which("chromium") is None, reason="needs Debian chromium: apt-get install chromium"
)


def test_dashboard_uploads_submits_and_shows_live_progress(server: LiveServer) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            page.on("pageerror", lambda exc: pytest.fail(f"page error: {exc}"))
            page.goto(server.url + "/")
            expect(page.locator("h1")).to_have_text("Embodied AI Architect")
            expect(page.locator("#health")).to_contain_text("ok", timeout=15_000)
            page.fill("#token", TOKEN)
            page.dispatch_event("#token", "change")

            page.set_input_files(
                "#upload-file",
                files=[
                    {
                        "name": "browser.onnx",
                        "mimeType": "application/octet-stream",
                        "buffer": tiny_onnx_bytes(seed=31),
                    }
                ],
            )
            page.click("#upload-form button")
            expect(page.locator("#upload-status")).to_contain_text("(onnx)", timeout=15_000)
            expect(page.locator("#models tbody")).to_contain_text("browser.onnx")

            page.select_option("#job-kind", "analyze")
            page.click("#job-form button")
            expect(page.locator("#submit-status")).to_contain_text("queued", timeout=15_000)
            # Live progress arrives over the WebSocket and ends with the result.
            expect(page.locator("#live-events li").first).to_be_visible(timeout=60_000)
            expect(page.locator("#live-result")).to_have_attribute(
                "data-status", "succeeded", timeout=120_000
            )
            result = json.loads(page.locator("#live-result").inner_text())
            assert result["kind"] == "analyze" and result["analysis"]["parameters"] > 0
            assert page.locator("#live-percent").inner_text() == "100"
            events = page.locator("#live-events li").all_inner_texts()
            assert events[0].startswith("#0 ") and len(events) >= 5
            # The jobs table lists the job as succeeded; versions open for the model.
            expect(page.locator("#jobs tbody")).to_contain_text("succeeded", timeout=10_000)
            page.locator("#models tbody tr", has_text="browser.onnx").locator("button").click()
            expect(page.locator("#versions tbody")).to_contain_text("original")
        finally:
            browser.close()
