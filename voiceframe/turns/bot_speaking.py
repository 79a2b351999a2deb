"""Whether the bot is speaking, from the output transport's BotStarted/StoppedSpeaking frames.

The output transport pushes each of those frames both upstream and downstream, so a processor may see
the same transition twice (once per direction, or through a parallel pipeline): updates are
idempotent.

>>> from voiceframe.frames import BotStartedSpeakingFrame
>>> state = BotSpeakingState()
>>> state.update(BotStartedSpeakingFrame(), now=1.0), state.speaking, state.update(BotStartedSpeakingFrame())
(True, True, False)
"""

from __future__ import annotations

from voiceframe.frames import BotStartedSpeakingFrame, BotStoppedSpeakingFrame, Frame, now

__all__ = ["BotSpeakingState"]


class BotSpeakingState:
    """Tracks the bot's speaking state; ``update`` returns True when a frame changed it."""

    __slots__ = ("messages_finished", "since", "speaking")

    def __init__(self) -> None:
        self.speaking = False
        #: pipeline-clock time of the last change
        self.since = 0.0
        #: how many times the bot finished speaking (the first message is done when this is >= 1)
        self.messages_finished = 0

    def update(self, frame: Frame, now: float | None = None) -> bool:
        """Apply ``frame`` if it is a bot speaking frame; True if the state changed."""
        if isinstance(frame, BotStartedSpeakingFrame):
            if self.speaking:
                return False
            self.speaking = True
        elif isinstance(frame, BotStoppedSpeakingFrame):
            if not self.speaking:
                return False
            self.speaking = False
            self.messages_finished += 1
        else:
            return False
        self.since = _now() if now is None else now
        return True


_now = now
