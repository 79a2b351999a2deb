"""Test doubles for conversations on the virtual clock (named ``Fake*``; use them in your own tests).

* :class:`FakeLLM`: a real :class:`~voiceframe.services.llm.LLMService` that streams scripted
  responses (text tokens, tool calls as streamed deltas, pauses) and records every request.
* :class:`FakeTTS`: a real :class:`~voiceframe.services.tts.TTSService` that "synthesises" audio of a
  known length per word and reports word timestamps (or none, to exercise estimation).
* :class:`FakeOutputTransport`: the real :class:`~voiceframe.transports.output.OutputTransport` whose
  sink records what was played, when, and when the client was told to clear.
* :func:`heard_words`: which words the user had heard at a given time, computed from what the TTS
  generated and what the transport wrote (independently of the word frames the transport released).

Example::

    context = LLMContext([{"role": "system", "content": "Be brief."}])
    llm = FakeLLM([["Hello", " there."], [FakeToolCall("get_weather", {"city": "Paris"})]])
    tts, out = FakeTTS(), FakeOutputTransport()
    pipeline = Pipeline([UserAggregator(context), llm, FunctionCallManager(context), tts, out,
                         AssistantAggregator(context)])
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from voiceframe.context.llm_context import LLMContext
from voiceframe.frames import (
    Frame,
    InterruptionFrame,
    OutputAudioRawFrame,
    TTSAudioRawFrame,
    TTSTextFrame,
    WordTiming,
    now,
)
from voiceframe.processor import DOWNSTREAM, FrameDirection
from voiceframe.services.llm import LLMEvent, LLMService, LLMText, LLMToolCallDelta
from voiceframe.services.tts import TTSChunk, TTSService
from voiceframe.transports.output import OutputTransport

__all__ = [
    "FakeLLM",
    "FakeOutputTransport",
    "FakePause",
    "FakeTTS",
    "FakeToolCall",
    "heard_words",
]

_call_ids = itertools.count(1)


@dataclass(frozen=True, slots=True)
class FakeToolCall:
    """In a :class:`FakeLLM` script: a tool call, streamed as a few argument deltas."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    id: str | None = None


@dataclass(frozen=True, slots=True)
class FakePause:
    """In a :class:`FakeLLM` script: the stream stalls for ``seconds``."""

    seconds: float


ScriptItem = str | FakeToolCall | FakePause
Script = Sequence[ScriptItem]


class FakeLLM(LLMService):
    """Streams one scripted response per request, in order (the last one repeats when they run out).

    ``responses`` is a list of scripts, or a function ``(context) -> script``. Strings are text tokens,
    :class:`FakeToolCall` a tool call, :class:`FakePause` a stall. ``ttfb`` is the delay before the
    first token, ``token_delay`` the delay before each further token. ``requests`` holds a deep copy of
    the messages of every request, ``request_times`` when each was made.
    """

    supports_tools: ClassVar[bool] = True

    def __init__(
        self,
        responses: Sequence[Script] | Callable[[LLMContext], Script] = (),
        *,
        ttfb: float = 0.2,
        token_delay: float = 0.02,
        name: str | None = None,
    ) -> None:
        # a script's delays and FakePause stalls are deliberate: no provider deadlines unless asked for
        super().__init__(name=name, first_byte_timeout=None, chunk_timeout=None)
        self.responses = responses
        self.ttfb = ttfb
        self.token_delay = token_delay
        self.requests: list[list[dict[str, Any]]] = []
        self.request_times: list[float] = []
        self.cancelled = 0

    def _script(self, context: LLMContext) -> Script:
        if callable(self.responses):
            return self.responses(context)
        if not self.responses:
            return []
        index = min(len(self.requests) - 1, len(self.responses) - 1)
        return self.responses[index]

    async def stream(self, context: LLMContext) -> AsyncIterator[LLMEvent]:
        self.requests.append(copy.deepcopy(context.messages))
        self.request_times.append(now())
        script = self._script(context)
        try:
            await asyncio.sleep(self.ttfb)
            index = 0
            for item in script:
                if isinstance(item, FakePause):
                    await asyncio.sleep(item.seconds)
                elif isinstance(item, FakeToolCall):
                    call_id = item.id or f"call_{next(_call_ids)}"
                    args = json.dumps(item.arguments)
                    half = len(args) // 2
                    yield LLMToolCallDelta(index, id=call_id, name=item.name, arguments=args[:half])
                    await asyncio.sleep(self.token_delay)
                    yield LLMToolCallDelta(index, arguments=args[half:])
                    index += 1
                else:
                    yield LLMText(item)
                    await asyncio.sleep(self.token_delay)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise


def _default_duration(word: str) -> float:
    return 0.1 + 0.05 * len(word)


class FakeTTS(TTSService):
    """Silence-free fake speech: ``word_duration(word)`` seconds of audio per word, after ``latency``.

    With ``timestamps`` each synthesis reports its words' start/end times; without, the base class
    estimates them from the audio length. ``audio_chunk`` splits each synthesis into pieces of that
    many seconds; ``words_first`` sends the timings with the first piece (as most providers do)
    rather than with the last (late alignment). ``generated`` records per context the audio durations
    and the words (with their ``pts``) in the order they were pushed.
    """

    word_timestamps: ClassVar[bool] = True

    def __init__(
        self,
        *,
        latency: float = 0.1,
        word_duration: Callable[[str], float] = _default_duration,
        timestamps: bool = True,
        sample_rate: int = 16000,
        audio_chunk: float = 0.25,
        words_first: bool = True,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name, sample_rate=sample_rate, first_byte_timeout=None, chunk_timeout=None)
        self.latency = latency
        self.word_duration = word_duration
        self.timestamps = timestamps
        self.audio_chunk = audio_chunk
        self.words_first = words_first
        self.requests: list[str] = []
        #: (context_id, "audio", seconds) and (context_id, "word", (text, pts)) in push order
        self.generated: list[tuple[str | None, str, Any]] = []

    async def synthesize(self, text: str) -> AsyncIterator[TTSChunk]:
        self.requests.append(text)
        await asyncio.sleep(self.latency)
        rate = self.sample_rate
        timings: list[WordTiming] = []
        samples = 0
        for word in text.split():
            n = max(1, round(self.word_duration(word) * rate))
            timings.append(WordTiming(word, samples / rate, (samples + n) / rate))
            samples += n
        audio = b"\x01\x00" * samples
        step = max(2, round(self.audio_chunk * rate) * 2)
        pieces = [audio[i : i + step] for i in range(0, len(audio), step)] or [b""]
        for i, piece in enumerate(pieces):
            with_words = (i == 0) if self.words_first else (i == len(pieces) - 1)
            words = timings if (with_words and self.timestamps) else []
            yield TTSChunk(audio=piece, sample_rate=rate, words=words)

    async def push(self, frame: Frame, direction: FrameDirection = DOWNSTREAM) -> None:
        if isinstance(frame, TTSAudioRawFrame):
            self.generated.append((frame.context_id, "audio", frame.duration))
        elif isinstance(frame, TTSTextFrame):
            self.generated.append((frame.context_id, "word", (frame.text, frame.pts)))
        await super().push(frame, direction)


class FakeOutputTransport(OutputTransport):
    """The real output transport with a recording sink.

    ``written``: (time, chunk) for every chunk played; ``clears``: times the client was told to drop
    its buffer; ``words``: (time, text) for every word released; ``interruptions``: when they came.
    """

    def __init__(
        self,
        *,
        chunk_seconds: float = 0.02,
        stop_gap: float = 0.35,
        send_ahead: float = 0.0,
        name: str | None = None,
    ):
        super().__init__(chunk_seconds=chunk_seconds, stop_gap=stop_gap, send_ahead=send_ahead, name=name)
        self.written: list[tuple[float, OutputAudioRawFrame]] = []
        self.clears: list[float] = []
        self.words: list[tuple[float, str]] = []
        self.interruptions: list[float] = []

    async def on_interruption(self, frame: InterruptionFrame) -> None:
        self.interruptions.append(now())
        await super().on_interruption(frame)

    async def write_audio(self, chunk: OutputAudioRawFrame) -> None:
        self.written.append((now(), chunk))

    async def clear(self) -> None:
        self.clears.append(now())

    async def on_word(self, frame: TTSTextFrame) -> None:
        self.words.append((now(), frame.text))

    def played_seconds(self, at: float | None = None) -> float:
        """Seconds of audio played by time ``at`` (default: all written)."""
        total = 0.0
        for t, chunk in self.written:
            if at is None:
                total += chunk.duration
            elif t < at:
                total += min(chunk.duration, at - t)
        return total

    def last_write_before(self, t: float) -> float | None:
        times = [w for w, _ in self.written if w <= t]
        return times[-1] if times else None


def heard_words(tts: FakeTTS, output: FakeOutputTransport, at: float) -> list[str]:
    """The words the user had heard by time ``at``: those whose first sample had started playing.

    Computed from the audio the TTS generated (per context, in order) and the chunks the transport
    wrote with their times, independently of the word frames the transport released. Assumes no audio
    was dropped before ``at`` (at most one interruption, at ``at``).
    """
    offsets: dict[str | None, float] = {}  # where each context's audio starts in the played stream
    position = 0.0
    for cid, kind, value in tts.generated:
        if kind == "audio":
            offsets.setdefault(cid, position)
            position += value
    starts: list[tuple[float, float, float]] = []  # (stream position, duration, time written)
    position = 0.0
    for t, chunk in output.written:
        starts.append((position, chunk.duration, t))
        position += chunk.duration

    def playing_at(p: float) -> float | None:
        for pos, duration, t in starts:
            if pos - 1e-9 <= p < pos + duration - 1e-9:
                return t + max(p - pos, 0.0)
        return None

    heard: list[str] = []
    for cid, kind, value in tts.generated:
        if kind != "word" or cid not in offsets:
            continue
        text, pts = value
        when = playing_at(offsets[cid] + pts)
        if when is not None and when <= at + 1e-9:
            heard.append(text)
    return heard
