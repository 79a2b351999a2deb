"""The WebSocket server's limits and bad input, on real sockets: each bad session ends cleanly (its task
cancelled or ended, out of the session table, no asyncio task or object left), the others go on."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import socket
import weakref
from dataclasses import dataclass, field
from typing import Any

import pytest

from voiceframe.frames import now
from voiceframe.pipeline import Pipeline
from voiceframe.task import TaskState
from voiceframe.transports.websocket import ServerLimits, VoiceServer, WebSocketTransport

websockets = pytest.importorskip("websockets")


@dataclass
class RawClient:
    """A client of the raw protocol: records bot audio arrival times and events."""

    url: str
    rate: int = 16000
    out_rate: int = 16000
    ws: Any = None
    chunks: list[tuple[float, int]] = field(default_factory=list)  # (arrival, bytes)
    events: list[dict[str, Any]] = field(default_factory=list)
    closed: tuple[int | None, str] | None = None

    async def connect(self, *, rcvbuf: int | None = None, start: dict[str, Any] | None = None) -> None:
        sock = None
        if rcvbuf:
            host, port = self.url.split("//")[1].split("/")[0].split(":")
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            sock.connect((host, int(port)))
        self.ws = await websockets.connect(self.url, sock=sock, max_size=None, max_queue=4)
        body = {"type": "start", "sample_rate": self.rate, "output_sample_rate": self.out_rate}
        with contextlib.suppress(websockets.ConnectionClosed):  # refused at once: run() reports how
            await self.ws.send(json.dumps(start if start is not None else body))

    async def speak(self, pcm: bytes, chunk: float = 0.02) -> None:
        step = int(self.rate * chunk) * 2
        t0 = now()
        for n, i in enumerate(range(0, len(pcm), step)):
            await asyncio.sleep(max(0.0, t0 + n * chunk - now()))
            await self.ws.send(pcm[i : i + step])

    async def silence(self, seconds: float) -> None:
        await self.speak(bytes(int(seconds * self.rate) * 2))

    async def run(self) -> None:
        try:
            async for msg in self.ws:
                if isinstance(msg, bytes):
                    self.chunks.append((now(), len(msg)))
                else:
                    self.events.append(json.loads(msg))
        except websockets.ConnectionClosed:
            pass
        self.closed = (self.ws.close_code, self.ws.close_reason)

    async def stop(self) -> None:
        await self.ws.send(json.dumps({"type": "stop"}))


def quiet_bot(transport: WebSocketTransport) -> Pipeline:
    """A bot that never speaks: input straight to output."""
    return Pipeline([transport.input(), transport.output()])


async def settle(server: VoiceServer, baseline: set[asyncio.Task[Any]], timeout: float = 5.0) -> None:
    """Wait until no session and no task beyond ``baseline`` (and this one) is left."""
    deadline = now() + timeout
    while now() < deadline:
        extra = asyncio.all_tasks() - baseline - {asyncio.current_task()}
        if not server.sessions and not extra:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"left behind: sessions={list(server.sessions)} tasks={extra}")


@pytest.fixture
async def served() -> Any:
    made: list[WebSocketTransport] = []

    def factory(transport: WebSocketTransport) -> Pipeline:
        made.append(transport)
        return quiet_bot(transport)

    limits = ServerLimits(max_sessions=3, idle_timeout=None, start_timeout=1.0, send_timeout=0.5)
    server = VoiceServer(factory, port=0, limits=limits)
    await server.start()
    baseline = set(asyncio.all_tasks())
    yield server, made, baseline
    await server.stop()


async def run_client(client: RawClient, **kw: Any) -> asyncio.Future[None]:
    await client.connect(**kw)
    return asyncio.ensure_future(client.run())


async def test_bad_input_ends_only_that_session(served: Any) -> None:
    server, made, baseline = served
    healthy = RawClient(f"{server.url}/ws")
    healthy_run = await run_client(healthy)
    cases: list[tuple[Any, int, str]] = [
        ('{"type": "stop"', 1007, "malformed JSON"),
        ("[1, 2]", 1007, "expected a JSON object"),
        (b"\x00\x01\x02", 1007, "not whole int16 samples"),
        (bytes(16000 * 2 * 2), 1008, "longer than 1.0 s"),
        (bytes(70000), 1009, ""),  # over max_message_bytes: uvicorn refuses it before buffering
        ('{"type": "dance"}', 1008, "unknown message type"),
        ('{"type": "dtmf", "digit": "X"}', 1008, "not a DTMF digit"),
    ]
    for message, code, reason in cases:
        bad = RawClient(f"{server.url}/ws")
        bad_run = await run_client(bad)
        await bad.silence(0.04)
        await bad.ws.send(message)
        await asyncio.wait_for(bad_run, 5)
        assert bad.closed is not None and bad.closed[0] == code, (message, bad.closed)
        assert reason in bad.closed[1]
        if code != 1009:
            assert any(e["type"] == "error" and reason in e["message"] for e in bad.events)
    # the healthy session never noticed
    await healthy.silence(0.1)
    assert healthy.closed is None and len(server.sessions) == 1
    await healthy.stop()
    await asyncio.wait_for(healthy_run, 5)
    assert healthy.closed == (1000, "the client sent stop")
    await settle(server, baseline)
    assert len(made) == 1 + len(cases)  # every bad session had started its pipeline


async def test_wrong_codec_and_missing_start(served: Any) -> None:
    server, _, baseline = served
    for start, code, reason in [
        ({"type": "start", "sample_rate": 16000, "encoding": "opus"}, 1003, "unsupported encoding"),
        ({"type": "start", "sample_rate": 16001}, 1008, "sample_rate must be one of"),
        ({"type": "hello"}, 1008, "first message must be"),
    ]:
        client = RawClient(f"{server.url}/ws")
        running = await run_client(client, start=start)
        await asyncio.wait_for(running, 5)
        assert client.closed is not None and client.closed[0] == code and reason in client.closed[1]
    # a client that connects and says nothing is closed after start_timeout
    ws = await websockets.connect(f"{server.url}/ws")
    t0 = now()
    with pytest.raises(websockets.ConnectionClosed):
        await asyncio.wait_for(ws.recv(), 5)
    assert ws.close_code == 1008 and "no start message" in ws.close_reason and now() - t0 < 2.5
    await settle(server, baseline)


async def test_session_limit_refuses_with_try_again_later(served: Any) -> None:
    server, _, baseline = served
    clients = [RawClient(f"{server.url}/ws") for _ in range(3)]
    runs = [await run_client(c) for c in clients]
    extra = RawClient(f"{server.url}/ws")
    extra_run = await run_client(extra)
    await asyncio.wait_for(extra_run, 5)
    assert extra.closed is not None and extra.closed[0] == 1013 and "try again later" in extra.closed[1]
    assert server.refused == 1 and len(server.sessions) == 3
    await clients[0].stop()
    await asyncio.wait_for(runs[0], 5)
    again = RawClient(f"{server.url}/ws")
    again_run = await run_client(again)
    await again.silence(0.1)
    assert again.closed is None and len(server.sessions) == 3
    for c in [*clients[1:], again]:
        await c.stop()
    await asyncio.wait_for(asyncio.gather(*runs[1:], again_run), 5)
    await settle(server, baseline)


async def test_idle_session_is_closed() -> None:
    server = VoiceServer(quiet_bot, port=0, limits=ServerLimits(idle_timeout=0.5))
    await server.start()
    try:
        client = RawClient(f"{server.url}/ws")
        running = await run_client(client)
        t0 = now()
        await asyncio.wait_for(running, 5)
        assert client.closed == (1000, "idle for 0.5 s") and now() - t0 < 2.0
    finally:
        await server.stop()


def speaking_bot(transport: WebSocketTransport) -> Any:
    from voiceframe.bot import build_bot
    from voiceframe.demo import DEMO_TOOLS, demo_config

    return build_bot(demo_config(), transport, tools=DEMO_TOOLS)


@pytest.mark.parametrize("how", ["disconnect", "stop_reading"])
async def test_client_leaving_mid_turn_leaves_nothing_behind(how: str) -> None:
    pytest.importorskip("voiceframe_espeak")
    made: list[weakref.ref[Any]] = []
    tasks: list[Any] = []

    def factory(transport: WebSocketTransport) -> Any:
        bot = speaking_bot(transport)
        made.append(weakref.ref(transport))
        made.append(weakref.ref(bot.pipeline))
        return bot

    # a small socket send buffer and short send timeout, so a stalled client is found in about a second
    limits = ServerLimits(socket_send_buffer=16384, send_timeout=1.0, max_send_queue=128)
    server = VoiceServer(factory, port=0, limits=limits)
    await server.start()
    baseline = set(asyncio.all_tasks())
    try:
        other = RawClient(f"{server.url}/ws")
        other_run = await run_client(other)
        client = RawClient(f"{server.url}/ws", out_rate=48000)  # 96 KB/s of greeting to fill buffers
        await client.connect(rcvbuf=4096 if how == "stop_reading" else None)
        await client.silence(0.1)
        for _ in range(100):  # the greeting is playing: mid-turn
            session = next((s for s in server.sessions.values() if s.transport is not None), None)
            if len(server.sessions) == 2 and all(
                s.transport and s.transport.ws_output.speaking for s in server.sessions.values()
            ):
                break
            await asyncio.sleep(0.05)
        mine = [
            s
            for s in server.sessions.values()
            if s.transport and s.transport.info.output_sample_rate == 48000
        ]
        assert mine and mine[0].task is not None
        task = mine[0].task
        tasks.append(task)
        t0 = now()
        if how == "disconnect":
            client.ws.transport.abort()  # gone without a close frame, mid-sentence
        else:
            pass  # never read again; keep the socket open
        for _ in range(200):
            if task.has_finished:
                break
            await asyncio.sleep(0.02)
        assert task.state is TaskState.CANCELLED and not task.leaked_tasks
        assert now() - t0 < 4.0
        for _ in range(50):  # the server files the close just after the session's task has finished
            if server.closed:
                break
            await asyncio.sleep(0.02)
        code, reason = server.closed[-1][1:]
        if how == "stop_reading":
            assert code == 1008 and reason.startswith("client stopped reading")
        # the other session is still being served
        n = len(other.chunks)
        await other.silence(0.3)
        assert other.closed is None and len(other.chunks) > n
        await other.stop()
        await asyncio.wait_for(other_run, 5)
        if how == "stop_reading":
            client.ws.transport.abort()
        await settle(server, baseline)
        del session, mine, task
        tasks.clear()
        gc.collect()
        assert all(ref() is None for ref in made), "a session's objects are still referenced"
    finally:
        await server.stop()
