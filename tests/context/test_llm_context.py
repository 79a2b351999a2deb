"""LLMContext, adapters to Anthropic and Gemini, validators, summarisation."""

from __future__ import annotations

from typing import Any

from voiceframe.context.adapters import CONVERSATION_START, to_anthropic, to_gemini
from voiceframe.context.llm_context import CANCELLED, IN_PROGRESS, LLMContext, ToolCallRequest, join_words
from voiceframe.context.summary import ContextSummarizer, MaxSizePolicy
from voiceframe.context.validate import anthropic_problems, openai_problems

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


def weather_context() -> LLMContext:
    ctx = LLMContext([{"role": "system", "content": "Be brief."}], tools=TOOLS, tool_choice="auto")
    ctx.add_message({"role": "user", "content": "Weather in Oslo and Rome?"})
    ctx.append_assistant_text("r1", "Let me")
    ctx.add_tool_calls("r1", [ToolCallRequest("c1", "get_weather", {"city": "Oslo"})])
    ctx.add_tool_calls("r1", [ToolCallRequest("c2", "get_weather", {"city": "Rome"})])
    ctx.append_assistant_text("r1", "check.")
    ctx.add_message({"role": "user", "content": "Hurry."})
    ctx.set_tool_result("c1", {"sky": "clear"})
    return ctx


def test_tool_calls_and_heard_text_share_one_message_and_pairs_stay_adjacent() -> None:
    ctx = weather_context()
    assert [m["role"] for m in ctx.messages] == ["system", "user", "assistant", "tool", "tool", "user"]
    assert ctx.messages[2]["content"] == "Let me check."
    assert [c["id"] for c in ctx.messages[2]["tool_calls"]] == ["c1", "c2"]
    assert ctx.tool_status("c1") == '{"sky": "clear"}' and ctx.tool_status("c2") == IN_PROGRESS
    assert openai_problems(ctx.messages) == []
    assert ctx.to_openai()["tool_choice"] == "auto"


def test_join_words_reads_like_a_transcript() -> None:
    text = ""
    for w in ["Hello", ",", "world", "!", " It's", "3.5", "%"]:
        text = join_words(text, w)
    assert text == "Hello, world! It's 3.5%"


def test_anthropic_adapter_produces_a_valid_request() -> None:
    ctx = weather_context()
    ctx.set_tool_result("c2", CANCELLED)
    body = to_anthropic(ctx)
    assert body["system"] == "Be brief."
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assistant = body["messages"][1]["content"]
    assert assistant[0] == {"type": "text", "text": "Let me check."}
    assert assistant[1] == {"type": "tool_use", "id": "c1", "name": "get_weather", "input": {"city": "Oslo"}}
    results = body["messages"][2]["content"]
    assert [b["type"] for b in results] == ["tool_result", "tool_result", "text"]
    assert body["tools"][0]["input_schema"]["properties"]["city"]["type"] == "string"
    assert body["tool_choice"] == {"type": "auto"}
    assert anthropic_problems(body) == []


def test_greeting_first_gets_a_user_turn_for_anthropic_and_gemini() -> None:
    ctx = LLMContext(
        [{"role": "assistant", "content": "Hi, how can I help?"}, {"role": "user", "content": "Hi"}]
    )
    body = to_anthropic(ctx)
    assert body["messages"][0] == {"role": "user", "content": [{"type": "text", "text": CONVERSATION_START}]}
    assert anthropic_problems(body) == []
    assert to_gemini(ctx)["contents"][0]["role"] == "user"


def test_gemini_adapter() -> None:
    body = to_gemini(weather_context())
    assert body["system_instruction"] == {"parts": [{"text": "Be brief."}]}
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    model_parts = body["contents"][1]["parts"]
    assert model_parts[1] == {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}}
    response = body["contents"][2]["parts"][0]["functionResponse"]
    assert response == {"name": "get_weather", "response": {"sky": "clear"}}
    assert body["tools"][0]["function_declarations"][0]["name"] == "get_weather"


def test_validators_find_dangling_and_duplicate_answers() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    dangling: list[dict[str, Any]] = [{"role": "assistant", "content": None, "tool_calls": [call]}]
    assert openai_problems(dangling) == ["tool call c1 has no response"]
    twice = [*dangling, *[{"role": "tool", "tool_call_id": "c1", "content": "x"}] * 2]
    assert openai_problems(twice) == ["tool call c1 has 2 responses"]
    orphan = [{"role": "user", "content": "hi"}, {"role": "tool", "tool_call_id": "c9", "content": "x"}]
    assert "answers no preceding tool call" in openai_problems(orphan)[0]
    body = to_anthropic(
        LLMContext([{"role": "user", "content": "hi"}, *dangling, {"role": "user", "content": "?"}])
    )
    assert anthropic_problems(body) == ["tool_use c1 of message 1 has 0 tool_result(s)"]


async def test_summary_replaces_old_turns_but_never_splits_pairs_or_drops_running_calls() -> None:
    seen: list[int] = []

    async def summarize(messages: list[dict[str, Any]]) -> str:
        seen.append(len(messages))
        return "they talked about the weather"

    ctx = weather_context()  # holds an IN_PROGRESS call
    for i in range(6):
        ctx.add_message({"role": "user", "content": f"q{i}"})
        ctx.append_assistant_text(f"a{i}", f"answer {i}")
    s = ContextSummarizer(summarize, MaxSizePolicy(max_messages=8), keep_last=4)
    assert not await s.maybe_summarize(ctx)  # c2 still running: its turn must stay
    ctx.set_tool_result("c2", {"sky": "rain"})
    assert await s.maybe_summarize(ctx)
    assert seen == [13]
    assert [m["role"] for m in ctx.messages] == ["system", "system", "user", "assistant", "user", "assistant"]
    assert "weather" in ctx.messages[1]["content"]
    assert openai_problems(ctx.messages) == []
    assert not await ContextSummarizer(summarize, MaxSizePolicy(max_chars=10_000)).maybe_summarize(ctx)
