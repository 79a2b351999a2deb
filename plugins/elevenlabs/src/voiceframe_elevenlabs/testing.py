"""A local ElevenLabs ``/v1/text-to-speech/{voice_id}/stream-input`` on 127.0.0.1, scriptable per test.

It follows the documented protocol (elevenlabs.io/docs, "Text to Speech WebSocket" API reference):
``model_id``, ``output_format`` (``pcm_<rate>``) and ``inactivity_timeout`` in the query; the key in the
``xi-api-key`` header (a wrong one fails the upgrade with HTTP 401 and the REST error body
``{"detail": {"status": "invalid_api_key", "message": ...}}``) or as ``xi_api_key`` in the first message
(then answered in-band); a first message ``{"text": " ", "voice_settings"?}``; text messages (``flush``
or ``try_trigger_generation`` generate what is buffered); ``{"text": ""}`` ends the input. Replies are
``{"audio": base64, "isFinal": false, "normalizedAlignment": ..., "alignment": {"chars",
"charStartTimesMs", "charsDurationsMs"}}`` (times from the start of that message's audio), then
``{"isFinal": true}`` and a 1000 close. Errors are ``{"message", "error", "code": 1008}`` then a 1008
close, e.g. ``input_timeout_exceeded`` when no text arrives within the inactivity timeout.
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

TIMEOUT_MESSAGE = (
    "Have not received a new text input within the timeout of {} seconds. Streaming input terminated. "
    "Please make sure to either feed the input in the timely manner, or to send the end of input text "
    '(empty string "") when done.'
)


@dataclass
class StreamSession:
    """One ``stream-input`` socket as the server saw it."""

    voice_id: str
    query: dict[str, str]
    messages: list[dict[str, Any]] = field(default_factory=list)
    opened_at: float = field(default_factory=time.perf_counter)
    text_at: float = 0.0
    first_audio_at: float | None = None
    chunks_sent: int = 0
    final_sent: bool = False
    closed_by_client_early: bool = False
    close_code: int | None = None

    @property
    def text(self) -> str:
        return "".join(str(m.get("text", "")) for m in self.messages[1:]).strip()


class FakeElevenLabsServer(LocalServer):
    """ElevenLabs stream-input on 127.0.0.1 (random port). ``async with FakeElevenLabsServer() as el:``."""

    def __init__(
        self,
        *,
        api_key: str = "test-key",
        seconds_per_char: float = 0.02,
        chunk_chars: int = 7,
        chunk_delay: float = 0.0,
    ) -> None:
        self.api_key = api_key
        self.seconds_per_char = seconds_per_char
        self.chunk_chars = chunk_chars
        self.chunk_delay = chunk_delay
        #: statuses (with Retry-After) for the next upgrades, e.g. ``[(429, "0.05")]``
        self.reject: list[tuple[int, str | None]] = []
        #: faults for the next generations: "drop" (abort after the first chunk), "malformed" (a
        #: non-JSON frame after the first chunk), "quota" (a quota_exceeded error and a 1008 close),
        #: "hang" (nothing more after the first chunk), "wrong_shape" (a message whose audio is a number)
        self.faults: list[str] = []
        #: the next this many upgrades get no answer at all (a server that hangs before its headers)
        self.hang_upgrades = 0
        #: overrides the client's inactivity_timeout (seconds)
        self.inactivity: float | None = None
        self.sessions: list[StreamSession] = []
        self.rejected: list[int] = []
        self._server: Server | None = None
        self.url = ""

    async def start(self) -> FakeElevenLabsServer:
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
        parts = urlsplit(request.path).path.strip("/").split("/")
        after: str | None = None
        body: dict[str, Any]
        if len(parts) != 4 or parts[:2] != ["v1", "text-to-speech"] or parts[3] != "stream-input":
            status, body = 404, {"detail": "Not Found"}
        elif self.reject:
            status, after = self.reject.pop(0)
            body = {
                "detail": {"status": "too_many_concurrent_requests", "message": HTTPStatus(status).phrase}
            }
        elif "xi-api-key" in request.headers and request.headers["xi-api-key"] != self.api_key:
            status, body = 401, {"detail": {"status": "invalid_api_key", "message": "Invalid API key"}}
        else:
            return None
        self.rejected.append(status)
        headers = Headers([("Content-Type", "application/json")])
        if after is not None:
            headers["Retry-After"] = after
        return Response(status, HTTPStatus(status).phrase, headers, json.dumps(body).encode())

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        split = urlsplit(ws.request.path)
        session = StreamSession(voice_id=split.path.split("/")[3], query=dict(parse_qsl(split.query)))
        self.sessions.append(session)
        timeout = self.inactivity or float(session.query.get("inactivity_timeout", 20))
        rate = int(session.query.get("output_format", "pcm_24000").split("_")[1])
        header_key = ws.request.headers.get("xi-api-key")
        fault = None
        buffer = ""
        try:
            while True:
                try:
                    raw = await asyncio.wait_for(ws.recv(), timeout)
                except TimeoutError:
                    await _fail(ws, session, "input_timeout_exceeded", TIMEOUT_MESSAGE.format(timeout))
                    return
                msg = json.loads(raw)
                session.messages.append(msg)
                if len(session.messages) == 1:  # the initial message
                    if header_key is None and msg.get("xi_api_key") != self.api_key:
                        await _fail(ws, session, "invalid_api_key", "Invalid API key")
                        return
                    fault = self.faults.pop(0) if self.faults else None
                    continue
                text = str(msg.get("text", ""))
                buffer += text
                if text == "" or msg.get("flush") or msg.get("try_trigger_generation"):
                    session.text_at = session.text_at or time.perf_counter()
                    fault = await self._generate(ws, session, buffer, rate, fault)
                    buffer = ""
                    if fault == "stop":
                        return
                if text == "":
                    await ws.send(json.dumps({"isFinal": True}))
                    session.final_sent = True
                    session.close_code = 1000
                    await ws.close(1000)
                    return
        except ConnectionClosed as exc:
            session.close_code = exc.rcvd.code if exc.rcvd else 1006
            session.closed_by_client_early = not session.final_sent

    async def _generate(
        self, ws: ServerConnection, session: StreamSession, text: str, rate: int, fault: str | None
    ) -> str | None:
        text = text.lstrip()
        if fault == "quota":
            await _fail(ws, session, "quota_exceeded", "This request exceeds your quota.")
            return "stop"
        for i in range(0, len(text), self.chunk_chars):
            if self.chunk_delay and i:
                await asyncio.sleep(self.chunk_delay)
            chars = list(text[i : i + self.chunk_chars])
            ms = self.seconds_per_char * 1000
            alignment = {
                "chars": chars,
                "charStartTimesMs": [round(k * ms) for k in range(len(chars))],
                "charsDurationsMs": [round(ms)] * len(chars),
            }
            audio = base64.b64encode(tone(len(chars) * self.seconds_per_char, rate)).decode()
            message = {
                "audio": audio,
                "isFinal": False,
                "normalizedAlignment": alignment,
                "alignment": alignment,
            }
            await ws.send(json.dumps(message))
            session.chunks_sent += 1
            if session.first_audio_at is None:
                session.first_audio_at = time.perf_counter()
            if fault == "drop":
                ws.transport.abort()
                return "stop"
            if fault == "malformed":
                await ws.send("{not json at all")
                fault = None
            if fault == "wrong_shape":
                await ws.send(json.dumps({"audio": 7, "isFinal": False}))
                fault = None
            if fault == "hang":
                await self.hang()
        return fault


async def _fail(ws: ServerConnection, session: StreamSession, error: str, message: str) -> None:
    await ws.send(json.dumps({"message": message, "error": error, "code": 1008}))
    session.close_code = 1008
    await ws.close(1008, message[:120])


async def benchmark_ttfb(iterations: int = 30) -> dict[str, Any]:
    """Time to first audio of ``synthesize`` (on a prewarmed socket) against the server's own time.

    The server's time runs from receiving the text to sending the first audio; ``overhead_ms`` is the
    median per-sentence difference: sending the text, reading, JSON and base64 decoding, alignment.
    """
    from .settings import ElevenLabsTTSSettings
    from .tts import ElevenLabsTTSService

    pairs: list[tuple[float, float]] = []
    async with FakeElevenLabsServer(chunk_delay=0.005) as server:
        settings = ElevenLabsTTSSettings(api_key=SecretStr("test-key"), base_url=server.url)
        tts = ElevenLabsTTSService(settings=settings)
        tts.sample_rate = 24000
        await tts.connect()
        try:
            for _ in range(iterations):
                await asyncio.sleep(0.02)  # let the next socket prewarm, as between sentences
                began = time.perf_counter()
                gen = tts.synthesize("Hello there, how are you?")
                async for _chunk in gen:
                    first = time.perf_counter()
                    break
                await gen.aclose()
                session = [s for s in server.sessions if s.text_at][-1]  # not the prewarmed next one
                if session.first_audio_at is not None:
                    pairs.append((first - began, session.first_audio_at - session.text_at))
        finally:
            await tts.disconnect()
    return {"provider": "elevenlabs", "tts": ttfb_summary(pairs)}
