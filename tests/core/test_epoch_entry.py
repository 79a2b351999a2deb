"""A frame takes its epoch when it enters the session: nothing queued before an interruption plays after it.

The player in these tests is an *inline* processor that "plays" audio by sleeping in ``process()`` (a
misuse the runtime warns about, but one that must not break the epoch guarantee). Frames wait behind it
in the task's inbox, in a transport's input, or in a parallel branch while an interruption arrives.
"""

from __future__ import annotations

import asyncio
from collections import deque

import pytest
from loguru import logger

from voiceframe.clock import virtual_time
from voiceframe.frames import (
    EndFrame,
    Frame,
    InterruptionFrame,
    OutputAudioRawFrame,
    StartFrame,
    TextFrame,
    UserStartedSpeakingFrame,
    now,
)
from voiceframe.pipeline import ParallelPipeline, Pipeline
from voiceframe.processor import DOWNSTREAM, FrameDirection, FrameProcessor, QueuedFrameProcessor
from voiceframe.stall_watch import InlineStallWarning
from voiceframe.task import PipelineTask, TaskState
from voiceframe.testing import InlineStallError, run_processor
from voiceframe.transports.input import InputTransport

CHUNK = b"\x00\x00" * 320

# the sleeping players are the misuse the stall watch reports; its own tests below check the warning
pytestmark = pytest.mark.filterwarnings("ignore::voiceframe.stall_watch.InlineStallWarning")


def chunk() -> OutputAudioRawFrame:
    return OutputAudioRawFrame(audio=CHUNK, sample_rate=16000)


class FakeSleepingPlayer(FrameProcessor):
    """Inline, "plays" each audio frame by sleeping 10 ms in process() (records before or after)."""

    def __init__(self, *, record_after_sleep: bool, name: str = "player") -> None:
        super().__init__(name=name)
        self.record_after_sleep = record_after_sleep
        self.played: list[tuple[OutputAudioRawFrame, float]] = []
        self.five_played = asyncio.Event()

    async def process(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, OutputAudioRawFrame):
            if not self.record_after_sleep:
                self.played.append((frame, now()))
            await asyncio.sleep(0.01)
            if self.record_after_sleep:
                self.played.append((frame, now()))
            if len(self.played) >= 5:
                self.five_played.set()
        await self.push(frame, direction)


class FakeTurnStarter(FrameProcessor):
    """Interrupts the way the turn logic does: a new epoch broadcast both ways on user speech."""

    async def process(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, UserStartedSpeakingFrame):
            await self.broadcast_interruption()
        await self.push(frame, direction)


def passthroughs(n: int = 10) -> list[FrameProcessor]:
    return [FrameProcessor(name=f"pass{i}") for i in range(n)]


def played_after(player: FakeSleepingPlayer, old: set[int], at: float) -> list[int]:
    """Frames queued before the interruption (ids in ``old``) that were played after it."""
    return [f.id for f, t in player.played if f.id in old and t > at]


async def _interrupt_after_a_few(task: PipelineTask, player: FakeSleepingPlayer, how: str) -> float:
    await player.five_played.wait()
    at = now()
    if how == "interruption":
        await task.queue_frame(InterruptionFrame())
    else:
        await task.queue_frame(UserStartedSpeakingFrame())
    return at


@pytest.mark.parametrize("record_after_sleep", [False, True])
@pytest.mark.parametrize("how", ["interruption", "user_started_speaking"])
async def test_frames_waiting_in_the_task_inbox_do_not_play_after_an_interruption(
    record_after_sleep: bool, how: str
) -> None:
    player = FakeSleepingPlayer(record_after_sleep=record_after_sleep)
    task = PipelineTask(Pipeline([FakeTurnStarter(), *passthroughs(), player]))
    frames = [chunk() for _ in range(100)]
    with virtual_time():
        runner = asyncio.ensure_future(task.run())
        for f in frames:
            await task.queue_frame(f)
        at = await _interrupt_after_a_few(task, player, how)
        fresh = [chunk() for _ in range(3)]
        for f in fresh:
            await task.queue_frame(f)
        await task.stop_when_done()
        await runner
    assert played_after(player, {f.id for f in frames}, at) == []
    # what came after the interruption still plays, in order
    assert [f.id for f, _ in player.played][-3:] == [f.id for f in fresh]
    assert 5 + 3 <= len(player.played) <= 6 + 3  # a few before, the fresh three after


class FakeBufferedInput(InputTransport):
    """A transport input whose client sends a burst of frames; its reader pushes them one by one.

    The frames are made when they arrive (like a decoded message) and wait in the transport's buffer.
    """

    def __init__(self, count: int) -> None:
        super().__init__(name="client-input")
        self.count = count
        self.arrived: list[Frame] = []
        self._buffer: deque[Frame] = deque()
        self._more = asyncio.Event()

    async def on_start(self, frame: StartFrame) -> None:
        await super().on_start(frame)
        self.create_task(self._client(), name=f"{self.name}:client")
        self.create_task(self._read(), name=f"{self.name}:reader")

    async def _client(self) -> None:
        await asyncio.sleep(0.05)
        for _ in range(self.count):
            f = chunk()
            self.arrived.append(f)
            self._buffer.append(f)
        self._more.set()

    async def _read(self) -> None:
        await self._more.wait()
        while self._buffer:
            await self.push(self._buffer.popleft(), DOWNSTREAM)


async def test_frames_waiting_in_a_transport_input_do_not_play_after_an_interruption() -> None:
    player = FakeSleepingPlayer(record_after_sleep=True)
    with virtual_time():
        source = FakeBufferedInput(100)
        task = PipelineTask(Pipeline([source, *passthroughs(), player]))
        runner = asyncio.ensure_future(task.run())
        at = await _interrupt_after_a_few(task, player, "interruption")
        await asyncio.sleep(2.0)
        await task.stop_when_done()
        await runner
    assert len(source.arrived) == 100
    assert played_after(player, {f.id for f in source.arrived}, at) == []
    assert len(player.played) >= 5


async def test_frames_pushed_later_but_made_before_the_interruption_are_stale() -> None:
    """A reader that made its frames before the interruption and pushes them after: all stale."""

    class FakePrebuiltReader(InputTransport):
        def __init__(self, frames: list[Frame]) -> None:
            super().__init__(name="prebuilt")
            self.frames = frames

        async def on_start(self, frame: StartFrame) -> None:
            await super().on_start(frame)
            self.create_task(self._read())

        async def _read(self) -> None:
            for f in self.frames:
                await self.push(f, DOWNSTREAM)

    player = FakeSleepingPlayer(record_after_sleep=False)
    frames = [chunk() for _ in range(50)]
    with virtual_time():
        task = PipelineTask(Pipeline([FakePrebuiltReader(frames), *passthroughs(), player]))
        runner = asyncio.ensure_future(task.run())
        at = await _interrupt_after_a_few(task, player, "interruption")
        await asyncio.sleep(2.0)
        await task.stop_when_done()
        await runner
    assert played_after(player, {f.id for f in frames}, at) == []


async def test_frames_waiting_behind_a_parallel_branch_do_not_play_after_an_interruption() -> None:
    player = FakeSleepingPlayer(record_after_sleep=True)
    other = FrameProcessor(name="other-branch")
    task = PipelineTask(
        Pipeline([*passthroughs(3), ParallelPipeline([*passthroughs(2), player], [other]), *passthroughs(3)])
    )
    frames = [chunk() for _ in range(100)]
    reached_end: list[tuple[Frame, float]] = []

    @task.event_handler("frame_reached_end")
    def _(task: PipelineTask, frame: Frame) -> None:
        reached_end.append((frame, now()))

    with virtual_time():
        runner = asyncio.ensure_future(task.run())
        for f in frames:
            await task.queue_frame(f)
        at = await _interrupt_after_a_few(task, player, "interruption")
        await task.stop_when_done()
        await runner
    old = {f.id for f in frames}
    assert played_after(player, old, at) == []
    assert [f.id for f, t in reached_end if f.id in old and t > at] == []


# ------------------------------------------------------------------------------------ the stall watch


class FakeLongWait(FrameProcessor):
    """Inline, awaits one long "I/O" on the first text frame."""

    def __init__(self, seconds: float) -> None:
        super().__init__(name="long-wait")
        self.seconds = seconds

    async def process(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, TextFrame) and frame.text == "wait":
            await asyncio.sleep(self.seconds)
        await self.push(frame, direction)


class FakeQueuedPlayer(QueuedFrameProcessor):
    """Queued: waiting in process() is what its worker is for."""

    async def process(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, OutputAudioRawFrame):
            await asyncio.sleep(0.01)
        await self.push(frame, direction)

    async def on_end(self, frame: EndFrame) -> None:
        await asyncio.sleep(1.0)  # a graceful flush may take its time: not a stall


def warnings_during() -> tuple[list[str], int]:
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="WARNING", format="{message}")
    return lines, sink


async def test_an_inline_processor_that_keeps_the_pump_waiting_is_named_once() -> None:
    player = FakeSleepingPlayer(record_after_sleep=False, name="sleepy-player")
    task = PipelineTask(Pipeline([*passthroughs(), player]))
    lines, sink = warnings_during()
    try:
        with virtual_time(), pytest.warns(InlineStallWarning, match="sleepy-player") as caught:
            runner = asyncio.ensure_future(task.run())
            for _ in range(200):  # 2 s of sleeping in process()
                await task.queue_frame(chunk())
            await task.stop_when_done()
            await runner
    finally:
        logger.remove(sink)
    assert len([w for w in caught if issubclass(w.category, InlineStallWarning)]) == 1
    assert len(task.stalls) == 1
    message = task.stalls[0]
    assert "sleepy-player is an inline FrameProcessor" in message and "QueuedFrameProcessor" in message
    assert "sleep()" in message and "pump" in message
    assert [line for line in lines if "sleepy-player" in line] == [line for line in lines if "inline" in line]
    assert len([line for line in lines if "sleepy-player" in line]) == 1
    assert len(player.played) == 200  # a warning, not a failure: the session went on


async def test_one_long_wait_in_a_reader_task_is_reported_too() -> None:
    class FakeReader(InputTransport):
        async def on_start(self, frame: StartFrame) -> None:
            await super().on_start(frame)
            self.create_task(self.push(TextFrame(text="wait")), name="fake-reader")

    task = PipelineTask(Pipeline([FakeReader(), FakeLongWait(1.0)]))
    with virtual_time():
        runner = asyncio.ensure_future(task.run())
        await asyncio.sleep(2.0)
        await task.stop_when_done()
        await runner
    assert len(task.stalls) == 1 and "long-wait" in task.stalls[0] and "fake-reader" in task.stalls[0]


async def test_short_waits_and_queued_processors_are_not_stalls() -> None:
    task = PipelineTask(Pipeline([FakeLongWait(0.05), FakeQueuedPlayer(), *passthroughs(2)]))
    with virtual_time():
        runner = asyncio.ensure_future(task.run())
        await task.queue_frame(TextFrame(text="wait"))
        for _ in range(300):
            await task.queue_frame(chunk())
        await task.stop_when_done()
        await runner
    assert task.stalls == []


async def test_run_processor_fails_a_stalling_inline_processor_with_the_message() -> None:
    with pytest.raises(InlineStallError, match=r"long-wait is an inline .*QueuedFrameProcessor"):
        await run_processor(FakeLongWait(60.0), [TextFrame(text="wait")])
    # allowed explicitly, it only warns and the run completes
    result = await run_processor(FakeLongWait(1.0), [TextFrame(text="wait")], allow_stalls=True)
    assert [f.text for f in result.of_type(TextFrame)] == ["wait"]
    assert result.task is not None and len(result.task.stalls) == 1


async def test_run_processor_stops_a_stalling_processor_at_once() -> None:
    with virtual_time():
        start = now()
        with pytest.raises(InlineStallError):
            await run_processor(FakeLongWait(600.0), [TextFrame(text="wait")])
        elapsed = now() - start
    assert elapsed < 1.0  # cancelled when found, not after the 600 s wait


async def test_a_too_deep_chain_says_a_queue_does_not_help() -> None:
    deep: list[FrameProcessor] = []
    for i in range(400):
        deep.append(QueuedFrameProcessor(name=f"q{i}") if i % 2 else FrameProcessor(name=f"i{i}"))
    task = PipelineTask(Pipeline(deep))
    with virtual_time():
        state = await asyncio.wait_for(task.run(), 30)  # the StartFrame alone is too deep
    assert state is TaskState.CANCELLED
    errors = [e.error for e in task.errors if e.fatal]
    assert errors and all("queued processors included" in e and "fewer processors" in e for e in errors)
