"""ElevenLabs text-to-speech over the ``stream-input`` WebSocket, with word timings from alignment.

``stream-input`` serves one generation per socket: the client opens it (key in the ``xi-api-key``
header), sends ``{"text": " ", "voice_settings": ...}`` to initialise, then text (``flush`` forces
generation), then ``{"text": ""}`` to end the input. The server answers with ``{"audio": <base64>,
"alignment": {...}, "normalizedAlignment": {...}}`` messages, then ``{"isFinal": true}``, and closes.
Errors come as ``{"message", "error", "code"}`` followed by a 1008 close.

So each sentence gets its own socket; to keep the handshake out of the time to first byte, the next
socket is opened and initialised while the current sentence plays (``prewarm``). An interrupted
sentence closes its socket, which is how ``stream-input`` generation is stopped.
``alignment`` (the text as sent) is used rather than ``normalizedAlignment`` (numbers spelled out),
so the words that reach the context are the words the LLM wrote.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
from collections.abc import AsyncGenerator
from typing import Any, ClassVar
from urllib.parse import quote, urlencode

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.protocol import State

from voiceframe.services.backoff import retry
from voiceframe.services.base import ServiceError
from voiceframe.services.http_errors import malformed
from voiceframe.services.settings import ServiceSettings
from voiceframe.services.tts import TTSChunk, TTSService

from ._errors import ENV, http_error, require_key
from .alignment import WordAligner
from .settings import ElevenLabsTTSSettings

#: PCM output formats ElevenLabs offers; other session rates are requested at 24 kHz and resampled
RATES = (8000, 16000, 22050, 24000, 44100, 48000)
#: error codes that mean the key is wrong (fatal: retrying will not fix it)
AUTH_ERRORS = frozenset({"invalid_api_key", "unauthorized", "missing_api_key"})


class ElevenLabsTTSService(TTSService):
    """Streaming TTS with word timings from character alignment; one socket per sentence, prewarmed."""

    Settings: ClassVar[type[ServiceSettings]] = ElevenLabsTTSSettings
    word_timestamps: ClassVar[bool] = True

    def __init__(self, *, settings: ServiceSettings | None = None, name: str | None = None, **values: Any):
        super().__init__(settings=settings, name=name, **values)
        self._key = ""
        self._spare: asyncio.Task[tuple[ClientConnection, float]] | None = None
        self.sockets_opened = 0

    def output_rate(self) -> int:
        return self.sample_rate if self.sample_rate in RATES else 24000

    def stream_url(self) -> str:
        s = self.settings
        query = urlencode(
            {
                "model_id": s.model,
                "output_format": f"pcm_{self.output_rate()}",
                "inactivity_timeout": s.inactivity_timeout,
            }
        )
        return f"{s.base_url.rstrip('/')}/v1/text-to-speech/{quote(s.voice or '')}/stream-input?{query}"

    # ----------------------------------------------------------------------------- connection

    async def connect(self) -> None:
        self._key = require_key(self.settings)
        # open the first socket now: a wrong key or a rate limit shows at start, not mid-conversation
        opened = await self._open()
        self._spare = self.create_task(_ready(opened), name=f"{self.name}:spare")

    async def disconnect(self) -> None:
        spare, self._spare = self._spare, None
        if spare is None:
            return
        if not spare.done():
            spare.cancel()
        with contextlib.suppress(BaseException):
            ws, _ = await spare
            await ws.close()

    async def _open(self) -> tuple[ClientConnection, float]:
        """A new, initialised socket and the loop time it was opened at."""
        try:
            ws = await connect(self.stream_url(), additional_headers={"xi-api-key": self._key}, max_size=None)
        except InvalidStatus as exc:
            r = exc.response
            raise http_error(r.status_code, r.body or b"", r.headers) from None
        except InvalidHandshake as exc:
            raise ConnectionError(f"ElevenLabs handshake failed: {exc}") from exc
        self.sockets_opened += 1
        first: dict[str, Any] = {"text": " "}  # the documented initial message is a single space
        voice_settings = self.settings.voice_settings()
        if voice_settings:
            first["voice_settings"] = voice_settings
        await ws.send(json.dumps(first))
        return ws, asyncio.get_running_loop().time()

    async def _take(self) -> ClientConnection:
        """The prewarmed socket if it is still fresh and open, else a new one (with backoff)."""
        spare, self._spare = self._spare, None
        if spare is not None:
            try:
                ws, opened = await spare
                # keep a margin: the server closes sockets idle for inactivity_timeout
                fresh = asyncio.get_running_loop().time() - opened < self.settings.inactivity_timeout - 2
                if ws.state is State.OPEN and fresh:
                    return ws
                await ws.close()
            except (OSError, ServiceError, ConnectionClosed):
                pass  # a failed prewarm is retried below, where its error is reported
        ws, _ = await retry(self._open, backoff=self.backoff, max_attempts=self.settings.max_retries + 1)
        return ws

    def _prewarm(self) -> None:
        if self.settings.prewarm and self._spare is None:
            self._spare = self.create_task(self._open(), name=f"{self.name}:spare")

    # ------------------------------------------------------------------------------ synthesis

    async def synthesize(self, text: str) -> AsyncGenerator[TTSChunk, None]:
        ws = await self._take()
        final = False
        rate = self.output_rate()
        try:
            await ws.send(json.dumps({"text": text.strip() + " ", "flush": True}))
            await ws.send(json.dumps({"text": ""}))  # end of input: finish, send isFinal, close
            aligner = WordAligner()
            offset = 0.0  # seconds of audio of this call before the current message
            async for raw in ws:
                # the next socket opens once this one answered: its handshake stays off our first byte
                self._prewarm()
                msg = _parse(raw)
                audio, words = _audio(msg), []
                alignment = msg.get("alignment")
                if alignment:
                    try:
                        words = aligner.add(alignment, offset)
                    except (KeyError, TypeError, ValueError) as exc:
                        raise malformed("ElevenLabs", f"alignment of the wrong shape ({exc})") from None
                offset += len(audio) / (2 * rate)
                if audio or words:
                    yield TTSChunk(audio=audio, sample_rate=rate, words=words)
                if msg.get("isFinal"):
                    final = True
                    break
            if not final:
                raise ConnectionError(
                    f"ElevenLabs closed the stream before isFinal ({ws.close_code} {ws.close_reason})"
                )
            rest = aligner.flush()
            if rest:
                yield TTSChunk(sample_rate=rate, words=rest)
        except ConnectionClosed as exc:
            raise ConnectionError(f"ElevenLabs connection lost: {exc}") from exc
        finally:
            # interrupted or done: closing the socket ends the generation (stream-input has no cancel)
            self.create_task(_close(ws), name=f"{self.name}:close")
            self._prewarm()


async def _ready(opened: tuple[ClientConnection, float]) -> tuple[ClientConnection, float]:
    return opened


async def _close(ws: ClientConnection) -> None:
    with contextlib.suppress(ConnectionClosed, OSError):
        await ws.close()


def _parse(raw: str | bytes) -> dict[str, Any]:
    try:
        msg = json.loads(raw)
    except ValueError:
        msg = None
    if not isinstance(msg, dict):
        shown = raw[:80] if isinstance(raw, str) else f"<{len(raw)} binary bytes>"
        raise malformed("ElevenLabs", f"not a JSON object: {shown!r}")
    if msg.get("error") or ("message" in msg and "audio" not in msg):
        code = str(msg.get("error", ""))
        fatal = code in AUTH_ERRORS
        hint = f"; check the environment variable {ENV}" if fatal else ""
        raise ServiceError(f"ElevenLabs error {code}: {msg.get('message', '')}{hint}", fatal=fatal)
    return msg


def _audio(msg: dict[str, Any]) -> bytes:
    data = msg.get("audio")
    if not data:
        return b""
    try:
        return base64.b64decode(data, validate=True)
    except (TypeError, binascii.Error) as exc:
        raise malformed("ElevenLabs", f"audio that is not base64 ({exc})") from None
