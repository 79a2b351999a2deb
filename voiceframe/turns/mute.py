"""Mute strategies: when the user's speech should neither start a turn nor interrupt the bot.

Each strategy watches frames (both directions) and answers ``muted``. The controller is muted while any
of its strategies is. Muting only gates *new* turns and interruptions; a turn already in progress ends
normally.

>>> from voiceframe.frames import FunctionCallInProgressFrame, FunctionCallResultFrame
>>> m = MuteDuringFunctionCall()
>>> m.update(FunctionCallInProgressFrame(tool_call_id="a")); m.muted
True
>>> m.update(FunctionCallResultFrame(tool_call_id="a")); m.muted
False
"""

from __future__ import annotations

from voiceframe.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    Frame,
    FunctionCallCancelFrame,
    FunctionCallInProgressFrame,
    FunctionCallResultFrame,
)

__all__ = ["MuteDuringFunctionCall", "MuteStrategy", "MuteUntilFirstBotComplete", "MuteWhileBotSpeaking"]


class MuteStrategy:
    """Base: never muted. Override :meth:`update` and set ``muted``."""

    __slots__ = ("muted",)

    def __init__(self) -> None:
        self.muted = False

    def update(self, frame: Frame) -> None:
        """See a frame (any direction)."""


class MuteUntilFirstBotComplete(MuteStrategy):
    """Muted from the start of the session until the bot finished its first message (the greeting)."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__()
        self.muted = True

    def update(self, frame: Frame) -> None:
        if self.muted and isinstance(frame, BotStoppedSpeakingFrame):
            self.muted = False


class MuteDuringFunctionCall(MuteStrategy):
    """Muted from FunctionCallInProgressFrame until the matching result (or cancel) for every call.

    The LLM service must push function-call frames upstream too (the controller sits before the LLM).
    """

    __slots__ = ("_calls",)

    def __init__(self) -> None:
        super().__init__()
        self._calls: set[str] = set()

    def update(self, frame: Frame) -> None:
        if isinstance(frame, FunctionCallInProgressFrame):
            self._calls.add(frame.tool_call_id)
        elif isinstance(frame, FunctionCallResultFrame | FunctionCallCancelFrame):
            self._calls.discard(frame.tool_call_id)
        else:
            return
        self.muted = bool(self._calls)


class MuteWhileBotSpeaking(MuteStrategy):
    """Muted whenever the bot speaks: no barge-in at all (e.g. for legal disclaimers)."""

    __slots__ = ()

    def update(self, frame: Frame) -> None:
        if isinstance(frame, BotStartedSpeakingFrame):
            self.muted = True
        elif isinstance(frame, BotStoppedSpeakingFrame):
            self.muted = False
