"""pipecat-ai 1.14's side of the benchmark: the same processors, written the way Pipecat wants them.

Two configurations of :class:`PipelineWorker`:

* ``bare``: no RTVI processor, no turn-tracking observer, no idle timeout (so no RTVI observer and no
  idle-frame observer either). This is the fair comparison of the two runtimes.
* ``default``: the worker as a user gets it with no arguments: an RTVI processor in front of the pipeline
  and three observers watching every push.
* ``direct``: ``bare``, with every passthrough in Pipecat's direct mode (``enable_direct_mode=True``: no
  queues or tasks of its own), the like-for-like match of voiceframe's inline processors.

``observer=True`` adds one no-op observer to the worker.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from pipecat.frames.frames import Frame, InputAudioRawFrame, InterruptionFrame, OutputAudioRawFrame
from pipecat.observers.base_observer import BaseObserver, FramePushed
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.workers.runner import WorkerRunner
from workloads import AUDIO_BYTES, PLAY_SECONDS, SAMPLE_RATE, FrameKind, Hooks, TailKind

Config = Literal["bare", "default", "direct"]
_AUDIO = (InputAudioRawFrame, OutputAudioRawFrame)
_SILENCE = b"\x00" * AUDIO_BYTES


class NoOpObserver(BaseObserver):
    """Watches every push and does nothing: the cost of observing itself."""

    async def on_push_frame(self, data: FramePushed) -> None:
        return None


class Passthrough(FrameProcessor):
    """The trivial processor: lets the base class do its bookkeeping, then pushes the frame on."""

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)


class RecordingPassthrough(FrameProcessor):
    """Notes when it handled an interruption: right after the base class has reset its queue and task."""

    def __init__(self, index: int, hooks: Hooks) -> None:
        super().__init__()
        self._index = index
        self._hooks = hooks

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InterruptionFrame):
            self._hooks.interruption(self._index)
        elif isinstance(frame, OutputAudioRawFrame):
            self._hooks.forward(self._index)
        await self.push_frame(frame, direction)

    async def broadcast_interruption(self) -> None:
        # the broadcaster never receives its own InterruptionFrame: it has handled it when it sends it
        self._hooks.interruption(self._index)
        await super().broadcast_interruption()


class Recorder(FrameProcessor):
    def __init__(self, hooks: Hooks) -> None:
        super().__init__()
        self._hooks = hooks

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, _AUDIO):
            self._hooks.arrived(frame)
        await self.push_frame(frame, direction)


class Player(FrameProcessor):
    """Output-like tail: data frames run in the processor's process task, which an interruption cancels."""

    def __init__(self, index: int, hooks: Hooks) -> None:
        super().__init__()
        self._index = index
        self._hooks = hooks

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InterruptionFrame):
            self._hooks.interruption(self._index)
        elif isinstance(frame, OutputAudioRawFrame):
            self._hooks.play()
            await asyncio.sleep(PLAY_SECONDS)
        await self.push_frame(frame, direction)


def make_worker(pipeline: Pipeline, config: Config, observer: bool = False) -> PipelineWorker:
    observers: list[BaseObserver] = [NoOpObserver()] if observer else []
    if config == "default":
        return PipelineWorker(pipeline, params=PipelineParams(), observers=observers)
    return PipelineWorker(
        pipeline,
        params=PipelineParams(),
        observers=observers,
        enable_rtvi=False,
        enable_turn_tracking=False,
        idle_timeout_secs=None,
    )


class PipecatSession:
    def __init__(self, worker: PipelineWorker, first: FrameProcessor, hooks: Hooks) -> None:
        self.worker = worker
        self.first = first
        self.hooks = hooks
        self.runner_task: asyncio.Task[Any] | None = None
        self.finished = asyncio.Event()

    async def start(self, shared: WorkerRunner | None) -> None:
        started = asyncio.Event()

        async def on_started(_worker: PipelineWorker, _frame: Frame) -> None:
            started.set()

        async def on_finished(_worker: PipelineWorker, _frame: Frame) -> None:
            self.finished.set()

        self.worker.add_event_handler("on_pipeline_started", on_started)
        self.worker.add_event_handler("on_pipeline_finished", on_finished)
        if shared is not None:
            await shared.add_workers(self.worker)
        else:
            # one runner per session, as every Pipecat bot example does per connection
            runner = WorkerRunner(handle_sigint=False)
            await runner.add_workers(self.worker)
            self.runner_task = asyncio.ensure_future(runner.run())
        await asyncio.wait_for(started.wait(), 10)

    async def queue(self, frame: Any) -> None:
        await self.worker.queue_frame(frame)

    async def interrupt_from_task(self) -> None:
        await self.worker.queue_frame(InterruptionFrame())

    async def broadcast_from_first(self) -> None:
        await self.first.broadcast_interruption()

    async def close(self) -> None:
        await self.worker.cancel(reason="benchmark done")
        if self.runner_task is not None:
            await self.runner_task
        else:
            await asyncio.wait_for(self.finished.wait(), 10)


class PipecatSide:
    def __init__(self, config: Config, *, shared_runner: bool = False, observer: bool = False) -> None:
        self.config = config
        self.observer = observer
        self.name = f"pipecat_{config}" + ("_observer" if observer else "")
        self.shared_runner = shared_runner
        self._runner: WorkerRunner | None = None
        self._runner_task: asyncio.Task[None] | None = None

    def make_frame(self, kind: FrameKind) -> Any:
        cls = InputAudioRawFrame if kind == "input" else OutputAudioRawFrame
        return cls(audio=_SILENCE, sample_rate=SAMPLE_RATE, num_channels=1)

    async def _shared(self) -> WorkerRunner:
        if self._runner is None:
            self._runner = WorkerRunner(handle_sigint=False)
            self._runner_task = asyncio.ensure_future(self._runner.run(auto_end=False))
            await asyncio.sleep(0.01)  # let run() set itself up so add_workers starts workers at once
        return self._runner

    async def open(
        self, n: int, tail: TailKind, hooks: Hooks, *, record_interruptions: bool
    ) -> PipecatSession:
        direct = self.config == "direct"
        processors: list[FrameProcessor] = [
            RecordingPassthrough(i, hooks) if record_interruptions else Passthrough(enable_direct_mode=direct)
            for i in range(n)
        ]
        processors.append(Recorder(hooks) if tail == "recorder" else Player(n, hooks))
        worker = make_worker(Pipeline(processors), self.config, self.observer)
        session = PipecatSession(worker, processors[0], hooks)
        await session.start(await self._shared() if self.shared_runner else None)
        return session

    def import_targets(self) -> list[str]:
        return ["pipecat.pipeline.pipeline", "pipecat.pipeline.worker", "pipecat.workers.runner"]
