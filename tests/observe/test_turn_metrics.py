"""Turn metrics on synthetic frame timelines with known answers, and as MetricsFrames in a pipeline."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from voiceframe.clock import virtual_time
from voiceframe.frames import (
    BotStartedSpeakingFrame,
    Frame,
    FunctionCallInProgressFrame,
    FunctionCallResultFrame,
    LLMContextFrame,
    LLMTextFrame,
    MetricsData,
    MetricsFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from voiceframe.observe.observer import PushEvent
from voiceframe.observe.turn_metrics import (
    TurnMetricsObserver,
    TurnMetricsProcessor,
    TurnTiming,
    merged_length,
)
from voiceframe.pipeline import Pipeline
from voiceframe.processor import DOWNSTREAM
from voiceframe.task import PipelineTask


class Svc:
    """A stand-in for a service pushing frames: only its ``kind`` matters."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.name = kind


STT, LLM, TTS, OUT = Svc("stt"), Svc("llm"), Svc("tts"), Svc("transport")


def metric(kind: str, value: float, name: str) -> MetricsFrame:
    return MetricsFrame(data=[MetricsData(name, kind, value)])  # type: ignore[arg-type]


def audio() -> TTSAudioRawFrame:
    return TTSAudioRawFrame(audio=b"\x00\x00" * 160, sample_rate=16000)


async def feed(observer: TurnMetricsObserver, timeline: list[tuple[float, Frame, Any]]) -> None:
    for t, frame, source in timeline:
        await observer.on_push(PushEvent(source, None, frame, DOWNSTREAM, t))
    await observer.on_session_end()


def plain_turn(offset: float = 0.0) -> list[tuple[float, Frame, Any]]:
    """Speech ends at 1.0 (VAD stop 1.6 with stop_secs 0.6); the bot is heard at 2.12."""
    o = offset
    return [
        (o + 0.0, UserStartedSpeakingFrame(), None),
        (o + 1.6, VADUserStoppedSpeakingFrame(stop_secs=0.6), None),
        (o + 1.61, UserStoppedSpeakingFrame(), None),
        (o + 1.75, metric("processing", 0.12, "stt"), STT),  # STT model: 1.63-1.75
        (o + 1.75, TranscriptionFrame(text="hello"), STT),
        (o + 1.76, LLMContextFrame(), None),
        (o + 1.96, metric("ttfb", 0.19, "llm"), LLM),  # LLM model: 1.77-1.96
        (o + 1.96, LLMTextFrame(text="Hi!"), LLM),
        (o + 2.00, LLMTextFrame(text=" How"), LLM),  # completes the sentence: LLM time 1.96-2.00
        (o + 2.10, metric("ttfb", 0.08, "tts"), TTS),  # TTS request at 2.02
        (o + 2.10, audio(), TTS),
        (o + 2.12, BotStartedSpeakingFrame(), OUT),
        (o + 2.12, BotStartedSpeakingFrame(), OUT),  # the copy sent upstream
    ]


async def test_stage_split_of_a_plain_turn() -> None:
    obs = TurnMetricsObserver()
    await feed(obs, plain_turn())
    [t] = obs.turns
    assert t.index == 1 and t.speech_end == pytest.approx(1.0) and t.bot_started == pytest.approx(2.12)
    assert t.endpointing == pytest.approx(0.61)
    assert t.stt_final == pytest.approx(0.75)
    assert t.llm_first_token == pytest.approx(0.20)
    assert t.tts_first_audio == pytest.approx(0.14)
    assert t.transport == pytest.approx(0.02)
    assert t.total == pytest.approx(1.12)
    assert t.endpointing_wait == pytest.approx(0.6)
    assert t.stt_time == pytest.approx(0.12)
    assert t.llm_time == pytest.approx(0.23)
    assert t.tts_time == pytest.approx(0.08)
    assert t.tool_time == 0.0
    # the gaps no model explains: 1.60-1.63, 1.75-1.77, 2.00-2.02, 2.10-2.12
    assert t.framework_added == pytest.approx(0.09)
    assert t.ttfb == pytest.approx({"llm": 0.19, "tts": 0.08})
    assert t.processing == pytest.approx({"stt": 0.12})
    assert obs.unanswered == 0


async def test_tool_turn_counts_the_handler_and_both_llm_runs_as_not_framework() -> None:
    obs = TurnMetricsObserver()
    timeline: list[tuple[float, Frame, Any]] = [
        (0.0, UserStartedSpeakingFrame(), None),
        (2.0, VADUserStoppedSpeakingFrame(stop_secs=0.5), None),  # speech end 1.5
        (2.0, UserStoppedSpeakingFrame(), None),
        (2.0, TranscriptionFrame(text="weather"), STT),  # a streaming STT: final already there
        (2.0, LLMContextFrame(), None),
        (2.3, metric("ttfb", 0.3, "llm"), LLM),  # first tool-call delta
        (2.4, metric("processing", 0.4, "llm"), LLM),  # the run ends at 2.4
        (2.4, FunctionCallInProgressFrame(function_name="get_weather"), LLM),
        (2.9, FunctionCallResultFrame(function_name="get_weather"), None),  # handler: 0.5 s
        (2.9, LLMContextFrame(), None),
        (3.1, metric("ttfb", 0.2, "llm"), LLM),
        (3.1, LLMTextFrame(text="Sunny."), LLM),
        (3.2, metric("ttfb", 0.1, "tts"), TTS),  # TTS model: 3.1-3.2
        (3.2, audio(), TTS),
        (3.25, BotStartedSpeakingFrame(), OUT),
        (3.5, metric("processing", 0.6, "llm"), LLM),  # the answer's run ends after the bot spoke
    ]
    await feed(obs, timeline)
    [t] = obs.turns
    assert t.total == pytest.approx(1.75) and t.endpointing == pytest.approx(0.5)
    assert t.stt_final == pytest.approx(0.5) and t.stt_time == 0.0
    assert t.llm_first_token == pytest.approx(0.4)  # the tool call frame: the LLM's first output
    assert t.tool_time == pytest.approx(0.5)
    assert t.llm_time == pytest.approx(0.4 + 0.2)  # both runs up to their first token / end
    assert t.tts_time == pytest.approx(0.1)
    assert t.transport == pytest.approx(0.05)
    # models and the handler cover 2.0-3.2 without a gap: only the transport's 0.05 s is left
    assert t.framework_added == pytest.approx(0.05)


async def test_unanswered_turn_duplicates_and_a_second_turn() -> None:
    seen: list[TurnTiming] = []
    obs = TurnMetricsObserver(on_turn=seen.append)
    start = UserStartedSpeakingFrame()
    timeline: list[tuple[float, Frame, Any]] = [
        (0.0, start, None),
        (0.5, start, None),  # the same frame at a later hop is not a new turn
        (1.0, VADUserStoppedSpeakingFrame(stop_secs=0.2), None),
        (1.0, UserStoppedSpeakingFrame(), None),
        (1.1, LLMContextFrame(), None),
        # the user speaks again before any answer: the first turn goes unanswered
        *plain_turn(offset=2.0),
    ]
    await feed(obs, timeline)
    assert [t.index for t in seen] == [2] and obs.turns == seen
    assert seen[0].total == pytest.approx(1.12)
    assert obs.unanswered == 1


def test_merged_length() -> None:
    assert merged_length([(0, 2), (1, 3), (5, 6)], 0.5, 5.5) == pytest.approx(3.0)
    assert merged_length([], 0, 1) == 0.0


async def test_processor_sends_turns_as_metrics_frames() -> None:
    turns = TurnMetricsObserver()
    out: list[MetricsFrame] = []
    with virtual_time():
        task = PipelineTask(Pipeline([TurnMetricsProcessor(turns)]), observers=[turns])

        @task.event_handler("frame_reached_end")
        async def collect(_: PipelineTask, frame: Frame) -> None:
            if isinstance(frame, MetricsFrame) and frame.data[0].kind == "turn":
                out.append(frame)

        async def script() -> None:
            last = 0.0
            for t, frame, _ in plain_turn():
                await asyncio.sleep(t - last)
                last = t
                await task.queue_frame(frame)
            await asyncio.sleep(0.5)
            await task.stop_when_done()

        await asyncio.gather(task.run(), script())
    [frame] = out
    data = frame.data[0]
    assert data.value == pytest.approx(1.12) and data.extra["framework_added"] == pytest.approx(0.09)
    assert turns.turns[0].total == pytest.approx(1.12)
