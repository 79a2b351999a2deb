"""Frame processors: the unit of work in a pipeline.

A :class:`FrameProcessor` runs *inline*: when a frame is pushed to it, its :meth:`~FrameProcessor.process`
runs in the pusher's task, so a hop costs about a function call. A :class:`QueuedFrameProcessor` has one
task and one queue of its own, for processors that wait on I/O or must keep working while new frames
arrive (services, transports). System frames never wait in a queue: they are handled on arrival.

Lifecycle frames (start, end, cancel, interruption) are handled by the runtime, which calls the hooks
:meth:`~FrameProcessor.on_start`, :meth:`~FrameProcessor.on_end`, :meth:`~FrameProcessor.on_cancel` and
:meth:`~FrameProcessor.on_interruption` and forwards the frame; ``process`` never sees them.

Example::

    class Upper(FrameProcessor):
        async def process(self, frame: Frame, direction: FrameDirection) -> None:
            if isinstance(frame, TextFrame):
                frame = TextFrame(text=frame.text.upper())
            await self.push(frame, direction)
"""

from __future__ import annotations

import asyncio
import itertools
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from voiceframe.frames import (
    ROLE_CANCEL,
    ROLE_END,
    ROLE_INTERRUPTION,
    ROLE_START,
    CancelFrame,
    EndFrame,
    ErrorFrame,
    Frame,
    InterruptionFrame,
    StartFrame,
    id_fence,
)

if TYPE_CHECKING:
    from voiceframe.observe.observer import ObserverHub

T = TypeVar("T")


class FrameDirection(IntEnum):
    """Downstream flows towards the output transport, upstream towards the input."""

    DOWNSTREAM = 1
    UPSTREAM = 2


DOWNSTREAM = FrameDirection.DOWNSTREAM
UPSTREAM = FrameDirection.UPSTREAM


class FrameReceiver(Protocol):
    """Anything a processor can be linked to."""

    name: str

    async def _receive(self, frame: Frame, direction: FrameDirection) -> None: ...


class ProcessorContext:
    """What a session shares with every processor in it: observers and the task that owns them."""

    __slots__ = ("hub", "report_error", "session_id")

    def __init__(
        self,
        *,
        session_id: str = "",
        hub: ObserverHub | None = None,
        report_error: Callable[[ErrorFrame], Awaitable[None]] | None = None,
    ) -> None:
        self.session_id = session_id
        self.hub = hub
        #: straight to the task, for errors that cannot travel through the pipeline
        self.report_error = report_error


_names = itertools.count(1)

#: why a chain of processors can be too deep for Python's stack, and what helps
TOO_DEEP_ADVICE = (
    "the chain of processors is too deep for Python's stack: system frames (start, interruptions, "
    "input audio, ...) pass through every processor of a pipeline "
    "in one call chain, queued processors included, so a queue between them does not help: use fewer "
    "processors in one pipeline (about 250 is the limit), or combine small steps into one processor"
)

# task -> the stale frame whose inline process() call an interruption cancelled in that task
_abandoned: weakref.WeakKeyDictionary[asyncio.Task[Any], Frame] = weakref.WeakKeyDictionary()
_ABANDON = "voiceframe: the frame this call holds was interrupted"


def abandon(task: asyncio.Task[Any], frame: Frame) -> None:
    """Cancel the inline ``process()`` call that holds ``frame`` in ``task``; ``task`` itself goes on.

    Used by the session when an interruption makes ``frame`` stale while an inline processor awaits
    with it (see :mod:`voiceframe.suspension`). The processor's call ends with CancelledError, which
    its ``_process_safely`` absorbs, so the pusher sees a normal return.
    """
    if _abandoned.get(task) is frame:
        return
    _abandoned[task] = frame
    task.cancel(_ABANDON)


def _resume_after_abandon(frame: Frame) -> bool:
    task = asyncio.current_task()
    if task is None or _abandoned.get(task) is not frame:
        return False
    del _abandoned[task]
    if task.cancelling() != 1:
        return False  # cancelled for real as well: let it go
    task.uncancel()
    return True


class FrameProcessor:
    """A processor that runs inline in its caller's task.

    Override :meth:`process` (and any lifecycle hook); call :meth:`push` to send frames on.
    """

    def __init__(self, *, name: str | None = None) -> None:
        self.name: str = name or f"{type(self).__name__}#{next(_names)}"
        self._next: FrameReceiver | None = None
        self._prev: FrameReceiver | None = None
        self._owner: object | None = None
        self._epoch = 0
        #: frames with ids up to this were made before the current epoch opened
        self._epoch_fence = 0
        self._hub: ObserverHub | None = None
        self._context: ProcessorContext | None = None
        self._tasks: set[asyncio.Task[Any]] | None = None
        self._started = False
        self._ended = False
        self._cancelled = False
        self.dropped_stale = 0

    # ------------------------------------------------------------------------------------------ API

    async def process(self, frame: Frame, direction: FrameDirection) -> None:
        """Handle one frame. The default passes it on."""
        await self.push(frame, direction)

    async def push(self, frame: Frame, direction: FrameDirection = DOWNSTREAM) -> None:
        """Send a frame to the next processor in ``direction``.

        A frame that has no epoch yet enters the session here and gets this processor's current epoch,
        or an older one if it was made before that epoch opened (an InterruptionFrame without an epoch
        opens the next epoch).
        """
        if not isinstance(frame, Frame):
            raise TypeError(
                f"{self.name}.push() got {type(frame).__name__!s}, which is not a Frame; "
                "wrap the value in a frame (e.g. TextFrame(text=...))"
            )
        if frame.epoch < 0:
            self._stamp(frame)
        target = self._next if direction == DOWNSTREAM else self._prev
        if target is None:
            return
        if self._hub is not None:
            self._hub.on_push(self, target, frame, direction)
        await target._receive(frame, direction)

    def _stamp(self, frame: Frame) -> None:
        """Give a frame entering the session here its epoch.

        A frame made before this processor's current epoch opened (its id is below the epoch's fence)
        belongs to an older epoch: it was made for a turn that has been interrupted.
        """
        if frame.role == ROLE_INTERRUPTION:
            assert isinstance(frame, InterruptionFrame)
            self._epoch += 1  # an interruption without an epoch opens the next one
            frame.epoch = self._epoch
            frame.fence = self._epoch_fence = id_fence()
        elif frame.id > self._epoch_fence:
            frame.epoch = self._epoch
        else:
            frame.epoch = self._epoch - 1

    async def push_error(
        self, error: str, *, fatal: bool = False, exception: BaseException | None = None
    ) -> None:
        """Report an error upstream (to the task, which applies its error policy)."""
        await self.push(
            ErrorFrame(error=error, fatal=fatal, processor=self.name, exception=exception), UPSTREAM
        )

    async def broadcast_interruption(self) -> InterruptionFrame:
        """Start a new epoch and send an interruption both ways (this processor handles it first)."""
        epoch = self._epoch + 1
        down = InterruptionFrame(epoch=epoch)
        up = InterruptionFrame(epoch=epoch)
        down.fence = up.fence = id_fence()
        await self._handle_interruption(down)
        await self.push(down, DOWNSTREAM)
        await self.push(up, UPSTREAM)
        return down

    @property
    def epoch(self) -> int:
        """The newest interruption epoch this processor has seen."""
        return self._epoch

    @property
    def context(self) -> ProcessorContext | None:
        return self._context

    def create_task(self, coro: Coroutine[Any, Any, T], name: str | None = None) -> asyncio.Task[T]:
        """Start a task owned by this processor: it is cancelled when the processor is cleaned up."""
        task = asyncio.get_running_loop().create_task(coro, name=name or f"{self.name}:task")
        if self._tasks is None:
            self._tasks = set()
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ------------------------------------------------------------------------------------ lifecycle

    async def setup(self, context: ProcessorContext) -> None:
        """Called once by the task before the StartFrame; binds the processor to its session."""
        self._context = context
        self._hub = context.hub

    async def cleanup(self) -> None:
        """Called once by the task after the session ended: cancels every task the processor owns."""
        if self._tasks:
            tasks = list(self._tasks)
            for t in tasks:
                t.cancel()
            # asyncio.wait, not gather: if the caller gives up on us, we stop at once
            await asyncio.wait(tasks)

    def owned_tasks(self, *, workers: bool = True) -> list[asyncio.Task[Any]]:
        """The processor's live tasks (``workers=False`` leaves out a queued processor's worker)."""
        return [t for t in (self._tasks or ()) if not t.done()]

    async def on_start(self, frame: StartFrame) -> None:
        """The session starts. Open connections here."""

    async def on_end(self, frame: EndFrame) -> None:
        """The session ends gracefully; everything before the EndFrame has been processed. Flush here."""

    async def on_cancel(self, frame: CancelFrame) -> None:
        """The session is cancelled. Stop at once."""

    async def on_interruption(self, frame: InterruptionFrame) -> None:
        """The user interrupted: cancel in-flight work (queued frames are already dropped)."""

    # ------------------------------------------------------------------------------------- runtime

    @property
    def processors(self) -> list[FrameProcessor]:
        """Processors contained in this one (none for a plain processor)."""
        return []

    def head(self) -> FrameProcessor:
        """The processor that receives frames sent into this one downstream."""
        return self

    def tail(self) -> FrameProcessor:
        """The processor that receives frames sent into this one upstream."""
        return self

    def _claim(self, owner: object) -> None:
        if self._owner is not None and self._owner is not owner:
            raise ValueError(
                f"{self.name} is already linked into {getattr(self._owner, 'name', self._owner)}; "
                "a processor can be in only one pipeline: create a new instance for the second one"
            )
        self._owner = owner

    async def _receive(self, frame: Frame, direction: FrameDirection) -> None:
        role = frame.role
        if role:
            await self._lifecycle(frame, direction, role)
        elif frame.is_system:
            await self._process_safely(frame, direction)
        elif frame.epoch < self._epoch and frame.interruptible:
            self.dropped_stale += 1
        else:
            await self._process_safely(frame, direction)

    async def _process_safely(self, frame: Frame, direction: FrameDirection) -> None:
        try:
            await self.process(frame, direction)
        except asyncio.CancelledError:
            if _abandoned and _resume_after_abandon(frame):
                return  # an interruption made the frame stale mid-call: the caller goes on
            raise
        except Exception as exc:
            await self._report_exception(exc, frame)

    async def _report_exception(self, exc: Exception, frame: Frame) -> None:
        from voiceframe.log import logger

        if isinstance(exc, RecursionError):
            # pushing the error through the same deep stack would fail again and again: report it
            # from a fresh task, once, as fatal
            if not getattr(self, "_recursion_reported", False):
                self._recursion_reported = True
                self.create_task(self._report_too_deep(exc), name=f"{self.name}:too-deep")
            return

        logger.opt(exception=exc).debug("{} failed on {}", self.name, frame)
        await self.push(
            ErrorFrame(
                error=f"{self.name} failed on {type(frame).__name__}: {type(exc).__name__}: {exc}",
                processor=self.name,
                exception=exc,
            ),
            UPSTREAM,
        )

    async def _report_too_deep(self, exc: RecursionError) -> None:
        error = ErrorFrame(
            error=f"{self.name}: {exc}; {TOO_DEEP_ADVICE}",
            fatal=True,
            processor=self.name,
            exception=exc,
        )
        if self._context is not None and self._context.report_error is not None:
            await self._context.report_error(error)  # the way upstream is as deep as the way here
        else:
            await self.push(error, UPSTREAM)

    async def _lifecycle(self, frame: Frame, direction: FrameDirection, role: int) -> None:
        if role == ROLE_INTERRUPTION:
            assert isinstance(frame, InterruptionFrame)
            await self._handle_interruption(frame)
            await self.push(frame, direction)
        elif role == ROLE_START:
            assert isinstance(frame, StartFrame)
            await self._handle_start(frame)
            await self.push(frame, direction)
        elif role == ROLE_END:
            assert isinstance(frame, EndFrame)
            await self._handle_end(frame)
            await self.push(frame, direction)
        elif role == ROLE_CANCEL:
            assert isinstance(frame, CancelFrame)
            await self._handle_cancel(frame)
            await self.push(frame, direction)

    async def _guard_hook(self, coro: Coroutine[Any, Any, None], frame: Frame) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self._report_exception(exc, frame)

    async def _handle_start(self, frame: StartFrame) -> None:
        if self._started:
            return
        self._started = True
        await self._guard_hook(self.on_start(frame), frame)

    async def _handle_end(self, frame: EndFrame) -> None:
        if self._ended:
            return
        self._ended = True
        await self._guard_hook(self.on_end(frame), frame)

    async def _handle_cancel(self, frame: CancelFrame) -> None:
        if self._cancelled:
            return
        self._cancelled = True
        await self._guard_hook(self.on_cancel(frame), frame)

    def _follow_interruption(self, frame: InterruptionFrame) -> None:
        if frame.fence < 0:
            frame.fence = frame.id  # made with an explicit epoch: it opened when it was made
        if frame.epoch > self._epoch:
            self._epoch = frame.epoch
            self._epoch_fence = frame.fence

    async def _handle_interruption(self, frame: InterruptionFrame) -> None:
        self._follow_interruption(frame)
        await self._guard_hook(self.on_interruption(frame), frame)

    def __repr__(self) -> str:
        return self.name


class QueuedFrameProcessor(FrameProcessor):
    """A processor with one task and one queue of its own.

    Data and control frames wait in the queue and are processed one at a time by the processor's task;
    system frames are handled on arrival. An interruption drops queued interruptible frames and
    cancels the frame being processed (if it is interruptible), so an LLM stream or a TTS request
    stops at once. Use it for processors that await I/O.
    """

    def __init__(self, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self._queue: deque[tuple[Frame, FrameDirection]] = deque()
        self._wakeup: asyncio.Future[None] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._current: Frame | None = None

    @property
    def queued(self) -> int:
        """Frames waiting in the queue."""
        return len(self._queue)

    async def _receive(self, frame: Frame, direction: FrameDirection) -> None:
        role = frame.role
        if frame.is_system:
            if role:
                await self._lifecycle(frame, direction, role)
            else:
                await self._process_safely(frame, direction)
        elif frame.epoch < self._epoch and frame.interruptible:
            self.dropped_stale += 1
        elif self._worker is None:
            # not started (or already stopped): process inline so nothing is lost
            if role:
                await self._lifecycle(frame, direction, role)
            else:
                await self._process_safely(frame, direction)
        else:
            self._queue.append((frame, direction))
            w = self._wakeup
            if w is not None and not w.done():
                w.set_result(None)

    async def _run(self, previous: asyncio.Task[None] | None = None) -> None:
        if previous is not None:
            # let a worker cancelled by an interruption unwind before this one goes on
            await asyncio.wait((previous,))
        queue = self._queue
        loop = asyncio.get_running_loop()
        while True:
            if not queue:
                self._wakeup = loop.create_future()
                await self._wakeup
                self._wakeup = None
                continue
            frame, direction = queue.popleft()
            if frame.epoch < self._epoch and frame.interruptible:
                self.dropped_stale += 1
                continue
            self._current = frame
            if frame.role == ROLE_END:
                assert isinstance(frame, EndFrame)
                await self._handle_end(frame)
                self._current = None
                await self.push(frame, direction)
                self._worker = None
                # frames queued behind the end are still handled in order, inline
                while queue:
                    f, d = queue.popleft()
                    await self._process_safely(f, d)
                return
            await self._process_safely(frame, direction)
            self._current = None

    async def _handle_start(self, frame: StartFrame) -> None:
        if self._started:
            return
        await super()._handle_start(frame)
        self._worker = asyncio.get_running_loop().create_task(self._run(), name=f"{self.name}:worker")

    async def _handle_cancel(self, frame: CancelFrame) -> None:
        self._queue.clear()
        if self._worker is not None:
            self._worker.cancel()
        await super()._handle_cancel(frame)

    async def _handle_interruption(self, frame: InterruptionFrame) -> None:
        self._follow_interruption(frame)
        queue = self._queue
        if queue:
            kept = [item for item in queue if not item[0].interruptible]
            queue.clear()
            queue.extend(kept)
        current = self._current
        worker = self._worker
        if worker is not None and current is not None and current.interruptible:
            self._current = None
            worker.cancel()
            self._worker = asyncio.get_running_loop().create_task(
                self._run(worker), name=f"{self.name}:worker"
            )
        await self._guard_hook(self.on_interruption(frame), frame)

    async def cleanup(self) -> None:
        worker = self._worker
        self._worker = None
        if worker is not None and not worker.done():
            worker.cancel()
            await asyncio.wait((worker,))
        await super().cleanup()

    def owned_tasks(self, *, workers: bool = True) -> list[asyncio.Task[Any]]:
        tasks = super().owned_tasks()
        if workers and self._worker is not None and not self._worker.done():
            tasks.append(self._worker)
        return tasks
