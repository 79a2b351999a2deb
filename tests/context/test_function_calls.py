"""Function calls: request/response pairs through results, interruptions, async results, timeouts."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.context.helpers import Bot, make_bot, tokens
from voiceframe.context.function_calls import FunctionCallParams
from voiceframe.context.llm_context import CANCELLED, IN_PROGRESS, LLMContext
from voiceframe.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    InterruptionFrame,
    TranscriptionFrame,
)
from voiceframe.testing.fakes import FakeToolCall, Script
from voiceframe.testing.run import Wait


def by_last_message(table: dict[str, Script]) -> Any:
    """An LLM script chosen by the last message: a user text, 'tool:<id>' after a tool result, or
    'later' when the context ends with the bot's own words (a run for a result inserted later)."""

    def choose(context: LLMContext) -> Script:
        last = context.messages[-1]
        if last["role"] == "tool":
            key = f"tool:{last['tool_call_id']}"
        elif last["role"] == "assistant":
            key = "later"
        else:
            key = last["content"]
        return table.get(key, tokens("Okay."))

    return choose


def speaking_intervals(bot: Bot) -> list[tuple[float, float]]:
    assert bot.run is not None
    starts = [
        t
        for t, f in zip(bot.run.upstream_times, bot.run.upstream, strict=True)
        if isinstance(f, BotStartedSpeakingFrame)
    ]
    stops = [
        t
        for t, f in zip(bot.run.upstream_times, bot.run.upstream, strict=True)
        if isinstance(f, BotStoppedSpeakingFrame)
    ]
    return list(zip(starts, stops, strict=False))


async def test_in_progress_then_result_then_the_llm_speaks_about_it() -> None:
    snapshots: list[str | None] = []

    async def get_weather(params: FunctionCallParams) -> dict[str, Any]:
        snapshots.append(params.context.tool_status(params.tool_call_id))
        await asyncio.sleep(0.5)
        return {"city": params.arguments["city"], "sky": "clear"}

    bot = make_bot(
        by_last_message(
            {
                "Weather in Oslo?": [
                    *tokens("Checking."),
                    FakeToolCall("get_weather", {"city": "Oslo"}, id="w1"),
                ],
                "tool:w1": tokens("It is clear in Oslo."),
            }
        )
    )
    bot.calls.register_function("get_weather", get_weather, description="Weather for a city")
    await bot.play([TranscriptionFrame(text="Weather in Oslo?"), Wait(5.0)])
    assert snapshots == [IN_PROGRESS]
    assert json.loads(bot.context.tool_status("w1") or "") == {"city": "Oslo", "sky": "clear"}
    assert [m["role"] for m in bot.context.messages] == ["system", "user", "assistant", "tool", "assistant"]
    assert bot.context.messages[2]["content"] == "Checking."
    assert bot.assistant_texts()[-1] == "It is clear in Oslo."
    assert len(bot.llm.requests) == 2 and bot.llm.requests[1][-1]["role"] == "tool"
    assert bot.context.tools[0]["function"]["name"] == "get_weather"
    bot.assert_valid()


async def test_interruption_cancels_a_cancellable_call_and_its_handler() -> None:
    cancelled: list[str] = []

    async def book(params: FunctionCallParams) -> str:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(params.tool_call_id)
            raise
        return "booked"

    bot = make_bot(by_last_message({"Book it.": [FakeToolCall("book", id="b1")]}))
    bot.calls.register_function("book", book)
    await bot.play([TranscriptionFrame(text="Book it."), Wait(1.0), InterruptionFrame(), Wait(2.0)])
    assert cancelled == ["b1"]
    assert bot.context.tool_status("b1") == CANCELLED
    assert len(bot.llm.requests) == 1  # a cancelled call does not make the LLM run again
    bot.assert_valid()


async def test_async_call_result_two_turns_later_is_inserted_in_place_and_spoken_about_at_a_safe_moment() -> (
    None
):
    async def price_lookup(params: FunctionCallParams) -> dict[str, float]:
        await asyncio.sleep(9.0)
        return {"price": 12.35}

    bot = make_bot(
        by_last_message(
            {
                "Price of 1000 widgets?": [
                    *tokens("Please wait while I look that up."),
                    FakeToolCall("price_lookup", {"item": "widget", "quantity": 1000}, id="p1"),
                ],
                "And the weather?": tokens("It is sunny today."),
                "Thanks.": tokens("You are welcome."),
                "later": tokens("The widgets cost twelve dollars thirty five."),
            }
        )
    )
    bot.calls.register_function("price_lookup", price_lookup, cancel_on_interruption=False)
    await bot.play(
        [
            TranscriptionFrame(text="Price of 1000 widgets?"),
            Wait(1.0),
            InterruptionFrame(),  # the user moves on while the lookup runs
            TranscriptionFrame(text="And the weather?"),
            Wait(3.0),
            TranscriptionFrame(text="Thanks."),
            Wait(10.0),
        ]
    )
    roles = [m["role"] for m in bot.context.messages]
    assert roles == [
        "system",
        "user",
        "assistant",
        "tool",
        "user",
        "assistant",
        "user",
        "assistant",
        "assistant",
    ]
    assert bot.context.messages[3] == {"role": "tool", "tool_call_id": "p1", "content": '{"price": 12.35}'}
    # the two turns in between saw the placeholder
    assert {"role": "tool", "tool_call_id": "p1", "content": IN_PROGRESS} in bot.llm.requests[1]
    assert {"role": "tool", "tool_call_id": "p1", "content": IN_PROGRESS} in bot.llm.requests[2]
    # the LLM ran once more, with the result, while nobody was speaking
    assert len(bot.llm.requests) == 4
    rerun_at = bot.llm.request_times[3]
    assert rerun_at >= 9.0
    assert all(not (start < rerun_at < stop) for start, stop in speaking_intervals(bot))
    assert bot.assistant_texts()[-1] == "The widgets cost twelve dollars thirty five."
    bot.assert_valid()


async def test_async_result_waits_while_the_bot_speaks() -> None:
    async def slow(params: FunctionCallParams) -> str:
        await asyncio.sleep(2.0)
        return "done"

    long_answer = "Here is a long story about the sea and the ships that sail on it every single day."
    bot = make_bot(
        by_last_message(
            {
                "Start it.": [*tokens("Started."), FakeToolCall("slow", id="s1")],
                "Tell me a story.": tokens(long_answer),
                "later": tokens("The job is done."),
            }
        )
    )
    bot.calls.register_function("slow", slow, cancel_on_interruption=False)
    await bot.play(
        [
            TranscriptionFrame(text="Start it."),
            Wait(0.6),
            InterruptionFrame(),
            TranscriptionFrame(text="Tell me a story."),
            Wait(12.0),
        ]
    )
    result_at = 2.0 + 0.2 + 0.02  # roughly when the handler returned
    rerun_at = bot.llm.request_times[-1]
    story_end = max(stop for _, stop in speaking_intervals(bot) if stop < rerun_at + 1e-9)
    assert rerun_at > result_at + 1.0  # it waited for the story to be told
    assert rerun_at >= story_end
    assert bot.assistant_texts()[-2:] == [long_answer, "The job is done."]
    bot.assert_valid()


async def test_parallel_calls_run_the_llm_once_after_the_last_result() -> None:
    async def fast(params: FunctionCallParams) -> str:
        await asyncio.sleep(0.2)
        return "fast"

    async def slow(params: FunctionCallParams) -> str:
        await asyncio.sleep(1.5)
        return "slow"

    bot = make_bot(
        by_last_message(
            {
                "Both please.": [FakeToolCall("fast", id="f1"), FakeToolCall("slow", id="s1")],
                "tool:s1": tokens("Both are done."),
            }
        )
    )
    bot.calls.register_function("fast", fast)
    bot.calls.register_function("slow", slow)
    await bot.play([TranscriptionFrame(text="Both please."), Wait(5.0)])
    assert len(bot.llm.requests) == 2
    assert bot.llm.request_times[1] >= 1.5
    assert bot.context.tool_status("f1") == "fast" and bot.context.tool_status("s1") == "slow"
    assistant = bot.context.messages[2]
    assert [c["id"] for c in assistant["tool_calls"]] == ["f1", "s1"]
    bot.assert_valid()


async def test_timeout_becomes_an_error_result_the_llm_can_speak_about() -> None:
    async def hang(params: FunctionCallParams) -> str:
        await asyncio.sleep(100)
        return "never"

    bot = make_bot(
        by_last_message(
            {
                "Check my order.": [FakeToolCall("order_status", id="o1")],
                "tool:o1": tokens("Sorry, the order system is not answering."),
            }
        )
    )
    bot.calls.register_function("order_status", hang, timeout=2.0)
    await bot.play([TranscriptionFrame(text="Check my order."), Wait(5.0)])
    error = json.loads(bot.context.tool_status("o1") or "")
    assert "did not finish within 2 seconds" in error["error"]
    assert bot.llm.requests[1][-1]["content"] == bot.context.tool_status("o1")
    assert bot.assistant_texts()[-1] == "Sorry, the order system is not answering."
    bot.assert_valid()


async def test_handler_exception_and_unknown_function_become_error_results() -> None:
    async def broken(params: FunctionCallParams) -> str:
        raise RuntimeError("database down")

    bot = make_bot(by_last_message({"Go.": [FakeToolCall("broken", id="x1"), FakeToolCall("nope", id="x2")]}))
    bot.calls.register_function("broken", broken)
    await bot.play([TranscriptionFrame(text="Go."), Wait(3.0)])
    assert "database down" in json.loads(bot.context.tool_status("x1") or "")["error"]
    assert "unknown function" in json.loads(bot.context.tool_status("x2") or "")["error"]
    bot.assert_valid()


async def test_filler_before_a_slow_call_and_after_a_watchdog_delay() -> None:
    async def slow(params: FunctionCallParams) -> str:
        await asyncio.sleep(3.0)
        return "ok"

    bot = make_bot(
        by_last_message({"Do A.": [FakeToolCall("a", id="a1")], "Do B.": [FakeToolCall("b", id="b1")]})
    )
    bot.calls.register_function("a", slow, filler="One moment please.")
    bot.calls.register_function("b", slow, filler="Still working on it.", filler_after=1.0)
    await bot.play([TranscriptionFrame(text="Do A."), Wait(5.0), TranscriptionFrame(text="Do B."), Wait(6.0)])
    texts = bot.assistant_texts()
    assert "One moment please." in texts and "Still working on it." in texts
    assert [t for _, t in bot.out.words].count("moment") == 1
    # the watchdog filler came about a second after the call started, not before
    b_start = bot.llm.request_times[2] if len(bot.llm.request_times) > 2 else 5.0
    still = next(t for t, w in bot.out.words if w == "Still")
    assert still >= b_start + 1.0
    bot.assert_valid()


async def test_a_fast_watchdog_filler_is_not_spoken() -> None:
    async def quick(params: FunctionCallParams) -> str:
        await asyncio.sleep(0.1)
        return "ok"

    bot = make_bot(by_last_message({"Go.": [FakeToolCall("quick", id="q1")]}))
    bot.calls.register_function("quick", quick, filler="Still working on it.", filler_after=1.0)
    await bot.play([TranscriptionFrame(text="Go."), Wait(4.0)])
    assert "Still working on it." not in bot.assistant_texts()


async def test_call_progress_and_result_also_go_upstream_for_the_turn_controllers_mute() -> None:
    """The turn controller sits upstream of the LLM; mute-during-function-call needs these frames."""
    from voiceframe.context.function_calls import FunctionCallManager
    from voiceframe.context.llm_context import LLMContext
    from voiceframe.frames import (
        FunctionCallInProgressFrame,
        FunctionCallResultFrame,
        LLMFullResponseEndFrame,
        LLMFullResponseStartFrame,
    )
    from voiceframe.processor import UPSTREAM
    from voiceframe.testing import Wait, run_processor
    from voiceframe.turns.mute import MuteDuringFunctionCall

    async def lookup(params: object) -> dict[str, str]:
        return {"answer": "42"}

    manager = FunctionCallManager(LLMContext())
    manager.register_function("lookup", lookup)
    result = await run_processor(
        manager,
        [
            LLMFullResponseStartFrame(response_id="r1"),
            LLMFullResponseEndFrame(response_id="r1"),
            FunctionCallInProgressFrame(tool_call_id="c1", function_name="lookup"),
            Wait(1.0),
        ],
    )
    up = [f for f in result.upstream if isinstance(f, (FunctionCallInProgressFrame, FunctionCallResultFrame))]
    assert [type(f).__name__ for f in up] == ["FunctionCallInProgressFrame", "FunctionCallResultFrame"]
    mute = MuteDuringFunctionCall()
    mute.update(up[0])
    assert mute.muted
    mute.update(up[1])
    assert not mute.muted
    assert all(f.id not in {d.id for d in result.downstream} for f in up)  # copies, not the same frames
    assert result.of_type(FunctionCallResultFrame, UPSTREAM)[0].result == {"answer": "42"}
