"""Client events for protocols that carry them (raw): user transcripts and who is speaking.

An observer, so it never slows the pipeline; it only queues small JSON messages on the link. Bot words
are sent by the output transport itself (``on_word``) when they are heard.
"""

from __future__ import annotations

from voiceframe.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    TranscriptionFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from voiceframe.observe.observer import Observer, PushEvent
from voiceframe.transports.serializers.base import Serializer
from voiceframe.transports.websocket.link import WebSocketLink

__all__ = ["ClientEvents"]

_BOT = (BotStartedSpeakingFrame, BotStoppedSpeakingFrame)
_SPEAKING = (*_BOT, UserStartedSpeakingFrame, UserStoppedSpeakingFrame)


class ClientEvents(Observer):
    """Sends ``transcript`` (user), ``user_speaking`` and ``bot_speaking`` events to the client."""

    frame_types = (TranscriptionFrame, *_SPEAKING)

    def __init__(self, link: WebSocketLink, serializer: Serializer) -> None:
        self.link = link
        self.serializer = serializer
        self._last_transcript = -1
        self._state = {"bot": False, "user": False}

    def _send(self, event: dict[str, object]) -> None:
        message = self.serializer.encode_event(event)
        if message is not None:
            self.link.send(message)

    async def on_push(self, event: PushEvent) -> None:
        frame = event.frame
        if isinstance(frame, TranscriptionFrame):
            if frame.id != self._last_transcript:  # the same frame is seen at every hop
                self._last_transcript = frame.id
                self._send({"type": "transcript", "role": "user", "text": frame.text, "final": True})
        elif isinstance(frame, _SPEAKING):
            who = "bot" if isinstance(frame, _BOT) else "user"
            speaking = isinstance(frame, BotStartedSpeakingFrame | UserStartedSpeakingFrame)
            if self._state[who] != speaking:
                self._state[who] = speaking
                self._send({"type": f"{who}_speaking", "speaking": speaking})
