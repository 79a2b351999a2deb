"""Exponential backoff for reconnecting to a provider.

>>> b = Backoff(initial=0.5, factor=2.0, maximum=4.0)
>>> [b.next_delay() for _ in range(5)]
[0.5, 1.0, 2.0, 4.0, 4.0]
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")


@dataclass
class Backoff:
    """Delays that grow by ``factor`` from ``initial`` up to ``maximum``; ``reset()`` after a success."""

    initial: float = 0.5
    factor: float = 2.0
    maximum: float = 10.0
    attempts: int = field(default=0, init=False)

    def next_delay(self) -> float:
        delay = min(self.initial * self.factor**self.attempts, self.maximum)
        self.attempts += 1
        return delay

    def reset(self) -> None:
        self.attempts = 0


class GiveUpError(ConnectionError):
    """Every attempt failed."""


async def retry(
    attempt: Callable[[], Awaitable[T]],
    *,
    backoff: Backoff | None = None,
    max_attempts: int = 5,
    retry_on: tuple[type[BaseException], ...] = (OSError, ConnectionError, TimeoutError),
    on_retry: Callable[[int, BaseException, float], Awaitable[None] | None] | None = None,
) -> T:
    """Call ``attempt`` until it succeeds, sleeping (on the pipeline clock) with backoff between tries."""
    backoff = backoff or Backoff()
    last: BaseException | None = None
    for n in range(1, max_attempts + 1):
        try:
            result = await attempt()
            backoff.reset()
            return result
        except retry_on as exc:
            last = exc
            if n == max_attempts:
                break
            delay = getattr(exc, "retry_after", None) or backoff.next_delay()
            if on_retry is not None:
                r = on_retry(n, exc, delay)
                if r is not None:
                    await r
            await asyncio.sleep(delay)
    raise GiveUpError(f"gave up after {max_attempts} attempts: {type(last).__name__}: {last}") from last
