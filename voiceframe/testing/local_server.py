"""Scaffolding for local servers that speak a provider's protocol on 127.0.0.1, for plugin tests.

A plugin's fake server (e.g. ``voiceframe_openai.testing.FakeOpenAIServer``) subclasses
:class:`LocalServer`, implements ``start()``/``stop()`` with :func:`serve_http` and/or
:func:`serve_websocket`, and is used as ``async with FakeServer() as server: ...``. aiohttp and
websockets are imported only when a server starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import struct
from collections.abc import Awaitable, Callable
from typing import Any, Self

#: how long a hung reply lasts at most, so a test that forgets its client still ends
HANG_SECONDS = 60.0


class LocalServer:
    """Base of local protocol servers: ``async with`` starts and stops them."""

    _stopping: asyncio.Event | None = None

    async def hang(self) -> None:
        """Send nothing until the server stops (:meth:`release_hangs`), at most ``HANG_SECONDS``."""
        if self._stopping is None:
            self._stopping = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), HANG_SECONDS)

    def release_hangs(self) -> None:
        """End every :meth:`hang` (a server calls it when it stops)."""
        if self._stopping is not None:
            self._stopping.set()

    async def start(self) -> Any:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


async def serve_http(app: Any, **runner_options: Any) -> tuple[Any, str]:
    """Serve an aiohttp ``app`` on a free 127.0.0.1 port; returns (runner, "http://127.0.0.1:port").

    Stop it with ``await runner.cleanup()``.
    """
    from aiohttp import web

    runner = web.AppRunner(app, **runner_options)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


async def serve_websocket(handler: Callable[[Any], Awaitable[None]], **options: Any) -> tuple[Any, str]:
    """Serve a ``websockets`` handler on a free 127.0.0.1 port; returns (server, "ws://127.0.0.1:port").

    Stop it with :func:`close_websocket`.
    """
    from websockets.asyncio.server import serve

    server = await serve(handler, "127.0.0.1", 0, **options)
    port = next(iter(server.sockets)).getsockname()[1]
    return server, f"ws://127.0.0.1:{port}"


async def close_websocket(server: Any) -> None:
    if server is not None:
        server.close()
        await server.wait_closed()


def tone(seconds: float, rate: int, freq: float = 200.0) -> bytes:
    """``seconds`` of a quiet sine as int16 little-endian PCM: the audio fake TTS servers send.

    Cheap (the servers share the loop with the code under test): one second per rate is computed once.
    ``freq`` must be a whole number of Hz so that seconds join without a click.
    """
    n = max(1, round(seconds * rate))
    second = _one_second(rate, freq)
    return (second * (n // rate + 1))[: 2 * n]


@functools.lru_cache(maxsize=8)
def _one_second(rate: int, freq: float) -> bytes:
    return struct.pack(
        f"<{rate}h", *(int(3000 * math.sin(2 * math.pi * freq * i / rate)) for i in range(rate))
    )
