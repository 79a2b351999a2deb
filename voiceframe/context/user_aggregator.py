"""The user aggregator: one user turn's final transcripts -> one user message, then run the LLM.

Place it after speech-to-text (and the turn controller), before the LLM::

    Pipeline([transport.input(), stt, turns, UserAggregator(context), llm, ...])

Between ``UserStartedSpeakingFrame`` and ``UserStoppedSpeakingFrame`` final transcripts are collected.
At the end of the turn they become one user message and an ``LLMContextFrame`` asks the LLM to run.
A final transcript often arrives a little after the turn ended (the STT finishes late): a turn that
ended with nothing collected is committed when its transcript arrives. So is a transcript outside any
turn (typed text). Interim transcripts are ignored. ``LLMMessagesAppendFrame`` appends messages
and runs the LLM if asked.
"""

from __future__ import annotations

from voiceframe.context.llm_context import LLMContext
from voiceframe.context.summary import ContextSummarizer
from voiceframe.frames import (
    Frame,
    InterimTranscriptionFrame,
    LLMContextFrame,
    LLMMessagesAppendFrame,
    TranscriptionFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from voiceframe.processor import DOWNSTREAM, FrameDirection, FrameProcessor

__all__ = ["UserAggregator"]


class UserAggregator(FrameProcessor):
    """Collects a user turn into ``context`` and asks the LLM to answer (inline)."""

    def __init__(
        self,
        context: LLMContext,
        *,
        summarizer: ContextSummarizer | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.llm_context = context
        self.summarizer = summarizer
        self._parts: list[str] = []
        self._in_turn = False

    async def process(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, LLMMessagesAppendFrame):
            # from either side: an LLM turn-tagging filter after the LLM re-prompts by sending it upstream
            self.llm_context.add_messages(frame.messages)
            if frame.run_llm:
                await self._run_llm()
            return
        if direction != DOWNSTREAM:
            await self.push(frame, direction)
            return
        if isinstance(frame, TranscriptionFrame):
            if frame.text.strip():
                self._parts.append(frame.text.strip())
            if not self._in_turn:
                await self._commit()  # a late final transcript, or text input
            return
        if isinstance(frame, InterimTranscriptionFrame):
            return
        if isinstance(frame, UserStartedSpeakingFrame):
            self._in_turn = True
        elif isinstance(frame, UserStoppedSpeakingFrame):
            self._in_turn = False
            await self.push(frame, direction)
            if self._parts:
                await self._commit()
            return
        await self.push(frame, direction)

    async def _commit(self) -> None:
        text = " ".join(self._parts)
        self._parts.clear()
        if not text:
            return
        self.llm_context.add_message({"role": "user", "content": text})
        await self._run_llm()

    async def _run_llm(self) -> None:
        if self.summarizer is not None:
            await self.summarizer.maybe_summarize(self.llm_context)
        await self.push(LLMContextFrame(context=self.llm_context))
