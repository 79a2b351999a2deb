"""AnthropicLLMService through the real SDK against the local Messages API server.

Real sockets and real time (``run_processor(..., virtual=False)``); scripted delays are tens of ms.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from voiceframe_anthropic import AnthropicLLMService
from voiceframe_anthropic.testing import (
    DropScript,
    ErrorScript,
    FakeAnthropicServer,
    MessageScript,
    ToolUseScript,
)

from voiceframe.config import ConfigError, parse_config
from voiceframe.context.llm_context import LLMContext, ToolCallRequest
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
from voiceframe.testing import ProcessorRun, Wait, run_processor

KEY = "sk-ant-test-0123456789"


@pytest.fixture
async def server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeAnthropicServer]:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    async with FakeAnthropicServer(api_key=KEY) as s:
        yield s


def ask(text: str = "Hi!", **kw: Any) -> LLMContextFrame:
    return LLMContextFrame(context=LLMContext(messages=[{"role": "user", "content": text}], **kw))


def texts(frames: list[Frame]) -> list[str]:
    return [f.text for f in frames if isinstance(f, LLMTextFrame)]


async def run(llm: AnthropicLLMService, frames: list[Frame | Wait], **kw: Any) -> ProcessorRun:
    return await run_processor(llm, frames, virtual=False, timeout=10.0, **kw)


async def test_streams_text_with_system_prompt_usage_and_ttfb(server: FakeAnthropicServer) -> None:
    server.messages.append(MessageScript(text=["Bon", "jour", "!"], delay=0.01, input_tokens=30))
    llm = AnthropicLLMService(base_url=server.base_url, model="claude-test", system_prompt="Be brief.")
    ctx = LLMContext(
        messages=[{"role": "system", "content": "Speak French."}, {"role": "user", "content": "Hi"}]
    )
    result = await run(llm, [LLMContextFrame(context=ctx)], params=PipelineParams(enable_metrics=True))
    assert texts(result.downstream) == ["Bon", "jour", "!"]
    assert not result.errors
    [seen] = server.requests
    assert seen.headers["anthropic-version"]  # the SDK sends the API version header
    assert seen.body["system"] == "Be brief.\n\nSpeak French."
    assert seen.body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]
    assert seen.body["model"] == "claude-test" and seen.body["max_tokens"] == 1024 and seen.body["stream"]
    data = [d for m in result.of_type(MetricsFrame) for d in m.data]
    assert [d.value for d in data if d.kind == "llm_usage"] == [30 + 3]
    assert [d for d in data if d.kind == "ttfb"]


async def test_tool_use_blocks_with_json_fragments_are_assembled(server: FakeAnthropicServer) -> None:
    server.messages.append(
        MessageScript(
            text=["Checking."],
            tool_uses=[
                ToolUseScript("get_weather", json.dumps({"city": "Paris"}), id="toolu_w", fragments=4),
                ToolUseScript("get_time", "", id="toolu_t"),  # no input: one empty partial_json
            ],
        )
    )
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather now",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        },
        {"type": "function", "function": {"name": "get_time"}},
    ]
    llm = AnthropicLLMService(base_url=server.base_url)
    result = await run(llm, [ask("Weather?", tools=tools, tool_choice="required")])
    calls = result.of_type(FunctionCallInProgressFrame)
    assert [(c.tool_call_id, c.function_name, c.arguments) for c in calls] == [
        ("toolu_w", "get_weather", {"city": "Paris"}),
        ("toolu_t", "get_time", {}),
    ]
    assert texts(result.downstream) == ["Checking."]
    body = server.requests[0].body
    assert body["tools"][0]["input_schema"]["properties"] == {"city": {"type": "string"}}
    assert body["tools"][1]["input_schema"] == {"type": "object", "properties": {}}
    assert body["tool_choice"] == {"type": "any"}


async def test_tool_results_go_back_as_tool_result_blocks(server: FakeAnthropicServer) -> None:
    ctx = LLMContext(messages=[{"role": "system", "content": "Sys"}, {"role": "user", "content": "Paris?"}])
    ctx.add_tool_calls("r1", [ToolCallRequest("toolu_1", "get_weather", {"city": "Paris"})])
    ctx.set_tool_result("toolu_1", {"temp_c": 21})
    llm = AnthropicLLMService(base_url=server.base_url)
    result = await run(llm, [LLMContextFrame(context=ctx)])
    assert not result.errors  # the server checks tool_use/tool_result pairing
    messages = server.requests[0].body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[1]["content"] == [
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}
    ]
    assert messages[2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": '{"temp_c": 21}'}
    ]


async def test_interruption_closes_the_stream(server: FakeAnthropicServer) -> None:
    server.messages.append(MessageScript(text=[f" w{i}" for i in range(60)], delay=0.02))
    llm = AnthropicLLMService(base_url=server.base_url)
    started = time.perf_counter()
    result = await run(llm, [ask(), Wait(0.4), InterruptionFrame()], end=False, settle=0.3)
    seen = await server.wait_disconnect(timeout=1.0)
    assert seen.disconnected_at is not None and not seen.completed
    assert seen.disconnected_at - started < 0.9  # at the interruption (~0.4 s), not the end (~1.3 s)
    assert 1 <= len(texts(result.downstream)) < 60


async def test_next_request_works_after_a_dropped_connection(server: FakeAnthropicServer) -> None:
    server.messages.append(MessageScript(text=["one", " two", " three"], drop_after=5))
    server.messages.append(DropScript())  # before any answer: the SDK retries by itself
    server.messages.append(MessageScript(text=["back"]))
    llm = AnthropicLLMService(base_url=server.base_url)
    result = await run(llm, [ask("first"), ask("second")])
    [error] = result.errors
    assert "connection to" in error.error and not error.fatal
    assert texts(result.downstream) == ["one", " two", "back"]
    assert len(result.of_type(LLMFullResponseEndFrame)) == 2
    assert len(server.requests) == 3


async def test_overloaded_error_event_mid_stream_is_reported(server: FakeAnthropicServer) -> None:
    server.messages.append(MessageScript(text=["a", "b", "c"], error_after=4))
    llm = AnthropicLLMService(base_url=server.base_url)
    result = await run(llm, [ask()])
    [error] = result.errors
    assert "error event" in error.error and "overloaded_error: Overloaded" in error.error
    assert texts(result.downstream) == ["a"]


async def test_wrong_key_is_a_clear_401(server: FakeAnthropicServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-wrong")
    result = await run(AnthropicLLMService(base_url=server.base_url), [ask()])
    [error] = result.errors
    assert "authentication failed (HTTP 401)" in error.error
    assert "authentication_error: invalid x-api-key" in error.error and "ANTHROPIC_API_KEY" in error.error
    assert len(server.requests) == 1


async def test_missing_key_fails_at_start_naming_the_variable(
    server: FakeAnthropicServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    result = await run(AnthropicLLMService(base_url=server.base_url), [ask()])
    errors = result.errors
    assert errors and errors[0].fatal and "set the environment variable ANTHROPIC_API_KEY" in errors[0].error
    assert server.requests == []


async def test_rate_limit_429_is_retried_after_retry_after(server: FakeAnthropicServer) -> None:
    server.messages.append(
        ErrorScript(429, "rate_limit_error", "Number of requests has exceeded your rate limit", 0.3)
    )
    server.messages.append(MessageScript(text=["ok"]))
    result = await run(AnthropicLLMService(base_url=server.base_url), [ask()])
    assert texts(result.downstream) == ["ok"] and not result.errors
    first, second = server.requests
    assert first.status == 429 and second.received_at - first.received_at >= 0.3


async def test_persistent_rate_limit_is_a_clear_error(server: FakeAnthropicServer) -> None:
    for _ in range(2):
        server.messages.append(ErrorScript(429, "rate_limit_error", "Number of requests has exceeded", 0.05))
    result = await run(AnthropicLLMService(base_url=server.base_url, max_retries=1), [ask()])
    [error] = result.errors
    assert "rate limited (HTTP 429)" in error.error and "rate_limit_error" in error.error


async def test_malformed_event_is_an_error_and_does_not_hang(server: FakeAnthropicServer) -> None:
    server.messages.append(MessageScript(text=["a", "b"], malformed_after=4))
    server.messages.append(MessageScript(text=["fine"]))
    result = await run(AnthropicLLMService(base_url=server.base_url), [ask(), ask()])
    [error] = result.errors
    assert "malformed response from" in error.error
    assert texts(result.downstream) == ["a", "fine"]


async def test_built_from_a_config_file_with_base_url(server: FakeAnthropicServer) -> None:
    cfg = parse_config(
        f'[llm]\nprovider = "anthropic"\nmodel = "claude-cfg"\n'
        f'base_url = "{server.base_url}"\nmax_tokens = 300\n'
    )
    llm = cfg.build_service("llm")
    assert isinstance(llm, AnthropicLLMService)
    result = await run(llm, [ask()])
    assert "".join(texts(result.downstream)) == "Hello from the local server."
    assert server.requests[0].body["max_tokens"] == 300 and server.requests[0].body["model"] == "claude-cfg"
    with pytest.raises(ConfigError, match="set the environment variable ANTHROPIC_API_KEY instead"):
        parse_config('[llm]\nprovider = "anthropic"\napi_key = "x"\n').build_service("llm")


async def test_benchmark_reports_overhead() -> None:
    from voiceframe_anthropic.testing import benchmark_ttfb

    out = await benchmark_ttfb(n=3)
    assert out["provider"] == "anthropic"
    assert set(out["llm"]) == {"plugin_ttfb_ms", "raw_http_ttfb_ms", "server_ms", "overhead_ms"}
