"""Waiting for something a real server or peer does (real sockets: polled, bounded)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def wait_until(condition: Callable[[], object], timeout: float = 5.0, step: float = 0.02) -> None:
    """Poll ``condition`` every ``step`` seconds of loop time; fail after ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(step)
