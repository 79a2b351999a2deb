"""Feed frames to a processor (or pipeline) and collect what leaves it, on the virtual clock.

Example (in a pytest-asyncio test)::

    result = await run_processor(MyUpper(), [TextFrame(text="hi"), Wait(1.5), TextFrame(text="yo")])
    assert [f.text for f in result.of_type(TextFrame)] == ["HI", "YO"]
    assert result.times[-1] - result.times[0] >= 1.5     # pipeline-clock times of downstream frames
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from voiceframe.clock import virtual_time
from voiceframe.frames import CancelFrame, EndFrame, ErrorFrame, Frame, StartFrame, now
from voiceframe.pipeline import Pipeline
from voiceframe.processor import DOWNSTREAM, UPSTREAM, FrameDirection, FrameProcessor
from voiceframe.task import PipelineParams, PipelineTask, TaskState

F = TypeVar("F", bound=Frame)
_LIFECYCLE = (StartFrame, EndFrame, CancelFrame)


class InlineStallError(AssertionError):
    """An inline processor's ``process()`` kept its caller waiting (see :mod:`voiceframe.stall_watch`)."""


@dataclass(frozen=True, slots=True)
class Wait:
    """In a frame list: let ``seconds`` pass on the pipeline clock before the next frame."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Upstream:
    """In a frame list: send ``frame`` upstream from below the processor instead of downstream."""

    frame: Frame


@dataclass
class ProcessorRun:
    """What left the processor: frames (lifecycle frames left out) with their pipeline-clock times."""

    downstream: list[Frame] = field(default_factory=list)
    upstream: list[Frame] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    upstream_times: list[float] = field(default_factory=list)
    all_downstream: list[Frame] = field(default_factory=list)
    state: TaskState = TaskState.NEW
    task: PipelineTask | None = None

    def of_type(self, cls: type[F], direction: FrameDirection = DOWNSTREAM) -> list[F]:
        frames = self.downstream if direction == DOWNSTREAM else self.upstream
        return [f for f in frames if isinstance(f, cls)]

    @property
    def errors(self) -> list[ErrorFrame]:
        """The errors the processor reported (``ErrorFrame`` pushed upstream)."""
        return self.of_type(ErrorFrame, UPSTREAM)


class _Collector(FrameProcessor):
    def __init__(self, run: ProcessorRun, direction: FrameDirection) -> None:
        super().__init__(name=f"collector.{direction.name.lower()}")
        self._run = run
        self._direction = direction

    async def process(self, frame: Frame, direction: FrameDirection) -> None:
        if direction == self._direction:
            self._record(frame)
        await self.push(frame, direction)

    async def _receive(self, frame: Frame, direction: FrameDirection) -> None:
        # see lifecycle frames too, without being a processor with state of its own
        if direction == self._direction:
            self._record(frame)
        await self.push(frame, direction)

    def _record(self, frame: Frame) -> None:
        if self._direction == DOWNSTREAM:
            self._run.all_downstream.append(frame)
            if not isinstance(frame, _LIFECYCLE):
                self._run.downstream.append(frame)
                self._run.times.append(now())
        else:
            self._run.upstream.append(frame)
            self._run.upstream_times.append(now())


async def run_processor(
    processor: FrameProcessor,
    frames: Sequence[Frame | Wait | Upstream],
    *,
    virtual: bool = True,
    end: bool = True,
    settle: float = 5.0,
    params: PipelineParams | None = None,
    timeout: float = 600.0,
    allow_stalls: bool = False,
) -> ProcessorRun:
    """Run ``processor`` in a session of its own, feed ``frames``, and return what left it.

    ``virtual`` runs on the virtual clock (time jumps when everything is idle). After the last input
    the session ends gracefully (``end=True``: an EndFrame drains it) or is cancelled after ``settle``
    seconds of pipeline time. ``timeout`` bounds the whole run on the pipeline clock.

    An inline processor whose ``process()`` keeps its caller waiting on a timer or I/O fails the run
    with :class:`InlineStallError` (the session is cancelled at once); ``allow_stalls=True`` only warns.
    """
    result = ProcessorRun()
    pipeline = Pipeline(
        [_Collector(result, UPSTREAM), processor, _Collector(result, DOWNSTREAM)], name="run_processor"
    )
    task = PipelineTask(pipeline, params=params, stall_is_error=not allow_stalls)
    result.task = task

    async def feed() -> None:
        for item in frames:
            if isinstance(item, Wait):
                await asyncio.sleep(item.seconds)
            elif isinstance(item, Upstream):
                await task.queue_frame(item.frame, UPSTREAM)
            else:
                await task.queue_frame(item)
        if end:
            await task.stop_when_done()
        else:
            await asyncio.sleep(settle)
            await task.cancel("run_processor finished feeding")

    async def go() -> None:
        runner = asyncio.ensure_future(task.run())
        feeder = asyncio.ensure_future(feed())
        try:
            await asyncio.wait_for(asyncio.shield(runner), timeout)
        finally:
            feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feeder
            if not runner.done():
                await task.cancel("run_processor timed out")
                await runner

    if virtual:
        with virtual_time():
            await go()
    else:
        await go()
    result.state = task.state
    if task.stalls and not allow_stalls:
        raise InlineStallError(task.stalls[0])
    return result
