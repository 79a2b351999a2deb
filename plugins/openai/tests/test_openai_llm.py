"""OpenAILLMService through the real SDK against the local OpenAI protocol server.

Real sockets and real time (``run_processor(..., virtual=False)``): the virtual clock cannot wait on
network I/O. Every scripted delay is a few tens of milliseconds.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import pytest
from voiceframe_openai import OpenAILLMService
from voiceframe_openai.testing import (
    ChatScript,
    DropScript,
    ErrorScript,
    FakeOpenAIServer,
    ToolCallScript,
)

from voiceframe.config import parse_config
from voiceframe.context.llm_context import LLMContext
from voiceframe.frames import (
    Frame,
    FunctionCallInProgressFrame,
    InterruptionFrame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMTextFrame,
    MetricsFrame,
)
from voiceframe.task import PipelineParams
from voiceframe.testing import Wait, run_processor

KEY = "sk-test-0123456789"
METRICS = PipelineParams(enable_metrics=True)


@pytest.fixture
async def server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeOpenAIServer]:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    async with FakeOpenAIServer(api_key=KEY) as s:
        yield s


def ask(text: str = "Hi!", **kw: object) -> LLMContextFrame:
    return LLMContextFrame(context=LLMContext(messages=[{"role": "user", "content": text}], **kw))  # type: ignore[arg-type]


def texts(frames: list[Frame]) -> list[str]:
    return [f.text for f in frames if isinstance(f, LLMTextFrame)]


async def run(llm: OpenAILLMService, frames: list[Frame | Wait], **kw: object):  # type: ignore[no-untyped-def]
    return await run_processor(llm, frames, virtual=False, timeout=10.0, **kw)  # type: ignore[arg-type]


async def test_streams_tokens_with_usage_and_ttfb(server: FakeOpenAIServer) -> None:
    server.chat.append(ChatScript(text=["Hel", "lo", " there", "!"], delay=0.01, prompt_tokens=9))
    llm = OpenAILLMService(base_url=server.base_url, model="gpt-test", system_prompt="Be brief.")
    result = await run(llm, [ask("Hello?")], params=METRICS)
    assert texts(result.downstream) == ["Hel", "lo", " there", "!"]
    assert not result.errors
    [seen] = server.seen("/chat/completions")
    assert seen.headers["Authorization"] == f"Bearer {KEY}"
    assert seen.body["model"] == "gpt-test" and seen.body["stream"] is True
    assert seen.body["stream_options"] == {"include_usage": True}
    assert seen.body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello?"},
    ]
    data = [d for m in result.of_type(MetricsFrame) for d in m.data]
    usage = [d for d in data if d.kind == "llm_usage"]
    assert usage and usage[0].value == 9 + 4
    ttfb = [d.value for d in data if d.kind == "ttfb"]
    assert ttfb and 0.0 < ttfb[0] < 1.0


async def test_tool_calls_split_into_fragments_are_assembled(server: FakeOpenAIServer) -> None:
    args = json.dumps({"city": "Paris", "unit": "celsius"})
    server.chat.append(
        ChatScript(
            text=["Let me check."],
            tool_calls=[
                ToolCallScript("get_weather", args, id="call_w", fragments=5),
                ToolCallScript("get_time", "{}", id="call_t"),
            ],
        )
    )
    tools = [
        {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}},
        {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}},
    ]
    llm = OpenAILLMService(base_url=server.base_url)
    result = await run(llm, [ask("Weather?", tools=tools, tool_choice="auto")])
    calls = result.of_type(FunctionCallInProgressFrame)
    assert [(c.tool_call_id, c.function_name, c.arguments) for c in calls] == [
        ("call_w", "get_weather", {"city": "Paris", "unit": "celsius"}),
        ("call_t", "get_time", {}),
    ]
    assert server.seen("/chat/completions")[0].body["tools"] == tools
    assert server.seen("/chat/completions")[0].body["tool_choice"] == "auto"


async def test_context_with_tool_results_is_accepted_by_the_server(server: FakeOpenAIServer) -> None:
    from voiceframe.context.llm_context import ToolCallRequest

    ctx = LLMContext(messages=[{"role": "user", "content": "Weather in Paris?"}])
    ctx.add_tool_calls("r1", [ToolCallRequest("call_1", "get_weather", {"city": "Paris"})])
    ctx.set_tool_result("call_1", {"temp_c": 21})
    llm = OpenAILLMService(base_url=server.base_url)
    result = await run(llm, [LLMContextFrame(context=ctx)])
    assert not result.errors
    assert [m["role"] for m in server.seen("/chat/completions")[0].body["messages"]] == [
        "user",
        "assistant",
        "tool",
    ]


async def test_interruption_closes_the_http_stream(server: FakeOpenAIServer) -> None:
    server.chat.append(ChatScript(text=[f" w{i}" for i in range(60)], delay=0.02))
    llm = OpenAILLMService(base_url=server.base_url)
    started = time.perf_counter()
    result = await run(llm, [ask(), Wait(0.4), InterruptionFrame()], end=False, settle=0.3)
    seen = await server.wait_disconnect(timeout=1.0)
    assert seen.disconnected_at is not None and not seen.completed
    # the server saw the client go away right after the interruption (~0.4 s), not at the end (1.2 s)
    assert seen.disconnected_at - started < 0.9
    got = texts(result.downstream)
    assert 3 <= len(got) < 60


async def test_next_request_works_after_the_server_drops_the_connection(server: FakeOpenAIServer) -> None:
    server.chat.append(ChatScript(text=["one", " two", " three"], drop_after=3))  # dies mid-stream
    server.chat.append(DropScript())  # dies before answering: the SDK retries this one itself
    server.chat.append(ChatScript(text=["back", " again"]))
    llm = OpenAILLMService(base_url=server.base_url)
    result = await run(llm, [ask("first"), ask("second")])
    [error] = result.errors
    assert "connection to" in error.error and server.base_url in error.error
    assert not error.fatal
    assert texts(result.downstream) == ["one", " two", "back", " again"]
    assert len(result.of_type(LLMFullResponseEndFrame)) == 2  # the broken response is still closed
    assert len(server.seen("/chat/completions")) == 3


async def test_wrong_key_gives_a_clear_401_error(
    server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-key-123")
    llm = OpenAILLMService(base_url=server.base_url)
    result = await run(llm, [ask()])
    [error] = result.errors
    assert "authentication failed (HTTP 401)" in error.error
    assert "Incorrect API key provided: sk-********-123" in error.error
    assert "OPENAI_API_KEY" in error.error
    assert len(server.seen("/chat/completions")) == 1  # 401 is not retried


async def test_missing_key_fails_at_start_naming_the_variable(
    server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    llm = OpenAILLMService(base_url=server.base_url)
    result = await run(llm, [ask()])
    errors = result.errors
    assert errors and errors[0].fatal
    assert "set the environment variable OPENAI_API_KEY" in errors[0].error
    assert server.requests == []


async def test_local_servers_need_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    async with FakeOpenAIServer(api_key=None) as server:  # like Ollama or vLLM without --api-key
        llm = OpenAILLMService(base_url=server.base_url, require_api_key=False, model="llama3.2")
        result = await run(llm, [ask()])
    assert "".join(texts(result.downstream)) == "Hello from the local server."


async def test_rate_limit_429_is_retried_after_retry_after(server: FakeOpenAIServer) -> None:
    server.chat.append(
        ErrorScript(429, "Rate limit reached for requests", "requests", "rate_limit_exceeded", 0.3)
    )
    server.chat.append(ChatScript(text=["ok"]))
    llm = OpenAILLMService(base_url=server.base_url)
    result = await run(llm, [ask()])
    assert texts(result.downstream) == ["ok"] and not result.errors
    first, second = server.seen("/chat/completions")
    assert first.status == 429 and second.status == 200
    assert second.received_at - first.received_at >= 0.3  # waited as the server asked


async def test_rate_limit_that_persists_is_a_clear_error(server: FakeOpenAIServer) -> None:
    for _ in range(2):
        server.chat.append(
            ErrorScript(429, "Rate limit reached for requests", "requests", "rate_limit_exceeded", 0.05)
        )
    llm = OpenAILLMService(base_url=server.base_url, max_retries=1)
    result = await run(llm, [ask()])
    [error] = result.errors
    assert "rate limited (HTTP 429)" in error.error and "Rate limit reached" in error.error
    assert len(server.seen("/chat/completions")) == 2


async def test_malformed_chunk_is_an_error_and_does_not_hang(server: FakeOpenAIServer) -> None:
    server.chat.append(ChatScript(text=["a", "b", "c"], malformed_after=2, delay=0.01))
    server.chat.append(ChatScript(text=["fine"]))
    llm = OpenAILLMService(base_url=server.base_url)
    result = await asyncio.wait_for(run(llm, [ask(), ask()]), 5.0)
    [error] = result.errors
    assert "malformed response from" in error.error
    assert texts(result.downstream) == ["a", "fine"]


async def test_server_validation_error_is_reported(server: FakeOpenAIServer) -> None:
    # a tool message that answers nothing: the real API rejects it with 400, and so does the server
    bad = LLMContext(messages=[{"role": "tool", "tool_call_id": "nope", "content": "{}"}])
    llm = OpenAILLMService(base_url=server.base_url)
    result = await run(llm, [LLMContextFrame(context=bad)])
    [error] = result.errors
    assert "HTTP 400" in error.error and "must be a response to a preceeding message" in error.error


async def test_built_from_a_config_file_with_base_url(server: FakeOpenAIServer) -> None:
    cfg = parse_config(
        f'[llm]\nprovider = "openai"\nmodel = "gpt-cfg"\nbase_url = "{server.base_url}"\ntemperature = 0.2\n'
    )
    llm = cfg.build_service("llm")
    assert isinstance(llm, OpenAILLMService)
    result = await run(llm, [ask()])
    assert "".join(texts(result.downstream)) == "Hello from the local server."
    assert server.seen("/chat/completions")[0].body["model"] == "gpt-cfg"
    assert server.seen("/chat/completions")[0].body["temperature"] == 0.2


def test_key_in_the_config_file_is_refused() -> None:
    from voiceframe.config import ConfigError

    with pytest.raises(ConfigError, match="set the environment variable OPENAI_API_KEY instead"):
        parse_config('[llm]\nprovider = "openai"\napi_key = "sk-x"\n').build_service("llm")


async def test_benchmark_reports_overhead() -> None:
    from voiceframe_openai.testing import benchmark_ttfb

    out = await benchmark_ttfb(n=3)
    assert out["provider"] == "openai"
    for kind in ("llm", "tts"):
        assert set(out[kind]) == {"plugin_ttfb_ms", "raw_http_ttfb_ms", "server_ms", "overhead_ms"}
        assert out[kind]["plugin_ttfb_ms"] > 0 and out[kind]["raw_http_ttfb_ms"] > 0
