"""Observers: see every push in a session without being able to stall it.

An observer's :meth:`Observer.on_push` runs in a task of its own, fed from a bounded buffer. If an
observer falls behind, events are dropped (and counted) rather than slowing the pipeline.

Example::

    class PrintObserver(Observer):
        async def on_push(self, event: PushEvent) -> None:
            print(event.timestamp, event.source, "->", event.destination, event.frame)

    task = PipelineTask(pipeline, observers=[PrintObserver()])
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from voiceframe.frames import Frame, now

if TYPE_CHECKING:
    from voiceframe.processor import FrameDirection


@dataclass(slots=True)
class PushEvent:
    """One frame pushed from one processor to the next."""

    source: Any
    destination: Any
    frame: Frame
    direction: FrameDirection
    timestamp: float


class Observer:
    """Override :meth:`on_push`; optionally :meth:`on_session_end`."""

    #: events buffered for this observer before new ones are dropped
    max_pending: int = 10_000
    #: only pushes of these frame types reach the observer (None: every push). Declaring them keeps
    #: an observer nearly free on the audio path, where most pushes are audio frames it ignores.
    frame_types: tuple[type[Frame], ...] | None = None

    async def on_push(self, event: PushEvent) -> None:
        """Called for every push, in order, in the observer's own task."""

    async def on_session_end(self) -> None:
        """Called once after the last event of the session was delivered."""


class _Feed:
    __slots__ = ("buffer", "dropped", "observer", "task", "types", "wakeup")

    def __init__(self, observer: Observer) -> None:
        self.observer = observer
        self.types = observer.frame_types
        self.buffer: deque[PushEvent] = deque()
        self.dropped = 0
        self.wakeup: asyncio.Future[None] | None = None
        self.task: asyncio.Task[None] | None = None


class ObserverHub:
    """Delivers push events to observers, each through its own bounded buffer and task."""

    def __init__(self, observers: list[Observer]) -> None:
        self._feeds = [_Feed(o) for o in observers]
        self._closing = False

    @property
    def dropped(self) -> int:
        """Events dropped because an observer fell behind."""
        return sum(f.dropped for f in self._feeds)

    def on_push(self, source: Any, destination: Any, frame: Frame, direction: FrameDirection) -> None:
        event: PushEvent | None = None
        for feed in self._feeds:
            if feed.types is not None and not isinstance(frame, feed.types):
                continue
            if event is None:
                event = PushEvent(source, destination, frame, direction, now())
            if len(feed.buffer) >= feed.observer.max_pending:
                feed.dropped += 1
                continue
            feed.buffer.append(event)
            w = feed.wakeup
            if w is not None and not w.done():
                w.set_result(None)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        for feed in self._feeds:
            feed.task = loop.create_task(self._drain(feed), name=f"observer:{type(feed.observer).__name__}")

    async def _drain(self, feed: _Feed) -> None:
        from voiceframe.log import logger

        loop = asyncio.get_running_loop()
        while True:
            if not feed.buffer:
                if self._closing:
                    break
                feed.wakeup = loop.create_future()
                await feed.wakeup
                feed.wakeup = None
                continue
            event = feed.buffer.popleft()
            try:
                await feed.observer.on_push(event)
            except Exception:
                logger.exception("observer {} failed", type(feed.observer).__name__)
        try:
            await feed.observer.on_session_end()
        except Exception:
            logger.exception("observer {} failed at session end", type(feed.observer).__name__)

    async def stop(self, timeout: float = 1.0) -> None:
        """Deliver what is buffered (within ``timeout``), then stop every observer task."""
        self._closing = True
        tasks = [f.task for f in self._feeds if f.task is not None]
        for feed in self._feeds:
            w = feed.wakeup
            if w is not None and not w.done():
                w.set_result(None)
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        for t in pending:
            t.cancel()
        if pending:
            await asyncio.wait(pending, timeout=timeout)
