"""Observers see every push without stalling the pipeline; metrics are MetricsFrames on the pipeline clock."""

from __future__ import annotations

import asyncio

import pytest

from tests.core.helpers import FakeRecorder
from voiceframe.clock import virtual_time
from voiceframe.frames import Frame, MetricsFrame, TextFrame, now
from voiceframe.observe import Observer, ProcessorMetrics, PushEvent
from voiceframe.pipeline import Pipeline
from voiceframe.processor import DOWNSTREAM, FrameDirection, FrameProcessor, QueuedFrameProcessor
from voiceframe.task import PipelineTask
from voiceframe.testing import run_processor


class FakeCollectingObserver(Observer):
    def __init__(self, delay: float = 0.0, max_pending: int = 10_000) -> None:
        self.events: list[PushEvent] = []
        self.delay = delay
        self.max_pending = max_pending
        self.ended = False

    async def on_push(self, event: PushEvent) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        self.events.append(event)

    async def on_session_end(self) -> None:
        self.ended = True


async def test_observer_sees_every_push_with_source_destination_and_time() -> None:
    a, b = FakeRecorder("a"), FakeRecorder("b")
    observer = FakeCollectingObserver()
    task = PipelineTask(Pipeline([a, b]), observers=[observer])
    with virtual_time():
        start = now()
        await task.queue_frame(TextFrame(text="hi"))
        await task.stop_when_done()
        await task.run()
    hops = [
        (e.source.name, e.destination.name)
        for e in observer.events
        if isinstance(e.frame, TextFrame) and e.direction == DOWNSTREAM
    ]
    assert hops == [(task.name + ".source", "a"), ("a", "b"), ("b", task.name + ".sink")]
    assert all(e.timestamp >= start for e in observer.events)
    assert observer.ended


async def test_slow_observer_cannot_stall_the_pipeline() -> None:
    observer = FakeCollectingObserver(delay=10.0, max_pending=5)
    recorder = FakeRecorder("r")
    task = PipelineTask(Pipeline([recorder]), observers=[observer])
    with virtual_time():
        start = now()
        await task.queue_frames(TextFrame(text=str(i)) for i in range(100))
        runner = asyncio.ensure_future(task.run())
        await asyncio.sleep(0.001)
        processed_at = now()
        assert len(recorder.texts()) == 100  # all through while the observer sleeps
        await task.stop_when_done()
        await runner
    assert processed_at - start < 0.01
    assert task._hub is not None and task._hub.dropped > 0  # it fell behind: events dropped, not waited for


async def test_metrics_time_to_first_byte_on_the_pipeline_clock() -> None:
    class FakeService(QueuedFrameProcessor):
        def __init__(self) -> None:
            super().__init__(name="fake-llm")
            self.metrics = ProcessorMetrics(self, model="scripted")

        async def process(self, frame: Frame, direction: FrameDirection) -> None:
            if isinstance(frame, TextFrame):
                self.metrics.start_ttfb()
                self.metrics.start_processing()
                await asyncio.sleep(0.25)  # waiting for the first byte
                await self.metrics.stop_ttfb()
                await asyncio.sleep(0.5)
                await self.metrics.stop_processing()
                await self.metrics.usage("llm_usage", 42, prompt_tokens=30, completion_tokens=12)
            await self.push(frame, direction)

    result = await run_processor(FakeService(), [TextFrame(text="go")])
    data = [d for f in result.of_type(MetricsFrame) for d in f.data]
    assert [(d.kind, d.processor) for d in data] == [
        ("ttfb", "fake-llm"),
        ("processing", "fake-llm"),
        ("llm_usage", "fake-llm"),
    ]
    assert data[0].value == pytest.approx(0.25) and data[1].value == pytest.approx(0.75)
    assert data[2].extra == {"prompt_tokens": 30, "completion_tokens": 12} and data[0].model == "scripted"


async def test_stop_without_start_reports_nothing() -> None:
    metrics = ProcessorMetrics(FrameProcessor())
    assert await metrics.stop_ttfb() is None
    assert await metrics.stop_processing() is None


async def test_an_observer_sees_only_the_frame_types_it_declares() -> None:
    class FakeTextOnly(FakeCollectingObserver):
        frame_types = (TextFrame,)

    picky, everything = FakeTextOnly(), FakeCollectingObserver()
    task = PipelineTask(Pipeline([FakeRecorder("r")]), observers=[picky, everything])
    with virtual_time():
        await task.queue_frames([TextFrame(text="a"), MetricsFrame()])
        await task.stop_when_done()
        await task.run()
    assert {type(e.frame) for e in picky.events} == {TextFrame}
    assert MetricsFrame in {type(e.frame) for e in everything.events}
