"""Processors used by the core tests (test doubles, named Fake*)."""

from __future__ import annotations

import asyncio

from voiceframe.frames import EndFrame, Frame, InterruptionFrame, StartFrame, TextFrame, now
from voiceframe.processor import FrameDirection, FrameProcessor, QueuedFrameProcessor


class FakeRecorder(FrameProcessor):
    """Inline: records every frame it processes (and interruptions) and passes them on."""

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name=name)
        self.seen: list[tuple[Frame, FrameDirection]] = []
        self.interruptions: list[InterruptionFrame] = []
        self.started_at: float | None = None
        self.ended_at: float | None = None

    async def on_start(self, frame: StartFrame) -> None:
        self.started_at = now()

    async def on_end(self, frame: EndFrame) -> None:
        self.ended_at = now()

    async def process(self, frame: Frame, direction: FrameDirection) -> None:
        self.seen.append((frame, direction))
        await self.push(frame, direction)

    async def on_interruption(self, frame: InterruptionFrame) -> None:
        self.interruptions.append(frame)

    def texts(self, direction: FrameDirection | None = None) -> list[str]:
        return [
            f.text for f, d in self.seen if isinstance(f, TextFrame) and (direction is None or d == direction)
        ]


class FakeSlowService(QueuedFrameProcessor):
    """Queued: 'awaits I/O' for ``delay`` seconds on every text frame, like an LLM or TTS request."""

    def __init__(self, delay: float = 1.0, name: str | None = None) -> None:
        super().__init__(name=name)
        self.delay = delay
        self.started: list[str] = []
        self.finished: list[str] = []
        self.cancelled: list[str] = []
        self.interruptions = 0

    async def process(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, TextFrame):
            self.started.append(frame.text)
            try:
                await asyncio.sleep(self.delay)
            except asyncio.CancelledError:
                self.cancelled.append(frame.text)
                raise
            self.finished.append(frame.text)
        await self.push(frame, direction)

    async def on_interruption(self, frame: InterruptionFrame) -> None:
        self.interruptions += 1
