"""Running pipelines: :class:`PipelineTask` runs one session, :class:`PipelineRunner` runs many.

Example::

    task = PipelineTask(Pipeline([stt, llm, tts, transport.output()]))
    await task.queue_frame(TTSSpeakFrame(text="Hello!"))
    await task.stop_when_done()
    await task.run()          # returns when the EndFrame has drained through every processor

A session owns every asyncio task it starts: when :meth:`PipelineTask.run` returns, none is left.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import warnings
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from voiceframe.frames import (
    ROLE_INTERRUPTION,
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    CancelFrame,
    CancelTaskFrame,
    EndFrame,
    EndTaskFrame,
    ErrorFrame,
    Frame,
    InterimTranscriptionFrame,
    InterruptionFrame,
    StartFrame,
    StopWhenDoneFrame,
    TextFrame,
    TranscriptionFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    id_fence,
    now,
)
from voiceframe.observe.observer import Observer, ObserverHub
from voiceframe.pipeline import Pipeline, flatten
from voiceframe.processor import (
    DOWNSTREAM,
    TOO_DEEP_ADVICE,
    UPSTREAM,
    FrameDirection,
    FrameProcessor,
    ProcessorContext,
    abandon,
)
from voiceframe.stall_watch import InlineStallWarning, StallWatch
from voiceframe.suspension import innermost_process

__all__ = ["ErrorPolicy", "PipelineParams", "PipelineRunner", "PipelineTask", "TaskState"]

Handler = Callable[..., Awaitable[None] | None]


class ErrorPolicy(Enum):
    """What a task does when a non-fatal ErrorFrame reaches it. Fatal errors always cancel."""

    CONTINUE = "continue"
    END = "end"
    CANCEL = "cancel"


class TaskState(Enum):
    NEW = "new"
    RUNNING = "running"
    ENDED = "ended"
    CANCELLED = "cancelled"


@dataclass(slots=True)
class PipelineParams:
    """Session-wide settings sent to every processor in the StartFrame."""

    audio_in_sample_rate: int = 16000
    audio_out_sample_rate: int = 24000
    allow_interruptions: bool = True
    enable_metrics: bool = True


DEFAULT_IDLE_FRAMES: tuple[type[Frame], ...] = (
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    TranscriptionFrame,
    InterimTranscriptionFrame,
    TextFrame,
)

_session_ids = itertools.count(1)


class _Source(FrameProcessor):
    """Top of the session: upstream frames end here and go to the task."""

    def __init__(self, task: PipelineTask) -> None:
        super().__init__(name=f"{task.name}.source")
        self._task = task

    async def _receive(self, frame: Frame, direction: FrameDirection) -> None:
        if direction == UPSTREAM:
            self._task._follow_epoch(frame)
            await self._task._upstream_arrived(frame)
        else:
            await self.push(frame, direction)


class _Sink(FrameProcessor):
    """Bottom of the session: downstream frames end here and go to the task."""

    def __init__(self, task: PipelineTask) -> None:
        super().__init__(name=f"{task.name}.sink")
        self._task = task

    async def _receive(self, frame: Frame, direction: FrameDirection) -> None:
        if direction == DOWNSTREAM:
            self._task._follow_epoch(frame)
            await self._task._downstream_arrived(frame)
        else:
            await self.push(frame, direction)


class PipelineTask:
    """Runs one pipeline as one session.

    * :meth:`queue_frame` feeds frames in (system frames are delivered at once, others in order).
    * :meth:`run` starts every processor and returns when the session is over.
    * :meth:`stop_when_done` ends gracefully: an EndFrame drains through every queue, then the task stops.
    * :meth:`cancel` stops now; it finishes within ``cancel_timeout`` even if a processor misbehaves.

    Events (``add_event_handler`` or the ``event_handler`` decorator): ``started``, ``finished``,
    ``error`` (with the ErrorFrame), ``idle_timeout``, and ``frame_reached_end`` (with each frame).
    """

    def __init__(
        self,
        pipeline: FrameProcessor,
        *,
        params: PipelineParams | None = None,
        observers: Sequence[Observer] = (),
        error_policy: ErrorPolicy = ErrorPolicy.CONTINUE,
        idle_timeout: float | None = None,
        idle_frames: tuple[type[Frame], ...] = DEFAULT_IDLE_FRAMES,
        cancel_on_idle_timeout: bool = True,
        cancel_timeout: float = 2.0,
        session_id: str | None = None,
        stall_threshold: float | None = 0.2,
        stall_is_error: bool = False,
        log_fatal_errors: bool = True,
    ) -> None:
        if not isinstance(pipeline, FrameProcessor):
            raise TypeError(f"PipelineTask needs a FrameProcessor or Pipeline, got {pipeline!r}")
        if cancel_timeout <= 0:
            raise ValueError("cancel_timeout must be positive")
        if stall_threshold is not None and stall_threshold <= 0:
            raise ValueError("stall_threshold must be positive (or None to turn the stall watch off)")
        self.session_id = session_id or f"session-{next(_session_ids)}"
        self.name = f"PipelineTask({self.session_id})"
        self.params = params or PipelineParams()
        self.error_policy = error_policy
        self.idle_timeout = idle_timeout
        self.idle_frames = idle_frames
        self.cancel_on_idle_timeout = cancel_on_idle_timeout
        self.cancel_timeout = cancel_timeout
        self.pipeline = pipeline
        self._source = _Source(self)
        self._sink = _Sink(self)
        self._root = Pipeline([self._source, pipeline, self._sink], name=f"{self.name}.root")
        self._observers = list(observers)
        self._hub = ObserverHub(self._observers) if self._observers else None
        self._handlers: dict[str, list[Handler]] = {}
        self._inbox: deque[tuple[Frame, FrameDirection]] = deque()
        self._inbox_wakeup: asyncio.Future[None] | None = None
        self._state = TaskState.NEW
        self._done: asyncio.Future[TaskState] | None = None
        self._pump: asyncio.Task[None] | None = None
        self._processors: list[FrameProcessor] = []
        self._helpers: set[asyncio.Task[Any]] = set()
        self._end_queued = False
        self._flowing = False
        self._last_activity = 0.0
        #: False for a host (a server) that reports a session's fatal error itself: one line, not two
        self.log_fatal_errors = log_fatal_errors
        self.stall_threshold = stall_threshold
        self.stall_is_error = stall_is_error
        self._stall_watch: StallWatch | None = None
        #: inline processors the stall watch found keeping their caller waiting (one message each)
        self.stalls: list[str] = []
        self.errors: list[ErrorFrame] = []
        self.leaked_tasks: list[asyncio.Task[Any]] = []

    # --------------------------------------------------------------------------------- events

    def add_event_handler(self, event: str, handler: Handler) -> None:
        """Call ``handler(task, *args)`` on ``event``; handlers may be sync or async."""
        known = {"started", "finished", "error", "idle_timeout", "frame_reached_end"}
        if event not in known:
            raise ValueError(f"unknown event {event!r}; known events: {', '.join(sorted(known))}")
        self._handlers.setdefault(event, []).append(handler)

    def event_handler(self, event: str) -> Callable[[Handler], Handler]:
        """Decorator form of :meth:`add_event_handler`."""

        def register(handler: Handler) -> Handler:
            self.add_event_handler(event, handler)
            return handler

        return register

    async def _emit(self, event: str, *args: Any) -> None:
        for handler in self._handlers.get(event, ()):
            try:
                result = handler(self, *args)
                if result is not None:
                    await result
            except Exception:
                from voiceframe.log import logger

                logger.exception("{} handler for {!r} failed", self.name, event)

    # ---------------------------------------------------------------------------------- input

    @property
    def state(self) -> TaskState:
        return self._state

    @property
    def dropped_stale(self) -> int:
        """Frames dropped before entering the pipeline: queued, then overtaken by an interruption."""
        return self._source.dropped_stale

    @property
    def has_finished(self) -> bool:
        return self._state in (TaskState.ENDED, TaskState.CANCELLED)

    async def queue_frame(self, frame: Frame, direction: FrameDirection = DOWNSTREAM) -> None:
        """Feed a frame into the pipeline (downstream from the top, or upstream from the bottom).

        System frames are delivered at once, ahead of queued frames; others in order.
        """
        if not isinstance(frame, Frame):
            raise TypeError(f"queue_frame() needs a Frame, got {type(frame).__name__}")
        if self.has_finished:
            raise RuntimeError(f"{self.name} has finished; frames can no longer be queued")
        if isinstance(frame, CancelFrame):
            await self.cancel(frame.reason)
            return
        if frame.is_system and self._flowing:
            await self._deliver(frame, direction)
            return
        if frame.epoch < 0:
            # it enters the session now: an interruption that overtakes it makes it stale
            frame.epoch = self._source._epoch
        if isinstance(frame, EndFrame):
            self._end_queued = True
        self._inbox.append((frame, direction))
        w = self._inbox_wakeup
        if w is not None and not w.done():
            w.set_result(None)

    async def queue_frames(self, frames: Iterable[Frame], direction: FrameDirection = DOWNSTREAM) -> None:
        for f in frames:
            await self.queue_frame(f, direction)

    async def stop_when_done(self) -> None:
        """End gracefully once everything queued so far has been processed."""
        if not self._end_queued and not self.has_finished:
            await self.queue_frame(EndFrame())

    def _follow_epoch(self, frame: Frame) -> None:
        # frames fed in later must carry the newest epoch, or processors would drop them as stale
        if frame.role == ROLE_INTERRUPTION and frame.epoch > self._source._epoch:
            assert isinstance(frame, InterruptionFrame)
            self._source._follow_interruption(frame)
            self._sink._follow_interruption(frame)
            self._interrupt_inline(frame.epoch)

    def _watched_tasks(self) -> list[asyncio.Task[Any]]:
        tasks: list[asyncio.Task[Any]] = []
        if self._pump is not None:
            tasks.append(self._pump)
        for p in self._processors:
            tasks.extend(p.owned_tasks())
        return tasks

    def _on_stall(self, processor: FrameProcessor, message: str) -> None:
        from voiceframe.log import logger

        self.stalls.append(message)
        if self.stall_is_error:
            error = ErrorFrame(error=message, fatal=True, processor=processor.name)
            self._spawn(self._handle_error(error))
        else:
            logger.bind(session_id=self.session_id).warning("{}: {}", self.name, message)
            warnings.warn(message, InlineStallWarning, stacklevel=1)

    def _interrupt_inline(self, epoch: int) -> None:
        """Abandon every inline ``process()`` call that holds a frame of an older epoch.

        A queued processor's worker is cancelled by the interruption itself; an inline processor that
        awaits in ``process()`` holds its caller (the pump, a transport's reader) instead. Its call is
        cancelled and the caller goes on with the next frame, so the stale frame is not played.
        """
        tasks: list[asyncio.Task[Any]] = []
        if self._pump is not None:
            tasks.append(self._pump)
        for p in self._processors:
            if p._tasks:  # most processors own no task: skip the call
                tasks.extend(p.owned_tasks(workers=False))
        for t in tasks:
            found = innermost_process(t)
            if found is None:
                continue
            frame = found.frame
            if frame.interruptible and not frame.is_system and 0 <= frame.epoch < epoch:
                abandon(t, frame)

    async def _deliver(self, frame: Frame, direction: FrameDirection) -> None:
        if frame.role == ROLE_INTERRUPTION:
            assert isinstance(frame, InterruptionFrame)
            if frame.epoch < 0:
                frame.epoch = self._source._epoch + 1
                frame.fence = id_fence()
            self._follow_epoch(frame)
        if direction == DOWNSTREAM:
            await self._source.push(frame, DOWNSTREAM)
        else:
            await self._sink.push(frame, UPSTREAM)

    # ------------------------------------------------------------------------------------ run

    async def run(self) -> TaskState:
        """Run the session until it ends or is cancelled; returns how it finished.

        Every log line of the session (its processors' and observers' tasks included) carries
        ``session_id`` in loguru's ``extra``.
        """
        from voiceframe.log import logger

        # contextualize, not bind: tasks started inside inherit the context variable
        with logger.contextualize(session_id=self.session_id):
            return await self._run()

    async def _run(self) -> TaskState:
        if self._state is not TaskState.NEW:
            raise RuntimeError(
                f"{self.name} has already run; a PipelineTask runs one session: create a new task "
                "(and new processors) for the next one"
            )
        self._state = TaskState.RUNNING
        loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        context = ProcessorContext(session_id=self.session_id, hub=self._hub, report_error=self._handle_error)
        await self._root.setup(context)
        if self._hub is not None:
            self._hub.start()
        self._last_activity = now()
        self._processors = [self._root, *flatten([self.pipeline])]
        self._pump = loop.create_task(self._run_pump(), name=f"{self.name}:pump")
        if self.idle_timeout is not None:
            self._spawn(self._watch_idle(self.idle_timeout))
        if self.stall_threshold is not None:
            self._stall_watch = StallWatch(
                self._watched_tasks, self._on_stall, threshold=self.stall_threshold
            )
            self._stall_watch.start()
        try:
            await asyncio.shield(self._done)
        except asyncio.CancelledError:
            # whoever awaited run() was cancelled: the session goes down with it, within the timeout
            await asyncio.shield(self.cancel("run() was cancelled"))
            raise
        await self._emit("finished")
        return self._state

    async def _run_pump(self) -> None:
        try:
            await self._pump_frames()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # a bug that escaped every processor's guard must end the session, not hang run()
            message = f"{self.name}: the pipeline failed: {type(exc).__name__}: {exc}"
            if isinstance(exc, RecursionError):
                message += "; " + TOO_DEEP_ADVICE
            error = ErrorFrame(error=message, fatal=True, processor=self.name, exception=exc)
            await self._handle_error(error)

    async def _pump_frames(self) -> None:
        p = self.params
        start = StartFrame(
            audio_in_sample_rate=p.audio_in_sample_rate,
            audio_out_sample_rate=p.audio_out_sample_rate,
            allow_interruptions=p.allow_interruptions,
            enable_metrics=p.enable_metrics,
        )
        await self._source.push(start, DOWNSTREAM)
        # only now may system frames skip the inbox: before, they would reach processors not yet started
        self._flowing = True
        await self._emit("started")
        inbox = self._inbox
        source = self._source
        loop = asyncio.get_running_loop()
        while True:
            if not inbox:
                self._inbox_wakeup = loop.create_future()
                await self._inbox_wakeup
                self._inbox_wakeup = None
                continue
            frame, direction = inbox.popleft()
            if frame.interruptible and frame.epoch < source._epoch:
                source.dropped_stale += 1  # queued before an interruption that overtook it
                continue
            await self._deliver(frame, direction)
            if isinstance(frame, EndFrame):
                break
        # anything queued after the EndFrame cannot be processed any more
        if inbox:
            from voiceframe.log import logger

            logger.warning("{}: {} frame(s) queued after the EndFrame were dropped", self.name, len(inbox))
            inbox.clear()

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._helpers.add(task)
        task.add_done_callback(self._helpers.discard)

    async def _watch_idle(self, timeout: float) -> None:
        while not self.has_finished:
            deadline = self._last_activity + timeout
            delay = deadline - now()
            if delay > 0:
                await asyncio.sleep(delay)
                continue
            await self._emit("idle_timeout")
            if self.cancel_on_idle_timeout:
                self._spawn(self.cancel("idle timeout"))
            else:
                await self.stop_when_done()
            return

    # ---------------------------------------------------------------------- arrivals at the ends

    def _note_activity(self, frame: Frame) -> None:
        if isinstance(frame, self.idle_frames):
            self._last_activity = now()

    async def _downstream_arrived(self, frame: Frame) -> None:
        self._note_activity(frame)
        if "frame_reached_end" in self._handlers:
            await self._emit("frame_reached_end", frame)
        if isinstance(frame, EndFrame):
            self._spawn(self._finish(TaskState.ENDED))
        elif isinstance(frame, StopWhenDoneFrame):
            await self.stop_when_done()
        elif isinstance(frame, ErrorFrame):
            await self._handle_error(frame)

    async def _upstream_arrived(self, frame: Frame) -> None:
        self._note_activity(frame)
        if isinstance(frame, ErrorFrame):
            await self._handle_error(frame)
        elif isinstance(frame, EndTaskFrame):
            await self.stop_when_done()
        elif isinstance(frame, CancelTaskFrame):
            self._spawn(self.cancel(frame.reason))

    async def _handle_error(self, frame: ErrorFrame) -> None:
        from voiceframe.log import logger

        self.errors.append(frame)
        level = "WARNING" if self.log_fatal_errors or not frame.fatal else "DEBUG"
        logger.bind(session_id=self.session_id).log(level, "{}: {}", self.name, frame.error)
        await self._emit("error", frame)
        if frame.fatal or self.error_policy is ErrorPolicy.CANCEL:
            self._spawn(self.cancel(f"error: {frame.error}"))
        elif self.error_policy is ErrorPolicy.END:
            await self.stop_when_done()

    # --------------------------------------------------------------------------- end and cancel

    async def cancel(self, reason: str | None = None) -> None:
        """Stop the session now. Returns within ``cancel_timeout``, whatever the processors do."""
        if self._state is TaskState.NEW:
            self._state = TaskState.CANCELLED
            return
        if self.has_finished or self._done is None:
            return
        if asyncio.current_task() is self._pump:
            # called from inside the pipeline: cancelling the pump here would cancel ourselves
            self._spawn(self.cancel(reason))
            return
        self._state = TaskState.CANCELLED
        deadline = now() + self.cancel_timeout
        self._inbox.clear()
        frame = CancelFrame(reason=reason)
        try:
            await asyncio.wait_for(self._source.push(frame, DOWNSTREAM), self.cancel_timeout / 2)
        except TimeoutError:
            from voiceframe.log import logger

            logger.error("{}: a processor did not handle the CancelFrame in time", self.name)
        except Exception as exc:  # the pipeline is broken; shutting down must not depend on it
            from voiceframe.log import logger

            logger.error("{}: the CancelFrame failed: {}: {}", self.name, type(exc).__name__, exc)
        await self._shutdown(deadline)

    async def _finish(self, state: TaskState) -> None:
        if self.has_finished:
            return
        self._state = state
        await self._shutdown(now() + self.cancel_timeout)

    async def _shutdown(self, deadline: float) -> None:
        from voiceframe.log import logger

        if self._stall_watch is not None:
            self._stall_watch.stop()
        current = asyncio.current_task()
        tasks: list[asyncio.Task[Any]] = []
        if self._pump is not None and self._pump is not current and not self._pump.done():
            self._pump.cancel()
            tasks.append(self._pump)
        for p in [self._root, *flatten([self.pipeline])]:
            owned = p.owned_tasks()
            tasks.extend(owned)
            for t in owned:
                t.cancel()
        helpers = [t for t in self._helpers if t is not current and not t.done()]
        for t in helpers:
            t.cancel()
        tasks.extend(helpers)
        # keep cancelling: a task that swallows one cancellation gets another, until the deadline
        while tasks:
            remaining = deadline - now()
            if remaining <= 0:
                break
            _, pending = await asyncio.wait(tasks, timeout=min(remaining, 0.05))
            tasks = list(pending)
            for t in tasks:
                t.cancel()
        if tasks:
            self.leaked_tasks = tasks
            logger.error(
                "{}: {} task(s) ignored cancellation and are abandoned: {}",
                self.name,
                len(tasks),
                ", ".join(t.get_name() for t in tasks),
            )
        cleanup = asyncio.ensure_future(self._root.cleanup())
        _, unfinished = await asyncio.wait((cleanup,), timeout=max(deadline - now(), 0.01))
        if unfinished:
            logger.error("{}: processor cleanup did not finish in time", self.name)
            cleanup.cancel()
            await asyncio.wait((cleanup,))
        if self._hub is not None:
            await self._hub.stop(timeout=max(deadline - now(), 0.01))
        if self._done is not None and not self._done.done():
            self._done.set_result(self._state)


class PipelineRunner:
    """Runs many tasks in one process; SIGINT/SIGTERM cancel them all cleanly.

    Example::

        runner = PipelineRunner()
        await runner.run(task_a, task_b)
    """

    def __init__(self, *, handle_signals: bool = True) -> None:
        self.handle_signals = handle_signals
        self._running: dict[PipelineTask, asyncio.Task[TaskState]] = {}
        self.signalled: int | None = None
        self._cancels: set[asyncio.Future[None]] = set()

    async def add(self, task: PipelineTask) -> None:
        """Start ``task`` now (also while :meth:`run` is waiting)."""
        self._running[task] = asyncio.ensure_future(task.run())

    async def run(self, *tasks: PipelineTask) -> dict[PipelineTask, TaskState]:
        """Run ``tasks`` (and any added meanwhile) until all have finished."""
        for t in tasks:
            await self.add(t)
        loop = asyncio.get_running_loop()
        installed: list[signal.Signals] = []
        if self.handle_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    loop.add_signal_handler(sig, self._on_signal, sig)
                    installed.append(sig)
                except (NotImplementedError, RuntimeError):  # not the main thread, or no signals here
                    pass
        try:
            while True:
                pending = [f for f in self._running.values() if not f.done()]
                if not pending:
                    break
                await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)
        results: dict[PipelineTask, TaskState] = {}
        for task, fut in self._running.items():
            exc = fut.exception() if not fut.cancelled() else None
            results[task] = task.state if exc is None and not fut.cancelled() else TaskState.CANCELLED
        return results

    def _on_signal(self, sig: int) -> None:
        self.signalled = sig
        for task in self._running:
            cancelling = asyncio.ensure_future(task.cancel(f"signal {signal.Signals(sig).name}"))
            self._cancels.add(cancelling)
            cancelling.add_done_callback(self._cancels.discard)

    async def cancel(self) -> None:
        """Cancel every task."""
        await asyncio.gather(*(t.cancel("runner cancelled") for t in self._running))
