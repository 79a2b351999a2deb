"""LLM services: stream a response for a context, as tokens and tool calls.

A provider implements :meth:`LLMService.stream`, yielding :class:`LLMText`, :class:`LLMToolCallDelta`
and :class:`LLMUsage` events::

    class MyLLM(LLMService):
        async def stream(self, context: LLMContext) -> AsyncIterator[LLMEvent]:
            async for token in provider.chat(context.messages):
                yield LLMText(token)

The base pushes ``LLMFullResponseStartFrame``, one ``LLMTextFrame`` per token and
``LLMFullResponseEndFrame``; it measures time to first token; tool-call deltas are assembled into whole
calls and handed to :meth:`LLMService.on_tool_calls`.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from voiceframe.context.llm_context import LLMContext
from voiceframe.frames import (
    Frame,
    FunctionCallInProgressFrame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
)
from voiceframe.processor import FrameDirection
from voiceframe.services.base import AIService
from voiceframe.services.settings import ServiceSettings
from voiceframe.services.timeouts import DEFAULT_CHUNK_TIMEOUT, DEFAULT_FIRST_BYTE_TIMEOUT, timed


class LLMSettings(ServiceSettings):
    """Settings every LLM has."""

    model: str = ""
    temperature: float | None = None
    max_tokens: int | None = None
    #: seconds from the request to the first token (or tool call) before the turn fails over or
    #: apologises; provider retries of a 429/5xx happen inside it. None: no limit
    first_byte_timeout: float | None = DEFAULT_FIRST_BYTE_TIMEOUT
    #: seconds between two streamed chunks before the stream counts as hung. None: no limit
    chunk_timeout: float | None = DEFAULT_CHUNK_TIMEOUT


@dataclass(slots=True)
class LLMText:
    text: str


@dataclass(slots=True)
class LLMToolCallDelta:
    """A piece of a streamed tool call; pieces with the same ``index`` belong together."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(slots=True)
class LLMUsage:
    prompt_tokens: int = 0
    completion_tokens: int = 0


LLMEvent = LLMText | LLMToolCallDelta | LLMUsage


@dataclass(slots=True)
class ToolCall:
    """A whole tool call requested by the LLM."""

    id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


class ToolCallAssembler:
    """Joins streamed tool-call deltas into whole calls (arguments arrive as JSON fragments)."""

    def __init__(self) -> None:
        self._parts: dict[int, LLMToolCallDelta] = {}

    def add(self, delta: LLMToolCallDelta) -> None:
        part = self._parts.get(delta.index)
        if part is None:
            self._parts[delta.index] = LLMToolCallDelta(delta.index, delta.id, delta.name, delta.arguments)
            return
        part.id = part.id or delta.id
        part.name = part.name or delta.name
        part.arguments += delta.arguments

    def calls(self) -> list[ToolCall]:
        """The assembled calls in index order; malformed argument JSON raises a clear ValueError."""
        out = []
        for index in sorted(self._parts):
            part = self._parts[index]
            if not part.name:
                raise ValueError(f"tool call #{index} has no function name")
            try:
                args = json.loads(part.arguments) if part.arguments.strip() else {}
            except json.JSONDecodeError as exc:
                raise ValueError(
                    f"tool call {part.name!r} has arguments that are not valid JSON: {part.arguments!r}"
                ) from exc
            if not isinstance(args, dict):
                raise ValueError(f"tool call {part.name!r} arguments must be a JSON object, got {args!r}")
            out.append(ToolCall(part.id or f"call_{index}", part.name, args))
        return out


_response_ids = itertools.count(1)


class LLMService(AIService):
    """Base of LLM services. Override :meth:`stream`."""

    kind: ClassVar[str] = "llm"
    Settings: ClassVar[type[ServiceSettings]] = LLMSettings
    supports_tools: ClassVar[bool] = False

    async def stream(self, context: LLMContext) -> AsyncIterator[LLMEvent]:
        """Stream a response for ``context``."""
        raise NotImplementedError(f"{type(self).__name__} must implement stream()")
        yield  # pragma: no cover

    async def handle(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, LLMContextFrame) and frame.context is not None:
            await self.run(frame.context)
            return
        await self.push(frame, direction)

    async def run(self, context: LLMContext) -> None:
        """Stream one response for ``context`` into the pipeline."""
        response_id = f"{self.name}:{next(_response_ids)}"
        assembler = ToolCallAssembler()
        await self.push(LLMFullResponseStartFrame(response_id=response_id))
        self.metrics.start_ttfb()
        self.metrics.start_processing()
        first = True
        events = timed(
            self.stream(context),
            first_byte=getattr(self.settings, "first_byte_timeout", DEFAULT_FIRST_BYTE_TIMEOUT),
            between=getattr(self.settings, "chunk_timeout", DEFAULT_CHUNK_TIMEOUT),
            where=self.name,
        )
        try:
            async for event in events:
                if isinstance(event, LLMText):
                    if first:
                        first = False
                        await self.metrics.stop_ttfb()
                    if event.text:
                        await self.push(LLMTextFrame(text=event.text))
                elif isinstance(event, LLMToolCallDelta):
                    if first:
                        first = False
                        await self.metrics.stop_ttfb()
                    assembler.add(event)
                else:
                    await self.metrics.usage(
                        "llm_usage",
                        event.prompt_tokens + event.completion_tokens,
                        prompt_tokens=event.prompt_tokens,
                        completion_tokens=event.completion_tokens,
                    )
            calls = assembler.calls()
        except Exception as exc:
            # the end frame still goes out, before any apology: TTS speaks the partial answer
            end = LLMFullResponseEndFrame(response_id=response_id)
            await self.fail(exc, context="streaming a response", then=end)
            return
        await self.metrics.stop_processing()
        await self.push(LLMFullResponseEndFrame(response_id=response_id))
        if calls:
            await self.on_tool_calls(calls)

    async def on_tool_calls(self, calls: list[ToolCall]) -> None:
        """The response asked for tool calls: announce each one downstream (a function-call runner
        further down executes them and sends results back)."""
        for call in calls:
            await self.push(
                FunctionCallInProgressFrame(
                    tool_call_id=call.id, function_name=call.name, arguments=call.arguments
                )
            )
