"""Single-token LLM turn tagging: the LLM starts every reply with ✓ (complete), ○ or ◐ (incomplete).

Two parts:

* a prompt mix-in, :data:`TURN_TAGGING_INSTRUCTIONS`, added to the system prompt with
  :func:`with_turn_tagging`;
* :class:`LLMTurnTagFilter`, placed right after the LLM, which reads the first characters of each
  response (LLMFullResponseStartFrame, LLMTextFrame..., LLMFullResponseEndFrame):

  - ✓: the response goes on, without the marker (and the space after it);
  - ○ / ◐: the whole response is suppressed (start and end too, so TTS and the context see nothing) and
    after ``short_wait`` (5 s) / ``long_wait`` (10 s) of user silence the filter pushes
    ``LLMMessagesAppendFrame(messages=[<short system message>], run_llm=True)`` *upstream*: the user
    context aggregator (before the LLM) appends it and runs the LLM again, which now answers (✓) or
    nudges the user. User speech (UserStarted/VADUserStarted/an interruption) cancels the timer;
  - no marker at all: the response passes unchanged (fail open: a model that forgets the format must
    not make the bot mute).

The marker never reaches TTS. The filter holds the response start until the first word after a ✓
(or the first non-space text, for ○/◐ or no marker), so ✓ costs one token of latency at most.

Example::

    context = LLMContext([{"role": "system", "content": with_turn_tagging("You are a helpful agent.")}])
    Pipeline([..., user_aggregator, llm, LLMTurnTagFilter(short_wait=5.0), tts, transport.output(), ...])
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping
from enum import Enum
from typing import Any

from voiceframe.frames import (
    Frame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMMessagesAppendFrame,
    LLMTextFrame,
    UserStartedSpeakingFrame,
    VADUserStartedSpeakingFrame,
)
from voiceframe.processor import DOWNSTREAM, UPSTREAM, FrameDirection, FrameProcessor

__all__ = ["DEFAULT_MARKERS", "TURN_TAGGING_INSTRUCTIONS", "LLMTurnTagFilter", "TurnTag", "with_turn_tagging"]


class TurnTag(Enum):
    """What the LLM judged about the user's turn."""

    COMPLETE = "complete"
    INCOMPLETE_SHORT = "incomplete_short"
    INCOMPLETE_LONG = "incomplete_long"


DEFAULT_MARKERS: Mapping[str, TurnTag] = {
    "\u2713": TurnTag.COMPLETE,  # ✓
    "\u25cb": TurnTag.INCOMPLETE_SHORT,  # ○
    "\u25d0": TurnTag.INCOMPLETE_LONG,  # ◐
}

TURN_TAGGING_INSTRUCTIONS = """\
RESPONSE FORMAT (mandatory): begin every reply with exactly one turn marker.

Decide whether the user has finished their turn, judging by the whole conversation, not grammar alone:
- ✓ The user finished: they answered, asked, or requested something you can respond to now.
  Write ✓, one space, then your full reply.
- ○ The user was cut off or is mid-thought and will go on in a few seconds
  ("I'd like to book a table for", "my number is 555 01"). Write only ○ and nothing else.
- ◐ The user needs more time: they asked for it ("hold on", "let me think") or are pondering
  ("hmm, good question", "well..."). Write only ◐ and nothing else.

Examples:
User: "What's the weather in Paris?" -> ✓ It's sunny and 21 degrees in Paris.
User: "I want to fly to" -> ○
User: "Let me check my calendar" -> ◐
If a system message says the user has been quiet, reply with ✓ and answer or gently prompt them."""

_REPROMPT: dict[TurnTag, str] = {
    TurnTag.INCOMPLETE_SHORT: "The user paused mid-thought and has been quiet for a few seconds. "
    "Reply now, starting with ✓: answer what they said so far or gently invite them to go on.",
    TurnTag.INCOMPLETE_LONG: "The user asked for time and has been quiet for a while. "
    "Reply now, starting with ✓: briefly check whether they are ready or need anything.",
}


def with_turn_tagging(system_prompt: str, instructions: str = TURN_TAGGING_INSTRUCTIONS) -> str:
    """``system_prompt`` with the turn-tagging instructions appended.

    >>> with_turn_tagging("You are terse.").startswith("You are terse.\\n\\nRESPONSE FORMAT")
    True
    """
    return f"{system_prompt.rstrip()}\n\n{instructions}" if system_prompt.strip() else instructions


_DECIDING, _PASS, _SUPPRESS = 1, 2, 3


class LLMTurnTagFilter(FrameProcessor):
    """Reads the turn marker at the start of each LLM response; strips it, or suppresses and re-prompts."""

    def __init__(
        self,
        *,
        short_wait: float = 5.0,
        long_wait: float = 10.0,
        markers: Mapping[str, TurnTag] = DEFAULT_MARKERS,
        reprompt_role: str = "system",
        reprompt_text: Mapping[TurnTag, str] | None = None,
        max_reprompts: int = 2,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        if short_wait < 0 or long_wait < 0 or max_reprompts < 0:
            raise ValueError("short_wait, long_wait and max_reprompts must be >= 0")
        self.waits = {TurnTag.INCOMPLETE_SHORT: short_wait, TurnTag.INCOMPLETE_LONG: long_wait}
        self.markers = dict(markers)
        self.reprompt_role = reprompt_role
        self.reprompt_text = {**_REPROMPT, **(reprompt_text or {})}
        self.max_reprompts = max_reprompts
        #: recent tags (``None``: a response without a marker), newest last
        self.tags: deque[TurnTag | None] = deque(maxlen=64)
        self._mode = 0
        self._held: list[Frame] = []
        self._text = ""
        self._timer: asyncio.Task[None] | None = None
        self._reprompts = 0

    async def process(self, frame: Frame, direction: FrameDirection) -> None:
        if direction == UPSTREAM:
            await self.push(frame, direction)
            return
        mode = self._mode
        if isinstance(frame, LLMTextFrame) and mode:
            if mode == _PASS:
                await self.push(frame, direction)
            elif mode == _DECIDING:
                self._held.append(frame)
                self._text += frame.text
                await self._decide(final=False)
            return  # _SUPPRESS: dropped
        if isinstance(frame, LLMFullResponseStartFrame):
            self._cancel_timer()
            self._mode, self._held, self._text = _DECIDING, [frame], ""
            return
        if isinstance(frame, LLMFullResponseEndFrame) and mode:
            if mode == _DECIDING:
                await self._decide(final=True)
            suppressed, self._mode = self._mode == _SUPPRESS, 0
            if suppressed:  # the end of a suppressed response is dropped too
                await self._schedule_reprompt()
            else:
                await self.push(frame, direction)
            return
        if isinstance(frame, UserStartedSpeakingFrame | VADUserStartedSpeakingFrame):
            self._user_spoke()
        elif mode == _DECIDING and not frame.is_system:
            await self._decide(final=True)  # e.g. a function call: the model acted, the turn was complete
        await self.push(frame, direction)

    async def _decide(self, *, final: bool) -> None:
        head = self._text.lstrip()
        tag: TurnTag | None = None
        rest = self._text
        for marker, t in self.markers.items():
            if head.startswith(marker):
                tag, rest = t, head[len(marker) :].lstrip(" ")
                if tag is TurnTag.COMPLETE and not rest and not final:
                    return  # hold the start until the first word, so no text leaves with a leading space
                break
        else:
            if not final and (not head or any(m.startswith(head) for m in self.markers)):
                return  # only whitespace or part of a marker so far: wait for more
        self.tags.append(tag)
        if tag is None or tag is TurnTag.COMPLETE:
            self._mode = _PASS
            self._reprompts = 0
            held, self._held = self._held, []
            start, texts = held[0], held[1:]
            await self.push(start, DOWNSTREAM)
            if texts and rest:
                first = texts[0]
                assert isinstance(first, LLMTextFrame)
                first.text = rest  # one frame carries the remainder; no new frame, same epoch
                await self.push(first, DOWNSTREAM)
        else:
            self._mode, self._held = _SUPPRESS, []

    async def _schedule_reprompt(self) -> None:
        tag = self.tags[-1] if self.tags else None
        if tag is None or tag is TurnTag.COMPLETE or self._reprompts >= self.max_reprompts:
            return
        self._timer = self.create_task(self._reprompt_after(tag), name=f"{self.name}:reprompt")

    async def _reprompt_after(self, tag: TurnTag) -> None:
        await asyncio.sleep(self.waits[tag])
        self._timer = None
        self._reprompts += 1
        message: dict[str, Any] = {"role": self.reprompt_role, "content": self.reprompt_text[tag]}
        await self.push(LLMMessagesAppendFrame(messages=[message], run_llm=True), UPSTREAM)

    def _user_spoke(self) -> None:
        self._cancel_timer()
        self._reprompts = 0

    def _cancel_timer(self) -> None:
        timer = self._timer
        if timer is not None:
            self._timer = None
            timer.cancel()

    @property
    def reprompt_pending(self) -> bool:
        """Whether a re-prompt timer is running."""
        return self._timer is not None

    async def on_interruption(self, frame: InterruptionFrame) -> None:
        # The user spoke: no re-prompt, and a response being decided is stale (its frames are dropped).
        self._user_spoke()
        self._mode, self._held, self._text = 0, [], ""
