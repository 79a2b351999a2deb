"""End to end with a real browser: headless Chromium talks to the demo bot through the client page.

Chromium's fake microphone plays an espeak WAV (after silence long enough for the greeting); the test
clicks the mic button and checks the page shows the user's words and the bot's answer, and that the
bot's audio reached the browser (WebAudio level and inbound RTP stats). It saves the README screenshot.
Debian's ``chromium`` is driven by Playwright's Python package; ``scripts/install-browser.sh`` installs it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "images" / "demo-page.png"
LEAD_SILENCE = 8.0  # the greeting (~6 s) plays first; the fake microphone starts at getUserMedia
SAID = "what is the weather"
ANSWER = "In Paris it is sunny and 21 degrees."

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian's chromium at /usr/bin/chromium (scripts/install-browser.sh)",
    ),
]


def speech_wav(path: Path) -> float:
    """The fake microphone's WAV (48 kHz mono); returns when the speech ends, in seconds."""
    from voiceframe_espeak import speak_to_pcm

    from voiceframe.transports.file import write_wav

    rate = 48000
    words = speak_to_pcm(SAID, sample_rate=rate, voice="en-us", rate_wpm=140)
    pcm = bytes(int(LEAD_SILENCE * rate) * 2) + words + bytes(2 * rate * 2)
    write_wav(path, pcm, rate)
    return LEAD_SILENCE + len(words) / 2 / rate


def chromium_args(wav: Path) -> list[str]:
    return [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}%noloop",
        "--autoplay-policy=no-user-gesture-required",
        "--allow-loopback-in-peer-connection",
    ]


async def test_browser_talks_to_the_demo_bot(tmp_path: Path) -> None:
    playwright = pytest.importorskip("playwright.async_api", reason="pip install playwright (Python package)")
    pytest.importorskip("voiceframe_espeak", reason="the demo needs plugins/espeak")
    from voiceframe.demo import DEMO_TOOLS, demo_config
    from voiceframe.transports.webrtc import WebRTCServer, bot_session_factory

    wav = tmp_path / "user.wav"
    speech_end = speech_wav(wav)
    server = WebRTCServer(bot_session_factory(demo_config(), DEMO_TOOLS), max_sessions=1, media_timeout=2.0)
    url = await server.serve("127.0.0.1", 0)
    try:
        async with playwright.async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=chromium_args(wav))
            try:
                page = await browser.new_page(viewport={"width": 900, "height": 470})
                # muted: the fake microphone is not cut by echo cancellation; WebAudio still hears the bot
                await page.goto(url + "?mute=1")
                await asyncio.wait_for(converse(page, speech_end), 50)
            finally:
                await browser.close()
        # the caller hung up and the browser is gone: the session ended by itself
        for _ in range(100):
            if not server.sessions:
                break
            await asyncio.sleep(0.05)
        assert server.sessions == {}
    finally:
        await server.close()


async def converse(page: Any, speech_end: float) -> None:
    clicked = await page.evaluate("performance.now()")
    await page.click("#mic")
    await page.wait_for_function("window.vf.state === 'connected'", timeout=10_000)
    await page.wait_for_function(
        f"window.vf.lines.some(l => l.role === 'bot' && l.text === {ANSWER!r})", timeout=30_000
    )
    await page.wait_for_function("!document.querySelector('#speaking').classList.contains('on')")
    vf = await page.evaluate(
        "({lines: vf.lines.map(l => ({role: l.role, text: l.text, at: l.at})), botAudioAt: vf.botAudioAt,"
        " botLevelMax: vf.botLevelMax, micStartedAt: vf.micStartedAt, connectedAt: vf.connectedAt,"
        " error: vf.error})"
    )
    inbound = await page.evaluate("window.vfInboundStats()")
    assert vf["error"] is None
    lines = [(line["role"], line["text"]) for line in vf["lines"]]
    assert lines[0][0] == "bot" and lines[0][1].startswith("Hello! I am the voiceframe demo.")
    assert ("user", SAID) in lines
    assert lines[-1] == ("bot", ANSWER)
    # the bot's audio arrived in the browser: loud on the analyser, and Opus packets on the wire
    assert vf["botLevelMax"] > 0.02
    assert inbound["bytesReceived"] > 20_000 and inbound["packetsReceived"] > 200
    spoken_end = vf["micStartedAt"] + speech_end * 1000
    reply_heard = next(t for t in vf["botAudioAt"] if t > spoken_end)
    turn_latency = (reply_heard - spoken_end) / 1000
    assert turn_latency < 3.0
    print(
        f"\nbrowser: connected {vf['connectedAt'] - clicked:.0f} ms after the click; end of user speech -> "
        f"reply heard {turn_latency:.2f} s; bot level max {vf['botLevelMax']:.3f}; "
        f"{inbound['bytesReceived']} bytes of bot audio received"
    )
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOT))
    await page.click("#mic")  # hang up: the page says bye on the data channel
    await page.wait_for_function("window.vf.state === 'not connected'")
