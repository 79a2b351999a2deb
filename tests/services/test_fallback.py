"""FallbackService: error and first-byte-timeout failover, and going back when the primary recovers."""

from __future__ import annotations

import pytest

from tests.services.fakes import FakeScriptedLLM, text_events
from voiceframe.context.llm_context import LLMContext
from voiceframe.frames import EndFrame, LLMContextFrame, LLMTextFrame, StartFrame
from voiceframe.pipeline import Pipeline
from voiceframe.services.fallback import FallbackService
from voiceframe.testing import Wait, run_processor


def ask() -> LLMContextFrame:
    return LLMContextFrame(context=LLMContext(messages=[{"role": "user", "content": "hi"}]))


async def test_error_moves_to_the_next_provider_and_replays_the_request() -> None:
    primary = FakeScriptedLLM(text_events("from", " primary"), name="primary", fail_with="connection closed")
    secondary = FakeScriptedLLM(text_events("from", " secondary"), name="secondary")
    fallback = FallbackService([primary, secondary])
    result = await run_processor(Pipeline([fallback]), [ask(), Wait(2.0), ask()])
    texts = "".join(f.text for f in result.of_type(LLMTextFrame))
    assert texts == "from secondary" * 2  # the failed request was served, and the next one too
    assert len(primary.contexts) == 1 and len(secondary.contexts) == 2
    [error] = result.errors
    assert not error.fatal and "switched to secondary" in error.error and "connection closed" in error.error
    # lifecycle frames reached both and left once
    assert sum(isinstance(f, StartFrame) for f in result.all_downstream) == 1
    assert sum(isinstance(f, EndFrame) for f in result.all_downstream) == 1


async def test_first_byte_timeout_moves_on() -> None:
    slow = FakeScriptedLLM(text_events("late"), delay=30.0, name="slow")
    fast = FakeScriptedLLM(text_events("quick"), delay=0.1, name="fast")
    fallback = FallbackService([slow, fast], first_byte_timeout=2.0)
    result = await run_processor(Pipeline([fallback]), [ask(), Wait(40.0)])
    assert [f.text for f in result.of_type(LLMTextFrame)] == ["quick"]  # the late answer is dropped
    assert result.times[
        [isinstance(f, LLMTextFrame) for f in result.downstream].index(True)
    ] == pytest.approx(2.1)
    assert "no first byte within the timeout" in result.errors[0].error


async def test_primary_is_tried_again_after_retry_after() -> None:
    primary = FakeScriptedLLM(text_events("p"), name="primary", fail_with="down")
    secondary = FakeScriptedLLM(text_events("s"), name="secondary")
    fallback = FallbackService([primary, secondary], retry_after=10.0)

    async def heal() -> None:
        primary.settings = primary.settings.apply({"fail_with": None})

    frames = [ask(), Wait(5.0), ask(), Wait(6.0)]
    run = run_processor(Pipeline([fallback]), [*frames, ask(), Wait(1.0)])
    # heal the primary after the first failure (before the 10 s retry)
    import asyncio

    async def healer() -> None:
        await asyncio.sleep(3.0)
        await heal()

    from voiceframe.clock import virtual_time

    with virtual_time():
        healing = asyncio.ensure_future(healer())
        result = await run
        await healing
    assert [f.text for f in result.of_type(LLMTextFrame)] == ["s", "s", "p"]
    assert [s[2] for s in fallback.switches] == ["secondary", "primary"]


async def test_all_providers_down_is_fatal() -> None:
    a = FakeScriptedLLM([], name="a", fail_with="down")
    b = FakeScriptedLLM([], name="b", fail_with="down too")
    from voiceframe.services.base import ServiceError

    # make b's error fatal so the last failure is reported as such
    class FatalLLM(FakeScriptedLLM):
        async def stream(self, context):  # type: ignore[no-untyped-def,override]
            raise ServiceError("auth failed", fatal=True)
            yield

    c = FatalLLM([], name="c")
    fallback = FallbackService([a, b, c])
    result = await run_processor(Pipeline([fallback]), [ask(), Wait(1.0)])
    errors = result.errors
    assert [e.fatal for e in errors] == [False, False, True]


def test_mixed_kinds_are_rejected() -> None:
    from tests.services.fakes import FakeToneTTS

    with pytest.raises(ValueError, match="must be of one kind"):
        FallbackService([FakeScriptedLLM([]), FakeToneTTS()])
