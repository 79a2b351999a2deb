"""The small hardening items of issue 13: close reasons, codes recorded as sent, logs, schemes, budgets."""

from __future__ import annotations

import asyncio
import json
import logging
from types import SimpleNamespace
from typing import Any

import pytest

from voiceframe.log import logger, redact, setup_logging
from voiceframe.pipeline import Pipeline
from voiceframe.transports.webrtc.server import OfferError, _parse_offer
from voiceframe.transports.websocket import ServerLimits, VoiceServer, WebSocketTransport
from voiceframe.transports.websocket.budget import BudgetExceeded, BudgetLimits, InboundBudget
from voiceframe.transports.websocket.server import _stream_scheme

websockets = pytest.importorskip("websockets")


def quiet_bot(transport: WebSocketTransport) -> Pipeline:
    return Pipeline([transport.input(), transport.output()])


@pytest.fixture
async def server() -> Any:
    srv = VoiceServer(quiet_bot, port=0, limits=ServerLimits(idle_timeout=None, start_timeout=2.0))
    await srv.start()
    yield srv
    await srv.stop()


@pytest.fixture
def log_lines() -> Any:
    lines: list[str] = []
    handler = logger.add(lambda m: lines.append(str(m)), level="DEBUG", diagnose=False)
    yield lines
    logger.remove(handler)


async def started(server: VoiceServer) -> Any:
    ws = await websockets.connect(f"{server.url}/ws", max_size=None)
    await ws.send(json.dumps({"type": "start", "sample_rate": 16000}))
    assert json.loads(await asyncio.wait_for(ws.recv(), 3))["type"] == "started"
    return ws


async def closed(ws: Any) -> tuple[int, str]:
    with pytest.raises(websockets.ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), 3)
    return ws.close_code, ws.close_reason


async def last_close(server: VoiceServer) -> tuple[int, str]:
    for _ in range(100):
        if not server.sessions and server.closed:
            break
        await asyncio.sleep(0.02)
    return server.closed[-1][1], server.closed[-1][2]


async def test_close_reason_says_what_the_client_did_not_which_processor(server: VoiceServer) -> None:
    ws = await started(server)
    await ws.send(json.dumps({"type": "dtmf", "digit": "\udfff"}))
    code, reason = await closed(ws)
    assert code == 1008 and "not a DTMF digit" in reason
    assert "WebSocketInput" not in reason and "#" not in reason.split("digit")[0]


async def test_invalid_utf8_is_closed_1007_without_a_traceback(
    server: VoiceServer, caplog: pytest.LogCaptureFixture
) -> None:
    ws = await started(server)
    with caplog.at_level(logging.INFO, logger="uvicorn.error"):
        await ws.send(b"\xff\xfe not utf-8", text=True)
        code, _ = await closed(ws)
        assert code == 1007
        assert await last_close(server) == (1007, "a text message is not valid UTF-8")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def test_oversized_message_is_recorded_with_the_1009_it_sent(server: VoiceServer) -> None:
    ws = await started(server)
    await ws.send(bytes(server.limits.max_message_bytes + 2))
    code, _ = await closed(ws)
    assert code == 1009
    assert (await last_close(server))[0] == 1009


async def test_hanging_up_right_after_start_is_a_normal_close(
    server: VoiceServer, log_lines: list[str]
) -> None:
    for _ in range(10):
        ws = await websockets.connect(f"{server.url}/ws")
        await ws.send(json.dumps({"type": "start", "sample_rate": 16000}))
        ws.transport.abort()  # gone before the server's "started" can be sent
    for _ in range(100):
        if not server.sessions and len(server.closed) >= 10:
            break
        await asyncio.sleep(0.02)
    codes = [c for _, c, _ in server.closed]
    assert len(codes) == 10 and 1011 not in codes, server.closed
    assert not [line for line in log_lines if "ERROR" in line or "Traceback" in line]


def fake_request(scheme: str, client: str, headers: dict[str, str] | None = None) -> Any:
    return SimpleNamespace(
        url=SimpleNamespace(scheme=scheme),
        headers=headers or {},
        client=SimpleNamespace(host=client),
    )


def test_twiml_stream_scheme() -> None:
    assert _stream_scheme(fake_request("http", "127.0.0.1")) == "ws"  # a local test
    assert _stream_scheme(fake_request("https", "127.0.0.1")) == "wss"
    assert _stream_scheme(fake_request("http", "127.0.0.1", {"x-forwarded-proto": "https"})) == "wss"
    # a request from another machine reached us through a TLS front end: Twilio accepts only wss
    assert _stream_scheme(fake_request("http", "203.0.113.7")) == "wss"


async def test_twiml_behind_a_tls_proxy_points_at_wss(server: VoiceServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /twiml HTTP/1.1\r\nHost: example.test\r\nX-Forwarded-Proto: https\r\n\r\n")
    raw = await asyncio.wait_for(reader.readuntil(b"</Response>"), 3)
    writer.close()
    assert b"wss://example.test/twilio" in raw


def test_deeply_nested_offer_is_a_400() -> None:
    with pytest.raises(OfferError, match="nested too deeply"):
        _parse_offer(b"[" * 30000)


def test_loguru_handlers_do_not_print_locals_and_keys_are_redacted() -> None:
    lines: list[str] = []
    handler = setup_logging("DEBUG", lambda m: lines.append(str(m)), replace=False)
    try:
        secret_key = "sk-live-0123456789"  # noqa: F841 - what diagnose=True would print
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logger.exception("failed")
        logger.debug("provider said: {}", '{"error": "bad", "authorization": "Bearer sk-echoed-999"}')
    finally:
        logger.remove(handler)
    text = "".join(lines)
    assert "boom" in text and "sk-live-0123456789" not in text
    assert "sk-echoed-999" not in text and "[redacted]" in text
    assert redact("Authorization: Basic dXNlcjpwYXNz") == "Authorization: Basic [redacted]"


async def read_paced(budget: InboundBudget, arrivals: list[float]) -> float:
    """Read 20 ms messages that arrive at ``arrivals`` (loop times) as the reader does; returns the
    time the last one was processed."""
    loop = asyncio.get_running_loop()
    for at in arrivals:
        await asyncio.sleep(max(0.0, at - loop.time()))  # not here yet: receive() waits
        delay = budget.audio_delay(0.02)
        if delay:
            await asyncio.sleep(delay)
    return loop.time()


@pytest.mark.looptime
async def test_budget_allows_real_time_and_a_backlog_after_a_stall_and_refuses_a_flood() -> None:
    t0 = asyncio.get_running_loop().time()
    real_time = [t0 + n * 0.02 for n in range(500)]  # 10 s of a normal caller
    budget = InboundBudget(BudgetLimits())
    await read_paced(budget, real_time)
    assert budget.waited == 0.0

    # the server did not read for 5 s (a busy loop, a slow bot build): 250 messages are waiting at
    # once, and the caller goes on at real time; the backlog drains, the caller is not closed
    t0 = asyncio.get_running_loop().time()
    stalled = [t0] * 250 + [t0 + n * 0.02 for n in range(250, 1000)]
    budget = InboundBudget(BudgetLimits())
    done = await read_paced(budget, stalled)
    assert budget.waited > 0 and done - t0 < 1000 * 0.02 + 0.1  # caught up before the end

    # a flood: 5,000 messages at once
    t0 = asyncio.get_running_loop().time()
    flood = InboundBudget(BudgetLimits(audio_burst=1.0, catch_up=2.0, max_behind=10.0))
    with pytest.raises(BudgetExceeded, match="faster than real time"):
        await read_paced(flood, [t0] * 5000)
    elapsed = asyncio.get_running_loop().time() - t0
    # read at most the burst plus 2x real time for 10 s, then closed: not 100 s of audio
    assert 9.5 < elapsed < 11.0 and flood.audio_seconds < 1.0 + 2.0 * 10.5

    messages = InboundBudget(BudgetLimits(message_rate=50, message_burst=100))
    with pytest.raises(BudgetExceeded, match="too many messages"):
        for _ in range(1000):
            messages.charge_message()


async def test_webrtc_offer_that_never_connects_frees_its_slot_within_the_connect_timeout() -> None:
    aiortc = pytest.importorskip("aiortc")
    import aiohttp

    from voiceframe.frames import now
    from voiceframe.transports.webrtc.server import WebRTCServer

    async def factory(transport: Any, observers: Any, idle: Any) -> Any:
        raise AssertionError("never connected, never built")

    server = WebRTCServer(factory, max_sessions=1, connect_timeout=1.0)
    url = await server.serve("127.0.0.1", 0)
    client = aiortc.RTCPeerConnection()
    try:
        client.addTransceiver("audio", direction="sendrecv")
        await client.setLocalDescription(await client.createOffer())
        body = {"sdp": client.localDescription.sdp, "type": "offer"}
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{url}offer", json=body) as resp:
                assert resp.status == 200
            t0 = now()
            # the answer is never applied: the peer never connects
            async with http.post(f"{url}offer", json=body) as resp:
                assert resp.status == 503  # the one slot is held ...
            for _ in range(60):  # 3 s at most
                if not server.sessions:
                    break
                await asyncio.sleep(0.05)
            took = now() - t0
            assert not server.sessions and took < 1.0 + 1.0  # ... until the connect deadline
            async with http.post(f"{url}offer", json={"sdp": "[" * 30000}) as resp:
                assert resp.status == 400
            async with http.post(f"{url}offer", data=b"[" * 30000) as resp:
                assert resp.status == 400 and "nested" in (await resp.json())["error"]
    finally:
        await client.close()
        await server.close()


async def test_webrtc_data_channel_flood_closes_the_session() -> None:
    from voiceframe.transports.webrtc.server import EVENT_BURST, WebRTCServer, WebRTCSession

    class FakePeerConnection:
        async def close(self) -> None:
            return None

    async def factory(transport: Any, observers: Any, idle: Any) -> Any:
        raise AssertionError("not built in this test")

    server = WebRTCServer(factory)
    session = WebRTCSession(server, FakePeerConnection())
    server.sessions[session.id] = session
    for _ in range(int(EVENT_BURST) - 1):
        session.on_event('{"type": "hello"}')
    assert session.end_reason is None  # a burst is fine
    for _ in range(20):
        session.on_event('{"type": "hello"}')
    assert session.end_reason is not None and session.end_reason.startswith("client flooded")
    await asyncio.wait_for(session.closed.wait(), 5)
    assert not server.sessions
