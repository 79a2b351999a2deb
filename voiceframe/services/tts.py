"""Text-to-speech services.

A TTS service turns LLM tokens into speakable chunks (sentences), synthesises each, and pushes, per
utterance *context* (one LLM response, or one :class:`~voiceframe.frames.TTSSpeakFrame`)::

    TTSStartedFrame(context_id)
    TTSAudioRawFrame(...)          # audio, in order
    TTSTextFrame(word, pts=...)    # one per word; pts = seconds from the start of the context's audio
    TTSStoppedFrame(context_id)

The output transport plays the audio and releases each word when playout reaches its ``pts``, so the
context aggregator commits exactly what was heard. A provider without word timestamps gets estimates
from the audio duration and character counts.

A provider implements :meth:`TTSService.synthesize`::

    class MyTTS(TTSService):
        async def synthesize(self, text: str) -> AsyncIterator[TTSChunk]:
            async for pcm in my_provider.stream(text):
                yield TTSChunk(audio=pcm, sample_rate=24000)
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from voiceframe.frames import (
    Frame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    StartFrame,
    TextFrame,
    TTSAudioRawFrame,
    TTSSpeakFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
    WordTiming,
)
from voiceframe.processor import FrameDirection
from voiceframe.services.base import AIService
from voiceframe.services.settings import ServiceSettings
from voiceframe.services.timeouts import DEFAULT_CHUNK_TIMEOUT, DEFAULT_FIRST_BYTE_TIMEOUT
from voiceframe.services.timeouts import timed as with_deadlines

#: the first audio of each sentence is pushed alone, this long, so playout can start before the rest of
#: a long sentence is resampled and queued (about 1 ms for 3 s of audio). It is also how long a busy
#: event loop may take to come back for the rest before the listener would hear a gap.
FIRST_PIECE_SECONDS = 0.5


class TTSSettings(ServiceSettings):
    """Settings every TTS has. ``sample_rate`` None means the session's output rate."""

    voice: str | None = None
    sample_rate: int | None = None
    #: seconds from a sentence's request to its first audio before it fails over or apologises
    first_byte_timeout: float | None = DEFAULT_FIRST_BYTE_TIMEOUT
    #: seconds between two audio chunks before the synthesis counts as hung. None: no limit
    chunk_timeout: float | None = DEFAULT_CHUNK_TIMEOUT


@dataclass(slots=True)
class TTSChunk:
    """A piece of synthesised speech. ``words`` are timed from the start of this synthesis call."""

    audio: bytes = b""
    sample_rate: int = 24000
    words: list[WordTiming] = field(default_factory=list)


class TextAggregator(Protocol):
    """Turns streamed text into speakable chunks."""

    def add(self, text: str) -> list[str]: ...

    def flush(self) -> str | None: ...

    def reset(self) -> None: ...


_context_ids = itertools.count(1)


def estimate_word_times(text: str, duration: float) -> list[WordTiming]:
    """Word start/end times spread over ``duration`` by character count (for TTS without timestamps)."""
    words = text.split()
    if not words:
        return []
    total = sum(len(w) + 1 for w in words)
    out: list[WordTiming] = []
    position = 0
    for w in words:
        start = duration * position / total
        position += len(w) + 1
        out.append(WordTiming(w, start, duration * position / total))
    return out


class TTSService(AIService):
    """Base of TTS services. Override :meth:`synthesize`."""

    kind: ClassVar[str] = "tts"
    Settings: ClassVar[type[ServiceSettings]] = TTSSettings
    #: whether :meth:`synthesize` returns real word timings (otherwise they are estimated)
    word_timestamps: ClassVar[bool] = False

    def __init__(
        self,
        *,
        aggregator: TextAggregator | None = None,
        settings: ServiceSettings | None = None,
        name: str | None = None,
        **values: Any,
    ) -> None:
        super().__init__(settings=settings, name=name, **values)
        if aggregator is None:
            from voiceframe.text.sentence_aggregator import SentenceAggregator

            aggregator = SentenceAggregator()
        self.aggregator: TextAggregator = aggregator
        self.sample_rate = 24000
        self._context_id: str | None = None
        self._context_offset = 0.0  # seconds of audio already pushed in the current context
        self._failed_context: str | None = None  # one apology per context, not one per sentence
        self._unspoken = ""  # the sentence that failed, for a FallbackService to hand to the backup

    async def synthesize(self, text: str) -> AsyncIterator[TTSChunk]:
        """Synthesise ``text``; yield audio (and word timings if the provider has them)."""
        raise NotImplementedError(f"{type(self).__name__} must implement synthesize()")
        yield  # pragma: no cover  (makes this an async generator for type checkers)

    async def on_start(self, frame: StartFrame) -> None:
        self.sample_rate = self.settings.sample_rate or frame.audio_out_sample_rate
        await super().on_start(frame)

    async def on_interruption(self, frame: InterruptionFrame) -> None:
        await super().on_interruption(frame)
        self.aggregator.reset()
        self._context_id = None
        self._context_offset = 0.0

    async def handle(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, TTSSpeakFrame):
            await self._flush_context()
            await self._open_context()
            await self.speak(frame.text)
            await self._close_context()
        elif isinstance(frame, LLMFullResponseStartFrame):
            await self.push(frame, direction)
            await self._flush_context()
            await self._open_context()
        elif isinstance(frame, LLMFullResponseEndFrame):
            await self._flush_context()
            await self.push(frame, direction)
        elif type(frame) in (TextFrame, LLMTextFrame) and direction == FrameDirection.DOWNSTREAM:
            assert isinstance(frame, TextFrame)
            for chunk in self.aggregator.add(frame.text):
                await self._speak_in_context(chunk)
        else:
            await self.push(frame, direction)

    async def _open_context(self) -> None:
        self._context_id = f"{self.name}:{next(_context_ids)}"
        self._context_offset = 0.0
        await self.push(TTSStartedFrame(context_id=self._context_id))

    async def _close_context(self) -> None:
        if self._context_id is not None:
            await self.push(TTSStoppedFrame(context_id=self._context_id))
            self._context_id = None

    async def _flush_context(self) -> None:
        rest = self.aggregator.flush()
        if rest:
            await self._speak_in_context(rest)
        await self._close_context()

    async def _speak_in_context(self, text: str) -> None:
        if self._context_id is None:
            await self._open_context()
        await self.speak(text)

    async def speak(self, text: str) -> None:
        """Synthesise ``text`` into the current context and push its audio and words."""
        text = text.strip()
        if not text:
            return
        context_id = self._context_id
        base = self._context_offset
        duration = 0.0
        timed = False
        resampler: Any = None

        def convert(audio: bytes, rate: int) -> bytes:
            nonlocal resampler
            if rate == self.sample_rate:
                return audio
            if resampler is None:
                from voiceframe.audio.resample import StreamResampler

                resampler = StreamResampler(rate, self.sample_rate)
            converted: bytes = resampler.process(audio)
            return converted

        self.metrics.start_ttfb()
        first = True
        chunks = with_deadlines(
            self.synthesize(text),
            first_byte=getattr(self.settings, "first_byte_timeout", DEFAULT_FIRST_BYTE_TIMEOUT),
            between=getattr(self.settings, "chunk_timeout", DEFAULT_CHUNK_TIMEOUT),
            where=self.name,
        )
        try:
            async for chunk in chunks:
                if chunk.audio:
                    audio = chunk.audio
                    if first:
                        first = False
                        await self.metrics.stop_ttfb()
                        head = 2 * round(FIRST_PIECE_SECONDS * chunk.sample_rate)
                        if len(audio) > 2 * head:
                            duration += await self._push_audio(
                                convert(audio[:head], chunk.sample_rate), context_id
                            )
                            # playout starts before the rest of a long sentence is converted and queued
                            await asyncio.sleep(0)
                            audio = audio[head:]
                    duration += await self._push_audio(convert(audio, chunk.sample_rate), context_id)
                for w in chunk.words:
                    timed = True
                    await self.push(TTSTextFrame(text=w.word, pts=base + w.start, context_id=context_id))
            if resampler is not None:
                duration += await self._push_audio(resampler.flush(), context_id)
        except Exception as exc:
            self._unspoken = text
            if context_id is not None and self._failed_context == context_id:
                await self.report(exc, context=f"synthesising {text[:40]!r}")
            else:
                self._failed_context = context_id
                await self.fail(exc, context=f"synthesising {text[:40]!r}")
            return
        if not timed:
            for w in estimate_word_times(text, duration):
                await self.push(TTSTextFrame(text=w.word, pts=base + w.start, context_id=context_id))
        self._context_offset = base + duration
        await self.metrics.usage("tts_usage", len(text))

    def take_unspoken(self) -> str:
        """The text a failure left unsaid: the sentence that failed and what waits to be a sentence."""
        rest = self.aggregator.flush() or ""
        text, self._unspoken = f"{self._unspoken} {rest}".strip(), ""
        return text

    async def _push_audio(self, audio: bytes, context_id: str | None) -> float:
        if not audio:
            return 0.0
        frame = TTSAudioRawFrame(audio=audio, sample_rate=self.sample_rate, context_id=context_id)
        await self.push(frame)
        return frame.duration
