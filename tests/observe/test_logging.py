"""Every log line of a session carries its session id, also from processors' and observers' tasks."""

from __future__ import annotations

import asyncio
import io
from typing import Any

from voiceframe.clock import virtual_time
from voiceframe.frames import Frame, TextFrame
from voiceframe.log import logger, setup_logging
from voiceframe.observe.observer import Observer, PushEvent
from voiceframe.pipeline import Pipeline
from voiceframe.processor import FrameDirection, FrameProcessor, QueuedFrameProcessor
from voiceframe.task import PipelineRunner, PipelineTask


class Chatty(QueuedFrameProcessor):
    async def process(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, TextFrame):
            logger.info("processing {}", frame.text)
            self.create_task(self._later(frame.text))
        await self.push(frame, direction)

    async def _later(self, text: str) -> None:
        logger.info("background work for {}", text)


class Inline(FrameProcessor):
    async def process(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, TextFrame):
            logger.warning("inline {}", frame.text)
        await self.push(frame, direction)


class ChattyObserver(Observer):
    async def on_push(self, event: PushEvent) -> None:
        if isinstance(event.frame, TextFrame):
            logger.debug("observed {}", event.frame.text)


async def test_every_line_in_a_session_carries_its_session_id() -> None:
    records: list[dict[str, Any]] = []
    sink = logger.add(lambda m: records.append(m.record), level="DEBUG")
    try:
        tasks = []
        for sid in ("call-a", "call-b"):
            task = PipelineTask(Pipeline([Inline(), Chatty()]), observers=[ChattyObserver()], session_id=sid)
            await task.queue_frame(TextFrame(text=sid))
            await task.stop_when_done()
            tasks.append(task)
        logger.info("outside any session")
        with virtual_time():
            await PipelineRunner(handle_signals=False).run(*tasks)
            await asyncio.sleep(0)
    finally:
        logger.remove(sink)
    inside = [r for r in records if r["message"] != "outside any session"]
    assert len(inside) >= 8
    for r in inside:
        # each line names the session whose text it logs: sessions running side by side do not mix
        assert r["extra"]["session_id"] in r["message"], r["message"]
    [outside] = [r for r in records if r["message"] == "outside any session"]
    assert outside["extra"]["session_id"] == "-"


def test_setup_logging_shows_the_session_id() -> None:
    out = io.StringIO()
    handler = setup_logging("INFO", sink=out, replace=False)
    try:
        with logger.contextualize(session_id="session-42"):
            logger.info("hello")
        logger.info("bye")
    finally:
        logger.remove(handler)
    first, second = out.getvalue().splitlines()
    assert "| session-42 | hello" in first and "| - | bye" in second
