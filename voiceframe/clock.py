"""The pipeline clock.

Every timer in voiceframe reads the running event loop's clock (``loop.time()``) and sleeps with
asyncio. A *real* clock is an ordinary event loop. A *virtual* clock is an event loop from
`looptime <https://pypi.org/project/looptime/>`_ whose time jumps forward whenever every task is idle,
so a ten-minute conversation runs in seconds and gives the same result every run.

>>> import asyncio
>>> async def ten_minutes() -> float:
...     start = now()
...     await asyncio.sleep(600)
...     return now() - start
>>> run(ten_minutes(), virtual=True)
600.0
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

from voiceframe.frames import now

T = TypeVar("T")

__all__ = ["is_virtual", "new_virtual_loop", "now", "run", "sleep_until", "virtual_time"]


async def sleep_until(deadline: float) -> None:
    """Sleep until the pipeline clock reads ``deadline`` (no drift when called in a loop)."""
    delay = deadline - now()
    if delay > 0:
        await asyncio.sleep(delay)


def new_virtual_loop(start: float = 0.0) -> asyncio.AbstractEventLoop:
    """An event loop on virtual time starting at ``start`` seconds."""
    import looptime

    loop: asyncio.AbstractEventLoop = looptime.new_event_loop(start=start, _enabled=True)
    return loop


def is_virtual(loop: asyncio.AbstractEventLoop | None = None) -> bool:
    """Whether ``loop`` (default: the running loop) runs on virtual time right now."""
    loop = loop or asyncio.get_running_loop()
    return bool(getattr(loop, "looptime_on", False))


@contextlib.contextmanager
def virtual_time() -> Iterator[None]:
    """Run the enclosed code on virtual time, patching the running loop if needed.

    Only for code that does no real I/O: time jumps whenever nothing is ready.
    """
    import looptime

    loop = asyncio.get_running_loop()
    if is_virtual(loop):
        yield
        return
    patched = looptime.patch_event_loop(loop, _enabled=False)  # type: ignore[arg-type]
    with patched.looptime_enabled():
        yield


def run(main: Coroutine[Any, Any, T], *, virtual: bool = False) -> T:
    """Run ``main`` to completion on a real (default) or virtual clock, like :func:`asyncio.run`."""
    if not virtual:
        return asyncio.run(main)
    loop = new_virtual_loop()
    with asyncio.Runner(loop_factory=lambda: loop) as runner:
        return runner.run(main)
