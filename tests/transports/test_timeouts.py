"""Connections that never finish are closed at the TCP level within their timeout, and their slots free.

Slowloris (an upgrade request at a few bytes per second), a silent TCP socket, a client that starts and
then stops reading, and one address opening more sockets than its cap, against the real uvicorn server
on loopback. "Closed" is seen from both ends: the client reads EOF or a reset, and the server's
connection guard no longer counts it.
"""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import pytest

from voiceframe.frames import Frame, InputAudioRawFrame, OutputAudioRawFrame, now
from voiceframe.pipeline import Pipeline
from voiceframe.processor import FrameDirection, FrameProcessor
from voiceframe.transports.http_guard import ConnectionLimits
from voiceframe.transports.websocket import ServerLimits, VoiceServer, WebSocketTransport

websockets = pytest.importorskip("websockets")

HEADER_TIMEOUT = 1.0


class FakeTalker(FrameProcessor):
    """Answers every input chunk with 100 ms of loud audio at the session's output rate: it never stops."""

    def __init__(self, rate: int) -> None:
        super().__init__()
        self.rate = rate

    async def process(self, frame: Frame, direction: FrameDirection) -> None:
        await self.push(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            await self.push(OutputAudioRawFrame(audio=b"\x10\x10" * (self.rate // 10), sample_rate=self.rate))


def talking_bot(transport: WebSocketTransport) -> Pipeline:
    rate = transport.info.output_sample_rate
    return Pipeline([transport.input(), FakeTalker(rate), transport.output()])


async def until(condition: Any, timeout: float) -> float:
    """Seconds until ``condition()`` holds (polled every 20 ms); fails after ``timeout``."""
    t0 = now()
    while not condition():
        if now() - t0 > timeout:
            raise AssertionError(f"not within {timeout} s")
        await asyncio.sleep(0.02)
    return now() - t0


async def closed_by_peer(reader: asyncio.StreamReader, timeout: float) -> float:
    """Seconds until the server closes (EOF or reset) while we read nothing of use."""
    t0 = now()
    try:
        async with asyncio.timeout(timeout):
            while await reader.read(4096):
                pass
    except (ConnectionResetError, BrokenPipeError):
        pass
    return now() - t0


@pytest.fixture
async def server() -> Any:
    limits = ServerLimits(
        max_sessions=4,
        idle_timeout=None,
        start_timeout=1.0,
        send_timeout=1.0,
        socket_send_buffer=16384,
        connections=ConnectionLimits(max_connections_per_ip=8, header_timeout=HEADER_TIMEOUT),
    )
    srv = VoiceServer(talking_bot, port=0, limits=limits)
    await srv.start()
    yield srv
    await srv.stop()


async def test_silent_socket_is_closed_after_the_header_timeout(server: VoiceServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    await until(lambda: server.guard.open == 1, 2.0)
    took = await closed_by_peer(reader, HEADER_TIMEOUT + 3)
    print(f"\nsilent socket closed after {took:.2f} s")
    assert HEADER_TIMEOUT - 0.1 < took < HEADER_TIMEOUT + 1.5
    await until(lambda: server.guard.open == 0, 1.0)
    assert server.guard.timed_out == 1
    writer.close()


async def test_slowloris_upgrade_is_closed_after_the_header_timeout(server: VoiceServer) -> None:
    request = (
        f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    ).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    t0 = now()

    async def trickle() -> None:
        for byte in request:  # 10 bytes per second: far slower than any real client
            writer.write(bytes([byte]))
            await asyncio.sleep(0.1)

    dripping = asyncio.ensure_future(trickle())
    took = await closed_by_peer(reader, HEADER_TIMEOUT + 3)
    dripping.cancel()
    print(f"\nslowloris closed after {took:.2f} s ({int((now() - t0) * 10)} bytes sent)")
    assert took < HEADER_TIMEOUT + 1.5
    await until(lambda: server.guard.open == 0, 1.0)
    assert not server.sessions
    writer.close()


async def test_upgraded_socket_without_start_is_closed(server: VoiceServer) -> None:
    ws = await websockets.connect(f"{server.url}/ws")
    t0 = now()
    with pytest.raises(websockets.ConnectionClosed):
        await asyncio.wait_for(ws.recv(), 5)
    assert ws.close_code == 1008 and "no start message" in ws.close_reason
    took = await until(lambda: server.guard.open == 0, 3.0)
    print(f"\nno start: closed after {now() - t0:.2f} s")
    assert now() - t0 < 1.0 + 2.0 and took < 2.0


async def test_client_that_stops_reading_is_dropped_within_the_send_timeout(server: VoiceServer) -> None:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    ws = await websockets.connect(f"{server.url}/ws", sock=sock, max_size=None, max_queue=2)
    start = {"type": "start", "sample_rate": 16000, "output_sample_rate": 48000}
    await ws.send(json.dumps(start))
    chunk = bytes(640)
    t0 = now()
    # keep talking (so the bot keeps answering) but never read: the server's sends must stall
    with pytest.raises((websockets.ConnectionClosed, ConnectionError)):
        for _ in range(500):  # 10 s at most
            await ws.send(chunk)
            await asyncio.sleep(0.02)
            if not server.sessions and now() - t0 > 0.5:
                break
        else:
            raise AssertionError("the server kept a client that does not read")
        raise websockets.ConnectionClosed(None, None)
    took = await until(lambda: server.guard.open == 0, 3.0)
    print(f"\nnon-reading client: dropped {now() - t0:.2f} s after it stopped reading")
    assert now() - t0 < 6.0 and took < 2.0
    code, reason = server.closed[-1][1:]
    assert code == 1008 and reason.startswith("client stopped reading")
    ws.transport.abort()
    # the slot is free: a new call is served
    ws2 = await websockets.connect(f"{server.url}/ws")
    await ws2.send(json.dumps({"type": "start", "sample_rate": 16000}))
    assert json.loads(await asyncio.wait_for(ws2.recv(), 3))["type"] == "started"
    await ws2.close()


async def test_connections_over_the_per_ip_cap_are_refused_and_slots_come_back(
    server: VoiceServer,
) -> None:
    held = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(8)]
    await until(lambda: server.guard.open == 8, 2.0)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    took = await closed_by_peer(reader, 2.0)
    assert took < 0.5 and server.guard.refused >= 1  # refused at once, before the header timeout
    writer.close()
    # the half-open ones time out; then the address may connect again
    await until(lambda: server.guard.open == 0, HEADER_TIMEOUT + 2)
    ws = await websockets.connect(f"{server.url}/ws")
    await ws.send(json.dumps({"type": "start", "sample_rate": 16000}))
    assert json.loads(await asyncio.wait_for(ws.recv(), 3))["type"] == "started"
    await ws.close()
    for _, w in held:
        w.close()


@pytest.mark.parametrize("path", ["/ws", "/twilio", "/twilio/some-call-token"])
async def test_plain_get_of_a_stream_path_is_426(server: VoiceServer, path: str) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    status = await asyncio.wait_for(reader.readline(), 3)
    assert status.startswith(b"HTTP/1.1 426"), status
    writer.close()


def masked_text_frame(payload: bytes) -> bytes:
    """A client's WebSocket text frame (payload < 126 bytes), masked as clients must."""
    mask = b"\x01\x02\x03\x04"
    return bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def test_client_that_never_answers_the_close_is_dropped() -> None:
    """An idle session is closed; a client that reads but never sends its close frame back loses its TCP
    connection CLOSE_HANDSHAKE_TIMEOUT later (uvicorn alone would wait 10 s)."""
    from voiceframe.transports.websocket.server import CLOSE_HANDSHAKE_TIMEOUT

    srv = VoiceServer(talking_bot, port=0, limits=ServerLimits(idle_timeout=0.5))
    await srv.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.write(
            b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        )
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 3)
        writer.write(masked_text_frame(b'{"type": "start", "sample_rate": 16000}'))
        t0 = now()
        took = await closed_by_peer(reader, 0.5 + CLOSE_HANDSHAKE_TIMEOUT + 5)
        print(f"\nidle close unanswered: TCP closed {took:.2f} s after start")
        assert took < 0.5 + CLOSE_HANDSHAKE_TIMEOUT + 1.5
        assert srv.closed[-1][1:] == (1000, "idle for 0.5 s") and now() - t0 < 5
        await until(lambda: srv.guard.open == 0, 1.0)
        writer.close()
    finally:
        await srv.stop()
