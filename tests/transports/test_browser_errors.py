"""What a person sees in the browser when the bot cannot run: the page shows why, in words.

Headless Chromium (Debian's, driven by Playwright) opens the demo page of an in-process WebRTC server
whose session factory fails: (a) a config that parses but that the bot builder rejects, (b) the OpenAI
LLM without OPENAI_API_KEY in the server's environment. The page must show the server's message in its
error banner, its status must leave "connected", and no request may fail (``/favicon.ico`` included).
The screenshots go to docs/images/ (docs/talk-to-it.md shows them).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.transports.test_webrtc_browser import CHROMIUM, chromium_args

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian's chromium at /usr/bin/chromium (scripts/install-browser.sh)",
    ),
]

IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"


def broken_demo_config() -> str:
    """The demo's config with the turn strategy misspelt: it parses, the bot cannot be built."""
    from voiceframe.demo import DEMO_CONFIG

    assert 'strategy = "vad"' in DEMO_CONFIG
    return DEMO_CONFIG.replace('strategy = "vad"', 'strategy = "smartturn"')


def missing_key_config() -> str:
    """The demo's config with OpenAI as the LLM; the server has no OPENAI_API_KEY."""
    from voiceframe.demo import DEMO_CONFIG

    return DEMO_CONFIG.replace('provider = "scripted"', 'provider = "openai"')


async def page_after_click(config_text: str, tmp_path: Path, screenshot: Path) -> dict[str, Any]:
    """Open the page, press the button, wait for the error; returns what the page shows."""
    playwright = pytest.importorskip("playwright.async_api", reason="pip install playwright (Python package)")
    from voiceframe.config import parse_config
    from voiceframe.demo import DEMO_TOOLS
    from voiceframe.transports.file import write_wav
    from voiceframe.transports.webrtc import WebRTCServer, bot_session_factory

    wav = tmp_path / "quiet.wav"
    write_wav(wav, bytes(48000 * 2 * 3), 48000)  # a quiet room: nobody needs to speak for this
    server = WebRTCServer(bot_session_factory(parse_config(config_text), DEMO_TOOLS), max_sessions=1)
    url = await server.serve("127.0.0.1", 0)
    failed: list[str] = []
    try:
        async with playwright.async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=chromium_args(wav))
            try:
                page = await browser.new_page(viewport={"width": 900, "height": 470})
                page.on(
                    "response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None
                )
                await page.goto(url + "?mute=1")
                await page.click("#mic")
                await page.wait_for_function("window.vf.error !== null", timeout=10_000)
                await page.wait_for_function("window.vf.state !== 'connected'", timeout=5_000)
                await page.wait_for_function("document.querySelector('#mic').textContent === 'Start talking'")
                shown = await page.evaluate(
                    "({banner: document.querySelector('#error').innerText,"
                    " hidden: document.querySelector('#error').hidden,"
                    " status: document.querySelector('#conn-text').textContent,"
                    " error: vf.error, code: vf.errorCode, events: vf.events.map(e => e.type)})"
                )
                assert await page.is_visible("#error")
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                await page.screenshot(path=str(screenshot))
            finally:
                await browser.close()
        for _ in range(100):  # the page hung up: the session is gone by itself
            if not server.sessions:
                break
            await asyncio.sleep(0.05)
        assert server.sessions == {}
    finally:
        await server.close()
    assert failed == [], failed  # no 404, not even for /favicon.ico
    return dict(shown)


async def test_page_shows_a_broken_config(tmp_path: Path) -> None:
    pytest.importorskip("voiceframe_espeak", reason="the demo needs plugins/espeak")
    shown = await page_after_click(broken_demo_config(), tmp_path, IMAGES / "demo-error-config.png")
    assert shown["code"] == "config" and "error" in shown["events"]
    assert shown["status"] == "failed" and not shown["hidden"]
    assert shown["banner"].startswith("The bot could not start\nThe bot's configuration is invalid")
    assert "[turn].strategy" in shown["banner"]
    assert "Traceback" not in shown["banner"]


async def test_page_shows_a_missing_api_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("voiceframe_espeak", reason="the demo needs plugins/espeak")
    pytest.importorskip("voiceframe_openai", reason="needs plugins/openai")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    shown = await page_after_click(missing_key_config(), tmp_path, IMAGES / "demo-error-missing-key.png")
    assert shown["code"] == "missing_key" and shown["status"] == "failed"
    assert shown["banner"] == (
        "The bot could not start\nThe LLM provider needs OPENAI_API_KEY: set it in the server's environment"
    )
