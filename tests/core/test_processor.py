"""Processor runtime: order, system frames overtaking, interruptions, epochs, errors."""

from __future__ import annotations

import asyncio

import pytest

from tests.core.helpers import FakeRecorder, FakeSlowService
from voiceframe.frames import (
    Frame,
    FunctionCallResultFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
    TextFrame,
    UserStartedSpeakingFrame,
)
from voiceframe.pipeline import Pipeline
from voiceframe.processor import DOWNSTREAM, UPSTREAM, FrameDirection, FrameProcessor, QueuedFrameProcessor
from voiceframe.testing import Wait, run_processor
from voiceframe.testing.run import Upstream


def texts(frames: list[Frame]) -> list[str]:
    return [f.text for f in frames if isinstance(f, TextFrame)]


async def test_order_is_kept_in_each_direction_through_inline_and_queued_processors() -> None:
    first, last = FakeRecorder("first"), FakeRecorder("last")
    down = [TextFrame(text=f"d{i}") for i in range(50)]
    up = [Upstream(TextFrame(text=f"u{i}")) for i in range(50)]
    interleaved: list[Frame | Upstream] = [x for pair in zip(down, up, strict=True) for x in pair]
    result = await run_processor(Pipeline([first, FakeSlowService(delay=0.01), last]), interleaved)
    assert texts(result.downstream) == [f"d{i}" for i in range(50)]
    assert texts(result.upstream) == [f"u{i}" for i in range(50)]
    assert first.texts(DOWNSTREAM) == [f"d{i}" for i in range(50)]
    assert last.texts(UPSTREAM) == [f"u{i}" for i in range(50)]


async def test_system_frame_overtakes_queued_data() -> None:
    slow = FakeSlowService(delay=1.0)
    result = await run_processor(
        Pipeline([slow]),
        [
            TextFrame(text="a"),
            TextFrame(text="b"),
            TextFrame(text="c"),
            Wait(0.1),
            UserStartedSpeakingFrame(),
        ],
    )
    kinds = [type(f).__name__ if not isinstance(f, TextFrame) else f.text for f in result.downstream]
    assert kinds == ["UserStartedSpeakingFrame", "a", "b", "c"]
    # the system frame left at once, the texts one second apart as the 'I/O' finished
    assert result.times == pytest.approx([0.1, 1.0, 2.0, 3.0])


async def test_interruption_cancels_in_flight_work_drops_queued_and_keeps_uninterruptible() -> None:
    slow = FakeSlowService(delay=1.0)
    after = FakeRecorder("after")
    result_frame = FunctionCallResultFrame(tool_call_id="call-1", result={"ok": True})
    result = await run_processor(
        Pipeline([slow, after]),
        [
            TextFrame(text="a"),
            TextFrame(text="b"),
            result_frame,
            TextFrame(text="c"),
            Wait(0.5),
            InterruptionFrame(),
            Wait(0.2),
            TextFrame(text="after-interruption"),
        ],
    )
    assert slow.started == ["a", "after-interruption"]
    assert slow.cancelled == ["a"]  # in-flight request cancelled
    assert slow.finished == ["after-interruption"]  # b and c were dropped from the queue
    assert slow.interruptions == 1 and len(after.interruptions) == 1
    out = [f for f in result.downstream if not isinstance(f, InterruptionFrame)]
    assert out[0] is result_frame  # uninterruptible frame survived, in order
    assert texts(out) == ["after-interruption"]
    interruption_time = result.times[
        [isinstance(f, InterruptionFrame) for f in result.downstream].index(True)
    ]
    assert interruption_time == pytest.approx(0.5)  # reached the end at once, not after 'a'


async def test_frames_of_an_older_epoch_are_dropped_everywhere() -> None:
    recorders = [FakeRecorder(f"r{i}") for i in range(4)]

    class FakeLateEmitter(FrameProcessor):
        """Pushes a frame it made before the interruption, after the interruption (the race)."""

        stale: TextFrame | None = None

        async def process(self, frame: Frame, direction: FrameDirection) -> None:
            if isinstance(frame, TextFrame) and frame.text == "make":
                self.stale = TextFrame(text="stale-from-inside")
                self.stale.epoch = self.epoch
                return
            if isinstance(frame, TextFrame) and frame.text == "emit" and self.stale is not None:
                await self.push(self.stale)
                await self.push(TextFrame(text="fresh-from-inside"))
                return
            await self.push(frame, direction)

    emitter = FakeLateEmitter()
    stale_outside = TextFrame(text="stale-from-outside")
    stale_outside.epoch = 0
    stale_but_uninterruptible = TextFrame(text="kept", interruptible=False)
    stale_but_uninterruptible.epoch = 0
    result = await run_processor(
        Pipeline([recorders[0], recorders[1], emitter, recorders[2], recorders[3]]),
        [
            TextFrame(text="make"),
            Wait(0.01),  # system frames overtake frames still waiting in the task's inbox
            InterruptionFrame(),
            stale_outside,
            stale_but_uninterruptible,
            TextFrame(text="emit"),
        ],
    )
    assert texts(result.downstream) == ["kept", "fresh-from-inside"]
    assert recorders[0].texts() == ["make", "kept", "emit"]  # stale-from-outside dropped by the task
    assert recorders[2].texts() == ["kept", "fresh-from-inside"]  # stale-from-inside dropped at the next hop
    assert result.task is not None and result.task.dropped_stale == 1
    assert recorders[0].dropped_stale == 0 and recorders[2].dropped_stale == 1
    assert all(r.epoch == 1 for r in recorders)


async def test_stale_frames_already_queued_behind_an_uninterruptible_one_are_dropped_on_dequeue() -> None:
    class FakeFilterProcessor(QueuedFrameProcessor):
        async def process(self, frame: Frame, direction: FrameDirection) -> None:
            await asyncio.sleep(0.1)
            await self.push(frame, direction)

    q = FakeFilterProcessor()
    old = TextFrame(text="old")
    result = await run_processor(Pipeline([q]), [old, Wait(0.05), InterruptionFrame(), TextFrame(text="new")])
    assert texts(result.downstream) == ["new"]


async def test_broadcast_interruption_reaches_both_directions_and_opens_a_new_epoch() -> None:
    class FakeBargeIn(FrameProcessor):
        async def process(self, frame: Frame, direction: FrameDirection) -> None:
            if isinstance(frame, TextFrame) and frame.text == "barge":
                await self.broadcast_interruption()
                return
            await self.push(frame, direction)

    up, down = FakeRecorder("up"), FakeRecorder("down")
    result = await run_processor(Pipeline([up, FakeBargeIn(), down]), [TextFrame(text="barge")])
    assert len(up.interruptions) == 1 and len(down.interruptions) == 1
    assert up.epoch == down.epoch == 1
    assert any(isinstance(f, InterruptionFrame) for f in result.upstream)
    assert any(isinstance(f, InterruptionFrame) for f in result.downstream)


async def test_exception_in_process_becomes_an_error_frame_upstream() -> None:
    class FakeBroken(FrameProcessor):
        async def process(self, frame: Frame, direction: FrameDirection) -> None:
            if isinstance(frame, TextFrame) and frame.text == "boom":
                raise RuntimeError("kaput")
            await self.push(frame, direction)

    result = await run_processor(
        Pipeline([FakeBroken(name="broken")]), [TextFrame(text="boom"), TextFrame(text="fine")]
    )
    errors = result.errors
    assert len(errors) == 1
    assert "broken failed on TextFrame: RuntimeError: kaput" in errors[0].error
    assert isinstance(errors[0].exception, RuntimeError)
    assert texts(result.downstream) == ["fine"]  # the session went on (default policy: continue)


async def test_pushing_something_that_is_not_a_frame_is_a_clear_type_error() -> None:
    class FakeWrong(FrameProcessor):
        async def process(self, frame: Frame, direction: FrameDirection) -> None:
            await self.push("hello")  # type: ignore[arg-type]

    result = await run_processor(Pipeline([FakeWrong(name="wrong")]), [TextFrame(text="x")])
    [error] = result.errors
    assert "wrong.push() got str, which is not a Frame" in error.error


def test_linking_a_processor_into_two_pipelines_is_an_error() -> None:
    shared = FrameProcessor(name="shared")
    Pipeline([shared], name="one")
    with pytest.raises(ValueError, match="shared is already linked into one"):
        Pipeline([shared], name="two")
    p = FrameProcessor(name="twice")
    with pytest.raises(ValueError, match="appears twice"):
        Pipeline([p, p])
    with pytest.raises(TypeError, match="must be FrameProcessor instances"):
        Pipeline([object()])  # type: ignore[list-item]


async def test_output_audio_is_stamped_with_the_pushing_processors_epoch() -> None:
    class FakeAudioSource(FrameProcessor):
        async def process(self, frame: Frame, direction: FrameDirection) -> None:
            await self.push(frame, direction)
            if isinstance(frame, TextFrame):
                await self.push(OutputAudioRawFrame(audio=b"\x00\x00" * 160, sample_rate=16000))

    result = await run_processor(
        Pipeline([FakeAudioSource()]),
        [TextFrame(text="a"), Wait(0.01), InterruptionFrame(), TextFrame(text="b")],
    )
    epochs = [f.epoch for f in result.of_type(OutputAudioRawFrame)]
    assert epochs == [0, 1]
