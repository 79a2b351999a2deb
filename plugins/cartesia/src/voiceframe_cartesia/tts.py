"""Cartesia text-to-speech over one reused WebSocket (``/tts/websocket``), with word timestamps.

Each synthesis is a Cartesia *context* (a ``context_id``): the request carries the transcript and
``continue`` (False once the input is complete), and the replies for that context are ``chunk``
(base64 PCM), ``timestamps`` (``word_timestamps`` in seconds from the start of the context),
``done`` or ``error``. Replies of many contexts share the socket, so a reader task routes them by
``context_id``. An interrupted synthesis sends ``{"context_id": ..., "cancel": true}``; whatever that
context still sends is dropped. A closed socket is reopened, with backoff, by the next synthesis.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import uuid
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator
from typing import Any, ClassVar
from urllib.parse import urlencode

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.protocol import State

from voiceframe.frames import WordTiming
from voiceframe.log import logger
from voiceframe.services.backoff import retry
from voiceframe.services.base import ServiceError
from voiceframe.services.http_errors import malformed
from voiceframe.services.settings import ServiceSettings
from voiceframe.services.tts import TTSChunk, TTSService

from ._errors import ENV, http_error, require_key
from .settings import CartesiaTTSSettings

#: pcm_s16le sample rates Cartesia produces; others are requested at 24 kHz and resampled by the base
RATES = (8000, 16000, 22050, 24000, 44100, 48000)

Reply = dict[str, Any] | Exception


class CartesiaTTSService(TTSService):
    """Streaming TTS with real word timestamps, contexts on one socket, cancel on interruption."""

    Settings: ClassVar[type[ServiceSettings]] = CartesiaTTSSettings
    word_timestamps: ClassVar[bool] = True

    def __init__(self, *, settings: ServiceSettings | None = None, name: str | None = None, **values: Any):
        super().__init__(settings=settings, name=name, **values)
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._contexts: dict[str, asyncio.Queue[Reply]] = {}
        self._open_lock = asyncio.Lock()
        self.cancelled_contexts: list[str] = []

    def output_rate(self) -> int:
        return self.sample_rate if self.sample_rate in RATES else 24000

    def websocket_url(self, key: str) -> str:
        s = self.settings
        query = urlencode({"api_key": key, "cartesia_version": s.cartesia_version})
        return f"{s.base_url.rstrip('/')}/tts/websocket?{query}"

    # ----------------------------------------------------------------------------- connection

    async def connect(self) -> None:
        url = self.websocket_url(require_key(self.settings))
        try:
            ws = await connect(url, max_size=None)
        except InvalidStatus as exc:
            r = exc.response
            raise http_error(r.status_code, r.body or b"", r.headers) from None
        except InvalidHandshake as exc:
            raise ConnectionError(f"Cartesia handshake failed: {exc}") from exc
        self._ws = ws
        self._reader = self.create_task(self._read(ws), name=f"{self.name}:read")

    async def disconnect(self) -> None:
        ws, self._ws = self._ws, None
        if self._reader is not None and self._reader is not asyncio.current_task():
            self._reader.cancel()
        if ws is not None:
            await ws.close()
        self._fail_all(ConnectionError("Cartesia connection closed"))

    async def _ensure_open(self) -> ClientConnection:
        async with self._open_lock:  # two syntheses finding the socket closed open it once
            ws = self._ws
            if ws is not None and ws.state is State.OPEN:
                return ws
            await self._safe_disconnect()
            await retry(self._connect_once, backoff=self.backoff, max_attempts=self.settings.max_retries + 1)
            assert self._ws is not None
            return self._ws

    # -------------------------------------------------------------------------------- replies

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                await self._route(raw)
        except ConnectionClosed:
            pass
        if ws is self._ws:  # the server closed it (not us): fail what is in flight, reopen on next use
            self._ws = None
            self.connected = False
            self._fail_all(
                ConnectionError(f"Cartesia closed the connection ({ws.close_code} {ws.close_reason})")
            )

    async def _route(self, raw: str | bytes) -> None:
        try:
            msg = json.loads(raw)
            context_id = msg.get("context_id") if isinstance(msg, dict) else None
            if not isinstance(context_id, str):
                raise ValueError("no context_id")
        except ValueError as exc:
            shown = raw[:80] if isinstance(raw, str) else f"<{len(raw)} binary bytes>"
            error = malformed("Cartesia", f"{exc}: {shown!r}")
            if self._contexts:
                self._fail_all(error)  # we cannot tell whose it was: fail them rather than hang them
            else:
                await self.push_error(f"{self.name}: {error}")
            return
        queue = self._contexts.get(context_id)
        if queue is not None:
            queue.put_nowait(msg)
        # else: a reply for a cancelled or finished context, dropped on purpose

    def _fail_all(self, error: Exception) -> None:
        for queue in self._contexts.values():
            queue.put_nowait(error)

    # ------------------------------------------------------------------------------ synthesis

    async def synthesize(self, text: str) -> AsyncGenerator[TTSChunk, None]:
        async for chunk in self._run_context([text]):
            yield chunk

    async def synthesize_stream(self, parts: AsyncIterable[str]) -> AsyncIterator[TTSChunk]:
        """One context fed piece by piece (``continue: true``) while its audio streams back."""
        async for chunk in self._run_context(parts):
            yield chunk

    def request(self, context_id: str, transcript: str, *, more: bool) -> dict[str, Any]:
        s = self.settings
        return {
            "context_id": context_id,
            "model_id": s.model,
            "transcript": transcript,
            "voice": {"mode": "id", "id": s.voice},
            "language": s.language,
            "output_format": {"container": "raw", "encoding": "pcm_s16le", "sample_rate": self.output_rate()},
            "add_timestamps": True,
            "continue": more,
        }

    async def _run_context(self, parts: list[str] | AsyncIterable[str]) -> AsyncIterator[TTSChunk]:
        context_id = str(uuid.uuid4())
        queue: asyncio.Queue[Reply] = asyncio.Queue()
        ws = await self._ensure_open()
        self._contexts[context_id] = queue
        sender: asyncio.Task[None] | None = None
        finished = False
        try:
            if isinstance(parts, list):
                await ws.send(json.dumps(self.request(context_id, " ".join(parts), more=False)))
            else:
                sender = self.create_task(self._send_parts(ws, context_id, parts), name=f"{self.name}:send")
            while True:
                reply = await queue.get()
                if isinstance(reply, Exception):
                    raise reply
                chunk, finished = self._chunk(reply)
                if chunk is not None:
                    yield chunk
                if finished:
                    return
        except ConnectionClosed as exc:
            raise ConnectionError(f"Cartesia connection lost: {exc}") from exc
        finally:
            self._contexts.pop(context_id, None)
            if sender is not None:
                sender.cancel()
            if not finished:
                self._cancel(ws, context_id)

    async def _send_parts(self, ws: ClientConnection, context_id: str, parts: AsyncIterable[str]) -> None:
        async for part in parts:
            if part:
                await ws.send(json.dumps(self.request(context_id, part, more=True)))
        # an empty transcript with continue false ends the context's input
        await ws.send(json.dumps(self.request(context_id, "", more=False)))

    def _chunk(self, reply: dict[str, Any]) -> tuple[TTSChunk | None, bool]:
        kind = reply.get("type")
        if kind == "chunk":
            try:
                audio = base64.b64decode(reply["data"], validate=True)
            except (KeyError, TypeError, binascii.Error) as exc:
                raise malformed("Cartesia", f"a chunk without valid base64 audio ({exc})") from None
            return TTSChunk(audio=audio, sample_rate=self.output_rate()), bool(reply.get("done"))
        if kind == "timestamps":
            return TTSChunk(words=_words(reply.get("word_timestamps"))), False
        if kind == "done":
            return None, True
        if kind == "error":
            status = reply.get("status_code")
            detail = reply.get("error") or reply.get("message") or reply.get("title") or reply
            fatal = status in (401, 403)
            hint = f"; check the environment variable {ENV}" if fatal else ""
            raise ServiceError(f"Cartesia error (status {status}): {detail}{hint}", fatal=fatal)
        logger.debug("{}: ignoring Cartesia reply of type {!r}", self.name, kind)
        return None, False

    def _cancel(self, ws: ClientConnection, context_id: str) -> None:
        """Tell Cartesia to stop generating ``context_id`` (without waiting: we may be cancelled)."""
        self.cancelled_contexts.append(context_id)

        async def send() -> None:
            with contextlib.suppress(ConnectionClosed):  # a closed socket generates nothing anyway
                await ws.send(json.dumps({"context_id": context_id, "cancel": True}))

        if ws.state is State.OPEN:
            self.create_task(send(), name=f"{self.name}:cancel")


def _words(stamps: Any) -> list[WordTiming]:
    try:
        words, starts, ends = stamps["words"], stamps["start"], stamps["end"]
        if not len(words) == len(starts) == len(ends):
            raise ValueError("words, start and end differ in length")
        return [WordTiming(str(w), float(s), float(e)) for w, s, e in zip(words, starts, ends, strict=True)]
    except (KeyError, TypeError, ValueError) as exc:
        raise malformed("Cartesia", f"word_timestamps of the wrong shape ({exc})") from None
