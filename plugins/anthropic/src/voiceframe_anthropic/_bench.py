"""Time to first token of the Anthropic plugin against the local server, against a bare HTTP client.

The bare client (aiohttp, one kept-alive connection) reads the same stream to its first text delta:
what is left when it is subtracted is what the plugin (and the SDK under it) adds.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import aiohttp
from pydantic import SecretStr

from voiceframe.context.llm_context import LLMContext
from voiceframe.services.llm import LLMText
from voiceframe.testing.ttfb import repeat

from .llm import AnthropicLLMService, AnthropicLLMSettings
from .testing import FakeAnthropicServer, MessageScript

KEY = "sk-ant-bench"


def _ms(values: list[float]) -> float:
    return round(statistics.median(values) * 1000, 3)


async def run_benchmark(n: int) -> dict[str, Any]:
    async with FakeAnthropicServer(api_key=KEY) as server, aiohttp.ClientSession() as http:
        context = LLMContext(messages=[{"role": "user", "content": "Say hi."}])
        llm = AnthropicLLMService(
            settings=AnthropicLLMSettings(base_url=server.base_url, api_key=SecretStr(KEY))
        )
        await llm.connect()
        body = {**llm.request(context), "stream": True}
        headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}

        async def plugin() -> float:
            server.messages.append(MessageScript(text=("Hi", "!")))
            start = time.perf_counter()
            first = 0.0
            async for event in llm.stream(context):
                if isinstance(event, LLMText) and event.text and not first:
                    first = time.perf_counter() - start
            return first

        async def raw() -> float:
            server.messages.append(MessageScript(text=("Hi", "!")))
            start = time.perf_counter()
            first = 0.0
            async with http.post(f"{server.url}/v1/messages", json=body, headers=headers) as r:
                async for line in r.content:
                    if not first and b'"text_delta"' in line:
                        first = time.perf_counter() - start
            return first

        mark = len(server.requests)
        p = await repeat(n, plugin)
        r = await repeat(n, raw)
        served = [
            s.first_byte_at - s.received_at for s in server.requests[mark:] if s.first_byte_at is not None
        ]
        await llm.disconnect()
        return {
            "provider": "anthropic",
            "n": n,
            "llm": {
                "plugin_ttfb_ms": _ms(p),
                "raw_http_ttfb_ms": _ms(r),
                "server_ms": _ms(served),
                "overhead_ms": round(_ms(p) - _ms(r), 3),
            },
        }
