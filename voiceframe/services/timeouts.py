"""Deadlines on a provider's stream: a first-byte timeout and an inter-chunk timeout.

A hung provider must cost the caller seconds, not the SDK's 30 s x 3 retries: every service wraps its
provider stream in :func:`timed`, which raises :class:`ProviderTimeoutError` (a non-fatal
:class:`~voiceframe.services.base.ServiceError`) when the first item, or any later one, is late.
Closing the stream on a timeout cancels the provider's request (the HTTP response or socket read).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TypeVar

from voiceframe.services.base import ServiceError

T = TypeVar("T")

#: voice-sized defaults: a caller notices a second of silence; a few seconds is all a turn can wait
DEFAULT_FIRST_BYTE_TIMEOUT = 5.0
DEFAULT_CHUNK_TIMEOUT = 3.0


class ProviderTimeoutError(ServiceError, TimeoutError):
    """The provider sent nothing within a deadline."""


async def timed(
    events: AsyncIterator[T], *, first_byte: float | None, between: float | None, where: str
) -> AsyncIterator[T]:
    """Yield ``events``; raise ProviderTimeoutError if the first one takes longer than ``first_byte``
    seconds or any later one longer than ``between`` seconds after the previous (None: no limit)."""
    iterator = aiter(events)
    first = True
    try:
        while True:
            limit = first_byte if first else between
            deadline = asyncio.timeout(limit)
            try:
                async with deadline:
                    item = await anext(iterator)
            except StopAsyncIteration:
                return
            except TimeoutError:
                if not deadline.expired():
                    raise  # the provider's own timeout, not ours
                if first:
                    raise ProviderTimeoutError(f"no first byte from {where} within {limit:g} s") from None
                raise ProviderTimeoutError(f"{where} stalled mid-stream: nothing for {limit:g} s") from None
            first = False
            yield item
    finally:
        close = getattr(iterator, "aclose", None)
        if close is not None:
            await close()
