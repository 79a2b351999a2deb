"""Property: whatever the interleaving, no frame queued before an interruption leaves after it.

Random pipelines of inline and queued processors (some slow, some making new frames from what they get,
some in parallel branches) are fed random interleavings of frames, interruptions and waits on the
virtual clock. A frame reaching the end of the pipeline must not predate an interruption delivered
before it got there; a frame made inside the pipeline inherits the age of the frame it was made from.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voiceframe.clock import virtual_time
from voiceframe.frames import Frame, InterruptionFrame, OutputAudioRawFrame, TextFrame
from voiceframe.pipeline import ParallelPipeline, Pipeline
from voiceframe.processor import FrameDirection, FrameProcessor, QueuedFrameProcessor
from voiceframe.task import PipelineTask


@dataclass
class Ledger:
    """How many interruptions had been delivered when each frame was queued (or its parent was)."""

    interruptions: int = 0
    origin: dict[int, int] | None = None

    def __post_init__(self) -> None:
        self.origin = {}

    def note(self, frame: Frame, parent: Frame | None = None) -> None:
        assert self.origin is not None
        self.origin[frame.id] = self.origin[parent.id] if parent is not None else self.interruptions


async def _step(p: FrameProcessor, ledger: Ledger, delay: float, makes: bool, frame: Frame) -> None:
    """Optionally await ``delay``, optionally make a new frame from a text, then push."""
    if delay and isinstance(frame, (TextFrame, OutputAudioRawFrame)):
        await asyncio.sleep(delay)
    if makes and isinstance(frame, TextFrame):
        made = TextFrame(text=frame.text + "'")
        ledger.note(made, parent=frame)
        frame = made
    await p.push(frame)


class FakeStep(FrameProcessor):
    """Inline (a slow one is the misuse the stall watch reports; it must still keep epochs)."""

    def __init__(self, ledger: Ledger, delay: float, makes: bool) -> None:
        super().__init__()
        self.ledger, self.delay, self.makes = ledger, delay, makes

    async def process(self, frame: Frame, direction: FrameDirection) -> None:
        if direction == FrameDirection.UPSTREAM:
            await self.push(frame, direction)
        else:
            await _step(self, self.ledger, self.delay, self.makes, frame)


class FakeQueuedStep(QueuedFrameProcessor):
    """The same step with a task and queue of its own."""

    def __init__(self, ledger: Ledger, delay: float, makes: bool) -> None:
        super().__init__()
        self.ledger, self.delay, self.makes = ledger, delay, makes

    process = FakeStep.process


steps = st.lists(
    st.tuples(
        st.sampled_from(["inline", "queued", "parallel"]),
        st.sampled_from([0.0, 0.0, 0.003, 0.01, 0.05]),
        st.booleans(),
    ),
    min_size=1,
    max_size=6,
)
actions = st.lists(
    st.one_of(
        st.tuples(st.just("frames"), st.integers(1, 12), st.booleans()),
        st.tuples(st.just("interrupt"), st.just(0), st.just(False)),
        st.tuples(st.just("wait"), st.integers(1, 60), st.just(False)),
    ),
    min_size=1,
    max_size=14,
)


def build(ledger: Ledger, spec: list[tuple[str, float, bool]]) -> list[FrameProcessor]:
    out: list[FrameProcessor] = []
    for kind, delay, makes in spec:
        if kind == "inline":
            out.append(FakeStep(ledger, delay, makes))
        elif kind == "queued":
            out.append(FakeQueuedStep(ledger, delay, makes))
        else:
            out.append(
                ParallelPipeline([FakeStep(ledger, delay, makes)], [FakeQueuedStep(ledger, delay, False)])
            )
    return out


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(spec=steps, script=actions)
async def test_no_frame_from_before_an_interruption_leaves_after_it(
    spec: list[tuple[str, float, bool]], script: list[tuple[str, int, bool]]
) -> None:
    ledger = Ledger()
    task = PipelineTask(Pipeline(build(ledger, spec)), stall_threshold=None)
    late: list[tuple[Frame, int, int]] = []
    arrived = 0

    @task.event_handler("frame_reached_end")
    def _(task: PipelineTask, frame: Frame) -> None:
        nonlocal arrived
        if isinstance(frame, (TextFrame, OutputAudioRawFrame)) and frame.interruptible:
            arrived += 1
            assert ledger.origin is not None
            origin = ledger.origin.get(frame.id)
            assert origin is not None, f"{frame} was not made from a queued frame"
            if origin < ledger.interruptions:
                late.append((frame, origin, ledger.interruptions))

    with virtual_time():
        runner = asyncio.ensure_future(task.run())
        n = 0
        for action, amount, audio in script:
            if action == "frames":
                for _ in range(amount):
                    n += 1
                    f: Frame = (
                        OutputAudioRawFrame(audio=b"\x00\x00" * 160, sample_rate=8000)
                        if audio
                        else TextFrame(text=str(n))
                    )
                    ledger.note(f)
                    await task.queue_frame(f)
            elif action == "interrupt":
                await task.queue_frame(InterruptionFrame())
                ledger.interruptions += 1
            else:
                await asyncio.sleep(amount / 1000)
        await task.stop_when_done()
        await asyncio.wait_for(runner, 600)
    assert late == []
    assert not task.errors
