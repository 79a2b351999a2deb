"""One test per Pipecat bug report about context and interruptions, reproducing its frame sequence.

Each test names the issue; the docstring says what went wrong there and why it cannot happen here.
"""

from __future__ import annotations

import asyncio
import json

from tests.context.helpers import make_bot, tokens
from voiceframe.context.assistant_aggregator import AssistantAggregator
from voiceframe.context.function_calls import FunctionCallParams
from voiceframe.context.llm_context import CANCELLED, IN_PROGRESS, LLMContext
from voiceframe.frames import (
    Frame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    TTSSpeakFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
)
from voiceframe.pipeline import Pipeline
from voiceframe.processor import FrameDirection, QueuedFrameProcessor
from voiceframe.testing.fakes import FakeOutputTransport, FakePause, FakeToolCall
from voiceframe.testing.run import Wait, run_processor

RATE = 16000


def utterance(context_id: str, words: list[str], seconds_per_word: float = 0.3) -> list[Frame]:
    """A TTS context as a provider with word timestamps sends it: audio, then the timed words."""
    audio = b"\x01\x00" * int(RATE * seconds_per_word * len(words))
    frames: list[Frame] = [TTSAudioRawFrame(audio=audio, sample_rate=RATE, context_id=context_id)]
    frames += [
        TTSTextFrame(text=w, pts=i * seconds_per_word, context_id=context_id) for i, w in enumerate(words)
    ]
    return frames


class FakeSlowHop(QueuedFrameProcessor):
    """A queued processor between the transport and the aggregator that holds each word 0.3 s."""

    async def process(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, TTSTextFrame):
            await asyncio.sleep(0.3)
        await self.push(frame, direction)


def assistant_texts(context: LLMContext) -> list[str]:
    return [m["content"] or "" for m in context.messages if m["role"] == "assistant"]


async def test_pipecat_4996_released_words_survive_an_interruption_that_overtakes_them() -> None:
    """#4996: words already released for playout sat in a queue after the transport; the interruption
    (a system frame) overtook them and the queue was flushed, so heard text was lost and the bot
    repeated itself. Here a released word is a fact (uninterruptible) and is filed by its TTS context,
    so even a queue between the transport and the aggregator cannot lose or misplace it."""
    context = LLMContext()
    out = FakeOutputTransport()
    words = ["I", "can", "book", "that", "flight", "for", "you", "on", "Monday"]
    await run_processor(
        Pipeline([out, FakeSlowHop(), AssistantAggregator(context)]),
        [
            LLMFullResponseStartFrame(response_id="r1"),
            TTSStartedFrame(context_id="c1"),
            *utterance("c1", words),
            TTSStoppedFrame(context_id="c1"),
            LLMFullResponseEndFrame(response_id="r1"),
            Wait(1.0),  # words 0..3 released (0, .3, .6, .9 s); the last ones still queued in the hop
            InterruptionFrame(),
            Wait(2.0),
        ],
    )
    assert [w for _, w in out.words] == words[:4]
    assert assistant_texts(context) == ["I can book that"]
    assert context.is_interrupted(context.messages[0])


async def test_pipecat_4264_greeting_is_one_message_even_when_the_user_answers_at_once() -> None:
    """#4264: a TTSSpeakFrame greeting was split (or lost) because the 'push aggregation' signal and
    the word frames travelled different queues. Here there is no separate signal: each word is
    committed into the greeting's own message when heard, whatever happens meanwhile."""
    bot = make_bot([[*tokens("Sure, Tuesday works.")]])
    greeting = "Hi! This is Ava from the clinic. How can I help?"
    await bot.play(
        [
            TTSSpeakFrame(text=greeting),
            Wait(2.9),  # the user's transcript arrives while the last words are still playing
            TranscriptionFrame(text="Can I move my appointment?"),
            Wait(6.0),
        ]
    )
    assert bot.assistant_texts() == [greeting, "Sure, Tuesday works."]
    roles = [m["role"] for m in bot.context.messages]
    assert roles == ["system", "assistant", "user", "assistant"]
    # the LLM request made mid-greeting held the greeting heard so far, in one message
    first_request = bot.llm.requests[0]
    assert [m["role"] for m in first_request] == ["system", "assistant", "user"]
    assert greeting.startswith(first_request[1]["content"])
    bot.assert_valid()


async def test_pipecat_4611_overlapping_responses_are_never_merged() -> None:
    """#4611: a second LLMFullResponseStartFrame arrived while the first response was still open and
    its text was appended to the same buffer: one corrupted message. Here words are filed by TTS
    context, so two overlapping responses are two messages."""
    context = LLMContext()
    await run_processor(
        Pipeline([FakeOutputTransport(), AssistantAggregator(context)]),
        [
            LLMFullResponseStartFrame(response_id="r1"),
            TTSStartedFrame(context_id="c1"),
            *utterance("c1", ["Your", "order", "has", "shipped"]),
            # the second generation starts before the first one ended (no end frame for r1)
            LLMFullResponseStartFrame(response_id="r2"),
            TTSStoppedFrame(context_id="c1"),
            TTSStartedFrame(context_id="c2"),
            *utterance("c2", ["It", "arrives", "on", "Friday"]),
            TTSStoppedFrame(context_id="c2"),
            LLMFullResponseEndFrame(response_id="r2"),
            Wait(5.0),
        ],
    )
    assert assistant_texts(context) == ["Your order has shipped", "It arrives on Friday"]


async def test_pipecat_4750_late_words_of_an_interrupted_tts_context_never_reach_the_next_turn() -> None:
    """#4750: a websocket TTS kept sending word timestamps for a cancelled context seconds after the
    interruption; they were treated as new words and interleaved into the next turn's transcript.
    Here the transport closes the contexts of an interrupted turn: their late words are dropped."""
    context = LLMContext()
    out = FakeOutputTransport()
    stale = [
        TTSTextFrame(text=w, pts=1.5 + 0.3 * i, context_id="A")
        for i, w in enumerate(["just", "wanted", "to"])
    ]
    b_frames = utterance("B", ["Hello", "this", "is", "a", "message", "from", "Acme"])
    interleaved: list[Frame] = [b_frames[0]]
    for i, word in enumerate(b_frames[1:]):
        interleaved.append(word)
        if i < len(stale):
            interleaved.append(stale[i])  # created after the interruption: it carries the new epoch
    await run_processor(
        Pipeline([out, AssistantAggregator(context)]),
        [
            LLMFullResponseStartFrame(response_id="r1"),
            TTSStartedFrame(context_id="A"),
            *utterance("A", ["Hi", "I", "just", "wanted", "to", "follow", "up"]),
            Wait(0.5),
            InterruptionFrame(),
            Wait(8.0),
            LLMFullResponseStartFrame(response_id="r2"),
            TTSStartedFrame(context_id="B"),
            *interleaved,
            TTSStoppedFrame(context_id="B"),
            LLMFullResponseEndFrame(response_id="r2"),
            Wait(4.0),
        ],
    )
    assert assistant_texts(context) == ["Hi I", "Hello this is a message from Acme"]


async def test_pipecat_3627_a_word_before_the_response_start_frame_is_not_lost() -> None:
    """#3627: the aggregator only accepted words after LLMFullResponseStartFrame, so a word that
    arrived first went missing. Here words are committed whatever frame came first."""
    context = LLMContext()
    words = utterance("c1", ["Okay", "let", "me", "see"])
    await run_processor(
        Pipeline([FakeOutputTransport(), AssistantAggregator(context)]),
        [
            TTSStartedFrame(context_id="c1"),
            words[0],
            words[1],  # "Okay" before the start frame
            LLMFullResponseStartFrame(response_id="r1"),
            *words[2:],
            TTSStoppedFrame(context_id="c1"),
            LLMFullResponseEndFrame(response_id="r1"),
            Wait(3.0),
        ],
    )
    assert assistant_texts(context) == ["Okay let me see"]


async def test_pipecat_5779_interrupting_as_the_llm_calls_a_tool_cancels_it_cleanly() -> None:
    """#5779: interrupting while the bot spoke the sentence before a tool call could leave the call
    'in progress' forever (the cancel overtook the in-progress frame at the aggregator). Here the
    manager that runs the call writes IN_PROGRESS and CANCELLED itself, in order; no frames race."""
    started: list[str] = []
    cancelled: list[str] = []

    async def get_weather(params: FunctionCallParams) -> dict[str, str]:
        started.append(params.tool_call_id)
        try:
            await asyncio.sleep(5.0)
        except asyncio.CancelledError:
            cancelled.append(params.tool_call_id)
            raise
        return {"sky": "clear"}

    bot = make_bot(
        [
            [*tokens("Let me check the weather."), FakeToolCall("get_weather", {"city": "Oslo"}, id="w1")],
            [*tokens("What else?")],
        ]
    )
    bot.calls.register_function("get_weather", get_weather)
    await bot.play(
        [
            TranscriptionFrame(text="Weather in Oslo?"),
            Wait(0.8),  # the bot is saying "Let me check the weather." and the call is running
            InterruptionFrame(),
            TranscriptionFrame(text="Never mind."),
            Wait(4.0),
        ]
    )
    assert started == ["w1"] and cancelled == ["w1"]
    assert bot.context.tool_status("w1") == CANCELLED
    assert bot.calls.running == []
    assert all(m.get("content") != IN_PROGRESS for m in bot.context.messages)
    # the next request knows the call was cancelled
    assert {"role": "tool", "tool_call_id": "w1", "content": CANCELLED} in bot.llm.requests[1]
    bot.assert_valid()


async def test_pipecat_4420_a_result_is_never_dropped_by_an_interruption_during_tts() -> None:
    """#4420: a FunctionCallResultFrame queued in the TTS when the user interrupted was dropped, the
    LLM never saw the result and ran the tool again. Here the result is written into the context by
    the manager the moment the tool returns; the frame downstream is only a notification."""
    runs: list[str] = []

    async def collect_info(params: FunctionCallParams) -> dict[str, bool]:
        runs.append(params.tool_call_id)
        await asyncio.sleep(0.3)
        return {"saved": True}

    bot = make_bot(
        [
            [
                *tokens("One second while I save that."),
                FakeToolCall("collect_info", {"name": "Ann"}, id="c1"),
            ],
            [*tokens("Saved it, thanks for waiting.")],
            [*tokens("Yes, all done.")],
        ]
    )
    bot.calls.register_function("collect_info", collect_info)
    await bot.play(
        [
            TranscriptionFrame(text="My name is Ann."),
            Wait(0.9),  # the result came at ~0.62 s while the filler sentence is still playing
            InterruptionFrame(),
            TranscriptionFrame(text="Did you save it?"),
            Wait(4.0),
        ]
    )
    assert runs == ["c1"]
    assert json.loads(bot.context.tool_status("c1") or "null") == {"saved": True}
    last_request = bot.llm.requests[-1]
    assert {"role": "tool", "tool_call_id": "c1", "content": '{"saved": true}'} in last_request
    bot.assert_valid()


async def test_pipecat_4997_tool_call_of_an_interrupted_generation_is_not_executed() -> None:
    """#4997: a hallucinated end_call from a generation the user interrupted still ran and hung up on
    a live caller. Here a tool call is only executed if its generation completed in the current
    epoch, and end_call (run_after_speech) only after its goodbye was heard."""
    hangups: list[str] = []
    hangup_times: list[float] = []

    async def end_call(params: FunctionCallParams) -> str:
        hangups.append(params.tool_call_id)
        hangup_times.append(asyncio.get_running_loop().time())
        return "ok"

    # 1. the user keeps talking while the generation is still streaming its tool call
    bot = make_bot([[*tokens("Thank you for that."), FakePause(0.6), FakeToolCall("end_call", id="e1")]])
    bot.calls.register_function("end_call", end_call, run_after_speech=True)
    await bot.play([TranscriptionFrame(text="So I was thinking"), Wait(0.5), InterruptionFrame(), Wait(3.0)])
    assert hangups == []
    assert all("tool_calls" not in m for m in bot.context.messages)

    # 2. the generation completed, but the user barges in during the goodbye
    bot = make_bot([[*tokens("Thank you for that, goodbye."), FakeToolCall("end_call", id="e2")]])
    bot.calls.register_function("end_call", end_call, run_after_speech=True)
    await bot.play([TranscriptionFrame(text="So I was thinking"), Wait(0.8), InterruptionFrame(), Wait(3.0)])
    assert hangups == []
    assert bot.context.tool_status("e2") == CANCELLED
    bot.assert_valid()

    # 3. nobody interrupts: the call runs once the goodbye has been played
    bot = make_bot([[*tokens("Thank you for that, goodbye."), FakeToolCall("end_call", id="e3")], ["Bye."]])
    bot.calls.register_function("end_call", end_call, run_after_speech=True)
    await bot.play([TranscriptionFrame(text="That's all, bye."), Wait(5.0)])
    assert hangups == ["e3"]
    assert bot.context.tool_status("e3") == "ok"
    goodbye_heard = next(t for t, w in bot.out.words if w == "goodbye.")
    assert hangup_times[0] > goodbye_heard  # only once the goodbye was played
