"""Where a suspended task waits: which processor's ``process()`` holds it, and with which frame.

An inline :class:`~voiceframe.processor.FrameProcessor` runs in its caller's task, so when its
``process()`` awaits a timer or I/O, the caller (the task's pump, a transport's reader) waits with it.
The runtime reads a suspended task's chain of coroutines (``cr_await``) to find the innermost processor
call, at no cost to frames that flow: only when an interruption arrives and when the stall watch looks.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from types import CodeType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from voiceframe.frames import Frame
    from voiceframe.processor import FrameProcessor

_MAX_DEPTH = 2000  # deeper than Python's own recursion limit lets a chain of awaits get


@dataclass(slots=True)
class Suspension:
    """An inline processor's ``process()`` call that is suspended, and what it waits on."""

    processor: FrameProcessor
    frame: Frame
    #: the suspension is in what the processor pushed into (e.g. an event handler), not its own code
    in_push: bool
    #: the innermost object awaited (a Future, a coroutine's last step); for messages
    awaiting: Any


_codes: tuple[CodeType, CodeType] | None = None


def _processor_codes() -> tuple[CodeType, CodeType]:
    global _codes
    if _codes is None:
        from voiceframe.processor import FrameProcessor

        _codes = (FrameProcessor._process_safely.__code__, FrameProcessor.push.__code__)
    return _codes


def innermost_process(task: asyncio.Task[Any]) -> Suspension | None:
    """The innermost processor call ``task`` is suspended in, or None (running, done, or elsewhere)."""
    if task.done() or task is asyncio.current_task():
        return None
    process_code, push_code = _processor_codes()
    found: Suspension | None = None
    obj: Any = task.get_coro()
    for _ in range(_MAX_DEPTH):
        if obj is None:
            break
        code = getattr(obj, "cr_code", None)
        if code is process_code:
            frame = obj.cr_frame
            if frame is not None:
                local = frame.f_locals
                found = Suspension(local["self"], local["frame"], False, None)
        elif found is not None:
            if code is push_code:
                frame = obj.cr_frame
                if frame is not None and frame.f_locals.get("self") is found.processor:
                    found.in_push = True
            if found.awaiting is None or code is not None:
                found.awaiting = obj  # the innermost coroutine, else whatever it awaits
        obj = getattr(obj, "cr_await", None) or getattr(obj, "gi_yieldfrom", None)
    return found


def describe_awaitable(obj: Any) -> str:
    """A short name for what a suspended call waits on (``asyncio.sleep``, a Future, ...)."""
    code = getattr(obj, "cr_code", None) or getattr(obj, "gi_code", None)
    if code is not None:
        return f"{code.co_qualname}()"
    return type(obj).__name__
