"""OpenAI text-to-speech through ``/audio/speech``, streamed as raw PCM (24 kHz, int16 mono)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar

from voiceframe.services.settings import ServiceSettings
from voiceframe.services.tts import TTSChunk, TTSService, TTSSettings

from ._client import OpenAIClient, OpenAIConnection, translate

#: response_format "pcm" is always 24 kHz, 16-bit signed little-endian, mono, no header
PCM_RATE = 24000


class OpenAITTSSettings(TTSSettings, OpenAIConnection):
    model: str = "gpt-4o-mini-tts"
    voice: str | None = "alloy"
    #: 0.25 to 4.0
    speed: float | None = None
    #: how to speak (gpt-4o-mini-tts only), e.g. "warm and brief"
    instructions: str | None = None


class OpenAITTSService(OpenAIClient, TTSService):
    """Streams speech as it is generated. No word timestamps: the base estimates them."""

    Settings: ClassVar[type[ServiceSettings]] = OpenAITTSSettings
    word_timestamps: ClassVar[bool] = False

    async def synthesize(self, text: str) -> AsyncIterator[TTSChunk]:
        if self._client is None:
            await self.connect()
        assert self._client is not None
        s: OpenAITTSSettings = self.settings
        extra: dict[str, Any] = {}
        if s.speed is not None:
            extra["speed"] = s.speed
        if s.instructions:
            extra["instructions"] = s.instructions
        request = self._client.audio.speech.with_streaming_response.create(
            model=s.model, voice=s.voice or "alloy", input=text, response_format="pcm", **extra
        )
        try:
            # leaving the block (also by cancellation on an interruption) closes the HTTP response
            async with request as response:
                odd = b""  # network chunks may split a sample; keep whole int16 samples only
                async for data in response.iter_bytes():
                    data = odd + data
                    cut = len(data) - len(data) % 2
                    odd = data[cut:]
                    if cut:
                        yield TTSChunk(audio=data[:cut], sample_rate=PCM_RATE)
        except Exception as exc:
            raise translate(exc, self.where) from exc
