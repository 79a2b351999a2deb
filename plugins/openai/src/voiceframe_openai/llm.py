"""OpenAI chat completions, streamed, with tools; works with any OpenAI-compatible server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar

from voiceframe.context.llm_context import LLMContext
from voiceframe.services.base import ServiceError
from voiceframe.services.llm import LLMEvent, LLMService, LLMSettings, LLMText, LLMToolCallDelta, LLMUsage
from voiceframe.services.settings import ServiceSettings

from ._client import OpenAIClient, OpenAIConnection, translate


class OpenAILLMSettings(LLMSettings, OpenAIConnection):
    model: str = "gpt-4o-mini"
    #: prepended as a system message unless the context already starts with one
    system_prompt: str | None = None
    #: ask for a final usage chunk (stream_options.include_usage); turn off for servers that reject it
    stream_usage: bool = True
    #: extra request fields for compatible servers (e.g. {"top_k": 20} on vLLM)
    extra_body: dict[str, Any] = {}


class OpenAILLMService(OpenAIClient, LLMService):
    """Streams ``/chat/completions``: tokens, tool calls, usage. An interruption closes the HTTP stream."""

    Settings: ClassVar[type[ServiceSettings]] = OpenAILLMSettings
    supports_tools: ClassVar[bool] = True

    def request(self, context: LLMContext) -> dict[str, Any]:
        """The request body for ``context`` (without ``stream``)."""
        s: OpenAILLMSettings = self.settings
        body = context.to_openai()
        messages = body["messages"]
        if s.system_prompt and not (messages and messages[0].get("role") == "system"):
            messages.insert(0, {"role": "system", "content": s.system_prompt})
        body["model"] = s.model
        if s.stream_usage:
            body["stream_options"] = {"include_usage": True}
        if s.temperature is not None:
            body["temperature"] = s.temperature
        if s.max_tokens is not None:
            body["max_tokens"] = s.max_tokens
        return body

    async def stream(self, context: LLMContext) -> AsyncIterator[LLMEvent]:
        if self._client is None:
            await self.connect()  # not started through a pipeline (or after a failed connect)
        assert self._client is not None
        body = self.request(context)
        try:
            response = await self._client.chat.completions.create(
                stream=True, extra_body=self.settings.extra_body or None, **body
            )
        except Exception as exc:
            raise translate(exc, self.where) from exc
        finished = False
        # `async with` closes the HTTP response when an interruption cancels us mid-stream
        async with response:
            try:
                async for chunk in response:
                    if chunk.usage is not None:
                        u = chunk.usage
                        yield LLMUsage(prompt_tokens=u.prompt_tokens, completion_tokens=u.completion_tokens)
                    for choice in chunk.choices or ():
                        delta = choice.delta
                        if delta.content:
                            yield LLMText(delta.content)
                        for call in delta.tool_calls or ():
                            fn = call.function
                            yield LLMToolCallDelta(
                                index=call.index,
                                id=call.id,
                                name=fn.name if fn is not None else None,
                                arguments=(fn.arguments or "") if fn is not None else "",
                            )
                        finished = finished or choice.finish_reason is not None
            except Exception as exc:
                raise translate(exc, self.where) from exc
        if not finished:
            # a server that ends the body early (but cleanly) must not pass for a complete answer
            raise ServiceError(f"stream from {self.where} ended without a finish_reason")
