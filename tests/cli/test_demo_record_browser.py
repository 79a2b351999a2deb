"""`voiceframe demo --record` in browser mode: a real WebRTC peer's session is recorded, and the
timeline command reads the file (aiortc in-process, real clock: a few seconds)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.cli.conftest import invoke

pytest.importorskip("aiortc", reason="the browser demo needs the webrtc extra")


@pytest.mark.slow  # a real-clock WebRTC session with the greeting (~6 s)
async def test_a_browser_session_is_recorded_for_the_timeline(tmp_path: Path) -> None:
    from tests.transports.webrtc_client import Caller
    from voiceframe.cli import _recording
    from voiceframe.config import load_valid_config
    from voiceframe.demo import DEMO_TOOLS
    from voiceframe.transports.webrtc import WebRTCServer, bot_session_factory

    record = tmp_path / "session.jsonl"
    factory = _recording(bot_session_factory(load_valid_config(None), DEMO_TOOLS), record)
    server = WebRTCServer(factory, max_sessions=1)
    url = await server.serve("127.0.0.1", 0)
    peer = Caller()
    status, answer = 0, {}
    try:
        status, answer = await peer.connect(url)
        assert status == 200, answer
        await peer.wait_for(lambda e: e["type"] == "bot_speaking" and not e["speaking"], 20)
    finally:
        await peer.close()
        session = server.sessions.get(answer.get("session_id", "")) if status == 200 else None
        if session is not None:
            await asyncio.wait_for(session.closed.wait(), 10)
        await server.close()
    events = [line for line in record.read_text().splitlines() if line.strip()]
    assert any('"bot_word"' in line for line in events)  # the greeting, word by word
    plot = invoke("timeline", str(record), "-o", str(tmp_path / "timeline.png"))
    assert plot.exit_code == 0 and (tmp_path / "timeline.png").stat().st_size > 10_000
