"""Anthropic Claude through the Messages API, streamed, with tool use."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar

import anthropic

from voiceframe.context.adapters import to_anthropic
from voiceframe.context.llm_context import LLMContext
from voiceframe.services.base import ServiceError
from voiceframe.services.llm import LLMEvent, LLMService, LLMSettings, LLMText, LLMToolCallDelta, LLMUsage
from voiceframe.services.settings import ServiceSettings

from ._client import AnthropicConnection, make_client, translate


class AnthropicLLMSettings(LLMSettings, AnthropicConnection):
    model: str = "claude-haiku-4-5"
    #: the Messages API requires max_tokens
    max_tokens: int | None = 1024
    #: put before the context's own system messages
    system_prompt: str | None = None
    extra_body: dict[str, Any] = {}


class AnthropicLLMService(LLMService):
    """Streams ``/v1/messages``: text deltas, ``tool_use`` blocks (input as JSON fragments), usage.

    The context is OpenAI-shaped; :func:`voiceframe.context.adapters.to_anthropic` translates it
    (system apart, tool results as ``tool_result`` blocks). An interruption closes the HTTP stream.
    """

    Settings: ClassVar[type[ServiceSettings]] = AnthropicLLMSettings
    supports_tools: ClassVar[bool] = True

    def __init__(self, *, settings: ServiceSettings | None = None, name: str | None = None, **values: Any):
        super().__init__(settings=settings, name=name, **values)
        self._client: anthropic.AsyncAnthropic | None = None

    @property
    def where(self) -> str:
        return self.settings.base_url or "api.anthropic.com"

    async def connect(self) -> None:
        self._client = make_client(self.settings)

    async def disconnect(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    async def on_settings_changed(self, old: ServiceSettings, new: ServiceSettings) -> None:
        fields = ("api_key", "base_url", "timeout", "max_retries")
        if self._client is not None and any(getattr(old, f) != getattr(new, f) for f in fields):
            await self.disconnect()
            await self.connect()

    def request(self, context: LLMContext) -> dict[str, Any]:
        """The request body for ``context`` (without ``stream``)."""
        s: AnthropicLLMSettings = self.settings
        body = to_anthropic(context)
        system = "\n\n".join(p for p in (s.system_prompt, body.pop("system", None)) if p)
        if system:
            body["system"] = system
        body["model"] = s.model
        body["max_tokens"] = s.max_tokens or 1024
        if s.temperature is not None:
            body["temperature"] = s.temperature
        return body

    async def stream(self, context: LLMContext) -> AsyncIterator[LLMEvent]:
        if self._client is None:
            await self.connect()
        assert self._client is not None
        body = self.request(context)
        try:
            response = await self._client.messages.create(
                stream=True, extra_body=self.settings.extra_body or None, **body
            )
        except Exception as exc:
            raise translate(exc, self.where) from exc
        input_tokens = output_tokens = 0
        stopped = False
        # `async with` closes the HTTP response when an interruption cancels us mid-stream
        async with response:
            try:
                async for event in response:
                    if event.type == "content_block_delta":
                        d = event.delta
                        if d.type == "text_delta":
                            yield LLMText(d.text)
                        elif d.type == "input_json_delta":
                            yield LLMToolCallDelta(index=event.index, arguments=d.partial_json)
                    elif event.type == "content_block_start":
                        block = event.content_block
                        if block.type == "tool_use":
                            yield LLMToolCallDelta(index=event.index, id=block.id, name=block.name)
                    elif event.type == "message_start":
                        input_tokens = event.message.usage.input_tokens
                    elif event.type == "message_delta":
                        output_tokens = event.usage.output_tokens
                    elif event.type == "message_stop":
                        stopped = True
            except Exception as exc:
                raise translate(exc, self.where) from exc
        if not stopped:
            raise ServiceError(f"stream from {self.where} ended before message_stop")
        yield LLMUsage(prompt_tokens=input_tokens, completion_tokens=output_tokens)
