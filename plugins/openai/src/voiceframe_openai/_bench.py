"""Time to first byte of the OpenAI plugins against the local server, against a bare HTTP client.

The bare client (aiohttp, one kept-alive connection) reads the same response to its first content
bytes: what is left when it is subtracted is what the plugin (and the SDK under it) adds.
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

from .llm import OpenAILLMService, OpenAILLMSettings
from .testing import ChatScript, FakeOpenAIServer, SpeechScript
from .tts import OpenAITTSService, OpenAITTSSettings

KEY = "sk-bench"


def _ms(values: list[float]) -> float:
    return round(statistics.median(values) * 1000, 3)


async def run_benchmark(n: int) -> dict[str, Any]:
    async with FakeOpenAIServer(api_key=KEY) as server, aiohttp.ClientSession() as http:
        headers = {"Authorization": f"Bearer {KEY}"}
        context = LLMContext(messages=[{"role": "user", "content": "Say hi."}])
        llm = OpenAILLMService(settings=OpenAILLMSettings(base_url=server.base_url, api_key=SecretStr(KEY)))
        tts = OpenAITTSService(settings=OpenAITTSSettings(base_url=server.base_url, api_key=SecretStr(KEY)))
        await llm.connect()
        await tts.connect()
        body = {**llm.request(context), "stream": True}

        async def llm_plugin() -> float:
            server.chat.append(ChatScript(text=("Hi", "!")))
            start = time.perf_counter()
            first = 0.0
            async for event in llm.stream(context):
                if isinstance(event, LLMText) and event.text and not first:
                    first = time.perf_counter() - start
            return first

        async def llm_raw() -> float:
            server.chat.append(ChatScript(text=("Hi", "!")))
            start = time.perf_counter()
            first = 0.0
            async with http.post(f"{server.base_url}/chat/completions", json=body, headers=headers) as r:
                async for line in r.content:
                    if not first and b'"content":"Hi"' in line:
                        first = time.perf_counter() - start
            return first

        async def tts_plugin() -> float:
            server.speech.append(SpeechScript(seconds=0.2))
            start = time.perf_counter()
            first = 0.0
            async for chunk in tts.synthesize("Hello there."):
                if chunk.audio and not first:
                    first = time.perf_counter() - start
            return first

        async def tts_raw() -> float:
            server.speech.append(SpeechScript(seconds=0.2))
            start = time.perf_counter()
            first = 0.0
            speech = {
                "model": "gpt-4o-mini-tts",
                "voice": "alloy",
                "input": "Hello there.",
                "response_format": "pcm",
            }
            async with http.post(f"{server.base_url}/audio/speech", json=speech, headers=headers) as r:
                async for data in r.content.iter_any():
                    if data and not first:
                        first = time.perf_counter() - start
            return first

        out: dict[str, Any] = {"provider": "openai", "n": n}
        for kind, plugin, raw, path in (
            ("llm", llm_plugin, llm_raw, "/v1/chat/completions"),
            ("tts", tts_plugin, tts_raw, "/v1/audio/speech"),
        ):
            mark = len(server.requests)
            p = await repeat(n, plugin)
            r = await repeat(n, raw)
            served = [
                s.first_byte_at - s.received_at
                for s in server.requests[mark:]
                if s.path == path and s.first_byte_at is not None
            ]
            out[kind] = {
                "plugin_ttfb_ms": _ms(p),
                "raw_http_ttfb_ms": _ms(r),
                "server_ms": _ms(served),
                "overhead_ms": round(_ms(p) - _ms(r), 3),
            }
        await llm.disconnect()
        await tts.disconnect()
        return out
