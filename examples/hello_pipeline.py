"""A small runnable pipeline: text in, shouted text out, with a slow queued stage.

Run it: ``python examples/hello_pipeline.py``
"""

import asyncio

from voiceframe import FrameProcessor, Pipeline, PipelineTask, QueuedFrameProcessor
from voiceframe.frames import Frame, TextFrame
from voiceframe.processor import FrameDirection


class Shout(FrameProcessor):
    """Inline: upper-cases text."""

    async def process(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, TextFrame):
            frame = TextFrame(text=frame.text.upper() + "!")
        await self.push(frame, direction)


class Think(QueuedFrameProcessor):
    """Queued: waits a little on each text, like a service would on I/O."""

    async def process(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, TextFrame):
            await asyncio.sleep(0.05)
        await self.push(frame, direction)


class Print(FrameProcessor):
    async def process(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, TextFrame):
            print(frame.text)
        await self.push(frame, direction)


async def main() -> None:
    task = PipelineTask(Pipeline([Think(), Shout(), Print()]))
    await task.queue_frames(TextFrame(text=t) for t in ["hello", "voice", "frame"])
    await task.stop_when_done()
    await task.run()


if __name__ == "__main__":
    asyncio.run(main())
