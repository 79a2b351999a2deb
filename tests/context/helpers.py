"""A whole bot on the virtual clock: user aggregator, fake LLM, function calls, fake TTS, real output
transport (recording sink), assistant aggregator."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from voiceframe.context.adapters import to_anthropic
from voiceframe.context.assistant_aggregator import AssistantAggregator
from voiceframe.context.function_calls import FunctionCallManager
from voiceframe.context.llm_context import LLMContext, join_words
from voiceframe.context.user_aggregator import UserAggregator
from voiceframe.context.validate import anthropic_problems, openai_problems
from voiceframe.frames import Frame
from voiceframe.pipeline import Pipeline
from voiceframe.testing.fakes import FakeLLM, FakeOutputTransport, FakeTTS, Script, heard_words
from voiceframe.testing.run import ProcessorRun, Upstream, Wait, run_processor


@dataclass
class Bot:
    context: LLMContext
    llm: FakeLLM
    calls: FunctionCallManager
    tts: FakeTTS
    out: FakeOutputTransport
    assistant: AssistantAggregator
    pipeline: Pipeline
    run: ProcessorRun | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    async def play(self, frames: Sequence[Frame | Wait | Upstream]) -> ProcessorRun:
        self.run = await run_processor(self.pipeline, frames)
        assert not self.run.task or not self.run.task.errors, self.run.task.errors
        return self.run

    def assistant_texts(self) -> list[str]:
        return [m["content"] or "" for m in self.context.messages if m["role"] == "assistant"]

    def heard(self, at: float) -> str:
        text = ""
        for w in heard_words(self.tts, self.out, at):
            text = join_words(text, w)
        return text

    def assert_valid(self) -> None:
        for request in [*self.llm.requests, self.context.messages]:
            assert openai_problems(request) == [], request
            assert anthropic_problems(to_anthropic(LLMContext(request))) == [], request


def make_bot(
    responses: Sequence[Script] | Callable[[LLMContext], Script],
    *,
    system: str = "You are brief.",
    tts: FakeTTS | None = None,
    ttfb: float = 0.2,
    token_delay: float = 0.02,
) -> Bot:
    context = LLMContext([{"role": "system", "content": system}])
    llm = FakeLLM(responses, ttfb=ttfb, token_delay=token_delay)
    calls = FunctionCallManager(context)
    tts = tts or FakeTTS()
    out = FakeOutputTransport()
    assistant = AssistantAggregator(context)
    pipeline = Pipeline([UserAggregator(context), llm, calls, tts, out, assistant])
    return Bot(context, llm, calls, tts, out, assistant, pipeline)


def tokens(text: str) -> list[str]:
    """Split a response into LLM-like tokens (a word with its leading space)."""
    words = text.split(" ")
    return [words[0]] + [" " + w for w in words[1:]]
