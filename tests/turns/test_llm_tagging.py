"""LLMTurnTagFilter with a scripted LLM stream (FakeLLM) on the virtual clock."""

from __future__ import annotations

import pytest

from tests.turns.helpers import FakeLLM
from voiceframe.frames import (
    Frame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TextFrame,
    UserStartedSpeakingFrame,
)
from voiceframe.pipeline import Pipeline
from voiceframe.testing.run import ProcessorRun, Wait, run_processor
from voiceframe.turns.llm_tagging import (
    TURN_TAGGING_INSTRUCTIONS,
    LLMTurnTagFilter,
    TurnTag,
    with_turn_tagging,
)

OK, SHORT, LONG = "\u2713", "\u25cb", "\u25d0"


def spoken(run: ProcessorRun) -> list[str]:
    """The text that left the filter (what TTS would get), one string per response."""
    out: list[str] = []
    for f in run.downstream:
        if isinstance(f, LLMFullResponseStartFrame):
            out.append("")
        elif isinstance(f, LLMTextFrame):
            out[-1] += f.text
    return out


def response_frames(run: ProcessorRun) -> list[Frame]:
    return [f for f in run.downstream if isinstance(f, LLMFullResponseStartFrame | LLMFullResponseEndFrame)]


@pytest.mark.parametrize(
    "tokens",
    [[OK, " Sure", ", it's", " sunny."], [f"{OK} Sure", ", it's sunny."], ["  ", OK, "Sure, it's sunny."]],
    ids=["marker-token", "marker-glued", "leading-space"],
)
async def test_complete_passes_with_the_marker_stripped(tokens: list[str]) -> None:
    llm, tags = FakeLLM([tokens]), LLMTurnTagFilter()
    run = await run_processor(Pipeline([llm, tags]), [LLMContextFrame()])
    text = spoken(run)
    assert text == ["Sure, it's sunny."]
    assert all(OK not in f.text for f in run.of_type(TextFrame))
    assert len(response_frames(run)) == 2 and list(tags.tags) == [TurnTag.COMPLETE]
    assert not tags.reprompt_pending


async def test_first_text_leaves_with_the_first_real_token() -> None:
    llm, tags = FakeLLM([[OK, " Hi", " there"]], token_secs=0.1), LLMTurnTagFilter()
    run = await run_processor(Pipeline([llm, tags]), [LLMContextFrame()])
    # the start is held until the first word after the marker, and leaves with it
    first_text = next(
        t for f, t in zip(run.downstream, run.times, strict=True) if isinstance(f, LLMTextFrame)
    )
    start = next(
        t for f, t in zip(run.downstream, run.times, strict=True) if isinstance(f, LLMFullResponseStartFrame)
    )
    assert first_text == pytest.approx(0.2) and start == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("marker", "wait", "tag"), [(SHORT, 5.0, TurnTag.INCOMPLETE_SHORT), (LONG, 10.0, TurnTag.INCOMPLETE_LONG)]
)
async def test_incomplete_is_suppressed_and_reprompted_after_the_wait(
    marker: str, wait: float, tag: TurnTag
) -> None:
    llm = FakeLLM([[marker], [OK, " Take your time. What else?"]], token_secs=0.02)
    tags = LLMTurnTagFilter(short_wait=5.0, long_wait=10.0)
    run = await run_processor(Pipeline([llm, tags]), [LLMContextFrame(), Wait(wait + 1.0)])
    assert spoken(run) == ["Take your time. What else?"]  # the ○/◐ response left nothing, not even start/end
    assert len(response_frames(run)) == 2
    assert list(tags.tags) == [tag, TurnTag.COMPLETE]
    # the first response ended at 0.02 s; the re-prompt ran the LLM `wait` seconds later
    assert llm.runs == [pytest.approx(0.0), pytest.approx(0.02 + wait)]
    (append,) = llm.appended
    assert append.run_llm and append.messages[0]["role"] == "system" and OK in append.messages[0]["content"]


async def test_user_speech_cancels_the_reprompt() -> None:
    llm, tags = FakeLLM([[SHORT]]), LLMTurnTagFilter(short_wait=5.0)
    run = await run_processor(
        Pipeline([llm, tags]), [LLMContextFrame(), Wait(3.0), UserStartedSpeakingFrame(), Wait(10.0)]
    )
    assert llm.runs == [pytest.approx(0.0)] and llm.appended == []
    assert spoken(run) == [] and not tags.reprompt_pending


async def test_reprompts_are_bounded() -> None:
    llm = FakeLLM([[SHORT], [SHORT], [SHORT]])
    tags = LLMTurnTagFilter(short_wait=5.0, max_reprompts=2)
    await run_processor(Pipeline([llm, tags]), [LLMContextFrame(), Wait(30.0)])
    assert len(llm.runs) == 3  # the first reply and two re-prompts; then silence until the user speaks


async def test_a_response_without_a_marker_passes_unchanged() -> None:
    llm, tags = FakeLLM([["Hello", " there."]]), LLMTurnTagFilter()
    run = await run_processor(Pipeline([llm, tags]), [LLMContextFrame()])
    assert spoken(run) == ["Hello there."] and list(tags.tags) == [None]


async def test_a_new_response_cancels_a_pending_reprompt_and_text_outside_responses_passes() -> None:
    llm, tags = FakeLLM([[LONG], [OK, " Yes."]]), LLMTurnTagFilter()
    run = await run_processor(
        Pipeline([llm, tags]),
        [LLMContextFrame(), Wait(2.0), LLMContextFrame(), TextFrame(text="x"), Wait(15.0)],
    )
    assert spoken(run) == ["Yes."] and len(llm.runs) == 2
    assert [f.text for f in run.of_type(TextFrame) if type(f) is TextFrame] == ["x"]


def test_prompt_mixin() -> None:
    prompt = with_turn_tagging("You are a helpful assistant.")
    assert prompt.startswith("You are a helpful assistant.\n\n") and prompt.endswith(
        TURN_TAGGING_INSTRUCTIONS
    )
    assert all(m in TURN_TAGGING_INSTRUCTIONS for m in (OK, SHORT, LONG))
    assert with_turn_tagging("") == TURN_TAGGING_INSTRUCTIONS
    with pytest.raises(ValueError):
        LLMTurnTagFilter(short_wait=-1)
