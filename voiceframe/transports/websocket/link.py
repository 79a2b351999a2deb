"""One client connection as the transport sees it: receive, a bounded send queue, and how it ended.

Sends never block the pipeline: messages go into a queue that a sender task drains. A client that stops
reading makes the socket's buffers fill and a send block; after ``send_timeout`` seconds (or when the
queue holds ``max_queue`` messages) the link ends with ``CLOSE_STALLED``, and the server drops the
client instead of buffering without limit.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

from voiceframe.transports.serializers.base import Message

__all__ = ["CLOSE_STALLED", "WebSocketLink", "close_reason"]

#: policy violation: the client stopped reading what we send
CLOSE_STALLED = 1008
#: a close frame's reason holds at most 123 bytes of UTF-8
MAX_CLOSE_REASON_BYTES = 123


def close_reason(reason: str) -> str:
    """``reason`` cut to fit a close frame (123 bytes of UTF-8), on a character boundary."""
    data = reason.encode("utf-8")
    if len(data) <= MAX_CLOSE_REASON_BYTES:
        return reason
    return data[: MAX_CLOSE_REASON_BYTES - 3].decode("utf-8", "ignore") + "..."


class WebSocketLink:
    """``receive()`` -> message or None (disconnected); ``send(message)`` queues; ``ended`` when over."""

    def __init__(
        self,
        receive: Callable[[], Awaitable[Message | None]],
        send: Callable[[Message], Awaitable[None]],
        *,
        max_queue: int = 256,
        send_timeout: float = 2.0,
    ) -> None:
        if max_queue < 1 or send_timeout <= 0:
            raise ValueError("max_queue must be >= 1 and send_timeout > 0")
        self._receive = receive
        self._send = send
        self.max_queue = max_queue
        self.send_timeout = send_timeout
        self._queue: deque[Message] = deque()
        self._wakeup = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self.ended = asyncio.Event()
        self.close_code: int | None = None
        self.close_reason = ""
        self.messages_sent = 0
        self.messages_received = 0

    # ----------------------------------------------------------------------------------- ending

    def end(self, code: int, reason: str) -> None:
        """The session is over for ``reason`` (first caller wins); the server closes with ``code``."""
        if self.close_code is None:
            self.close_code, self.close_reason = code, close_reason(reason)
        self._queue.clear()
        self.ended.set()
        self._wakeup.set()

    @property
    def stalled(self) -> bool:
        return self.close_code == CLOSE_STALLED and self.close_reason.startswith("client stopped reading")

    # ---------------------------------------------------------------------------------- receive

    async def receive(self) -> Message | None:
        message = await self._receive()
        if message is not None:
            self.messages_received += 1
        return message

    # ------------------------------------------------------------------------------------- send

    def send(self, message: Message) -> None:
        """Queue a message; a full queue means the client stopped reading: the link ends."""
        if self.ended.is_set():
            return
        if len(self._queue) >= self.max_queue:
            self.end(CLOSE_STALLED, f"client stopped reading: {self.max_queue} messages queued")
            return
        self._queue.append(message)
        self._drained.clear()
        self._wakeup.set()

    def drop(self, matches: Callable[[Message], bool]) -> int:
        """Remove queued messages that ``matches`` (audio not yet sent, on ``clear``); returns how many."""
        kept = [m for m in self._queue if not matches(m)]
        dropped = len(self._queue) - len(kept)
        self._queue = deque(kept)
        return dropped

    @property
    def queued(self) -> int:
        return len(self._queue)

    async def drain(self, timeout: float) -> bool:
        """Wait until everything queued has been sent (False on timeout or if the link ended)."""
        try:
            await asyncio.wait_for(self._drained.wait(), timeout)
        except TimeoutError:
            return False
        return not self.ended.is_set()

    async def run_sender(self) -> None:
        """Send queued messages in order until the link ends."""
        while not self.ended.is_set():
            if not self._queue:
                self._drained.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            message = self._queue.popleft()
            try:
                # not wait_for: it wraps every send in a task, so a send that does not block would still
                # cost a loop iteration per message, and a busy loop would let the queue fall behind
                async with asyncio.timeout(self.send_timeout):
                    await self._send(message)
            except TimeoutError:
                self.end(CLOSE_STALLED, f"client stopped reading: a send blocked for {self.send_timeout} s")
                return
            except Exception as exc:  # the socket went away under us
                self.end(1006, f"send failed: {type(exc).__name__}")
                return
            self.messages_sent += 1
        self._drained.set()
