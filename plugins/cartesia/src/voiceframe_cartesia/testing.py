"""A local Cartesia ``/tts/websocket`` on 127.0.0.1, scriptable per test.

It follows the documented protocol (docs.cartesia.ai, "TTS WebSocket" API reference, version
2024-11-13, and "API conventions"): the key comes as ``?api_key=`` (or ``X-API-Key``), a bad key
fails the upgrade with HTTP 401; a request names ``context_id``, ``model_id``, ``transcript``,
``voice {mode: id, id}``, ``output_format {container: raw, encoding: pcm_s16le, sample_rate}``,
``add_timestamps`` and ``continue``; transcripts of one context are joined until ``continue`` is
false; replies are ``chunk`` (base64 ``data``), ``timestamps`` (``word_timestamps {words, start, end}``,
seconds from the context's start), ``done``, and ``error`` (``status_code``, ``error``, ``done: true``);
``{"context_id": ..., "cancel": true}`` stops a context.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from pydantic import SecretStr
from websockets.asyncio.server import Server, ServerConnection
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from voiceframe.testing.local_server import LocalServer, close_websocket, serve_websocket, tone
from voiceframe.testing.ttfb import ttfb_summary

ENCODINGS = {"pcm_s16le", "pcm_f32le", "pcm_mulaw", "pcm_alaw"}


@dataclass
class Context:
    """One context as the server saw it."""

    context_id: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    received_at: float = 0.0
    first_chunk_at: float | None = None
    chunks_sent: int = 0
    done: bool = False
    cancelled: bool = False

    @property
    def transcript(self) -> str:
        return "".join(str(r.get("transcript", "")) for r in self.requests)


class FakeCartesiaServer(LocalServer):
    """Cartesia TTS on 127.0.0.1 (random port). Use ``async with FakeCartesiaServer() as c:``."""

    def __init__(
        self, *, api_key: str = "test-key", seconds_per_char: float = 0.02, chunk_delay: float = 0.0
    ) -> None:
        self.api_key = api_key
        self.seconds_per_char = seconds_per_char
        self.chunk_delay = chunk_delay
        #: statuses (with Retry-After) for the next upgrades, e.g. ``[(429, "0.05")]``
        self.reject: list[tuple[int, str | None]] = []
        #: faults for the next generations: "drop" (abort the socket after the first chunk),
        #: "malformed" (a non-JSON frame after the first chunk), "error" (a 500 error reply),
        #: "hang" (nothing more after the first chunk), "wrong_shape" (a chunk whose audio is a number)
        self.faults: list[str] = []
        #: the next this many upgrades get no answer at all (a server that hangs before its headers)
        self.hang_upgrades = 0
        self.connections: list[dict[str, str]] = []
        self.contexts: dict[str, Context] = {}
        self.cancels: list[str] = []
        self.rejected: list[int] = []
        self._server: Server | None = None
        self.url = ""

    async def start(self) -> FakeCartesiaServer:
        self._server, self.url = await serve_websocket(
            self._handle, process_request=self._check_upgrade, compression=None
        )
        return self

    async def stop(self) -> None:
        self.release_hangs()  # hung replies end with the server
        await close_websocket(self._server)

    async def _check_upgrade(self, connection: ServerConnection, request: Request) -> Response | None:
        if self.hang_upgrades:
            self.hang_upgrades -= 1
            await self.hang()
        query = dict(parse_qsl(urlsplit(request.path).query))
        key = query.get("api_key") or request.headers.get("X-API-Key")
        after: str | None = None
        if self.reject:
            status, after = self.reject.pop(0)
            body = {"error": HTTPStatus(status).phrase}
        elif key != self.api_key:
            status, body = 401, {"error": "Invalid API key"}
        else:
            return None
        self.rejected.append(status)
        headers = Headers([("Content-Type", "application/json")])
        if after is not None:
            headers["Retry-After"] = after
        return Response(status, HTTPStatus(status).phrase, headers, json.dumps(body).encode())

    async def _handle(self, ws: ServerConnection) -> None:
        self.connections.append(dict(parse_qsl(urlsplit(ws.request.path if ws.request else "").query)))
        running: dict[str, asyncio.Task[None]] = {}
        try:
            async for raw in ws:
                msg = json.loads(raw)
                context_id = str(msg.get("context_id", ""))
                if msg.get("cancel"):
                    self.cancels.append(context_id)
                    if context_id in self.contexts:
                        self.contexts[context_id].cancelled = True
                    task = running.pop(context_id, None)
                    if task is not None:
                        task.cancel()
                    continue
                problem = _invalid(msg)
                if problem:
                    await _error(ws, context_id, 400, problem)
                    continue
                ctx = self.contexts.setdefault(
                    context_id, Context(context_id, received_at=time.perf_counter())
                )
                ctx.requests.append(msg)
                if not msg.get("continue"):
                    running[context_id] = asyncio.create_task(self._generate(ws, ctx))
        except ConnectionClosed:
            pass
        finally:
            for task in running.values():
                task.cancel()

    async def _generate(self, ws: ServerConnection, ctx: Context) -> None:
        first = ctx.requests[0]
        rate = int(first["output_format"]["sample_rate"])
        fault = self.faults.pop(0) if self.faults else None
        if fault == "error":
            await _error(ws, ctx.context_id, 500, "Internal server error: the model failed")
            return
        t = 0.0
        try:
            for i, word in enumerate(ctx.transcript.split()):
                if self.chunk_delay and i:
                    await asyncio.sleep(self.chunk_delay)
                seconds = self.seconds_per_char * (len(word) + 1)
                data = base64.b64encode(tone(seconds, rate)).decode()
                chunk = {
                    "type": "chunk",
                    "data": data,
                    "done": False,
                    "status_code": 206,
                    "step_time": 12.5,
                    "context_id": ctx.context_id,
                }
                await ws.send(json.dumps(chunk))
                ctx.chunks_sent += 1
                if ctx.first_chunk_at is None:
                    ctx.first_chunk_at = time.perf_counter()
                if first.get("add_timestamps"):
                    stamps = {"words": [word], "start": [round(t, 4)], "end": [round(t + seconds, 4)]}
                    await ws.send(json.dumps(_reply("timestamps", ctx.context_id, word_timestamps=stamps)))
                t += seconds
                if fault == "drop":
                    ws.transport.abort()
                    return
                if fault == "malformed":
                    await ws.send("{this is not json")
                    fault = None
                if fault == "wrong_shape":
                    await ws.send(json.dumps({"type": "chunk", "data": 7, "context_id": ctx.context_id}))
                    fault = None
                if fault == "hang":
                    await self.hang()
            await ws.send(json.dumps(_reply("done", ctx.context_id, done=True)))
            ctx.done = True
        except ConnectionClosed:
            pass


def _invalid(msg: dict[str, Any]) -> str | None:
    for key in ("context_id", "model_id", "transcript", "voice", "output_format"):
        if key not in msg:
            return f"Invalid request: missing field {key!r}"
    voice, fmt = msg["voice"], msg["output_format"]
    if not isinstance(voice, dict) or voice.get("mode") != "id" or not voice.get("id"):
        return "Invalid voice: expected {mode: id, id: <voice id>}"
    if not isinstance(fmt, dict) or fmt.get("container") != "raw" or fmt.get("encoding") not in ENCODINGS:
        return "Invalid output format: container must be raw with a pcm encoding"
    if not isinstance(fmt.get("sample_rate"), int):
        return "Invalid output format: sample_rate must be an integer"
    return None


def _reply(kind: str, context_id: str, *, done: bool = False, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "done": done, "status_code": 206, "context_id": context_id, **extra}


async def _error(ws: ServerConnection, context_id: str, status: int, text: str) -> None:
    reply = {"type": "error", "context_id": context_id, "status_code": status, "done": True, "error": text}
    await ws.send(json.dumps(reply))


async def benchmark_ttfb(iterations: int = 30) -> dict[str, Any]:
    """Time to first audio of ``synthesize`` against the server's own time (request in → first chunk out).

    ``overhead_ms`` is the median per-request difference: sending the request, the reader task,
    routing by context and base64 decoding, over the loopback.
    """
    from .settings import CartesiaTTSSettings
    from .tts import CartesiaTTSService

    pairs: list[tuple[float, float]] = []
    # the server shares our event loop: a pause between its chunks lets the client read the first one
    async with FakeCartesiaServer(chunk_delay=0.005) as server:
        tts = CartesiaTTSService(
            settings=CartesiaTTSSettings(api_key=SecretStr("test-key"), base_url=server.url)
        )
        tts.sample_rate = 24000
        await tts.connect()
        try:
            for _ in range(iterations):
                began = time.perf_counter()
                gen = tts.synthesize("Hello there, how are you?")
                async for _chunk in gen:
                    first = time.perf_counter()
                    break
                await gen.aclose()
                await asyncio.sleep(0.01)
                ctx = list(server.contexts.values())[-1]
                if ctx.first_chunk_at is not None:
                    pairs.append((first - began, ctx.first_chunk_at - ctx.received_at))
            baseline = await _bare_client(server, tts, iterations)
        finally:
            await tts.disconnect()
    report = ttfb_summary(pairs)
    report["bare_websockets_overhead_ms"] = ttfb_summary(baseline)["overhead_ms"]
    return {"provider": "cartesia", "tts": report}


async def _bare_client(server: FakeCartesiaServer, tts: Any, iterations: int) -> list[tuple[float, float]]:
    """The same requests from a bare websockets client: the floor (loopback, framing, JSON)."""
    from websockets.asyncio.client import connect

    pairs = []
    async with connect(tts.websocket_url("test-key"), max_size=None) as ws:
        for i in range(iterations):
            context_id = f"bare-{i}"
            began = time.perf_counter()
            await ws.send(json.dumps(tts.request(context_id, "Hello there, how are you?", more=False)))
            while True:
                reply = json.loads(await ws.recv())
                if reply.get("type") == "chunk":
                    base64.b64decode(reply["data"])
                    first = time.perf_counter()
                    break
            await ws.send(json.dumps({"context_id": context_id, "cancel": True}))
            await asyncio.sleep(0.01)
            ctx = server.contexts[context_id]
            if ctx.first_chunk_at is not None:
                pairs.append((first - began, ctx.first_chunk_at - ctx.received_at))
    return pairs
