"""Service test doubles (Fake*): tiny providers implementing the base classes' hooks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import ClassVar

from voiceframe.context.llm_context import LLMContext
from voiceframe.frames import WordTiming
from voiceframe.services.base import ServiceError
from voiceframe.services.llm import LLMEvent, LLMService, LLMText, LLMToolCallDelta, LLMUsage
from voiceframe.services.settings import ServiceSettings
from voiceframe.services.stt import SegmentedSTTService, Transcript
from voiceframe.services.tts import TTSChunk, TTSService, TTSSettings


class FakeSplitter:
    """Splits on sentence-ending punctuation (the real aggregator lives in voiceframe.text)."""

    def __init__(self) -> None:
        self.buffer = ""

    def add(self, text: str) -> list[str]:
        self.buffer += text
        out = []
        while True:
            cut = min((i for i in (self.buffer.find(c) for c in ".!?") if i >= 0), default=-1)
            if cut < 0:
                return out
            out.append(self.buffer[: cut + 1])
            self.buffer = self.buffer[cut + 1 :]

    def flush(self) -> str | None:
        rest, self.buffer = self.buffer, ""
        return rest or None

    def reset(self) -> None:
        self.buffer = ""


class FakeToneTTS(TTSService):
    """0.1 s of audio per word at 16 kHz, streamed word by word, with real word timings."""

    word_timestamps: ClassVar[bool] = True

    def __init__(self, *, latency: float = 0.05, timestamps: bool = True, rate: int = 16000, **kw: object):
        super().__init__(aggregator=FakeSplitter(), **kw)  # type: ignore[arg-type]
        self.latency = latency
        self.timestamps = timestamps
        self.rate = rate
        self.requests: list[str] = []
        self.cancelled: list[str] = []

    async def synthesize(self, text: str) -> AsyncIterator[TTSChunk]:
        self.requests.append(text)
        try:
            for i, word in enumerate(text.split()):
                await asyncio.sleep(self.latency)
                words = [WordTiming(word, 0.1 * i, 0.1 * (i + 1))] if self.timestamps else []
                yield TTSChunk(audio=b"\x01\x00" * int(0.1 * self.rate), sample_rate=self.rate, words=words)
        except asyncio.CancelledError:
            self.cancelled.append(text)
            raise


class FakeScriptedLLM(LLMService):
    """Streams scripted events with a delay before each."""

    class Settings(ServiceSettings):
        model: str = "scripted"
        fail_with: str | None = None

    def __init__(self, events: list[LLMEvent] | None = None, *, delay: float = 0.1, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.events = events or []
        self.delay = delay
        self.contexts: list[LLMContext] = []

    async def stream(self, context: LLMContext) -> AsyncIterator[LLMEvent]:
        self.contexts.append(context)
        if self.settings.fail_with:
            await asyncio.sleep(self.delay)
            raise ServiceError(self.settings.fail_with)
        for event in self.events:
            await asyncio.sleep(self.delay)
            yield event


def text_events(*tokens: str) -> list[LLMEvent]:
    return [LLMText(t) for t in tokens]


def tool_events() -> list[LLMEvent]:
    return [
        LLMToolCallDelta(0, id="call_1", name="get_weather", arguments='{"ci'),
        LLMToolCallDelta(0, arguments='ty": "Paris"}'),
        LLMToolCallDelta(1, id="call_2", name="get_time", arguments=""),
        LLMUsage(prompt_tokens=20, completion_tokens=7),
    ]


class FakeSegmentSTT(SegmentedSTTService):
    """'Recognises' a segment as the number of 20 ms chunks it holds."""

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.segments: list[int] = []

    async def transcribe(self, audio: bytes, sample_rate: int) -> Transcript | None:
        await asyncio.sleep(0.3)
        self.segments.append(len(audio))
        return Transcript(text=f"{len(audio) // (2 * sample_rate // 50)} chunks")


class FakeSettingsTTS(FakeToneTTS):
    class Settings(TTSSettings):
        speed: float = 1.0


class FakeBreakingLLM(LLMService):
    """Streams ``events``, then fails with ``error`` (a provider that breaks mid-answer)."""

    def __init__(self, events: list[LLMEvent], error: ServiceError, *, delay: float = 0.1, **kw: object):
        super().__init__(**kw)  # type: ignore[arg-type]
        self.events = events
        self.error = error
        self.delay = delay
        self.contexts: list[LLMContext] = []

    async def stream(self, context: LLMContext) -> AsyncIterator[LLMEvent]:
        self.contexts.append(context)
        for event in self.events:
            await asyncio.sleep(self.delay)
            yield event
        await asyncio.sleep(self.delay)
        raise self.error
