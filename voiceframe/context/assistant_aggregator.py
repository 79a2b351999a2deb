"""The assistant aggregator: commits the bot's words to the context as the user hears them.

Place it right **after** the output transport::

    Pipeline([..., llm, function_calls, tts, transport.output(), AssistantAggregator(context)])

The transport releases each ``TTSTextFrame`` when playout reaches it, so every word this processor
sees has been heard, and it commits it at once. Words are filed by their TTS context (one per LLM
response, one per ``TTSSpeakFrame``), never by "whatever turn is open", so:

* two overlapping responses never merge (each TTS context is its own message);
* a word that arrives before ``LLMFullResponseStartFrame`` is still committed;
* a greeting spoken with ``TTSSpeakFrame`` is its own message, committed word by word;
* on ``InterruptionFrame`` the open messages hold exactly the heard words and are marked interrupted;
  words of the interrupted turn never reach the next turn's message.
"""

from __future__ import annotations

from voiceframe.context.llm_context import LLMContext
from voiceframe.frames import (
    Frame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
)
from voiceframe.processor import DOWNSTREAM, FrameDirection, FrameProcessor

__all__ = ["AssistantAggregator", "response_key"]

_MAX_CONTEXTS = 64


def response_key(frame: LLMFullResponseStartFrame | LLMFullResponseEndFrame) -> str:
    """The key under which a response's assistant message is filed (shared with function calls)."""
    return frame.response_id or f"response#{frame.id}"


class AssistantAggregator(FrameProcessor):
    """Commits heard words into ``context`` (inline; passes every frame on)."""

    def __init__(self, context: LLMContext, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self.llm_context = context
        self._response: str | None = None  # the LLM response being played
        self._keys: dict[str | None, str] = {}  # TTS context id -> message key
        self._open: dict[str, None] = {}  # keys whose speech has not finished (ordered)

    async def process(self, frame: Frame, direction: FrameDirection) -> None:
        if direction == DOWNSTREAM:
            if isinstance(frame, TTSTextFrame):
                self._commit(frame)
            elif isinstance(frame, LLMFullResponseStartFrame):
                self._response = response_key(frame)
            elif isinstance(frame, LLMFullResponseEndFrame):
                key = response_key(frame)
                self._open.pop(key, None)
                if self._response == key:
                    self._response = None
            elif isinstance(frame, TTSStartedFrame):
                key = self._response or f"tts:{frame.context_id}#{frame.id}"
                self._remember(frame.context_id, key)
            elif isinstance(frame, TTSStoppedFrame):
                key_or_none = self._keys.pop(frame.context_id, None)
                if key_or_none is not None and key_or_none != self._response:
                    self._open.pop(key_or_none, None)
        await self.push(frame, direction)

    def _commit(self, frame: TTSTextFrame) -> None:
        key = self._keys.get(frame.context_id)
        if key is None:
            # no TTSStartedFrame seen for this context: file it under the open response, or on its own
            key = self._response or f"tts:{frame.context_id}"
            self._remember(frame.context_id, key)
        self.llm_context.append_assistant_text(key, frame.text)
        self._open[key] = None

    def _remember(self, context_id: str | None, key: str) -> None:
        self._keys.pop(context_id, None)
        self._keys[context_id] = key
        if len(self._keys) > _MAX_CONTEXTS:
            del self._keys[next(iter(self._keys))]

    async def on_interruption(self, frame: InterruptionFrame) -> None:
        for key in self._open:
            self.llm_context.mark_interrupted(key)
        if self._response is not None:
            self.llm_context.mark_interrupted(self._response)
        self._open.clear()
        # _keys stays: a heard word released just before the interruption but delivered after it
        # (through a queue placed after the transport) still lands in its own, interrupted message
        self._response = None
