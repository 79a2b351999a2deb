"""PipelineTask and PipelineRunner: start, graceful end, cancel, errors, idle, no leftover tasks."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from tests.core.helpers import FakeRecorder, FakeSlowService
from voiceframe.clock import sleep_until, virtual_time
from voiceframe.frames import (
    CancelTaskFrame,
    EndTaskFrame,
    ErrorFrame,
    Frame,
    InputAudioRawFrame,
    OutputAudioRawFrame,
    TextFrame,
    UserStartedSpeakingFrame,
    now,
)
from voiceframe.observe import Observer, PushEvent
from voiceframe.pipeline import Pipeline
from voiceframe.processor import UPSTREAM, FrameDirection, FrameProcessor, QueuedFrameProcessor
from voiceframe.task import ErrorPolicy, PipelineRunner, PipelineTask, TaskState


def other_tasks() -> set[asyncio.Task[object]]:
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}


async def test_end_frame_drains_every_queue_then_stops() -> None:
    slow = FakeSlowService(delay=1.0)
    after = FakeRecorder("after")
    task = PipelineTask(Pipeline([slow, after]))
    with virtual_time():
        await task.queue_frames(TextFrame(text=str(i)) for i in range(5))
        await task.stop_when_done()
        start = now()
        state = await task.run()
        elapsed = now() - start
    assert state is TaskState.ENDED
    assert slow.finished == ["0", "1", "2", "3", "4"]
    assert after.texts() == ["0", "1", "2", "3", "4"]
    assert after.ended_at is not None and elapsed == pytest.approx(5.0)


async def test_no_asyncio_task_is_left_after_run_returns() -> None:
    class FakeWithBackgroundTask(QueuedFrameProcessor):
        async def on_start(self, frame: object) -> None:
            self.create_task(asyncio.sleep(1e9), name="keepalive")

    class FakeSlowObserver(Observer):
        async def on_push(self, event: PushEvent) -> None:
            await asyncio.sleep(0.01)

    before = other_tasks()
    task = PipelineTask(
        Pipeline([FakeSlowService(0.5), FakeWithBackgroundTask(), FakeSlowService(0.5)]),
        observers=[FakeSlowObserver()],
        idle_timeout=100.0,
    )
    with virtual_time():
        await task.queue_frames([TextFrame(text="a"), TextFrame(text="b")])
        await task.stop_when_done()
        await task.run()
    assert other_tasks() == before
    assert not task.leaked_tasks


async def test_cancel_returns_within_its_timeout_even_when_a_processor_swallows_cancellation() -> None:
    release = asyncio.Event()

    class FakeStubborn(QueuedFrameProcessor):
        swallowed = 0

        async def process(self, frame: Frame, direction: FrameDirection) -> None:
            while not release.is_set():
                try:
                    await asyncio.sleep(1000)
                except asyncio.CancelledError:
                    self.swallowed += 1  # a badly written processor that ignores cancellation

    stubborn = FakeStubborn()
    task = PipelineTask(Pipeline([stubborn]), cancel_timeout=1.5)
    with virtual_time():
        runner = asyncio.ensure_future(task.run())
        await task.queue_frame(TextFrame(text="stuck"))
        await asyncio.sleep(1.0)
        start = now()
        await task.cancel("test")
        took = now() - start
        state = await runner
    assert state is TaskState.CANCELLED
    assert took <= 1.5 + 0.01
    assert stubborn.swallowed > 1  # it was asked again and again
    assert len(task.leaked_tasks) == 1 and "worker" in task.leaked_tasks[0].get_name()
    release.set()  # let the abandoned task end so the test leaves nothing behind
    await asyncio.sleep(0)
    with virtual_time():
        await asyncio.wait(task.leaked_tasks, timeout=2000)


@pytest.mark.filterwarnings("ignore::voiceframe.stall_watch.InlineStallWarning")  # hanging is the point
async def test_cancel_stops_a_processor_that_never_returns() -> None:
    class FakeHung(FrameProcessor):
        async def process(self, frame: Frame, direction: FrameDirection) -> None:
            if isinstance(frame, TextFrame):
                await asyncio.Event().wait()  # never returns (inline, blocks the pump)

    before = other_tasks()
    task = PipelineTask(Pipeline([FakeHung()]), cancel_timeout=1.0)
    with virtual_time():
        runner = asyncio.ensure_future(task.run())
        await task.queue_frame(TextFrame(text="x"))
        await asyncio.sleep(5)
        await task.cancel()
        assert await runner is TaskState.CANCELLED
    assert other_tasks() == before


async def test_a_task_runs_only_once() -> None:
    task = PipelineTask(Pipeline([FrameProcessor()]))
    await task.stop_when_done()
    with virtual_time():
        await task.run()
    with pytest.raises(RuntimeError, match="has already run"):
        await task.run()
    with pytest.raises(RuntimeError, match="has finished"):
        await task.queue_frame(TextFrame(text="late"))
    with pytest.raises(TypeError, match="needs a Frame"):
        await PipelineTask(Pipeline([FrameProcessor()])).queue_frame("text")  # type: ignore[arg-type]


class FakeFailing(FrameProcessor):
    async def process(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, TextFrame) and frame.text == "fail":
            raise ValueError("bad thing")
        await self.push(frame, direction)


@pytest.mark.parametrize(
    ("policy", "expected_state", "processed_after"),
    [
        (ErrorPolicy.CONTINUE, TaskState.ENDED, ["after"]),
        (ErrorPolicy.END, TaskState.ENDED, ["after"]),  # already queued frames still drain
        (ErrorPolicy.CANCEL, TaskState.CANCELLED, []),
    ],
)
async def test_error_policy_is_applied(
    policy: ErrorPolicy, expected_state: TaskState, processed_after: list[str]
) -> None:
    slow = FakeSlowService(delay=1.0)
    errors: list[ErrorFrame] = []
    task = PipelineTask(Pipeline([FakeFailing(), slow]), error_policy=policy)
    task.add_event_handler("error", lambda _task, frame: errors.append(frame))
    with virtual_time():
        runner = asyncio.ensure_future(task.run())
        await task.queue_frames([TextFrame(text="fail"), TextFrame(text="after")])
        if policy is ErrorPolicy.CONTINUE:
            await asyncio.sleep(5)
            await task.stop_when_done()
        state = await asyncio.wait_for(runner, 60)
    assert state is expected_state
    assert len(errors) == 1 and "ValueError: bad thing" in errors[0].error
    assert slow.finished == processed_after


async def test_fatal_error_cancels_whatever_the_policy() -> None:
    class FakeFatal(FrameProcessor):
        async def process(self, frame: Frame, direction: FrameDirection) -> None:
            await self.push_error("connection lost for good", fatal=True)

    task = PipelineTask(Pipeline([FakeFatal()]), error_policy=ErrorPolicy.CONTINUE)
    with virtual_time():
        runner = asyncio.ensure_future(task.run())
        await task.queue_frame(TextFrame(text="x"))
        assert await asyncio.wait_for(runner, 60) is TaskState.CANCELLED
    assert task.errors[0].fatal


async def test_end_and_cancel_requests_from_inside_the_pipeline() -> None:
    class FakeHangUp(FrameProcessor):
        def __init__(self, request: Frame) -> None:
            super().__init__()
            self.request = request

        async def process(self, frame: Frame, direction: FrameDirection) -> None:
            if isinstance(frame, TextFrame):
                await self.push(self.request, UPSTREAM)
            await self.push(frame, direction)

    for request, expected in ((EndTaskFrame(), TaskState.ENDED), (CancelTaskFrame(), TaskState.CANCELLED)):
        task = PipelineTask(Pipeline([FakeHangUp(request), FakeSlowService(1.0)]))
        with virtual_time():
            runner = asyncio.ensure_future(task.run())
            await task.queue_frame(TextFrame(text="bye"))
            assert await asyncio.wait_for(runner, 60) is expected


async def test_idle_timeout_cancels_a_silent_session_but_not_an_active_one() -> None:
    fired: list[float] = []
    task = PipelineTask(Pipeline([FrameProcessor()]), idle_timeout=30.0)
    task.add_event_handler("idle_timeout", lambda _t: fired.append(now()))
    with virtual_time():
        start = now()
        runner = asyncio.ensure_future(task.run())
        for _ in range(10):  # activity every 10 s keeps it alive for 100 s
            await asyncio.sleep(10)
            await task.queue_frame(UserStartedSpeakingFrame())
        # only audio from here: not activity
        while not task.has_finished:
            await task.queue_frame(InputAudioRawFrame(audio=b"\x00\x00" * 160))
            await asyncio.sleep(0.5)
        state = await asyncio.wait_for(runner, 1000)
    assert state is TaskState.CANCELLED
    assert len(fired) == 1 and fired[0] - start == pytest.approx(130.0)


async def test_started_and_finished_events() -> None:
    events: list[str] = []
    task = PipelineTask(Pipeline([FrameProcessor()]))

    @task.event_handler("started")
    async def started(_task: PipelineTask) -> None:
        events.append("started")

    @task.event_handler("finished")
    def finished(_task: PipelineTask) -> None:
        events.append("finished")

    with pytest.raises(ValueError, match="unknown event 'stopped'"):
        task.add_event_handler("stopped", finished)
    await task.stop_when_done()
    with virtual_time():
        await task.run()
    assert events == ["started", "finished"]


async def test_runner_cancels_every_task_on_sigint() -> None:
    tasks = [PipelineTask(Pipeline([FakeSlowService(1000.0)])) for _ in range(3)]
    for t in tasks:
        await t.queue_frame(TextFrame(text="long"))
    runner = PipelineRunner()
    running = asyncio.ensure_future(runner.run(*tasks))
    for _ in range(5):
        await asyncio.sleep(0)
    os.kill(os.getpid(), signal.SIGINT)
    results = await asyncio.wait_for(running, 10)
    assert runner.signalled == signal.SIGINT
    assert set(results.values()) == {TaskState.CANCELLED}
    assert other_tasks() == set()


async def test_virtual_clock_runs_ten_minutes_of_audio_in_seconds() -> None:
    class FakePacedOutput(QueuedFrameProcessor):
        """Plays audio in real time against the pipeline clock."""

        played = 0
        first: float | None = None

        async def process(self, frame: Frame, direction: FrameDirection) -> None:
            if isinstance(frame, OutputAudioRawFrame):
                if self.first is None:
                    self.first = now()
                await sleep_until(self.first + self.played * frame.duration + frame.duration)
                self.played += 1
            await self.push(frame, direction)

    output = FakePacedOutput()
    task = PipelineTask(Pipeline([FrameProcessor(), output]))
    chunk = b"\x00\x00" * 320  # 20 ms at 16 kHz
    wall = time.perf_counter()
    with virtual_time():
        start = now()
        await task.queue_frames(OutputAudioRawFrame(audio=chunk, sample_rate=16000) for _ in range(30_000))
        await task.stop_when_done()
        await task.run()
        elapsed = now() - start
    wall = time.perf_counter() - wall
    assert output.played == 30_000
    assert elapsed == pytest.approx(600.0, abs=0.05)  # ten minutes on the pipeline clock, no drift
    assert wall < 60.0  # and nowhere near ten minutes of real time


async def test_system_frames_queued_before_start_wait_for_the_start() -> None:
    """A system frame queued right after run() began must not overtake the StartFrame."""
    seen: list[str] = []

    class FakeStartAware(FrameProcessor):
        async def on_start(self, frame: object) -> None:
            seen.append("start")

        async def process(self, frame: Frame, direction: FrameDirection) -> None:
            seen.append(type(frame).__name__)
            await self.push(frame, direction)

    task = PipelineTask(Pipeline([FakeStartAware()]))
    with virtual_time():
        runner = asyncio.ensure_future(task.run())
        await asyncio.sleep(0)  # run() has begun, the StartFrame may not have gone through yet
        await task.queue_frame(UserStartedSpeakingFrame())
        await task.stop_when_done()
        await runner
    assert seen == ["start", "UserStartedSpeakingFrame"]


async def test_a_too_deep_inline_chain_is_a_clear_fatal_error_not_a_hang() -> None:
    task = PipelineTask(Pipeline([FrameProcessor() for _ in range(400)]))
    with virtual_time():
        runner = asyncio.ensure_future(task.run())
        await task.queue_frame(TextFrame(text="deep"))
        state = await asyncio.wait_for(runner, 30)
    assert state is TaskState.CANCELLED
    assert any("too deep" in e.error and e.fatal for e in task.errors)
