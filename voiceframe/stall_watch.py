"""The stall watch: finds inline processors whose ``process()`` keeps their caller waiting.

An inline :class:`~voiceframe.processor.FrameProcessor` runs in the task that pushed to it. If its
``process()`` awaits a timer or I/O, that task (the session's pump, a transport's reader, a queued
processor's worker) waits too: frames behind it pile up, and an interruption can only abandon the call.
Such a processor should be a :class:`~voiceframe.processor.QueuedFrameProcessor`.

The watch is one timer per session (no task). Every ``threshold / 2`` seconds of pipeline time it looks
where the session's tasks are suspended (:func:`voiceframe.suspension.innermost_process`); a processor
found waiting in its own ``process()`` code at three looks in a row (``threshold`` seconds) is reported
once: a warning naming it and the fix, or, in test mode (``run_processor``), a fatal error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from voiceframe.suspension import describe_awaitable, innermost_process

if TYPE_CHECKING:
    from voiceframe.processor import FrameProcessor


class InlineStallWarning(RuntimeWarning):
    """An inline processor's ``process()`` kept its caller waiting (also logged, and in ``task.stalls``)."""


#: looks in a row that must find the same processor waiting
_LOOKS = 3


def stall_message(processor: FrameProcessor, driver: str, seconds: float, awaiting: str) -> str:
    return (
        f"{processor.name} is an inline FrameProcessor, but its process() kept {driver} waiting "
        f"for {seconds:.2f} s (awaiting {awaiting}); frames behind it waited too, and an interruption "
        "can only abandon the call. Make it a QueuedFrameProcessor (a task and queue of its own), or "
        "start the waiting work with self.create_task() and return from process() at once"
    )


class StallWatch:
    """Looks at ``tasks()`` every ``threshold / 2`` seconds; calls ``report(processor, message)`` once
    per processor that kept a task waiting in its own ``process()`` for ``threshold`` seconds."""

    def __init__(
        self,
        tasks: Callable[[], list[asyncio.Task[Any]]],
        report: Callable[[FrameProcessor, str], None],
        *,
        threshold: float,
    ) -> None:
        if threshold <= 0:
            raise ValueError(f"stall threshold must be positive, got {threshold}")
        self.threshold = threshold
        self._period = threshold / (_LOOKS - 1)
        self._tasks = tasks
        self._report = report
        self._handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # task -> (processor found waiting, looks in a row, when first seen)
        self._seen: dict[asyncio.Task[Any], tuple[FrameProcessor, int, float]] = {}
        self._reported: set[int] = set()

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._handle = self._loop.call_later(self._period, self._look)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._seen.clear()

    def _look(self) -> None:
        loop = self._loop
        assert loop is not None
        self._handle = loop.call_later(self._period, self._look)  # first: a failing report must not end it
        seen: dict[asyncio.Task[Any], tuple[FrameProcessor, int, float]] = {}
        for task in self._tasks():
            found = innermost_process(task)
            if found is None or found.in_push:
                continue
            p = found.processor
            if getattr(p, "_worker", None) is task:
                continue  # a queued processor waiting in its own worker: that is what it is for
            before = self._seen.get(task)
            looks, since = (before[1] + 1, before[2]) if before and before[0] is p else (1, loop.time())
            seen[task] = (p, looks, since)
            if looks >= _LOOKS and id(p) not in self._reported:
                self._reported.add(id(p))
                waited = max(loop.time() - since, self.threshold)
                self._report(p, stall_message(p, task.get_name(), waited, describe_awaitable(found.awaiting)))
        self._seen = seen
