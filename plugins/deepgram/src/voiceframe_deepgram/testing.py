"""A local Deepgram: ``/v1/listen`` (WebSocket) and ``/v1/speak`` (HTTP) on 127.0.0.1, scriptable per test.

It speaks the documented protocol (developers.deepgram.com, "Live Audio" API reference, "STT
Troubleshooting WebSocket, NET, and DATA Errors", "Text to Speech REST"):

* auth: ``Authorization: Token <key>``; a bad key fails the upgrade/request with HTTP 401, a ``dg-error``
  header and ``{"err_code": "INVALID_AUTH", "err_msg": "Invalid credentials.", "request_id": ...}``;
* listen: binary linear16 in; ``Results`` (interim, then ``is_final``/``speech_final``), ``SpeechStarted``
  (``vad_events``), ``UtteranceEnd`` (``utterance_end_ms``) and, after ``CloseStream``, ``Metadata`` then
  close 1000; ``KeepAlive`` counts as activity; no data for ``idle_timeout`` closes with 1011 ``NET-0001``;
* speak: ``POST /v1/speak?model=&encoding=linear16&sample_rate=&container=none`` with ``{"text": ...}``,
  a streamed raw PCM body.

"Recognition" is scripted: ``utterances`` are heard one after another, each word lasting
``word_seconds`` of received audio, so word times follow the audio the client really sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp
from aiohttp import web
from pydantic import SecretStr
from websockets.asyncio.server import Server, ServerConnection
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from voiceframe.testing.local_server import (
    HANG_SECONDS,
    LocalServer,
    close_websocket,
    serve_http,
    serve_websocket,
    tone,
)
from voiceframe.testing.ttfb import ttfb_summary

MODEL_INFO = {"name": "general-nova-3", "version": "2024-01-01.0", "arch": "nova-3"}


@dataclass
class ListenSession:
    """One ``/v1/listen`` connection as the server saw it."""

    query: dict[str, str]
    audio_bytes: int = 0
    frames: int = 0
    control: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str = ""
    #: (perf_counter when the triggering audio arrived, when the final Results left, audio frame index)
    finals: list[tuple[float, float, int]] = field(default_factory=list)

    @property
    def keepalives(self) -> int:
        return sum(1 for m in self.control if m.get("type") == "KeepAlive")

    @property
    def sample_rate(self) -> int:
        return int(self.query.get("sample_rate", 16000))


@dataclass
class SpeakRequest:
    """One ``POST /v1/speak`` as the server saw it."""

    query: dict[str, str]
    text: str
    received_at: float = 0.0
    first_byte_at: float | None = None
    bytes_sent: int = 0
    completed: bool = False
    disconnected: bool = False


class FakeDeepgramServer(LocalServer):
    """Deepgram on 127.0.0.1 (random ports). Use ``async with FakeDeepgramServer() as dg:``."""

    def __init__(
        self,
        *,
        api_key: str = "test-key",
        utterances: Sequence[str] = ("hello world",),
        word_seconds: float = 0.25,
        gap_seconds: float = 0.2,
        idle_timeout: float = 10.0,
        tts_seconds_per_char: float = 0.02,
        tts_chunk_bytes: int = 1920,
        tts_chunk_delay: float = 0.0,
    ) -> None:
        self.api_key = api_key
        self.utterances = [u.split() for u in utterances]
        self.word_seconds = word_seconds
        self.gap_seconds = gap_seconds
        self.idle_timeout = idle_timeout
        self.tts_seconds_per_char = tts_seconds_per_char
        self.tts_chunk_bytes = tts_chunk_bytes
        self.tts_chunk_delay = tts_chunk_delay
        #: statuses (with Retry-After) for the next upgrades / POSTs, e.g. ``[(429, "0.05")]``
        self.reject: list[tuple[int, str | None]] = []
        #: drop (abort, no close frame) the next listen connection after this much audio
        self.drop_after_seconds: float | None = None
        #: raw text frames sent on the next listen connection after its first audio
        self.inject: list[str] = []
        #: faults for the next POSTs: "drop" (abort mid-body), "hang_before_headers" (never answer),
        #: "hang" (nothing more after the first audio chunk)
        self.speak_faults: list[str] = []
        self.sessions: list[ListenSession] = []
        self.speak_requests: list[SpeakRequest] = []
        self.rejected: list[int] = []
        self._ws_server: Server | None = None
        self._runner: web.AppRunner | None = None
        self.ws_url = ""
        self.http_url = ""

    # ------------------------------------------------------------------------------ lifecycle

    async def start(self) -> FakeDeepgramServer:
        self._ws_server, self.ws_url = await serve_websocket(
            self._listen, process_request=self._check_upgrade, compression=None
        )
        app = web.Application()
        app.router.add_post("/v1/speak", self._speak)
        # a client that goes away cancels its handler at once (a hung reply must not outlive it)
        self._runner, self.http_url = await serve_http(app, handle_signals=False, handler_cancellation=True)
        return self

    async def stop(self) -> None:
        await close_websocket(self._ws_server)
        if self._runner is not None:
            await self._runner.cleanup()

    # ---------------------------------------------------------------------------------- auth

    def _refusal(self, authorization: str | None) -> tuple[int, dict[str, str], str | None] | None:
        if self.reject:
            status, after = self.reject.pop(0)
            self.rejected.append(status)
            code = "TOO_MANY_REQUESTS" if status == 429 else "INTERNAL_SERVER_ERROR"
            body = {"err_code": code, "err_msg": HTTPStatus(status).phrase, "request_id": str(uuid.uuid4())}
            return status, body, after
        if authorization != f"Token {self.api_key}":
            self.rejected.append(401)
            body = {
                "err_code": "INVALID_AUTH",
                "err_msg": "Invalid credentials.",
                "request_id": str(uuid.uuid4()),
            }
            return 401, body, None
        return None

    def _check_upgrade(self, connection: ServerConnection, request: Request) -> Response | None:
        refusal = self._refusal(request.headers.get("Authorization"))
        if refusal is None:
            return None
        status, body, after = refusal
        text = json.dumps(body)
        headers = Headers(
            [("Content-Type", "application/json"), ("dg-error", text), ("dg-request-id", body["request_id"])]
        )
        if after is not None:
            headers["Retry-After"] = after
        return Response(status, HTTPStatus(status).phrase, headers, text.encode())

    # -------------------------------------------------------------------------------- listen

    async def _listen(self, ws: ServerConnection) -> None:
        query = dict(parse_qsl(urlsplit(ws.request.path if ws.request else "").query))
        session = ListenSession(query=query)
        self.sessions.append(session)
        drop_after, self.drop_after_seconds = self.drop_after_seconds, None
        inject, self.inject = self.inject, []
        script = _Recognizer(self, session)
        try:
            while True:
                try:
                    raw = await asyncio.wait_for(ws.recv(), self.idle_timeout)
                except TimeoutError:
                    reason = "NET-0001"  # no audio or text message within the timeout window
                    session.close_code, session.close_reason = 1011, reason
                    await ws.close(1011, reason)
                    return
                arrived = time.perf_counter()
                if isinstance(raw, bytes):
                    session.audio_bytes += len(raw)
                    session.frames += 1
                    for text in inject:
                        await ws.send(text)
                    inject = []
                    await script.heard(ws, arrived)
                    if drop_after is not None and script.position >= drop_after:
                        session.close_code, session.close_reason = 1006, "dropped by the test"
                        ws.transport.abort()
                        return
                    continue
                message = json.loads(raw)
                session.control.append(message)
                if message.get("type") == "CloseStream":
                    await script.finish(ws)
                    await _send(ws, session, _metadata(session, script.position))
                    session.close_code = 1000
                    await ws.close(1000)
                    return
        except ConnectionClosed as exc:
            session.close_code = exc.rcvd.code if exc.rcvd else 1006
            session.close_reason = "client closed"

    # --------------------------------------------------------------------------------- speak

    async def _speak(self, request: web.Request) -> web.StreamResponse:
        refusal = self._refusal(request.headers.get("Authorization"))
        if refusal is not None:
            status, body, after = refusal
            headers = {"Retry-After": after} if after else None
            return web.json_response(body, status=status, headers=headers)
        try:
            text = str((await request.json())["text"])
        except (ValueError, KeyError, TypeError):
            bad = {"err_code": "INVALID_REQUEST_BODY", "err_msg": "Failed to deserialize the JSON body"}
            return web.json_response(bad, status=400)
        record = SpeakRequest(query=dict(request.query), text=text, received_at=time.perf_counter())
        self.speak_requests.append(record)
        fault = self.speak_faults.pop(0) if self.speak_faults else None
        if fault == "hang_before_headers":
            await asyncio.sleep(HANG_SECONDS)  # the client going away cancels this handler
        rate = int(request.query.get("sample_rate", 24000))
        audio = tone(len(text) * self.tts_seconds_per_char, rate)
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        await response.prepare(request)
        try:
            for i in range(0, len(audio), self.tts_chunk_bytes):
                if fault == "drop" and i > 0:
                    assert request.transport is not None
                    request.transport.abort()
                    return response
                if fault == "hang" and i > 0:
                    await asyncio.sleep(HANG_SECONDS)
                await response.write(audio[i : i + self.tts_chunk_bytes])
                record.bytes_sent += min(self.tts_chunk_bytes, len(audio) - i)
                if record.first_byte_at is None:
                    record.first_byte_at = time.perf_counter()
                if self.tts_chunk_delay:
                    await asyncio.sleep(self.tts_chunk_delay)
            await response.write_eof()
            record.completed = True
        except (ConnectionResetError, ConnectionError):
            record.disconnected = True  # the client closed the response: the request is cancelled
        except asyncio.CancelledError:
            record.disconnected = True
            raise
        return response


class _Recognizer:
    """Turns the amount of audio received into the messages Deepgram would send."""

    def __init__(self, server: FakeDeepgramServer, session: ListenSession) -> None:
        self.server = server
        self.session = session
        q = session.query
        self.interim = q.get("interim_results") == "true"
        self.vad_events = q.get("vad_events") == "true"
        endpointing = q.get("endpointing", "10")
        self.endpointing = 0.0 if endpointing == "false" else int(endpointing) / 1000
        self.utterance_end = int(q["utterance_end_ms"]) / 1000 if "utterance_end_ms" in q else None
        self.index = 0
        self.start = server.gap_seconds
        self.heard_words = 0
        self.started = False
        self.finalized = False

    @property
    def position(self) -> float:
        return self.session.audio_bytes / (2 * self.session.sample_rate)

    def _words(self) -> list[str]:
        return self.server.utterances[self.index] if self.index < len(self.server.utterances) else []

    def _end(self) -> float:
        return self.start + len(self._words()) * self.server.word_seconds

    async def heard(self, ws: ServerConnection, arrived: float) -> None:
        words, pos, ws_len = self._words(), self.position, self.server.word_seconds
        if not words:
            return
        if not self.started and pos >= self.start + 0.05:
            self.started = True
            if self.vad_events:
                await _send(
                    ws, self.session, {"type": "SpeechStarted", "channel": [0, 1], "timestamp": self.start}
                )
        count = min(len(words), max(0, int((pos - self.start) / ws_len + 1e-9)))
        if count > self.heard_words and not self.finalized:
            self.heard_words = count
            if count < len(words) and self.interim:
                await _send(ws, self.session, self._results(words[:count], final=False))
        if not self.finalized and pos >= self._end() + self.endpointing:
            self.finalized = True
            await _send(ws, self.session, self._results(words, final=True))
            self.session.finals.append((arrived, time.perf_counter(), self.session.frames - 1))
        if self.finalized and (self.utterance_end is None or pos >= self._end() + self.utterance_end):
            if self.utterance_end is not None:
                end = {"type": "UtteranceEnd", "channel": [0, 1], "last_word_end": self._end()}
                await _send(ws, self.session, end)
            self.start = round(pos + self.server.gap_seconds, 3)  # the next speech follows a pause
            self.index += 1
            self.heard_words, self.started, self.finalized = 0, False, False

    async def finish(self, ws: ServerConnection) -> None:
        """CloseStream: whatever was heard of the current utterance becomes final."""
        if self.heard_words and not self.finalized:
            self.finalized = True
            await _send(ws, self.session, self._results(self._words()[: self.heard_words], final=True))

    def _results(self, words: list[str], *, final: bool) -> dict[str, Any]:
        w = self.server.word_seconds
        timed = [
            {
                "word": word.strip(".,!?").lower(),
                "start": round(self.start + i * w, 3),
                "end": round(self.start + (i + 1) * w, 3),
                "confidence": 0.98,
                "punctuated_word": word,
            }
            for i, word in enumerate(words)
        ]
        return {
            "type": "Results",
            "channel_index": [0, 1],
            "duration": round(len(words) * w, 3),
            "start": self.start,
            "is_final": final,
            "speech_final": final,
            "channel": {
                "alternatives": [{"transcript": " ".join(words), "confidence": 0.98, "words": timed}]
            },
            "metadata": {
                "request_id": str(uuid.uuid4()),
                "model_info": MODEL_INFO,
                "model_uuid": str(uuid.uuid4()),
            },
            "from_finalize": False,
        }


async def _send(ws: ServerConnection, session: ListenSession, message: dict[str, Any]) -> None:
    session.sent.append(message)
    await ws.send(json.dumps(message))


def _metadata(session: ListenSession, duration: float) -> dict[str, Any]:
    return {
        "type": "Metadata",
        "transaction_key": "deprecated",
        "request_id": str(uuid.uuid4()),
        "sha256": "0" * 64,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "duration": round(duration, 3),
        "channels": 1,
        "models": [str(uuid.uuid4())],
        "model_info": {},
    }


# ------------------------------------------------------------------------------------ benchmark


async def benchmark_ttfb(iterations: int = 30) -> dict[str, Any]:
    """Time to first byte of the plugin against the local server, minus the server's own time.

    TTS: from calling ``synthesize`` to its first audio chunk, against the server's time from
    receiving the POST to writing the first byte. STT: from sending the audio frame that completes an
    utterance to the final transcript being emitted, against the server's time from receiving that
    frame to sending the Results. ``overhead_ms`` is the median of the per-request differences.
    """
    return {"provider": "deepgram", "tts": await _bench_tts(iterations), "stt": await _bench_stt(iterations)}


async def _bench_tts(iterations: int) -> dict[str, Any]:
    from .settings import DeepgramTTSSettings
    from .tts import DeepgramTTSService

    async with FakeDeepgramServer() as server:
        tts = DeepgramTTSService(
            settings=DeepgramTTSSettings(api_key=SecretStr("test-key"), base_url=server.http_url)
        )
        await tts.connect()
        pairs = []
        try:
            for i in range(iterations + 1):
                began = time.perf_counter()
                async for _chunk in tts.synthesize("Hello there, how are you?"):
                    first = time.perf_counter()
                    break
                req = server.speak_requests[-1]
                await asyncio.sleep(0.01)
                if i and req.first_byte_at is not None:  # the first request also opens the connection
                    pairs.append((first - began, req.first_byte_at - req.received_at))
            baseline = await _raw_tts(server, tts.speak_url(), iterations)
        finally:
            await tts.disconnect()
    return {**ttfb_summary(pairs), "bare_aiohttp_overhead_ms": ttfb_summary(baseline)["overhead_ms"]}


async def _raw_tts(server: FakeDeepgramServer, url: str, iterations: int) -> list[tuple[float, float]]:
    """The same request with bare aiohttp: the floor (loopback, HTTP) under the plugin's overhead."""
    pairs = []
    async with aiohttp.ClientSession() as session:
        for i in range(iterations + 1):
            began = time.perf_counter()
            headers = {"Authorization": "Token test-key"}
            async with session.post(url, json={"text": "Hello there, how are you?"}, headers=headers) as r:
                await r.content.readany()
                first = time.perf_counter()
                r.close()
            req = server.speak_requests[-1]
            await asyncio.sleep(0.01)
            if i and req.first_byte_at is not None:
                pairs.append((first - began, req.first_byte_at - req.received_at))
    return pairs


async def _bench_stt(iterations: int) -> dict[str, Any]:
    from voiceframe.services.stt import Transcript

    from .settings import DeepgramSTTSettings
    from .stt import DeepgramSTTService

    emitted: list[float] = []

    class TimedSTT(DeepgramSTTService):
        async def emit(self, result: Transcript) -> None:
            if result.final:
                emitted.append(time.perf_counter())

    async with FakeDeepgramServer(
        utterances=["hi"] * iterations, word_seconds=0.04, gap_seconds=0.02
    ) as server:
        settings = DeepgramSTTSettings(
            api_key=SecretStr("test-key"), base_url=server.ws_url, utterance_end_ms=None, endpointing=False
        )
        stt = TimedSTT(settings=settings)
        stt.sample_rate = 16000
        await stt.connect()
        sent: list[float] = []
        chunk = b"\x00\x00" * 320  # 20 ms
        try:
            while len(emitted) < iterations and len(sent) < iterations * 10:
                sent.append(time.perf_counter())
                await stt.process_audio(chunk)
                await asyncio.sleep(0.002)
            await asyncio.sleep(0.05)
        finally:
            await stt.disconnect()
        finals = server.sessions[0].finals
    pairs = [(t - sent[idx], out - arrived) for (arrived, out, idx), t in zip(finals, emitted, strict=False)]
    with contextlib.suppress(ValueError):
        return ttfb_summary(pairs)
    return {"iterations": 0}
