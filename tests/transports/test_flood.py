"""One client floods the WebSocket server; a concurrent normal call must not notice.

The flooder sends ``start`` and then 5,000 audio messages (20 ms each: 100 s of audio; raw PCM, or
Twilio ``media`` of 160 mu-law bytes) back to back
from a thread of its own (so the flood does not run on the loop that measures). The normal call sends
real-time audio with a marked chunk every 100 ms; the bot spends 1 ms of CPU per chunk (what a
recognizer costs: without a budget the flood is 5 s of CPU on the shared loop) and answers each marked
chunk with audio; the call measures the time from its send to the first answer, and WebSocket ping
round trips (without the budget the flood delays them by 100-200 ms here). Its solo
baseline is measured first, in the same test, on the same server.
"""

from __future__ import annotations

import asyncio
import base64
import json
import statistics
import threading
import time
from typing import Any

import pytest

from voiceframe.frames import Frame, InputAudioRawFrame, OutputAudioRawFrame, now
from voiceframe.pipeline import Pipeline
from voiceframe.processor import FrameDirection, FrameProcessor
from voiceframe.transports.websocket import ServerLimits, VoiceServer, WebSocketTransport
from voiceframe.transports.websocket.budget import BudgetLimits

websockets = pytest.importorskip("websockets")
from websockets.sync.client import connect as sync_connect  # noqa: E402

RATE = 16000
CHUNK = bytes(RATE // 50 * 2)  # 20 ms of silence
MARKED = b"\x01\x01" + CHUNK[2:]  # 20 ms whose first sample is not 0: "answer me"


#: CPU seconds a speech recognizer spends on the loop per 20 ms chunk (pocketsphinx: 2-3 ms)
RECOGNIZER_COST = 0.001


class FakeAnswerer(FrameProcessor):
    """A recognizer's CPU cost per input chunk (on the loop, as a real one costs it), and an answer to
    every marked chunk: 20 ms of (marked) audio. Passes everything else on."""

    async def process(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, InputAudioRawFrame):
            busy_until = time.perf_counter() + RECOGNIZER_COST
            while time.perf_counter() < busy_until:
                pass
        await self.push(frame, direction)
        if isinstance(frame, InputAudioRawFrame) and frame.audio[:2] == b"\x01\x01":
            await self.push(OutputAudioRawFrame(audio=MARKED, sample_rate=RATE))


def answering_bot(transport: WebSocketTransport) -> Pipeline:
    return Pipeline([transport.input(), FakeAnswerer(), transport.output()])


async def measure_call(url: str, seconds: float, *, ping: bool = True) -> tuple[list[float], list[float]]:
    """A normal call for ``seconds``: (reply latencies, ping round trips), in seconds."""
    ws = await websockets.connect(url, max_size=None)
    await ws.send(json.dumps({"type": "start", "sample_rate": RATE}))
    assert json.loads(await ws.recv())["type"] == "started"
    replies: list[float] = []
    pings: list[float] = []
    sent_at: list[float] = []

    async def read() -> None:
        async for msg in ws:
            if isinstance(msg, bytes) and msg[:2] == b"\x01\x01" and sent_at:
                replies.append(now() - sent_at.pop(0))

    reader = asyncio.ensure_future(read())
    t0 = now()
    n = 0
    while now() - t0 < seconds:
        await asyncio.sleep(max(0.0, t0 + n * 0.02 - now()))
        if n % 5 == 4:  # every 100 ms: a chunk that gets an answer
            sent_at.append(now())
            await ws.send(MARKED)
        else:
            await ws.send(CHUNK)
        if ping and n % 10 == 0:
            p0 = now()
            pong = await ws.ping()
            await asyncio.wait_for(pong, 2.0)
            pings.append(now() - p0)
        n += 1
    await ws.send(json.dumps({"type": "stop"}))
    await asyncio.wait_for(reader, 5.0)
    return replies, pings


def flood_messages(protocol: str) -> tuple[list[str], bytes | str]:
    """The messages that start a stream of ``protocol``, and one 20 ms media message of silence."""
    if protocol == "raw":
        return [json.dumps({"type": "start", "sample_rate": RATE})], CHUNK
    sid = "MZflood"
    start = {
        "streamSid": sid,
        "accountSid": "AC0",
        "callSid": "CA0",
        "tracks": ["inbound"],
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
    }
    opening = [
        json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}),
        json.dumps({"event": "start", "sequenceNumber": "1", "start": start, "streamSid": sid}),
    ]
    payload = base64.b64encode(b"\xff" * 160).decode()  # 20 ms of mu-law silence
    media = {"track": "inbound", "chunk": "1", "timestamp": "0", "payload": payload}
    return opening, json.dumps({"event": "media", "streamSid": sid, "media": media})


def flood(url: str, protocol: str, messages: int, result: dict[str, Any]) -> None:
    """In a thread: start, then ``messages`` media messages back to back; record how it was closed."""
    opening, media = flood_messages(protocol)
    try:
        with sync_connect(url, max_size=None, open_timeout=5) as ws:
            for message in opening:
                ws.send(message)
            if protocol == "raw":
                ws.recv(timeout=5)  # started
            sent = 0
            try:
                for _ in range(messages):
                    ws.send(media)
                    sent += 1
                while True:
                    ws.recv(timeout=5)  # the error event, then the close
            except websockets.ConnectionClosed as exc:
                result["close"] = (exc.rcvd.code, exc.rcvd.reason) if exc.rcvd else None
            result["sent"] = sent
    except Exception as exc:  # pragma: no cover - reported by the assertion below
        result["error"] = repr(exc)


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["raw", "twilio"])
async def test_flood_does_not_delay_a_concurrent_call(protocol: str) -> None:
    # over budget for 2 s (default 10 s) before it is closed: a shorter test
    limits = ServerLimits(max_sessions=4, idle_timeout=None, budget=BudgetLimits(max_behind=2.0))
    server = VoiceServer(answering_bot, port=0, limits=limits)
    await server.start()
    try:
        url = f"{server.url}/ws"
        base_replies, base_pings = await measure_call(url, 1.5)

        result: dict[str, Any] = {}
        path = f"{server.url}/{'ws' if protocol == 'raw' else 'twilio'}"
        flooder = threading.Thread(target=flood, args=(path, protocol, 5000, result), daemon=True)
        call = asyncio.ensure_future(measure_call(url, 3.0))
        await asyncio.sleep(0.3)  # the call is under way when the flood starts
        flooder.start()
        flood_replies, flood_pings = await call
        await asyncio.to_thread(flooder.join, 15)

        print(
            f"\n{protocol} flood: reply latency ms: solo median {statistics.median(base_replies) * 1e3:.1f} "
            f"max {max(base_replies) * 1e3:.1f}; with flood median "
            f"{statistics.median(flood_replies) * 1e3:.1f} max {max(flood_replies) * 1e3:.1f}\n"
            f"ping ms: solo max {max(base_pings) * 1e3:.1f}; with flood max {max(flood_pings) * 1e3:.1f}\n"
            f"flooder: {result}"
        )
        assert "error" not in result, result
        assert result.get("close") is not None
        code, reason = result["close"]
        assert code == 1008 and "faster than real time" in reason, result
        assert len(flood_replies) >= 15 and len(base_replies) >= 10
        assert max(flood_replies) <= max(base_replies) + 0.1
        assert max(flood_pings) <= max(base_pings) + 0.1
        closed = [c for c in server.closed if c[1] == 1008]
        assert closed and "faster than real time" in closed[-1][2]
        assert not server.sessions
    finally:
        await server.stop()


@pytest.mark.slow
async def test_audio_that_waited_for_a_slow_bot_build_is_not_a_flood() -> None:
    """A caller talks at real time while its bot takes 3 s to build (20 demo bots built at once take
    that long): the 3 s read at once afterwards are a backlog, not a flood; it drains, the call goes on."""
    built = threading.Event()

    def slow_bot(transport: WebSocketTransport) -> Pipeline:
        time.sleep(3.0)  # in the server's build thread, as a model load would be
        built.set()
        return answering_bot(transport)

    server = VoiceServer(slow_bot, port=0, limits=ServerLimits(idle_timeout=None))
    await server.start()
    try:
        # no pings: while the bot is built nothing reads the socket (uvicorn reads one message ahead)
        replies, _ = await measure_call(f"{server.url}/ws", 6.0, ping=False)
        assert built.is_set()
        assert server.closed and server.closed[-1][1:] == (1000, "the client sent stop"), server.closed
        assert len(replies) >= 25  # answered all along once built, backlog included
    finally:
        await server.stop()
