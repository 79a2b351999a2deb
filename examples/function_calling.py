"""Function calling and interruptions, offline, on the virtual clock (runs in well under a second).

A scripted LLM answers "What's the weather in Oslo?" by saying "Let me check." and calling
``get_weather`` (slow: it speaks a filler after a second). The user then asks to book a table, and
interrupts the bot mid-sentence. The printed context shows what the user actually heard, the tool call
with its result, and the interrupted answer.

Run it: ``python examples/function_calling.py``
"""

import asyncio
import json
from typing import Any

from voiceframe import Pipeline, PipelineTask
from voiceframe.clock import run
from voiceframe.context.assistant_aggregator import AssistantAggregator
from voiceframe.context.function_calls import FunctionCallManager, FunctionCallParams
from voiceframe.context.llm_context import LLMContext
from voiceframe.context.user_aggregator import UserAggregator
from voiceframe.frames import InterruptionFrame, TranscriptionFrame, TTSSpeakFrame
from voiceframe.testing.fakes import FakeLLM, FakeOutputTransport, FakeToolCall, FakeTTS


def script(context: LLMContext) -> list[Any]:
    """The scripted LLM: answers the last user message, or a tool result that came after it."""
    user = max(i for i, m in enumerate(context.messages) if m["role"] == "user")
    results = [m for m in context.messages[user:] if m["role"] == "tool" and "sky" in m["content"]]
    if results:
        sky = json.loads(results[-1]["content"])["sky"]
        return [f"It is {sky}", " in Oslo today."]
    if "weather" in context.messages[user]["content"]:
        return ["Let me check.", FakeToolCall("get_weather", {"city": "Oslo"})]
    return ["Sure, I can book a table", " for two at eight tonight,", " shall I use your usual name?"]


async def get_weather(params: FunctionCallParams) -> dict[str, Any]:
    await asyncio.sleep(1.5)  # a slow backend
    return {"city": params.arguments["city"], "sky": "sunny"}


async def main() -> None:
    context = LLMContext([{"role": "system", "content": "You are a concise assistant."}])
    calls = FunctionCallManager(context)
    calls.register_function(
        "get_weather",
        get_weather,
        timeout=5.0,
        filler="Still looking.",
        filler_after=1.0,
        description="Current weather for a city",
        parameters={"type": "object", "properties": {"city": {"type": "string"}}},
    )
    output = FakeOutputTransport()
    pipeline = Pipeline(
        [UserAggregator(context), FakeLLM(script), calls, FakeTTS(), output, AssistantAggregator(context)]
    )
    task = PipelineTask(pipeline)

    async def conversation() -> None:
        await task.queue_frame(TTSSpeakFrame(text="Hello! How can I help?"))
        await asyncio.sleep(2.0)
        await task.queue_frame(TranscriptionFrame(text="What's the weather in Oslo?"))
        await asyncio.sleep(6.0)
        await task.queue_frame(TranscriptionFrame(text="Book a table for two."))
        await asyncio.sleep(1.2)
        await task.queue_frame(InterruptionFrame())  # the user barges in
        await asyncio.sleep(0.5)
        await task.stop_when_done()

    await asyncio.gather(task.run(), conversation())
    for message in context.messages:
        mark = "  (interrupted)" if context.is_interrupted(message) else ""
        print(json.dumps(message) + mark)


if __name__ == "__main__":
    run(main(), virtual=True)
