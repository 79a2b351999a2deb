"""Pipelines and parallel pipelines."""

from __future__ import annotations

import gc

import pytest

from tests.core.helpers import FakeRecorder, FakeSlowService
from voiceframe.frames import CancelFrame, EndFrame, Frame, StartFrame, TextFrame
from voiceframe.pipeline import ParallelPipeline, Pipeline
from voiceframe.processor import DOWNSTREAM, UPSTREAM, FrameDirection, FrameProcessor
from voiceframe.testing import Wait, run_processor
from voiceframe.testing.run import Upstream


def texts(frames: list[Frame]) -> list[str]:
    return [f.text for f in frames if isinstance(f, TextFrame)]


class FakeEcho(FrameProcessor):
    """Passes every frame on and creates one extra text per input text."""

    def __init__(self, tag: str) -> None:
        super().__init__(name=f"echo-{tag}")
        self.tag = tag

    async def process(self, frame: Frame, direction: FrameDirection) -> None:
        await self.push(frame, direction)
        if isinstance(frame, TextFrame) and not frame.text.startswith("echo"):
            await self.push(TextFrame(text=f"echo-{self.tag}:{frame.text}"), direction)


class FakeSwallow(FrameProcessor):
    """Consumes every text frame."""

    async def process(self, frame: Frame, direction: FrameDirection) -> None:
        if not isinstance(frame, TextFrame):
            await self.push(frame, direction)


async def test_nested_pipelines_keep_order_and_add_no_hop() -> None:
    a, b, c, d = (FakeRecorder(x) for x in "abcd")
    inner = Pipeline([b, Pipeline([c])])
    outer = Pipeline([a, inner, d])
    assert a._next is b and b._next is c and c._next is d and d._prev is c
    assert [p.name for p in outer.flatten()] == ["a", "b", "c", "d"]
    result = await run_processor(
        outer, [TextFrame(text="1"), Upstream(TextFrame(text="u")), TextFrame(text="2")]
    )
    assert texts(result.downstream) == ["1", "2"]
    assert texts(result.upstream) == ["u"]
    assert c.texts(DOWNSTREAM) == ["1", "2"] and c.texts(UPSTREAM) == ["u"]


async def test_parallel_fans_out_and_pass_through_frames_leave_once() -> None:
    left, right = FakeRecorder("left"), FakeRecorder("right")
    after = FakeRecorder("after")
    pp = ParallelPipeline([left], [FakeSlowService(delay=0.5), right])
    result = await run_processor(Pipeline([pp, after]), [TextFrame(text="x"), TextFrame(text="y")])
    assert left.texts() == ["x", "y"] and right.texts() == ["x", "y"]  # fan-out
    assert texts(result.downstream) == ["x", "y"]  # fan-in, each once
    assert after.texts() == ["x", "y"]


async def test_parallel_frames_created_in_branches_all_leave() -> None:
    pp = ParallelPipeline([FakeEcho("a")], [FakeEcho("b")], [FakeSwallow()])
    result = await run_processor(Pipeline([pp]), [TextFrame(text="x")])
    assert sorted(texts(result.downstream)) == ["echo-a:x", "echo-b:x", "x"]


async def test_parallel_upstream_frames_fan_out_and_leave_once() -> None:
    left, right = FakeRecorder("left"), FakeRecorder("right")
    pp = ParallelPipeline([left], [right])
    result = await run_processor(Pipeline([pp]), [Upstream(TextFrame(text="up"))])
    assert left.texts(UPSTREAM) == ["up"] and right.texts(UPSTREAM) == ["up"]
    assert texts(result.upstream) == ["up"]


async def test_parallel_end_leaves_only_after_every_branch_handled_it() -> None:
    fast, slow_rec = FakeRecorder("fast"), FakeRecorder("slow-rec")
    after = FakeRecorder("after")
    pp = ParallelPipeline([fast], [FakeSlowService(delay=2.0), slow_rec])
    result = await run_processor(Pipeline([pp, after]), [TextFrame(text="x")])
    assert fast.ended_at == pytest.approx(0.0)  # the fast branch saw the end at once
    assert slow_rec.ended_at == pytest.approx(2.0)  # the slow branch after its work
    assert after.ended_at == pytest.approx(2.0)  # the end left only then
    assert sum(isinstance(f, EndFrame) for f in result.all_downstream) == 1
    assert sum(isinstance(f, StartFrame) for f in result.all_downstream) == 1
    assert after.started_at is not None


async def test_parallel_cancel_leaves_once_after_every_branch() -> None:
    left, right = FakeRecorder("left"), FakeRecorder("right")
    pp = ParallelPipeline([left], [FakeSlowService(delay=100.0), right])
    result = await run_processor(Pipeline([pp]), [TextFrame(text="x")], end=False, settle=1.0)
    assert sum(isinstance(f, CancelFrame) for f in result.all_downstream) == 1


async def test_parallel_bookkeeping_stays_bounded_over_a_million_frames() -> None:
    """Pipecat keeps every frame id forever (its issue #5647); ours holds only frames still alive."""

    class FakeCounter(FrameProcessor):
        count = 0

        async def process(self, frame: Frame, direction: FrameDirection) -> None:
            self.count += 1

    counter = FakeCounter()
    pp = ParallelPipeline([FrameProcessor()], [FakeSwallow()], [FakeEcho("c")])
    Pipeline([pp, counter])
    biggest = 0
    gc.disable()  # refcounting alone must free the bookkeeping; no help from the cycle collector
    try:
        for i in range(1_000_000):
            await pp._receive(TextFrame(text="echo"), DOWNSTREAM)
            if i % 10_000 == 0:
                biggest = max(biggest, pp.bookkeeping_size)
    finally:
        gc.enable()
    assert counter.count == 1_000_000
    assert biggest == 0 and pp.bookkeeping_size == 0


async def test_empty_parallel_pipeline_is_rejected() -> None:
    with pytest.raises(ValueError, match="at least one branch"):
        ParallelPipeline()


async def test_wait_in_frame_list_moves_the_virtual_clock() -> None:
    result = await run_processor(FrameProcessor(), [TextFrame(text="a"), Wait(30.0), TextFrame(text="b")])
    assert result.times == pytest.approx([0.0, 30.0])
