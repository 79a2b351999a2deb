"""voiceframe's side of the benchmark: processors and sessions built with the public API only."""

from __future__ import annotations

import asyncio
from typing import Any

from workloads import AUDIO_BYTES, PLAY_SECONDS, SAMPLE_RATE, FrameKind, Hooks, TailKind

from voiceframe.frames import Frame, InputAudioRawFrame, InterruptionFrame, OutputAudioRawFrame
from voiceframe.observe import Observer, PushEvent
from voiceframe.pipeline import Pipeline
from voiceframe.processor import FrameDirection, FrameProcessor, QueuedFrameProcessor
from voiceframe.task import PipelineTask

_AUDIO = (InputAudioRawFrame, OutputAudioRawFrame)
_SILENCE = b"\x00" * AUDIO_BYTES


class Passthrough(FrameProcessor):
    """The trivial processor of every workload: pushes every frame on."""

    async def process(self, frame: Frame, direction: FrameDirection) -> None:
        await self.push(frame, direction)


class QueuedPassthrough(QueuedFrameProcessor):
    """The same passthrough with a task and queue of its own (what every Pipecat processor has)."""

    async def process(self, frame: Frame, direction: FrameDirection) -> None:
        await self.push(frame, direction)


class RecordingPassthrough(FrameProcessor):
    """A passthrough that notes when it handled an interruption (the runtime's ``on_interruption`` hook)."""

    def __init__(self, index: int, hooks: Hooks) -> None:
        super().__init__()
        self._index = index
        self._hooks = hooks

    async def process(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, OutputAudioRawFrame):
            self._hooks.forward(self._index)
        await self.push(frame, direction)

    async def on_interruption(self, frame: InterruptionFrame) -> None:
        self._hooks.interruption(self._index)


class Recorder(FrameProcessor):
    """Tail of throughput/latency runs: notes each audio frame that reaches the end."""

    def __init__(self, hooks: Hooks) -> None:
        super().__init__()
        self._hooks = hooks

    async def process(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, _AUDIO):
            self._hooks.arrived(frame)
        await self.push(frame, direction)


class Player(QueuedFrameProcessor):
    """An output-like tail: writes one chunk, then waits its 20 ms of playout, like a paced transport."""

    def __init__(self, index: int, hooks: Hooks) -> None:
        super().__init__()
        self._index = index
        self._hooks = hooks

    async def process(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, OutputAudioRawFrame):
            self._hooks.play()
            await asyncio.sleep(PLAY_SECONDS)
        await self.push(frame, direction)

    async def on_interruption(self, frame: InterruptionFrame) -> None:
        self._hooks.interruption(self._index)


class VoiceframeSession:
    def __init__(self, task: PipelineTask, first: FrameProcessor, hooks: Hooks) -> None:
        self.task = task
        self.first = first
        self.hooks = hooks
        self.runner: asyncio.Task[Any] | None = None

    async def start(self) -> None:
        started = asyncio.get_running_loop().create_future()
        self.task.add_event_handler("started", lambda _task: started.set_result(None))
        self.runner = asyncio.ensure_future(self.task.run())
        await asyncio.wait_for(started, 10)

    async def queue(self, frame: Any) -> None:
        await self.task.queue_frame(frame)

    async def interrupt_from_task(self) -> None:
        # explicit epoch: at 71d7a64 an InterruptionFrame() queued into the task left every epoch unchanged
        # (f363c29 makes the task open the next epoch itself); being explicit times the same either way
        await self.task.queue_frame(InterruptionFrame(epoch=self.first.epoch + 1))

    async def broadcast_from_first(self) -> None:
        await self.first.broadcast_interruption()

    async def close(self) -> None:
        await self.task.cancel("benchmark done")
        if self.runner is not None:
            await self.runner


class NoOpObserver(Observer):
    """Watches every push and does nothing: the cost of observing itself."""

    async def on_push(self, event: PushEvent) -> None:
        return None


class VoiceframeSide:
    """``mode="inline"`` (the default: passthroughs run in their caller's task) or ``"queued"`` (each
    passthrough a QueuedFrameProcessor, like Pipecat's processors); ``observer`` adds one no-op observer."""

    def __init__(self, mode: str = "inline", *, observer: bool = False) -> None:
        self.mode = mode
        self.observer = observer
        self.name = "voiceframe" + ("_queued" if mode == "queued" else "") + ("_observer" if observer else "")

    def make_frame(self, kind: FrameKind) -> Any:
        if kind == "input":
            return InputAudioRawFrame(audio=_SILENCE, sample_rate=SAMPLE_RATE)
        return OutputAudioRawFrame(audio=_SILENCE, sample_rate=SAMPLE_RATE)

    async def open(
        self, n: int, tail: TailKind, hooks: Hooks, *, record_interruptions: bool
    ) -> VoiceframeSession:
        processors: list[FrameProcessor] = [
            RecordingPassthrough(i, hooks)
            if record_interruptions
            else (QueuedPassthrough() if self.mode == "queued" else Passthrough())
            for i in range(n)
        ]
        processors.append(Recorder(hooks) if tail == "recorder" else Player(n, hooks))
        observers = [NoOpObserver()] if self.observer else []
        task = PipelineTask(Pipeline(processors), observers=observers)
        session = VoiceframeSession(task, processors[0], hooks)
        await session.start()
        return session

    def import_targets(self) -> list[str]:
        return ["voiceframe", "voiceframe.task"]
