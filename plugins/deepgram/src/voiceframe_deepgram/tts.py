"""Deepgram Aura text-to-speech over HTTP (``POST /v1/speak``, streamed raw linear16 body).

Why HTTP and not the ``/v1/speak`` WebSocket: the TTS base already cuts text into sentences and asks
for one sentence at a time; the REST endpoint streams that sentence's audio as it is generated, and
aiohttp keeps the connection alive between requests, so the WebSocket would save little. Aura sends
no word timestamps on either API. Interruption is simpler and exact on HTTP: closing the response
ends that request, whereas on the WebSocket a ``Clear`` has to be matched with ``Cleared`` and audio
in flight discarded. A 429 is an HTTP status, retried with backoff before the first byte.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar
from urllib.parse import urlencode

import aiohttp

from voiceframe.services.backoff import retry
from voiceframe.services.base import ServiceError
from voiceframe.services.settings import ServiceSettings
from voiceframe.services.tts import TTSChunk, TTSService

from ._errors import http_error, require_key
from .settings import DeepgramTTSSettings

#: sample rates Aura produces for linear16; others are requested at 24 kHz and resampled by the base
RATES = (8000, 16000, 24000, 32000, 48000)


class DeepgramTTSService(TTSService):
    """Aura TTS: streamed PCM, one request per sentence, cancelled by closing the response."""

    Settings: ClassVar[type[ServiceSettings]] = DeepgramTTSSettings
    word_timestamps: ClassVar[bool] = False

    def __init__(self, *, settings: ServiceSettings | None = None, name: str | None = None, **values: Any):
        super().__init__(settings=settings, name=name, **values)
        self._session: aiohttp.ClientSession | None = None
        self._key = ""

    async def connect(self) -> None:
        self._key = require_key(self.settings)
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()

    async def disconnect(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def output_rate(self) -> int:
        return self.sample_rate if self.sample_rate in RATES else 24000

    def speak_url(self) -> str:
        s = self.settings
        query = {
            "model": s.voice or s.model,
            "encoding": "linear16",
            "sample_rate": self.output_rate(),
            "container": "none",  # raw PCM; the default for linear16 is a WAV header
        }
        return f"{s.base_url.rstrip('/')}/v1/speak?{urlencode(query)}"

    async def synthesize(self, text: str) -> AsyncIterator[TTSChunk]:
        if self._session is None:
            raise ServiceError("Deepgram TTS is not connected")
        session = self._session
        url = self.speak_url()
        rate = self.output_rate()

        async def post() -> aiohttp.ClientResponse:
            return await self._post(session, url, text)

        response = await retry(post, backoff=self.backoff, max_attempts=self.settings.max_retries + 1)
        complete = False
        carry = b""
        try:
            async for data in response.content.iter_any():
                data = carry + data
                cut = len(data) & ~1  # whole int16 samples only; an odd byte waits for the next read
                carry = data[cut:]
                if cut:
                    yield TTSChunk(audio=data[:cut], sample_rate=rate)
            complete = True
        except aiohttp.ClientPayloadError as exc:
            raise ServiceError(f"Deepgram audio stream broke off: {exc}") from exc
        finally:
            if complete:
                response.release()  # back to the pool for the next sentence
            else:
                response.close()  # interrupted: closing the connection is how an HTTP request is cancelled

    async def _post(self, session: aiohttp.ClientSession, url: str, text: str) -> aiohttp.ClientResponse:
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.settings.timeout)
        try:
            response = await session.post(
                url,
                json={"text": text},
                headers={"Authorization": f"Token {self._key}"},
                timeout=timeout,
            )
        except aiohttp.ClientConnectionError as exc:
            raise ConnectionError(f"Deepgram TTS connection failed: {exc}") from exc
        if response.status != 200:
            body = await response.read()
            response.release()
            raise http_error(response.status, body, response.headers)
        kind = response.headers.get("Content-Type", "")
        if kind.startswith(("application/json", "text/")):
            body = await response.read()
            response.release()
            raise ServiceError(f"Deepgram answered with {kind}, not audio: {body[:120]!r}")
        return response
